"""A configuration's mean over seeds with its standard error, and the gap between two configurations.

A configuration's standard error combines its seed part, ``se_seeds = s / √S`` (s the sample standard deviation,
ddof 1, of its S per-seed values), and its prompt part, the spread of its seed-averaged ``Replicates``
(``fdpo.uncertainty.resampling``): ``se = √(se_seeds² + se_prompts²)``, the prompt part alone with one seed.

The gap between two configurations (forward KL minus reverse KL) gets the paired treatment: its prompt part is the
spread of the *difference* of their recomputed values on the same prompt sets (prompt effects shared by both
cancel). Its seed part is ``√(s_a²/S_a + s_b²/S_b)`` when the two configurations' runs are independent, and the
standard error of the per-seed differences when runs with the same seed share what the seed draws (a sweep's runs of
one seed share their preference pairs and evaluation sampling seed): what a seed does to both cancels.

A gap's degrees of freedom are those of its seed part (S − 1 paired, Welch–Satterthwaite unpaired), widened by the
Satterthwaite rule when a prompt part is added; ``Gap.comparison`` gives its Student-t interval and tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fdpo.uncertainty.inference import Comparison, t_comparison, welch_df
from fdpo.uncertainty.resampling import Method, Replicates

__all__ = ["Estimate", "Gap", "combine", "gap", "prompt_standard_error", "seed_standard_error", "t_interval"]


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean, sample standard deviation (ddof 1) and the half-width of the Student-t confidence interval of the mean.

    The interval is ``mean ± t_{(1+confidence)/2, n−1} · s / √n``: with few values (seeds) the t quantile, not the
    normal one. The one t-interval of fdpo: a policy's reward over its samples (``fdpo.metrics.reward_summary``) and
    a configuration's metric over its seeds (``fdpo.report.confidence_interval``) both come from here.

    Args:
        values: finite numbers. Shape: (n,).
        confidence: the interval's coverage, in (0, 1).

    Returns:
        ``(mean, std, half_width)``; ``std`` and ``half_width`` are NaN with fewer than two values, and all three
        with none.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size < 2:
        return mean, math.nan, math.nan
    from scipy import stats

    std = float(values.std(ddof=1))
    half_width = float(stats.t.ppf((1.0 + confidence) / 2.0, values.size - 1)) * std / math.sqrt(values.size)
    return mean, std, half_width


def seed_standard_error(values: Sequence[float]) -> float | None:
    """s / √S of the per-seed values (ddof 1); ``None`` with fewer than two."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return None
    return float(values.std(ddof=1) / math.sqrt(values.size))


def prompt_standard_error(replicates: np.ndarray, method: Method) -> float:
    """The standard error from replicate values of shape (R,): their standard deviation (ddof 1) for the bootstrap,
    √((R−1)/R · Σ (θ_g − θ̄)²) for the jackknife. Non-finite replicates (a resample with no sample left) are
    dropped."""
    values = np.asarray(replicates, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return math.nan
    if method == "bootstrap":
        return float(values.std(ddof=1))
    if method == "jackknife":
        return float(math.sqrt((values.size - 1) / values.size * np.sum((values - values.mean()) ** 2)))
    raise ValueError(f"method={method!r}: use 'bootstrap' or 'jackknife'.")


@dataclass(frozen=True)
class Estimate:
    """A configuration's mean over seeds and its standard errors (``None`` where a part is unknown)."""

    mean: float
    se: float | None
    se_seeds: float | None
    se_prompts: float | None
    n_seeds: int


def _seed_average(replicates: Sequence[Replicates]) -> tuple[np.ndarray, Method]:
    methods = {r.method for r in replicates}
    shapes = {r.values.shape for r in replicates}
    if len(methods) != 1 or len(shapes) != 1:
        raise ValueError(
            f"Replicates of one metric must share method and shape (the same prompt resamples), got methods "
            f"{sorted(methods)} and shapes {sorted(shapes)}."
        )
    return np.mean([r.values for r in replicates], axis=0), methods.pop()


def _hypot(*parts: float | None) -> float | None:
    known = [p for p in parts if p is not None and math.isfinite(p)]
    return math.sqrt(sum(p * p for p in known)) if known else None


def combine(seed_values: Sequence[float], replicates: Sequence[Replicates] | None = None) -> Estimate:
    """The mean over seeds of one metric of one configuration and its combined standard error.

    Args:
        seed_values: the metric of each seed's run. Shape: (S,).
        replicates: the same runs' ``Replicates`` (one per seed, in any order), or ``None`` (no prompt part).
    """
    values = np.asarray([v for v in seed_values if v is not None], dtype=np.float64)
    values = values[np.isfinite(values)]
    mean = float(values.mean()) if values.size else math.nan
    se_seeds = seed_standard_error(values)
    se_prompts = None
    if replicates:
        averaged, method = _seed_average(replicates)
        se_prompts = prompt_standard_error(averaged, method)
    return Estimate(mean, _hypot(se_seeds, se_prompts), se_seeds, se_prompts, int(values.size))


@dataclass(frozen=True)
class Gap:
    """``b − a`` of two configurations' means over seeds, its standard error and the gap in standard errors.

    ``df`` is the degrees of freedom of ``se`` (NaN when unknown) and ``n`` the runs behind the gap (seeds when
    paired, both configurations' runs otherwise).
    """

    value: float
    se: float | None
    se_seeds: float | None
    se_prompts: float | None
    z: float
    paired_seeds: bool = False
    df: float = math.nan
    n: int = 0

    def comparison(self, bound: float | None = None, level: float = 0.95) -> Comparison:
        """The gap as a ``Comparison``: its Student-t interval at ``df``, p-value, TOST against ``bound`` and
        outcome ("higher", "lower", "equivalent" or "inconclusive")."""
        se = math.nan if self.se is None else self.se
        return t_comparison(self.value, se, self.df, n=self.n, bound=bound, level=level)


def _satterthwaite(se_seeds: float | None, df_seeds: float, se_prompts: float | None) -> float:
    """Degrees of freedom of √(se_seeds² + se_prompts²): the seed part has ``df_seeds``, the prompt part (many
    resampled prompt sets) is taken as exactly known, so df = df_seeds · (se² / se_seeds²)² ≥ df_seeds."""
    seeds = se_seeds is not None and math.isfinite(se_seeds)
    prompts = se_prompts is not None and math.isfinite(se_prompts) and se_prompts > 0
    if not seeds:
        return math.inf if prompts else math.nan
    if not prompts or se_seeds == 0:
        return math.inf if prompts else df_seeds
    return df_seeds * ((se_seeds**2 + se_prompts**2) / se_seeds**2) ** 2


def gap(
    a_values: Sequence[float],
    b_values: Sequence[float],
    a_replicates: Sequence[Replicates] | None = None,
    b_replicates: Sequence[Replicates] | None = None,
    *,
    paired_seeds: bool = False,
) -> Gap:
    """The gap mean(b) − mean(a) between two configurations, with a paired prompt part.

    The prompt part is the bootstrap or jackknife error of the difference of the two configurations' seed-averaged
    replicates, which were computed on the same prompt resamples: a prompt that is hard for both moves both and
    cancels. The seed part is √(s_a²/S_a + s_b²/S_b) for independent runs, or, with ``paired_seeds`` (``a_values[i]``
    and ``b_values[i]`` share seed i: its pair draw and its evaluation samples), s_d/√S of the per-seed differences
    d_i = b_i − a_i: what a seed shifts in both configurations cancels, what it shifts in one counts.
    ``z = gap / se`` (±inf for a nonzero gap with se 0). ``df``: S − 1 paired, Welch–Satterthwaite for
    independent runs, widened by the prompt part (``_satterthwaite``); ``Gap.comparison`` turns it into a t interval.

    Raises:
        ValueError: ``paired_seeds`` with value lists of different lengths or with a missing (non-finite) value.
    """
    a, b = combine(a_values), combine(b_values)
    value = b.mean - a.mean
    if paired_seeds:
        a_array, b_array = np.asarray(a_values, dtype=np.float64), np.asarray(b_values, dtype=np.float64)
        if a_array.shape != b_array.shape or not (np.isfinite(a_array).all() and np.isfinite(b_array).all()):
            raise ValueError(
                f"paired_seeds needs one finite value per seed in both configurations, got {list(a_values)} and "
                f"{list(b_values)}."
            )
        se_seeds = seed_standard_error(b_array - a_array)
        df_seeds, n = a_array.size - 1.0, int(a_array.size)
    elif a.se_seeds is not None and b.se_seeds is not None:
        se_seeds = _hypot(a.se_seeds, b.se_seeds)
        df_seeds, n = welch_df(a.se_seeds, a.n_seeds, b.se_seeds, b.n_seeds), a.n_seeds + b.n_seeds
    else:
        se_seeds, df_seeds, n = None, math.nan, a.n_seeds + b.n_seeds
    se_prompts = None
    if a_replicates and b_replicates:
        averaged_a, method_a = _seed_average(a_replicates)
        averaged_b, method_b = _seed_average(b_replicates)
        if method_a != method_b or averaged_a.shape != averaged_b.shape:
            raise ValueError("The two configurations' replicates come from different prompt resamples.")
        se_prompts = prompt_standard_error(averaged_b - averaged_a, method_a)
    se = _hypot(se_seeds, se_prompts)
    if se is None or not math.isfinite(value):
        z = math.nan
    elif se > 0:
        z = value / se
    else:
        z = math.copysign(math.inf, value) if value != 0 else math.nan
    df = _satterthwaite(se_seeds, df_seeds, se_prompts) if se is not None else math.nan
    return Gap(value, se, se_seeds, se_prompts, z, paired_seeds, df, n)
