"""The frontier study's settings (``FrontierSettings``, the ``frontier:`` section of a sweep YAML) and its config
(``frontier_config``: the sweep config and the settings, validated). Nothing here loads a model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fdpo.checks import positive_int_problems
from fdpo.frontier.table import DOMINANCE_MEASURES
from fdpo.report.summary import finite
from fdpo.settings import DIVERSITY_CRITERIA
from fdpo.sweep import SweepConfig, SweepConfigError

__all__ = ["FrontierSettings", "frontier_config"]


@dataclass
class FrontierSettings:
    """The levers of the frontier study (the ``frontier:`` section of a sweep YAML, or ``frontier.*`` overrides)."""

    baseline_divergence: str = field(
        default="reverse_kl", metadata={"help": "The divergence of standard DPO."}
    )
    baseline_beta: float = field(
        default=0.1, metadata={"help": "β of standard DPO, the configuration to beat."}
    )
    divpo: list[str] = field(
        default_factory=lambda: ["logprob"],
        metadata={
            "help": "DivPO diversity criteria (logprob, ngram); one DivPO policy per criterion and seed."
        },
    )
    divpo_quantiles: list[float] = field(
        default_factory=lambda: [0.5],
        metadata={
            "help": "DivPO reward pools, top/bottom share of each prompt's samples; a policy per value."
        },
    )
    divpo_ngram: int = field(default=2, metadata={"help": "n of the ngram criterion."})
    temperatures: list[float] = field(
        default_factory=lambda: [0.85], metadata={"help": "Evaluation sampling temperatures."}
    )
    interpolation: list[float] = field(
        default_factory=lambda: [0.5, 1.25],
        metadata={"help": "t of θ(t) = (1 − t)·θ_SFT + t·θ_policy (t > 1 extrapolates)."},
    )
    realignment: list[float] = field(
        default_factory=lambda: [0.5, 1.5],
        metadata={
            "help": "λ of decoding-time realignment: sample from softmax(λ·logits_policy + (1 − λ)·logits_SFT); "
            "λ < 1 moves towards the SFT model (as a larger β would), λ > 1 away from it."
        },
    )
    lever_bases: list[str] = field(
        default_factory=lambda: ["baseline", "divpo"],
        metadata={"help": "Policies the evaluation-only levers apply to: baseline and/or divpo."},
    )
    diversity: str = field(default="token_entropy", metadata={"help": "Diversity measure of on_front."})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, source: str = "frontier") -> FrontierSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        if data is not None and not isinstance(data, Mapping):
            raise SweepConfigError(
                f"{source}: frontier must be a mapping of frontier settings (e.g. frontier: {{temperatures: [0.8, "
                f"1.2]}}), got {data!r}. Known settings: {', '.join(sorted(known))}."
            )
        data = dict(data or {})
        unknown = [key for key in data if key not in known]
        if unknown:
            raise SweepConfigError(
                f"{source}: unknown frontier setting(s) {unknown}; known: {', '.join(sorted(known))}."
            )
        settings = cls(**data)
        settings.validate(source=source)
        return settings

    def validate(self, *, source: str = "frontier") -> None:
        """Checks every setting before anything is loaded; raises ``SweepConfigError`` listing the problems."""
        problems = []

        def numbers(name, values, low=None, allow_empty=True):
            if not isinstance(values, list) or (not values and not allow_empty):
                return [f"frontier.{name} must be a list of numbers, got {values!r}."]
            bad = [v for v in values if not finite(v) or (low is not None and v <= low)]
            if bad:
                bound = f" > {low}" if low is not None else ""
                return [f"frontier.{name} has {bad}; give finite numbers{bound}."]
            return [f"frontier.{name} has duplicates: {values}."] if len(set(values)) != len(values) else []

        problems += numbers("temperatures", self.temperatures, low=0)
        problems += numbers("interpolation", self.interpolation)
        problems += numbers("realignment", self.realignment)
        if not finite(self.baseline_beta) or self.baseline_beta <= 0:
            problems.append(f"frontier.baseline_beta must be a number > 0, got {self.baseline_beta!r}.")
        if not isinstance(self.divpo, list) or any(c not in DIVERSITY_CRITERIA for c in self.divpo):
            problems.append(
                f"frontier.divpo={self.divpo!r}: a list of {', '.join(DIVERSITY_CRITERIA)} (or [])."
            )
        quantiles = self.divpo_quantiles
        if not isinstance(quantiles, list) or any(not finite(q) or not 0 < q <= 0.5 for q in quantiles):
            problems.append(
                f"frontier.divpo_quantiles must be a list of numbers in (0, 0.5], got {quantiles!r}."
            )
        problems += positive_int_problems("frontier.divpo_ngram", self.divpo_ngram)
        if not isinstance(self.lever_bases, list) or any(
            b not in ("baseline", "divpo") for b in self.lever_bases
        ):
            problems.append(f"frontier.lever_bases={self.lever_bases!r}: a list of baseline and/or divpo.")
        if self.diversity not in DOMINANCE_MEASURES:
            problems.append(
                f"frontier.diversity={self.diversity!r}: use one of {', '.join(DOMINANCE_MEASURES)}."
            )
        try:
            from fdpo.divergences import get_divergence

            get_divergence(str(self.baseline_divergence))
        except (ValueError, TypeError, KeyError) as error:
            problems.append(f"frontier.baseline_divergence={self.baseline_divergence!r}: {error}")
        if problems:
            raise SweepConfigError(f"{source}: " + " ".join(problems))


def frontier_config(
    config: str | Path | Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    source: str | None = None,
    check_models: bool = True,
) -> tuple[SweepConfig, FrontierSettings]:
    """The sweep config and frontier settings of a study, validated, nothing loaded.

    Args:
        config: a sweep YAML file, or its contents as a dict, optionally with a ``frontier:`` section
            (``FrontierSettings``). ``fdpo frontier`` without ``--config`` gives the demo world's sweep.
        overrides: dotted ``KEY=VALUE`` overrides; ``frontier.*`` keys set the frontier settings.
        source: what error messages call the config (default: the file's path).
        check_models: check the model paths (``SweepConfig.from_dict``); a world's models are built on first use.
    """
    from fdpo.sweep import apply_overrides, load_yaml

    if isinstance(config, Mapping):
        data, source = config, source or "frontier config"
    else:
        data, source = load_yaml(config), source or str(config)
    data = apply_overrides(data, overrides)  # a copy
    settings = FrontierSettings.from_dict(data.pop("frontier", None), source=source)
    return SweepConfig.from_dict(data, source=source, check_models=check_models), settings
