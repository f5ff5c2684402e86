"""Tests for fdpo/frontier/plan.py: the configurations of the study, their names (derived from typed fields) and the
order in which the study runs their policies."""

from __future__ import annotations

import dataclasses

from fdpo.frontier.plan import Configuration, DivPOPairs, TrainedPolicy, plan_frontier
from fdpo.frontier.policy_transforms import Interpolation, Realignment, Temperature
from fdpo.frontier.settings import FrontierSettings
from fdpo.settings import PairSettings
from fdpo.sweep import SweepConfig

RKL = TrainedPolicy("reverse_kl", "sigmoid", 0.1)
FKL = TrainedPolicy("forward_kl", "sigmoid", 0.1)


def _config(**grid) -> SweepConfig:
    return SweepConfig.from_dict(
        {"sft_model": "org/sft", "reward_model": "org/reward", "prompts": {"texts": ["p"]}, "grid": grid},
        check_models=False,
    )


def test_realignment_is_planned_on_each_lever_base():
    """λ values are planned on standard DPO (and DivPO when it is a lever base); the default plans 0.5 and 1.5."""
    assert FrontierSettings().realignment == [0.5, 1.5]
    settings = FrontierSettings.from_dict(
        {"realignment": [0.5], "divpo": [], "temperatures": [], "interpolation": []}
    )
    realigned = [c for c in plan_frontier(_config(), settings).configurations if c.lever == "realignment"]
    assert realigned == [Configuration(RKL, Realignment(0.5))]
    assert realigned[0].setting == "RKL β=0.1 λ=0.5"


def test_plan_lists_the_table_in_order_and_runs_standard_dpo_then_divpo_first():
    """Table: standard DPO (the baseline), the SFT model, the grid's other cells, the DivPO policies, then each
    transform on each lever base. Runs: standard DPO, the DivPO policies (the candidates), SFT, the other cells."""
    settings = FrontierSettings.from_dict(
        {
            "divpo": ["logprob", "ngram"],
            "divpo_quantiles": [0.25],
            "divpo_ngram": 3,
            "temperatures": [0.8],
            "interpolation": [1.25],
            "realignment": [],
        }
    )
    plan = plan_frontier(_config(divergences=["forward_kl", "reverse_kl"]), settings)
    logprob = dataclasses.replace(RKL, divpo=DivPOPairs("logprob", 0.25, 3))
    ngram = dataclasses.replace(RKL, divpo=DivPOPairs("ngram", 0.25, 3))
    assert [(c.lever, c.setting) for c in plan.configurations] == [
        ("divergence", "RKL β=0.1"),
        ("sft", "SFT"),
        ("divergence", "FKL β=0.1"),
        ("divpo", "DivPO logprob q=0.25 RKL β=0.1"),
        ("divpo", "DivPO ngram q=0.25 RKL β=0.1"),
        ("temperature", "RKL β=0.1 T=0.8"),
        ("interpolation", "RKL β=0.1 t=1.25"),
        ("temperature", "DivPO logprob q=0.25 T=0.8"),
        ("interpolation", "DivPO logprob q=0.25 t=1.25"),
        ("temperature", "DivPO ngram q=0.25 T=0.8"),
        ("interpolation", "DivPO ngram q=0.25 t=1.25"),
    ]
    assert plan.baseline == Configuration(RKL)
    assert plan.configurations[-1] == Configuration(ngram, Interpolation(1.25))
    assert plan.policies == (RKL, logprob, ngram, None, FKL)
    assert {c.policy for c in plan.configurations} == set(plan.policies)


def test_names_are_derived_from_the_fields():
    divpo = DivPOPairs("logprob", 0.5, ngram=2)
    policy = dataclasses.replace(RKL, divpo=divpo)
    assert divpo.name == "divpo-logprob-q0.5"
    assert divpo.pair_settings(PairSettings(samples_per_prompt=8)) == PairSettings(
        samples_per_prompt=8, strategy="divpo", diversity="logprob", quantile=0.5, ngram=2
    )
    assert (RKL.pairs, policy.pairs) == ("pairs", "divpo-logprob-q0.5")
    assert policy.policy_id(1) == "divpo-logprob-q0.5__reverse_kl__sigmoid__beta0.1__seed1"
    assert RKL.run(3).run_id == "reverse_kl__sigmoid__beta0.1__seed3"
    realigned = Configuration(policy, Realignment(1.5))
    assert (realigned.lever, realigned.setting) == ("realignment", "DivPO logprob q=0.5 λ=1.5")
    assert realigned.run_id(0) == "realignment__DivPO-logprob-q0.5-lambda1.5__seed0"
    assert Configuration(RKL, Temperature(0.85)).configuration_id == "temperature__RKL-beta0.1-T0.85"
    assert Configuration(None).configuration_id == "sft__SFT"
    assert realigned.record() == {
        "lever": "realignment",
        "setting": "DivPO logprob q=0.5 λ=1.5",
        "pairs": "divpo-logprob-q0.5",
        "divergence": "reverse_kl",
        "loss_type": "sigmoid",
        "beta": 0.1,
        "transform": ["realignment", 1.5],
    }


def test_labels_name_the_loss_type_when_the_grid_has_several():
    """With two loss types every cell's label names its loss; the flag is not part of a policy's identity."""
    settings = FrontierSettings.from_dict(
        {"divpo": [], "temperatures": [], "interpolation": [], "realignment": []}
    )
    plan = plan_frontier(_config(loss_types=["sigmoid", "ipo"]), settings)
    assert [c.setting for c in plan.configurations] == ["RKL sigmoid β=0.1", "SFT", "RKL ipo β=0.1"]
    assert plan.baseline.policy == RKL and hash(plan.baseline.policy) == hash(RKL)
