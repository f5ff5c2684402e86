"""The pair stages' files of a sweep (SFT samples, their rewards, the pairs, the pairs with reference log-probs),
where each pair set lives, and ``StageFiles``, which trusts a stage file only when it matches its recorded checksum
and the settings it was made from."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fdpo._io import read_json, sha256_of, write_json
from fdpo.sweep.store import config_digest

__all__ = ["PAIR_DRAWS_FOLDER", "STAGE_FILES", "STAGE_MANIFEST", "StageFiles", "pair_stage_folder"]

_logger = logging.getLogger("fdpo.sweep")

#: Files of the shared stages (samples, scores, pairs, pairs with reference log-probs), in the order they are made.
STAGE_FILES = ("pair_samples.jsonl", "pair_scores.json", "pairs.jsonl", "pairs_with_ref.jsonl")
#: Checksums of the stage files, written after each stage.
STAGE_MANIFEST = "stages.json"


#: Where the pair stages of each training seed live when every seed draws its own pairs (``pairs.draw: per_seed``).
PAIR_DRAWS_FOLDER = "pairs"


def pair_stage_folder(root: str | os.PathLike, draw: str, seed: int | None) -> Path:
    """The folder holding the stage files (and their ``stages.json``) of the pairs a run with seed ``seed`` trains
    on: the sweep folder itself for one shared pair set, ``pairs/seed-<seed>`` when every seed draws its own."""
    if draw == "shared":
        return Path(root)
    if seed is None:
        raise ValueError("Every seed draws its own pairs (pairs.draw: per_seed): name the run's seed.")
    return Path(root) / PAIR_DRAWS_FOLDER / f"seed-{int(seed)}"


#: What each stage file is made from: the keys of ``SweepConfig.shared_dict()`` (``section.key`` for one key of a
#: section), each stage adding to the one before.
_STAGE_INPUTS = {
    "pair_samples.jsonl": ("sft_model", "prompts", "generation", "pairs.samples_per_prompt", "pairs.batch_size",
                           "pairs.seed", "pairs.draw"),
    "pair_scores.json": ("reward_model", "reward"),
    "pairs.jsonl": ("pairs",),
    "pairs_with_ref.jsonl": ("training", "reuse_reference_log_probs"),
}  # fmt: skip


def _stage_input_digests(shared: Mapping[str, Any]) -> dict[str, str]:
    digests, inputs = {}, {}
    for name in STAGE_FILES:
        for key in _STAGE_INPUTS[name]:
            section, _, item = key.partition(".")
            value = shared.get(section)
            inputs[key] = value.get(item) if item and isinstance(value, Mapping) else value
        digests[name] = config_digest(inputs)
    return digests


class StageFiles:
    """The shared stages' files of a sweep folder, trusted only when they match what was recorded after writing.

    ``stages.json`` records, for each stage file, its checksum and a digest of the settings it was made from (the
    models, prompts and sampling for the samples, plus the reward model for the scores, the pair settings for the
    pairs, the training arguments for the reference log-probs). On creation, a stage file that does not match its
    checksum (truncated or edited, or written without a record) or was made from other settings is removed, with
    every later stage file (each is made from the one before), and a warning on the ``fdpo.sweep`` logger says which
    and why: those stages run again.

    Args:
        root: the sweep folder.
        shared: the sweep's shared settings (``SweepConfig.shared_dict()``); without them only checksums are compared.
    """

    def __init__(self, root: str | os.PathLike, shared: Mapping[str, Any] | None = None):
        self.root = Path(root)
        self.manifest = self.root / STAGE_MANIFEST
        try:
            recorded = read_json(self.manifest) if self.manifest.is_file() else {}
        except (OSError, ValueError):
            recorded = {}
        recorded = recorded if isinstance(recorded, dict) else {}
        self.recorded: dict[str, dict[str, Any]] = {k: v for k, v in recorded.items() if isinstance(v, dict)}
        self.inputs = None if shared is None else _stage_input_digests(shared)
        stale = None  # the first stage file not to be trusted
        for name in STAGE_FILES:
            path = self.root / name
            problem = self._problem(name, path) if stale is None and path.is_file() else None
            if problem is not None:
                stale = name
                _logger.warning(f"{name} is made again: {problem}.")
            elif stale is not None and path.is_file():
                _logger.warning(f"{name} is made again: it is made from {stale}, which is made again.")
            if stale is not None:
                path.unlink(missing_ok=True)
                self.recorded.pop(name, None)

    def _problem(self, name: str, path: Path) -> str | None:
        record = self.recorded.get(name)
        if record is None:
            return f"it has no checksum in {STAGE_MANIFEST} (written by an older fdpo, or interrupted)"
        if record.get("sha256") != sha256_of(path):
            return f"it does not match its checksum in {STAGE_MANIFEST} (truncated or edited)"
        if self.inputs is not None and record.get("inputs") != self.inputs[name]:
            keys = ", ".join(
                key for stage in STAGE_FILES[: STAGE_FILES.index(name) + 1] for key in _STAGE_INPUTS[stage]
            )
            return f"it was made from other settings (it depends on {keys})"
        return None

    def trusted(self, name: str) -> bool:
        """Whether the stage file ``name`` exists (and, as checked on creation, matches its record)."""
        return (self.root / name).is_file() and name in self.recorded

    def record(self, name: str) -> None:
        """Records the checksum (and the settings' digest) of the stage file ``name``, just written."""
        self.recorded[name] = {
            "sha256": sha256_of(self.root / name),
            "inputs": None if self.inputs is None else self.inputs[name],
        }
        write_json(self.manifest, self.recorded)
