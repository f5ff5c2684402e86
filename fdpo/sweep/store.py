"""Where a sweep keeps its runs: ``RunStore`` (one folder per run, finished iff its metrics.json exists), the lock
that keeps a second sweep out of the folder, and the check that a rerun belongs to the same sweep."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fdpo._io import read_json, write_csv, write_json, write_jsonl
from fdpo.evaluation import METRIC_COLUMNS
from fdpo.report import summarize
from fdpo.sweep.errors import SweepConfigError, SweepError

if TYPE_CHECKING:
    from fdpo.sweep.config import SweepConfig

__all__ = ["RESULT_COLUMNS", "RunStore", "check_same_sweep", "sweep_lock"]

#: Columns of results.csv, in order (extra columns follow them).
RESULT_COLUMNS = ("run_id", "divergence", "loss_type", "beta", "seed", *METRIC_COLUMNS, "train_seconds")
_EXTRA_RESULT_COLUMNS = (
    "reward_logit_std",
    "reward_prob_std",
    "self_bleu",
    "num_eval_samples",
    "eval_seconds",
)


class RunStore:
    """The run directories of a sweep: ``<root>/runs/<run_id>/{config.json, generations.jsonl, metrics.json}``.

    A run is finished if and only if its metrics.json exists; it is written last, atomically, so a run killed at any
    moment is either finished with all its files or unfinished (and redone by ``begin``).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.runs_dir = self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def is_finished(self, run_id: str) -> bool:
        return (self.run_dir(run_id) / "metrics.json").is_file()

    def begin(self, run_id: str, config: Mapping[str, Any]) -> Path:
        """Clears whatever an unfinished earlier attempt left and writes the run's config.json."""
        if self.is_finished(run_id):
            raise RuntimeError(f"Run {run_id!r} is already finished; it must not be started again.")
        directory = self.run_dir(run_id)
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        write_json(directory / "config.json", config)
        return directory

    def finish(
        self, run_id: str, row: Mapping[str, Any], generations: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        """Writes generations.jsonl, then metrics.json (the marker that the run is finished)."""
        directory = self.run_dir(run_id)
        write_jsonl(directory / "generations.jsonl", generations)
        write_json(directory / "metrics.json", dict(row))

    def load_row(self, run_id: str) -> dict[str, Any]:
        return read_json(self.run_dir(run_id) / "metrics.json")

    def finished_ids(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.name for p in self.runs_dir.iterdir() if (p / "metrics.json").is_file())

    def rows(self, order: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Rows of every finished run: those in ``order`` first, in that order, then the others by id."""
        finished = self.finished_ids()
        rank = {run_id: index for index, run_id in enumerate(order)}
        finished.sort(key=lambda run_id: (rank.get(run_id, len(rank)), run_id))
        return [self.load_row(run_id) for run_id in finished]

    def write_tables(self, order: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Regenerates results.csv and summary.csv from the run directories; returns the result rows."""
        rows = self.rows(order)
        extra = [c for row in rows for c in row if c not in RESULT_COLUMNS and c not in _EXTRA_RESULT_COLUMNS]
        columns = list(RESULT_COLUMNS) + list(_EXTRA_RESULT_COLUMNS) + list(dict.fromkeys(extra))
        write_csv(self.root / "results.csv", rows, columns)
        summary = summarize(rows)
        write_csv(self.root / "summary.csv", summary)
        return rows


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
    """Refuses to continue a sweep in ``root`` whose shared settings (``shared_dict``) differ from ``config``'s.

    Raises:
        SweepConfigError: naming the first differences and the two ways out (another folder, or ``restart``).
    """
    root = Path(root)
    path = root / "sweep.json"
    if not path.is_file() or restart:
        return
    previous = read_json(path).get("shared", {})
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


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(dict.fromkeys([*old, *new])):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]
