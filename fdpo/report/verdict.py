"""The verdict: the paper's claims judged along the sweep's family of divergences, reverse KL → forward KL."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fdpo import uncertainty
from fdpo.report.summary import configuration_gap, configuration_label, configurations, finite
from fdpo.uncertainty import Replicates

_FAMILY_ENDS = ("reverse_kl", "forward_kl")


def _in_family(divergence: Any) -> bool:
    return divergence in ("reverse_kl", "jensen_shannon", "forward_kl") or str(divergence).startswith(
        "alpha:"
    )


@dataclass(frozen=True)
class Verdict:
    """The claims of ``uncertainty.CLAIMS`` judged along one family (one loss type): ``labels`` in family order,
    from reverse KL to forward KL; ``reason`` says why there is no verdict (then ``claims`` is empty)."""

    loss_type: str
    labels: tuple[str, ...]
    claims: tuple[uncertainty.ClaimVerdict, ...] = ()
    reason: str = ""


def verdict(
    rows: Sequence[Mapping[str, Any]],
    replicates: Mapping[str, Mapping[str, Replicates]] | None = None,
    bounds: Mapping[str, float | None] | None = None,
) -> list[Verdict]:
    """Judges the paper's trade-off along the sweep's family of divergences, one ``Verdict`` per loss type.

    The family is the sweep's reverse KL, JS, α and forward KL configurations in the order the results list them
    (the grid's order), which must run from ``reverse_kl`` to ``forward_kl`` (or the other way: then it is
    reversed); other divergences are left out. Each claim of ``uncertainty.CLAIMS`` is judged by
    ``uncertainty.judge`` from the configuration means and the forward-KL-minus-reverse-KL gap's Student-t interval
    at its degrees of freedom (seeds, paired by seed when both ends ran the same seeds, and, with ``replicates``,
    paired prompt resampling; ``configuration_gap``); with ``bounds`` (per metric, the smallest difference of
    interest) a claim whose ends are shown within ±bound by TOST is "equivalent". No verdict, with the reason, when
    an end is
    missing, an end has fewer than two seeds, or a divergence appears with several β in one loss type.
    """
    groups = {key: members for key, members in configurations(rows).items() if _in_family(key[0])}
    loss_types = list(dict.fromkeys(key[1] for key in groups))
    if not loss_types:
        return [Verdict("", (), reason="The sweep has no reverse KL, JS, α or forward KL configuration.")]
    verdicts = []
    for loss_type in loss_types:
        keys = [key for key in groups if key[1] == loss_type]
        labels = tuple(configuration_label(key[0]) for key in keys)
        divergences = [key[0] for key in keys]
        missing = [name for name in _FAMILY_ENDS if name not in divergences]
        reason = ""
        if missing:
            reason = (
                f"no {' and no '.join(missing)} configuration: the claims compare the ends of the family reverse "
                "KL → forward KL. Add the missing end to grid.divergences."
            )
        elif len(set(divergences)) < len(divergences):
            reason = (
                "a divergence appears with several β: the family is ambiguous. Report one β per divergence."
            )
        elif divergences[0] == "forward_kl" and divergences[-1] == "reverse_kl":
            keys.reverse()
            labels = labels[::-1]
        elif divergences[0] != "reverse_kl" or divergences[-1] != "forward_kl":
            reason = (
                f"the grid lists {' → '.join(labels)}: order grid.divergences from reverse_kl to forward_kl "
                "(the family's positions are the grid's order)."
            )
        if not reason and min(len(groups[keys[0]]), len(groups[keys[-1]])) < 2:
            reason = "the ends need at least two seeds each for a seed-to-seed error. Add seeds (grid.seeds)."
        if reason:
            verdicts.append(Verdict(loss_type, labels, reason=f"No verdict: {reason}"))
            continue
        claims = []
        for claim in uncertainty.CLAIMS:
            values = [
                [m.get(claim.metric) for m in groups[key] if finite(m.get(claim.metric))] for key in keys
            ]
            if any(len(v) == 0 for v in values):
                claims.append(uncertainty.ClaimVerdict(claim, "no verdict", reason="not measured"))
                continue
            end_gap = configuration_gap(groups[keys[0]], groups[keys[-1]], claim.metric, replicates)
            bound = (bounds or {}).get(claim.metric)
            claims.append(uncertainty.judge(claim, [float(np.mean(v)) for v in values], end_gap, bound=bound))
        verdicts.append(Verdict(loss_type, labels, tuple(claims)))
    return verdicts


def _signed(value: float, digits: int = 2) -> str:
    return f"{value:+.{digits}f}".replace("-", "−")


def verdict_lines(verdicts: Sequence[Verdict]) -> list[str]:
    """The verdicts as text, one line per claim (markdown list items), preceded by what the family is and the rule."""
    lines = []
    for family in verdicts:
        loss = f" ({family.loss_type} loss)" if family.loss_type and len(verdicts) > 1 else ""
        if family.reason:
            lines.append(f"{family.reason}{loss}")
            continue
        lines.append(
            f"Along {' → '.join(family.labels)}{loss}: a claim holds when the Spearman ρ of the configuration "
            f"means with the position has the claimed sign and |ρ| ≥ {uncertainty.RHO_THRESHOLD:g}, and the "
            f"{uncertainty.CONFIDENCE:.0%} Student-t interval of {family.labels[-1]} − {family.labels[0]} at its "
            "degrees of freedom lies on the claimed side of 0 (seed-to-seed spread of the difference, runs of one "
            "seed compared with each other, and paired prompt resampling); reversed when both hold the other way; "
            "equivalent when the two one-sided tests put the difference within the stated bound."
        )
        for judged in family.claims:
            if judged.outcome == "no verdict":
                lines.append(f"- {judged.claim.text}: no verdict ({judged.reason})")
                continue
            end_gap = judged.gap
            parts = "seeds only" if end_gap.se_prompts is None else "seeds and prompts"
            parts = f"{parts}, paired by seed" if end_gap.paired_seeds else parts
            se = "–" if end_gap.se is None else f"{end_gap.se:.3g}"
            comparison = judged.comparison or end_gap.comparison()
            rho = "–" if math.isnan(judged.rho) else _signed(judged.rho)
            lines.append(
                f"- {judged.claim.text}: **{judged.outcome}** — ρ = {rho}; {family.labels[-1]} − "
                f"{family.labels[0]} = {_signed(end_gap.value, 3)} ± {se} ({parts}); "
                f"{comparison.level:.0%} t interval {comparison.describe()}"
            )
    return lines
