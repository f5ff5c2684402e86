"""The grid of a sweep: its section (``grid:``), its cells (``RunSpec``) and their run ids.

The grid is every divergence × loss type × β × seed. β comes from ``grid.betas``, or per divergence from
``grid.beta_per_divergence`` (a key with parameters such as ``alpha:0.3`` wins over the bare name ``alpha``, which
covers every α). Each cell has a run id that names its folder (``make_run_id``), so two cells must never share one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fdpo.checks import beta_problems, choice_problems, seed_problems
from fdpo.losses import LOSS_TYPES

__all__ = ["GridSettings", "RunSpec", "make_run_id"]

LossType = Literal[LOSS_TYPES]


@dataclass
class GridSettings:
    """The grid of runs: every divergence × loss_type × beta × seed."""

    divergences: list[str] = field(
        default_factory=lambda: ["reverse_kl"],
        metadata={
            "help": "Divergence names or specs (reverse_kl, jensen_shannon, forward_kl, alpha:0.3, ...)."
        },
    )
    loss_types: list[LossType] = field(
        default_factory=lambda: ["sigmoid"], metadata={"help": ", ".join(LOSS_TYPES) + "."}
    )
    betas: list[float] = field(
        default_factory=lambda: [0.1], metadata={"help": "β values for every divergence."}
    )
    beta_per_divergence: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "β per divergence, replacing betas: keys are a name (alpha: all α) or a spec (alpha:0.3, which "
            "wins over the name); values a number or a list."
        },
    )
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "Training and evaluation seeds."})

    def problems(self) -> list[str]:
        from fdpo.divergences import get_divergence, list_divergences

        problems = []
        lists = {}
        for name in ("divergences", "loss_types", "betas", "seeds"):
            value = getattr(self, name)
            if not isinstance(value, list):
                problems.append(f"grid.{name} must be a list, got {value!r}; write e.g. {name}: [{value}].")
                value = []
            elif not value:
                problems.append(f"The grid has no runs: grid.{name} is empty. Give at least one value.")
            lists[name] = value
        specs = []
        for index, divergence in enumerate(lists["divergences"]):
            try:
                spec = get_divergence(str(divergence)).spec
            except (ValueError, TypeError, KeyError) as error:
                message = str(error)
                registered = list_divergences()
                if not all(name in message for name in registered):
                    message += f" Registered: {', '.join(registered)} (parameters as in alpha:0.3)."
                problems.append(f"grid.divergences[{index}]={divergence!r}: {message}")
                continue
            if spec in specs:
                problems.append(f"grid.divergences lists {spec!r} twice; list each divergence once.")
            specs.append(spec)
        problems += choice_problems(self, "grid")
        if len(set(map(str, lists["loss_types"]))) != len(lists["loss_types"]):
            problems.append(f"grid.loss_types={self.loss_types!r} has duplicates.")
        if lists["betas"]:
            problems += beta_problems("grid.betas", lists["betas"])
        problems += seed_problems("grid.seeds", lists["seeds"])
        if len(set(map(repr, lists["seeds"]))) != len(lists["seeds"]):
            problems.append(f"grid.seeds={self.seeds!r} has duplicates.")
        if not isinstance(self.beta_per_divergence, Mapping):
            problems.append(
                f"grid.beta_per_divergence must be a mapping divergence -> beta(s), got {self.beta_per_divergence!r}."
            )
            return problems
        # A key for a divergence the grid does not list is allowed (a shared config narrowed by an override);
        # a key that names no registered divergence at all is a typo.
        registered = set(list_divergences())
        for key, value in self.beta_per_divergence.items():
            name, _, arguments = str(key).partition(":")
            valid, reason = name in registered, ""
            if valid and arguments:
                try:
                    get_divergence(str(key))
                except (ValueError, TypeError, KeyError) as error:
                    valid, reason = False, f" ({error})"
            if not valid:
                problems.append(
                    f"grid.beta_per_divergence has key {key!r}, which is not a divergence name or spec{reason} "
                    f"(registered: {', '.join(sorted(registered))}; grid.divergences: {', '.join(dict.fromkeys(specs))})."
                )
            problems += beta_problems(f"grid.beta_per_divergence[{key!r}]", value)
        return problems

    def runs(self) -> list[RunSpec]:
        """The grid's runs in order: divergence, then loss type, then β, then seed."""
        runs = []
        for divergence in self.divergences:
            spec = _canonical_spec(str(divergence))
            for loss_type in self.loss_types:
                for beta in self.betas_for(spec):
                    for seed in self.seeds:
                        runs.append(RunSpec(spec, str(loss_type), float(beta), int(seed)))
        return runs

    def betas_for(self, divergence: str) -> list[float]:
        """β values for a divergence spec: ``beta_per_divergence[spec]``, else ``[name]``, else ``betas``."""
        return self.beta_source(divergence)[1]

    def beta_source(self, divergence: str) -> tuple[str, list[float]]:
        """``betas_for`` and the key the values come from (``grid.beta_per_divergence['alpha']``, ``grid.betas``)."""
        spec = _canonical_spec(divergence)
        name = spec.partition(":")[0]
        # A key with parameters ("alpha:0.30") is canonicalized; a bare name ("alpha") stays a name, even when the
        # registry would resolve it to a default spec, so that it covers every α.
        table = {_beta_key(str(key)): (key, value) for key, value in self.beta_per_divergence.items()}
        for key in (spec, name):
            if key in table:
                original, value = table[key]
                values = value if isinstance(value, list) else [value]
                return f"grid.beta_per_divergence[{original!r}]", [float(v) for v in values]
        return "grid.betas", [float(v) for v in self.betas]

    def run_id_problems(self) -> list[str]:
        """Two grid cells that would share a run folder (and so one result), each pair named once."""
        seen: dict[str, RunSpec] = {}
        problems: dict[tuple, str] = {}
        for run in self.runs():
            other = seen.setdefault(run.run_id, run)
            if other is run:
                continue
            if (other.divergence, other.loss_type) == (
                run.divergence,
                run.loss_type,
            ) and other.beta != run.beta:
                source = self.beta_source(run.divergence)[0]
                problems[(run.divergence, other.beta, run.beta)] = (
                    f"{source} has β={other.beta!r} and β={run.beta!r} for {run.divergence}, which share the run id "
                    f"{run.run_id!r} (a run id keeps 6 significant digits of β), so the second would never be "
                    "trained. Make the values differ within 6 significant digits, or drop one."
                )
            elif other == run:
                source = self.beta_source(run.divergence)[0]
                problems[(run.divergence, run.beta)] = (
                    f"{source} lists β={run.beta!r} twice for {run.divergence}: run {run.run_id!r} would be "
                    "counted twice. List each β once."
                )
            else:
                problems[(other, run)] = (
                    f"grid cells {other} and {run} share the run id {run.run_id!r}, so one would never be trained. "
                    "Change one of them."
                )
        return list(problems.values())


@dataclass(frozen=True)
class RunSpec:
    """One grid cell: a divergence spec (canonical), a loss type, β and a seed."""

    divergence: str
    loss_type: str
    beta: float
    seed: int

    @property
    def run_id(self) -> str:
        """Directory name of the run, e.g. ``alpha-0.3__sigmoid__beta0.01__seed0``."""
        return make_run_id(self.divergence, self.loss_type, self.beta, self.seed)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, **dataclasses.asdict(self)}


def make_run_id(divergence: str, loss_type: str, beta: float, seed: int) -> str:
    """A file-system-safe, unique, readable run id: ``<divergence>__<loss_type>__beta<β>__seed<seed>``.

    Characters outside ``[A-Za-z0-9._-]`` in the divergence spec become ``-`` (``alpha:0.3`` → ``alpha-0.3``).
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", divergence).strip("-")
    return f"{slug}__{loss_type}__beta{float(beta):g}__seed{int(seed)}"


def _canonical_spec(divergence: str) -> str:
    from fdpo.divergences import get_divergence

    try:
        return get_divergence(divergence).spec
    except (ValueError, TypeError, KeyError):
        return divergence


def _beta_key(key: str) -> str:
    return _canonical_spec(key) if ":" in key else key
