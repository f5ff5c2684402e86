"""Tests for fdpo/report/verdict.py: the claims judged along reverse KL → forward KL."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _report_data import sweep_dir

from fdpo._io import read_csv
from fdpo.report import (
    sweep_replicates,
    verdict,
    verdict_lines,
)


def _family(means: dict[str, list[float]], divergences=None, seeds=(0, 1, 2), noise=0.01):
    """Results rows of a family: for each metric, the configuration means in family order, ± noise by seed (the
    offsets rotate with the position, so that each configuration's seeds differ from its neighbours')."""
    divergences = divergences or [
        "reverse_kl",
        "jensen_shannon",
        "alpha:0.3",
        "alpha:0.5",
        "alpha:0.7",
        "forward_kl",
    ]
    rows = [dict(run_id="sft", divergence="sft", loss_type="", beta=None, seed=0,
                 **{metric: values[0] for metric, values in means.items()})]  # fmt: skip
    offsets = np.array([-1.0, 0.0, 1.0, 0.5, -0.5])[: len(seeds)] * noise
    for position, divergence in enumerate(divergences):
        for seed, offset in zip(seeds, np.roll(offsets, position), strict=False):
            row = dict(
                run_id=f"{divergence}-{seed}", divergence=divergence, loss_type="sigmoid", beta=0.1, seed=seed
            )
            row.update({metric: values[position] + offset for metric, values in means.items()})
            rows.append(row)
    return rows


KNOWN_FAMILY = {
    "reward_logit_mean": [3.0, 2.8, 2.5, 2.2, 2.0, 1.5],  # falls cleanly: holds
    "predictive_entropy": [1.6, 1.58, 1.55, 1.54, 1.5, 1.45],  # falls: reversed
    "token_entropy": [5.0, 5.001, 4.999, 5.0, 5.002, 5.003],  # flat within noise: does not hold
    "distinct_2": [0.2, 0.25, 0.21, 0.26, 0.19, 0.3],  # ends apart, order scrambled: does not hold
    "kl_to_ref": [30.0, 25.0, 20.0, 15.0, 10.0, 5.0],  # falls: holds
}


def test_verdict_on_a_family_with_known_outcomes():
    (family,) = verdict(_family(KNOWN_FAMILY))
    assert family.reason == "" and family.labels == ("RKL", "JS", "α=0.3", "α=0.5", "α=0.7", "FKL")
    outcomes = {judged.claim.metric: judged.outcome for judged in family.claims}
    assert outcomes == {
        "reward_logit_mean": "holds",
        "predictive_entropy": "reversed",
        "token_entropy": "does not hold",
        "distinct_2": "does not hold",
        "kl_to_ref": "holds",
    }
    reward = family.claims[0]
    assert reward.rho == pytest.approx(-1.0)
    # Seeds only, paired by seed: the ends' offsets are (−1, 0, 1)·0.01 and, rotated 5 places, (0, 1, −1)·0.01.
    differences = np.array([1.0, 1.0, -2.0]) * 0.01
    assert reward.gap.value == pytest.approx(-1.5) and reward.gap.paired_seeds
    assert reward.gap.se == pytest.approx(differences.std(ddof=1) / math.sqrt(3))  # = 0.01
    lines = verdict_lines([family])
    assert lines[0].startswith("Along RKL → JS → α=0.3 → α=0.5 → α=0.7 → FKL: a claim holds")
    assert len(lines) == 6
    assert lines[1].startswith(
        "- reward falls: **holds** — ρ = −1.00; FKL − RKL = −1.500 ± 0.01 (seeds only, paired by seed)"
    )
    assert lines[2].startswith("- predictive entropy rises: **reversed** — ρ = −1.00")
    # the 95% Student-t interval at the gap's 2 degrees of freedom: −1.5 ± 4.303 · 0.01
    assert "; 95% t interval −1.500 [−1.543, −1.457] (t −150.0, df 2, p " in lines[1]
    assert "Student-t interval of FKL − RKL" in lines[0]
    assert reward.comparison.df == 2.0 and reward.comparison.outcome == "lower"


def test_verdict_needs_the_t_quantile_and_says_equivalent_within_a_bound():
    """Token entropy's ends differ by +0.003 with seed differences (1, 1, −2)·0.01: not a rise; with a bound of
    0.1 the 90% interval 0.003 ± 2.92 · 0.01 lies inside ±0.1: equivalent. A gap of 4.2 SE at 2 df does not hold
    (p 0.052), though it would against a normal 3."""
    (family,) = verdict(_family(KNOWN_FAMILY), bounds={"token_entropy": 0.1})
    token = next(c for c in family.claims if c.claim.metric == "token_entropy")
    assert token.outcome == "equivalent" and token.comparison.bound == 0.1
    assert "**equivalent**" in verdict_lines([family])[3] and "TOST p" in verdict_lines([family])[3]
    means = {"reward_logit_mean": [3.0, 2.99, 2.98, 2.97, 2.96, 2.958]}  # −0.042 ± 0.01 at the ends: 4.2 SE
    (family,) = verdict(_family(means))
    assert family.claims[0].gap.z == pytest.approx(-4.2) and family.claims[0].outcome == "does not hold"


def test_verdict_pairs_by_seed_only_when_both_ends_ran_the_same_seeds():
    """Ends with other seed sets (or a repeated seed) are compared as independent runs: √(s_a²/S_a + s_b²/S_b)."""
    rows = [
        row for row in _family(KNOWN_FAMILY) if not (row["divergence"] == "forward_kl" and row["seed"] == 2)
    ]
    rows.append({**rows[-1], "run_id": "forward_kl-7", "seed": 7})
    (family,) = verdict(rows)
    reward = family.claims[0]
    fkl = [row["reward_logit_mean"] for row in rows if row["divergence"] == "forward_kl"]
    rkl = [row["reward_logit_mean"] for row in rows if row["divergence"] == "reverse_kl"]
    assert not reward.gap.paired_seeds
    assert reward.gap.se == pytest.approx(math.sqrt(np.var(fkl, ddof=1) / 3 + np.var(rkl, ddof=1) / 3))
    assert "(seeds only)" in verdict_lines([family])[1]


def test_verdict_reads_a_family_listed_from_forward_kl_backwards():
    divergences = ["forward_kl", "alpha:0.5", "reverse_kl"]
    means = {"reward_logit_mean": [1.0, 2.0, 3.0], "distinct_2": [0.3, 0.25, 0.2]}
    (family,) = verdict(_family(means, divergences))
    assert family.labels == ("RKL", "α=0.5", "FKL")
    assert [(c.claim.metric, c.outcome) for c in family.claims if c.outcome != "no verdict"] == [
        ("reward_logit_mean", "holds"),
        ("distinct_2", "holds"),
    ]
    assert [c.reason for c in family.claims if c.outcome == "no verdict"] == ["not measured"] * 3
    assert verdict_lines([family])[2] == "- predictive entropy rises: no verdict (not measured)"


@pytest.mark.parametrize(
    ("divergences", "seeds", "reason"),
    [
        (["reverse_kl", "jensen_shannon", "alpha:0.5"], (0, 1), "no forward_kl configuration"),
        (["alpha:0.3", "alpha:0.7"], (0, 1), "no reverse_kl and no forward_kl configuration"),
        (["reverse_kl", "forward_kl"], (0,), "at least two seeds each"),
        (["jensen_shannon", "reverse_kl", "forward_kl"], (0, 1), "the grid lists JS → RKL → FKL"),
        (["chi_squared_kl"], (0, 1), "no reverse KL, JS, α or forward KL configuration"),
    ],
)
def test_no_verdict_says_why(divergences, seeds, reason):
    means = {"reward_logit_mean": list(range(len(divergences)))}
    (family,) = verdict(_family(means, divergences, seeds))
    assert family.claims == () and reason in family.reason
    assert verdict_lines([family]) == [family.reason]


def test_verdict_uses_the_paired_prompt_part(tmp_path, tiny_model_dir):
    """With generations, the gap's standard error includes the paired prompt part."""
    rows, _ = sweep_dir(tmp_path, tiny_model_dir)
    results = read_csv(tmp_path / "results.csv")
    replicates, _ = sweep_replicates(tmp_path, results, num_resamples=300)
    (family,) = verdict(results, replicates)
    reward = family.claims[0]
    rkl = [r["run_id"] for r in rows if r["divergence"] == "reverse_kl"]
    fkl = [r["run_id"] for r in rows if r["divergence"] == "forward_kl"]
    difference = np.mean([replicates[i]["reward_logit_mean"].values for i in fkl], axis=0) - np.mean(
        [replicates[i]["reward_logit_mean"].values for i in rkl], axis=0
    )
    assert reward.gap.se_prompts == pytest.approx(difference.std(ddof=1))
    assert reward.gap.se == pytest.approx(math.hypot(reward.gap.se_prompts, reward.gap.se_seeds))
    assert "(seeds and prompts, paired by seed)" in verdict_lines([family])[1]
