"""What the frontier study runs, as typed values: the policies it trains (``TrainedPolicy``, on DivPO pairs
``DivPOPairs`` or the sweep's own), the configurations it evaluates (``Configuration``: a policy, or the SFT model,
sampled as it is or through a ``PolicyTransform``) and their order (``FrontierPlan``, made by ``plan_frontier``).

Every name (a configuration's ``setting`` and run folder, a policy's folder, a DivPO pair set's files) is derived from
these fields; nothing is read back out of a name. Nothing here loads a model; ``fdpo.frontier.study`` runs the plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from fdpo.frontier.policy_transforms import Interpolation, PolicyTransform, Realignment, Temperature
from fdpo.frontier.settings import FrontierSettings
from fdpo.report import configuration_label
from fdpo.sweep import RunSpec, SweepConfig

if TYPE_CHECKING:
    from fdpo.settings import PairSettings

__all__ = ["Configuration", "DivPOPairs", "FrontierPlan", "TrainedPolicy", "plan_frontier"]


@dataclass(frozen=True)
class DivPOPairs:
    """A DivPO pair set, built from the sweep's own samples and rewards (``fdpo.pairs.build_pairs``, strategy divpo).

    Args:
        criterion: how a sample's diversity is measured (``fdpo.settings.DIVERSITY_CRITERIA``: logprob, ngram).
        quantile: the top/bottom share of each prompt's samples by reward that make the two pools.
        ngram: n of the ngram criterion.
    """

    criterion: str
    quantile: float
    ngram: int = 2

    @property
    def name(self) -> str:
        """``divpo-<criterion>-q<quantile>``: the stem of its files and the prefix of its policies' folders."""
        return f"divpo-{self.criterion}-q{self.quantile:g}"

    @property
    def label(self) -> str:
        return f"DivPO {self.criterion} q={self.quantile:g}"

    def pair_settings(self, pairs: PairSettings) -> PairSettings:
        """The sweep's pair settings ``pairs`` with this pair set's strategy and options."""
        return replace(
            pairs, strategy="divpo", diversity=self.criterion, quantile=self.quantile, ngram=self.ngram
        )


@dataclass(frozen=True)
class TrainedPolicy:
    """A policy the study trains once per seed: a grid cell (divergence, loss type, β) and the pairs it learns from.

    Args:
        divpo: the DivPO pair set it learns from; None: the sweep's pairs.
        with_loss: its label names the loss type (the plan's cells have several); not part of its identity.
    """

    divergence: str
    loss_type: str
    beta: float
    divpo: DivPOPairs | None = None
    with_loss: bool = field(default=False, compare=False)

    @property
    def pairs(self) -> str:
        """The name of its pair set: ``pairs`` (the sweep's) or the DivPO set's."""
        return "pairs" if self.divpo is None else self.divpo.name

    @property
    def cell_label(self) -> str:
        """Its grid cell as the tables name it: ``RKL β=0.1``."""
        return configuration_label(
            self.divergence, self.loss_type, self.beta, with_loss=self.with_loss, with_beta=True
        )

    @property
    def label(self) -> str:
        """``RKL β=0.1``, or on DivPO pairs ``DivPO logprob q=0.5 RKL β=0.1``."""
        return self.cell_label if self.divpo is None else f"{self.divpo.label} {self.cell_label}"

    def run(self, seed: int) -> RunSpec:
        """Its training run at ``seed``, as the sweep's grid names it."""
        return RunSpec(self.divergence, self.loss_type, self.beta, seed)

    def policy_id(self, seed: int) -> str:
        """The folder name of its policy trained at ``seed``: ``<pairs>__<run id>``."""
        return f"{self.pairs}__{self.run(seed).run_id}"


@dataclass(frozen=True)
class Configuration:
    """One point of the front, evaluated on every seed: a trained policy (None: the SFT model), sampled as it is or
    through ``transform``."""

    policy: TrainedPolicy | None = None
    transform: PolicyTransform | None = None

    @property
    def lever(self) -> str:
        """What moves it: ``sft``, ``divergence``, ``divpo``, or the transform's lever (``temperature``, ...)."""
        if self.transform is not None:
            return self.transform.lever
        if self.policy is None:
            return "sft"
        return "divergence" if self.policy.divpo is None else "divpo"

    @property
    def setting(self) -> str:
        """Its label in the tables: ``RKL β=0.1``, ``SFT``, ``RKL β=0.1 T=0.8``, ``DivPO logprob q=0.5 t=0.5``
        (a DivPO policy's cell is left out after a transform: DivPO policies are trained on the baseline's)."""
        if self.policy is None:
            return "SFT"
        if self.transform is None:
            return self.policy.label
        base = self.policy.cell_label if self.policy.divpo is None else self.policy.divpo.label
        return f"{base} {self.transform.label}"

    @property
    def configuration_id(self) -> str:
        """Its run folders' stem, ``<lever>__<setting>`` in file-name characters: ``temperature__RKL-beta0.1-T0.8``."""
        text = f"{self.lever}__{self.setting}"
        for symbol, name in (("β", "beta"), ("α", "alpha"), ("λ", "lambda"), ("=", "")):
            text = text.replace(symbol, name)
        return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")

    def run_id(self, seed: int) -> str:
        return f"{self.configuration_id}__seed{seed}"

    def record(self) -> dict[str, Any]:
        """What its runs' config.json holds."""
        policy, transform = self.policy, self.transform
        return {
            "lever": self.lever,
            "setting": self.setting,
            "pairs": None if policy is None else policy.pairs,
            "divergence": None if policy is None else policy.divergence,
            "loss_type": None if policy is None else policy.loss_type,
            "beta": None if policy is None else policy.beta,
            "transform": None if transform is None else [transform.lever, transform.value],
        }


@dataclass(frozen=True)
class FrontierPlan:
    """The configurations of the study, in the order of its table, and the order in which it runs their policies.

    Args:
        configurations: standard DPO (the baseline) first, then the SFT model, the sweep's other grid cells, the
            DivPO policies, and each transform on each of its base policies.
        policies: every trained policy of the configurations, and None (the SFT model), in the order the study
            trains and evaluates them, each on every seed before the next: standard DPO first, then DivPO's (the
            candidates), the SFT model, the other divergences; an interrupted study then holds whole families.
    """

    configurations: tuple[Configuration, ...]
    policies: tuple[TrainedPolicy | None, ...]

    @property
    def baseline(self) -> Configuration:
        return self.configurations[0]


def plan_frontier(config: SweepConfig, settings: FrontierSettings) -> FrontierPlan:
    """The configurations of the study and their order, the baseline (standard DPO) first."""
    from fdpo.divergences import get_divergence

    baseline_cell = (
        get_divergence(str(settings.baseline_divergence)).spec,
        "sigmoid",
        float(settings.baseline_beta),
    )
    cells = [(run.divergence, run.loss_type, run.beta) for run in config.runs()]
    cells = list(dict.fromkeys([baseline_cell, *cells]))
    with_loss = len({loss for _, loss, _ in cells}) > 1
    standard, *others = [TrainedPolicy(*cell, with_loss=with_loss) for cell in cells]
    divpo = [
        replace(standard, divpo=DivPOPairs(criterion, float(quantile), settings.divpo_ngram))
        for criterion in settings.divpo
        for quantile in settings.divpo_quantiles
    ]
    bases = ([standard] if "baseline" in settings.lever_bases else []) + (
        divpo if "divpo" in settings.lever_bases else []
    )
    transforms = [
        *(Temperature(float(value)) for value in settings.temperatures),
        *(Interpolation(float(value)) for value in settings.interpolation),
        *(Realignment(float(value)) for value in settings.realignment),
    ]
    # The table's order; the runs' order (FrontierPlan.policies) puts the candidates, DivPO's, right after standard DPO.
    configurations = (
        Configuration(standard),
        Configuration(None),
        *(Configuration(policy) for policy in [*others, *divpo]),
        *(Configuration(base, transform) for base in bases for transform in transforms),
    )
    return FrontierPlan(configurations, (standard, *divpo, None, *others))
