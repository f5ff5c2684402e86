"""The verdict on a claim about an ordered family of configurations.

``judge`` turns a claim (``CLAIMS``: reward falls from reverse KL to forward KL, predictive entropy rises, ...) into
"holds", "does not hold" or "reversed", from the Spearman rank correlation of the configuration means with the
position in the family and the end-to-end gap in standard errors (``fdpo.uncertainty.estimates.gap``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fdpo.uncertainty.estimates import Gap

__all__ = ["CLAIMS", "GAP_THRESHOLD", "RHO_THRESHOLD", "Claim", "ClaimVerdict", "judge", "spearman"]

#: A claim holds only if the configuration means follow the family's order with |Spearman ρ| at least this.
#: With six configurations, 0.8 allows three swaps of neighbours (one swap gives 0.94) but not an order that is
#: merely more right than wrong; the significance comes from the gap, not from ρ.
RHO_THRESHOLD = 0.8
#: ... and the two ends of the family differ in the claimed direction by at least this many standard errors.
GAP_THRESHOLD = 3.0


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
    """What ``judge`` found for one claim: ``outcome`` is "holds", "does not hold", "reversed" or "no verdict"
    (``reason`` says why); ``rho`` the Spearman correlation of the means with the family position; ``gap`` the
    last minus the first configuration."""

    claim: Claim
    outcome: str
    rho: float = math.nan
    gap: Gap | None = None
    reason: str = ""
    means: tuple[float, ...] = field(default=())


def judge(
    claim: Claim,
    means: Sequence[float],
    end_gap: Gap,
    *,
    rho_threshold: float = RHO_THRESHOLD,
    gap_threshold: float = GAP_THRESHOLD,
) -> ClaimVerdict:
    """Judges ``claim`` from the configuration means in family order and the gap between the ends.

    The claim **holds** when ρ (Spearman, means against position) has the claimed sign with |ρ| ≥ ``rho_threshold``
    *and* the end-to-end gap is at least ``gap_threshold`` standard errors in the claimed direction. It is
    **reversed** when both hold in the opposite direction, and **does not hold** otherwise.
    """
    rho = spearman(means)
    signed_rho, signed_z = claim.direction * rho, claim.direction * end_gap.z
    if signed_rho >= rho_threshold and signed_z >= gap_threshold:
        outcome = "holds"
    elif signed_rho <= -rho_threshold and signed_z <= -gap_threshold:
        outcome = "reversed"
    else:
        outcome = "does not hold"
    return ClaimVerdict(claim, outcome, rho, end_gap, means=tuple(float(m) for m in means))
