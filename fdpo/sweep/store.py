"""Where a sweep keeps its runs: ``RunStore`` (one folder per run, finished iff the manifest it writes last
verifies), the lock that keeps a second sweep out of the folder, and the check that a rerun belongs to the same
sweep."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fdpo._io import read_json, sha256_of, write_csv, write_json, write_jsonl
from fdpo.errors import SweepConfigError, SweepError
from fdpo.report import BASELINE, summarize
from fdpo.settings import METRIC_COLUMNS

if TYPE_CHECKING:
    from fdpo.sweep.config import SweepConfig

__all__ = [
    "CURVE_FILE",
    "IDENTITY_COLUMNS",
    "MANIFEST",
    "RESULT_COLUMNS",
    "RunStore",
    "check_same_sweep",
    "config_digest",
    "sweep_lock",
]

#: Columns of results.csv, in order (extra columns follow them).
RESULT_COLUMNS = ("run_id", "divergence", "loss_type", "beta", "seed", *METRIC_COLUMNS, "train_seconds")
_EXTRA_RESULT_COLUMNS = (
    "reward_logit_std",
    "reward_prob_std",
    "self_bleu",
    "completion_words",
    "num_eval_samples",
    "eval_seconds",
)


#: The manifest of a finished run, written last: run id, grid cell, digest of the sweep's shared settings, checksums.
MANIFEST = "done.json"
#: A run's evaluations at its checkpoints (``evaluation.checkpoints``), one JSON line per step, in step order.
CURVE_FILE = "curve.jsonl"
#: The columns of a result row that say which run it is (``RunSpec.to_dict()``; the baseline has its own values).
IDENTITY_COLUMNS = RESULT_COLUMNS[:5]
_CHECKED_FILES = ("config.json", "generations.jsonl", "metrics.json", CURVE_FILE)
_logger = logging.getLogger("fdpo.sweep")


def config_digest(shared: Mapping[str, Any]) -> str:
    """SHA-256 of a config's shared settings (``SweepConfig.shared_dict()``), as canonical JSON."""
    text = json.dumps(shared, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class RunStore:
    """The run folders of a sweep: ``<root>/runs/<run_id>/{config.json, generations.jsonl, metrics.json, done.json}``
    (and ``curve.jsonl``, a run's checkpoint evaluations, when the sweep lists checkpoints).

    ``finish`` writes the run's files and then, last, its manifest ``done.json``: the run id, the grid cell (the
    identity columns of its row), the digest of the sweep's shared settings and a SHA-256 checksum of each file. A run
    is finished if and only if that manifest verifies: it names the folder's own run (a folder copied under another
    name is not a run), the checksums match (a truncated or edited file is caught, even one cut at a line boundary),
    and, when the store knows them, the shared settings and the grid cell are the ones expected. Anything else is
    unfinished: ``begin`` clears it and the run is done again.

    Args:
        root: the sweep folder.
        shared: the sweep's shared settings (``SweepConfig.shared_dict()``); runs recorded under other settings are
            not trusted. Default: those recorded in ``root/sweep.json`` (so a store opened in another process, a
            worker of a cluster, records and checks the same digest); with neither, the digest is not compared.
        expected: run id -> identity (``RunSpec.to_dict()``) of the runs of the sweep's grid, the default of
            ``scan``, ``rows`` and ``write_tables``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        shared: Mapping[str, Any] | None = None,
        expected: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        if shared is None and (self.root / "sweep.json").is_file():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                shared = read_json(self.root / "sweep.json").get("shared")
        self.shared_digest = None if shared is None else config_digest(shared)
        self.expected = dict(expected or {})
        self._verified: dict[str, tuple[tuple, str | None]] = {}  # run_id -> (file signature, problem)
        self._reported: set[tuple[str, str]] = set()

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def problem(self, run_id: str, identity: Mapping[str, Any] | None = None) -> str | None:
        """Why ``runs/<run_id>`` is not a finished run that can be trusted, or None when it is.

        Args:
            identity: the grid cell expected there (``RunSpec.to_dict()``, or the baseline's identity columns).
        """
        problem = self._verify(run_id)
        if problem is None and identity is not None:
            recorded = read_json(self.run_dir(run_id) / MANIFEST).get("run", {})
            expected = _jsonable({key: identity.get(key) for key in IDENTITY_COLUMNS})
            if recorded != expected:
                problem = f"it was run as {recorded}, not as the grid cell {expected}"
        return problem

    def is_finished(self, run_id: str, identity: Mapping[str, Any] | None = None) -> bool:
        return self.problem(run_id, identity) is None

    def begin(
        self, run_id: str, config: Mapping[str, Any], identity: Mapping[str, Any] | None = None
    ) -> Path:
        """Clears whatever an unfinished (or untrusted) earlier attempt left and writes the run's config.json."""
        if self.is_finished(run_id, identity):
            raise RuntimeError(f"Run {run_id!r} is already finished; it must not be started again.")
        directory = self.run_dir(run_id)
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        write_json(directory / "config.json", config)
        self._verified.pop(run_id, None)
        return directory

    def finish(
        self, run_id: str, row: Mapping[str, Any], generations: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        """Writes generations.jsonl and metrics.json, then the manifest done.json that marks the run finished."""
        directory = self.run_dir(run_id)
        if row.get("run_id") != run_id:
            raise ValueError(f"The row of run {run_id!r} says run_id={row.get('run_id')!r}.")
        write_jsonl(directory / "generations.jsonl", generations)
        write_json(directory / "metrics.json", dict(row))
        files = {name: sha256_of(directory / name) for name in _CHECKED_FILES if (directory / name).is_file()}
        manifest = {
            "run_id": run_id,
            "run": {key: row.get(key) for key in IDENTITY_COLUMNS},
            "shared_digest": self.shared_digest,
            "files": files,
        }
        write_json(directory / MANIFEST, manifest)
        self._verified.pop(run_id, None)

    def load_row(self, run_id: str) -> dict[str, Any]:
        return read_json(self.run_dir(run_id) / "metrics.json")

    def scan(self, expected: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
        """The finished, trusted runs; every other run folder is reported once (a warning on the ``fdpo.sweep``
        logger) with what is wrong and what happens to it.

        Args:
            expected: run id -> identity of the runs the sweep will run. A folder among them that does not verify is
                run again; one outside them that does not verify (a copy, a leftover) is ignored, and never counted
                in the tables. A verified folder outside them (a run of a larger grid) is kept.
        """
        if not self.runs_dir.is_dir():
            return []
        expected = self.expected if expected is None else expected
        finished = []
        for directory in sorted(self.runs_dir.iterdir()):
            if directory.name.startswith(".") or not directory.is_dir():
                continue  # hidden working folders (runs/.reference) and stray files
            run_id = directory.name
            problem = self.problem(run_id, expected.get(run_id))
            if problem is None:
                finished.append(run_id)
                continue
            if run_id in expected:
                self._report(run_id, f"runs/{run_id} is run again: {problem}.")
            else:
                self._report(run_id, f"runs/{run_id} is ignored (not a run of this sweep's grid): {problem}.")
        return finished

    def finished_ids(self, expected: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
        return self.scan(expected)

    def rows(
        self, order: Sequence[str] = (), expected: Mapping[str, Mapping[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Rows of every finished run: those in ``order`` first, in that order, then the others by id."""
        finished = self.scan(expected)
        rank = {run_id: index for index, run_id in enumerate(order)}
        finished.sort(key=lambda run_id: (rank.get(run_id, len(rank)), run_id))
        return [self.load_row(run_id) for run_id in finished]

    def write_tables(
        self, order: Sequence[str] = (), expected: Mapping[str, Mapping[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Regenerates results.csv and summary.csv from the run folders; returns the result rows."""
        rows = self.rows(order, expected)
        extra = [c for row in rows for c in row if c not in RESULT_COLUMNS and c not in _EXTRA_RESULT_COLUMNS]
        columns = list(RESULT_COLUMNS) + list(_EXTRA_RESULT_COLUMNS) + list(dict.fromkeys(extra))
        write_csv(self.root / "results.csv", rows, columns)
        summary = summarize(rows)
        write_csv(self.root / "summary.csv", summary)
        return rows

    def _report(self, run_id: str, message: str) -> None:
        if (run_id, message) not in self._reported:
            self._reported.add((run_id, message))
            _logger.warning(message)

    def _verify(self, run_id: str) -> str | None:
        """The manifest check of ``problem``, cached while the folder's files are unchanged."""
        directory = self.run_dir(run_id)
        signature = tuple(_signature(directory / name) for name in (MANIFEST, *_CHECKED_FILES))
        cached = self._verified.get(run_id)
        if cached is not None and cached[0] == signature:
            return cached[1]
        problem = self._verify_files(run_id, directory)
        self._verified[run_id] = (signature, problem)
        return problem

    def _verify_files(self, run_id: str, directory: Path) -> str | None:
        if not (directory / MANIFEST).is_file():
            if (directory / "metrics.json").is_file():
                return (
                    f"it has a metrics.json but no {MANIFEST}, the manifest a finished run writes last (the run was "
                    "interrupted while finishing, or written by an older fdpo)"
                )
            return "it was interrupted before it finished"
        try:
            manifest = read_json(directory / MANIFEST)
        except (OSError, ValueError) as error:
            return f"its {MANIFEST} cannot be read ({error})"
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
            return f"its {MANIFEST} is not a run manifest"
        if manifest.get("run_id") != run_id:
            return f"its {MANIFEST} is that of run {manifest.get('run_id')!r} (a copied folder?)"
        if self.shared_digest is not None and manifest.get("shared_digest") != self.shared_digest:
            return "it was computed with other shared settings than this sweep's (sweep.json)"
        for name in _CHECKED_FILES:
            recorded = manifest["files"].get(name)
            path = directory / name
            if recorded is None and name == "metrics.json":
                return f"its {MANIFEST} has no checksum of metrics.json"
            if recorded is None:
                continue
            if not path.is_file():
                return f"{name} is missing"
            if sha256_of(path) != recorded:
                return f"{name} does not match its checksum in {MANIFEST} (truncated or edited after the run)"
        return None


def _signature(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino)


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (the form a manifest holds)."""
    return json.loads(json.dumps(value, default=str))


@contextlib.contextmanager
def sweep_lock(root: str | os.PathLike) -> Iterator[None]:
    """An exclusive lock on the sweep directory, released by the OS even after ``kill -9``.

    Raises:
        SweepError: another process holds the lock.
    """
    root = Path(root)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; run one sweep per directory
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepError(
                f"Another sweep is running in {str(root)!r}. Wait for it to end or use another --output-dir."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_same_sweep(root: str | os.PathLike, config: SweepConfig, restart: bool = False) -> None:
    """Refuses to continue a sweep in ``root`` whose shared settings (``shared_dict``) differ from ``config``'s, once
    a trained run has finished there (it would be discarded). Before that, nothing binds: the baseline and the stage
    files record what they were made from and are redone when it changed.

    Raises:
        SweepConfigError: naming the first differences and the two ways out (another folder, or ``restart``).
    """
    root = Path(root)
    path = root / "sweep.json"
    if not path.is_file() or restart or not _holds_trained_runs(root):
        return  # a first attempt that failed before training anything binds nothing
    try:
        previous = read_json(path).get("shared", {})
    except (OSError, ValueError, AttributeError) as error:
        raise SweepConfigError(
            f"{path} cannot be read ({error}), so the finished runs in {root} cannot be matched to this config. "
            "Use another --output-dir, or restart the sweep (CLI: --restart) to discard them."
        ) from None
    current = config.shared_dict()
    if previous == current:
        return
    differences = _differences(previous, current)
    shown = "; ".join(differences[:6]) + (" ..." if len(differences) > 6 else "")
    raise SweepConfigError(
        f"{root} holds a sweep run with a different config ({shown}). Its finished runs would not match the new "
        "settings: use another --output-dir, or restart the sweep (CLI: --restart) to discard them. Only grid, "
        "report, name, device and save_models may change between reruns."
    )


def _holds_trained_runs(root: Path) -> bool:
    """Whether ``root`` holds a trained run that reached its end (what a different config would discard).

    The baseline and the stage files are not counted: their records say what they were made from, so they are
    redone when that changes.
    """
    runs = root / "runs"
    return runs.is_dir() and any(
        directory.name != BASELINE
        and ((directory / MANIFEST).is_file() or (directory / "metrics.json").is_file())
        for directory in runs.iterdir()
    )


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(dict.fromkeys([*old, *new])):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]
