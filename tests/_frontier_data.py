"""Hand-made frontier evaluations shared by the tests of fdpo/frontier/ (tables and files)."""

from __future__ import annotations

BASELINE = ("divergence", "RKL β=0.1")


def evaluations(lever, setting, reward, predictive, token, distinct):
    """One evaluation row per seed of configuration (``lever``, ``setting``), with the metrics given per seed."""
    return [
        {
            "lever": lever,
            "setting": setting,
            "seed": seed,
            "reward_logit_mean": r,
            "predictive_entropy": p,
            "token_entropy": t,
            "distinct_2": d,
            "kl_to_ref": 10.0 + seed,
        }
        for seed, (r, p, t, d) in enumerate(zip(reward, predictive, token, distinct, strict=True))
    ]


# Hand-made evaluations, three seeds each (spread ±0.1 or ±0.01: std 0.1 / 0.01, half-width 4.3027·std/√3).
ROWS = [
    *evaluations(
        "divergence", "RKL β=0.1", [3.0, 3.1, 2.9], [1.6, 1.7, 1.5], [4.9, 5.0, 4.8], [0.22, 0.23, 0.21]
    ),
    # beats RKL on reward (+0.6 > 2 × 0.248), token entropy (+0.6) and distinct-2 (+0.08 > 2 × 0.0248): dominates
    *evaluations("divpo", "logprob", [3.6, 3.7, 3.5], [1.7, 1.8, 1.6], [5.5, 5.6, 5.4], [0.30, 0.31, 0.29]),
    # reward and token entropy only: one measure is not enough
    *evaluations(
        "temperature", "T=0.8", [3.6, 3.7, 3.5], [1.6, 1.7, 1.5], [5.0, 5.1, 4.9], [0.22, 0.23, 0.21]
    ),
    # far more diverse, reward +0.2 within the intervals: does not dominate
    *evaluations(
        "interpolation", "t=0.5", [3.2, 3.3, 3.1], [2.6, 2.7, 2.5], [6.0, 6.1, 5.9], [0.40, 0.41, 0.39]
    ),
    *evaluations("sft", "SFT", [0.0], [1.5], [5.1], [0.25]),  # one seed: no interval
]
