"""The verdict on a claim about an ordered family of configurations.

``judge`` turns a claim (``CLAIMS``: reward falls from reverse KL to forward KL, predictive entropy rises, ...) into
"holds", "reversed", "equivalent" or "does not hold", from the Spearman rank correlation of the configuration means
with the position in the family and the end-to-end gap (``fdpo.uncertainty.estimates.gap``) judged by its Student-t
interval at the gap's real degrees of freedom (S − 1 with S seeds paired), not by a normal cut-off: with three seeds
a gap of 3 standard errors has a two-sided p of 0.095.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fdpo.uncertainty.estimates import Gap
from fdpo.uncertainty.inference import Comparison

__all__ = ["CLAIMS", "CONFIDENCE", "RHO_THRESHOLD", "Claim", "ClaimVerdict", "judge", "spearman"]

#: A claim holds only if the configuration means follow the family's order with |Spearman ρ| at least this.
#: With six configurations, 0.8 allows three swaps of neighbours (one swap gives 0.94) but not an order that is
#: merely more right than wrong; the significance comes from the gap, not from ρ.
RHO_THRESHOLD = 0.8
#: ... and the two-sided Student-t interval of the gap between the two ends, at this coverage, lies on the claimed
#: side of 0 (a two-sided test at α = 1 − CONFIDENCE).
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Claim:
    """A claim about an ordered family of configurations: ``metric`` (a result column) moves in ``direction``
    (+1 rises, −1 falls) from the first configuration to the last."""

    metric: str
    direction: int
    text: str


#: The paper's trade-off along reverse KL → JS → growing α → forward KL, one claim per measure.
CLAIMS = (
    Claim("reward_logit_mean", -1, "reward falls"),
    Claim("predictive_entropy", +1, "predictive entropy rises"),
    Claim("token_entropy", +1, "token entropy rises"),
    Claim("distinct_2", +1, "distinct-2 rises"),
    Claim("kl_to_ref", -1, "KL to the reference falls"),
)


def spearman(values: Sequence[float]) -> float:
    """Spearman rank correlation of ``values`` with their positions 0, 1, 2, ... (ties get average ranks); NaN
    when all values are equal or fewer than two are given."""
    from scipy.stats import rankdata

    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or not np.isfinite(values).all():
        return math.nan
    ranks = rankdata(values)
    if np.all(ranks == ranks[0]):
        return math.nan
    return float(np.corrcoef(ranks, np.arange(values.size, dtype=np.float64))[0, 1])


@dataclass(frozen=True)
class ClaimVerdict:
    """What ``judge`` found for one claim: ``outcome`` is "holds", "reversed", "equivalent", "does not hold" or "no
    verdict" (``reason`` says why); ``rho`` the Spearman correlation of the means with the family position; ``gap``
    the last minus the first configuration, ``comparison`` its t interval, p-value and TOST."""

    claim: Claim
    outcome: str
    rho: float = math.nan
    gap: Gap | None = None
    reason: str = ""
    means: tuple[float, ...] = field(default=())
    comparison: Comparison | None = None


def judge(
    claim: Claim,
    means: Sequence[float],
    end_gap: Gap,
    *,
    rho_threshold: float = RHO_THRESHOLD,
    confidence: float = CONFIDENCE,
    bound: float | None = None,
) -> ClaimVerdict:
    """Judges ``claim`` from the configuration means in family order and the gap between the ends.

    The gap is judged by ``end_gap.comparison``: its two-sided Student-t interval at ``confidence`` and the gap's
    degrees of freedom. The claim **holds** when ρ (Spearman, means against position) has the claimed sign with
    |ρ| ≥ ``rho_threshold`` *and* the interval lies entirely on the claimed side of 0. It is **reversed** when both
    hold in the opposite direction. With ``bound`` (the smallest difference of interest) it is **equivalent** when
    the two one-sided tests at α = 1 − ``confidence`` put the gap within ±bound: the ends do not differ by as much
    as the bound. It **does not hold** otherwise: neither shown nor ruled out.
    """
    rho = spearman(means)
    comparison = end_gap.comparison(bound, confidence)
    claimed, opposite = ("higher", "lower") if claim.direction > 0 else ("lower", "higher")
    signed_rho = claim.direction * rho
    if signed_rho >= rho_threshold and comparison.outcome == claimed:
        outcome = "holds"
    elif signed_rho <= -rho_threshold and comparison.outcome == opposite:
        outcome = "reversed"
    elif comparison.outcome == "equivalent":
        outcome = "equivalent"
    else:
        outcome = "does not hold"
    return ClaimVerdict(
        claim, outcome, rho, end_gap, means=tuple(float(m) for m in means), comparison=comparison
    )
