"""Comparisons of two configurations from per-seed values, at the real degrees of freedom.

A study trains every configuration with S seeds, and each seed is a replicate of the whole study (its pair draw,
its training, its evaluation prompts and samples). S per-seed values are S independent draws, and their mean has
S − 1 degrees of freedom: with three seeds a difference of 3 standard errors has a two-sided p of 0.095, not the
normal 0.003. Everything here uses Student's t at the degrees of freedom the data have:

* ``paired_comparison(differences)``: the mean of per-seed differences (configuration − baseline at the same seed:
  what a seed does to both cancels), standard error s_d/√S, t at S − 1 df, and the exact sign-flip p-value.
* ``welch_comparison(a, b)``: mean(a) − mean(b) from two independent sets of seeds, Welch's standard error
  √(s_a²/n_a + s_b²/n_b) and the Welch–Satterthwaite df.
* ``t_comparison``: the same ``Comparison`` from an estimate, its standard error and df computed elsewhere.
* ``power``, ``equivalence_power``, ``replicates_for_power``: how many seeds a paired comparison needs.

A ``Comparison`` holds the two-sided Student-t interval at ``level``, the p-value of "no difference", with an
equivalence bound the two one-sided tests (TOST) of "|difference| < bound", and the outcome: "higher" or "lower"
when the interval excludes 0, "equivalent" when TOST at α = 1 − level puts the difference within ±bound (the
(1 − 2α) interval lies inside ±bound), else "inconclusive". Pure functions of numbers: no files, no models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import integrate, special, stats

__all__ = [
    "COMPARISON_COLUMNS",
    "OUTCOMES",
    "Comparison",
    "equivalence_power",
    "paired_comparison",
    "power",
    "replicates_for_power",
    "sign_flip_p_value",
    "t_comparison",
    "welch_comparison",
    "welch_df",
]

#: The outcomes of a ``Comparison``.
OUTCOMES = ("higher", "lower", "equivalent", "inconclusive")
#: The keys of ``Comparison.as_row()``, in order: the columns a table of comparisons writes.
COMPARISON_COLUMNS = (
    "estimate",
    "standard_error",
    "df",
    "t",
    "low",
    "high",
    "level",
    "p_value",
    "sign_flip_p",
    "bound",
    "tost_p",
    "outcome",
    "n",
    "n_missing",
)
#: Up to this many values the sign-flip p-value enumerates all 2^S sign patterns; above, it draws patterns.
EXACT_SIGN_FLIP_MAX = 20
#: Random sign patterns of the Monte-Carlo sign-flip p-value (above ``EXACT_SIGN_FLIP_MAX`` values).
SIGN_FLIP_DRAWS = 100_000


@dataclass(frozen=True)
class Comparison:
    """A difference with its standard error, Student-t interval and tests.

    Attributes:
        estimate: the difference (mean of the per-seed differences when paired).
        standard_error: its standard error.
        df: degrees of freedom of the t distribution (S − 1 paired, Welch–Satterthwaite unpaired).
        t: ``estimate / standard_error`` (±inf for a nonzero estimate with standard error 0; 0 when both are 0).
        interval: ``(low, high)``, the two-sided Student-t confidence interval at ``level``.
        level: the interval's coverage; the tests' α is ``1 − level``.
        p_value: two-sided p-value of "no difference".
        sign_flip_p: the randomization p-value of the per-seed differences (paired comparisons), else None.
        bound: the equivalence bound (the smallest difference of interest), or None.
        tost_p: p-value of the two one-sided tests of "|difference| < bound"; None without a bound.
        outcome: one of ``OUTCOMES``.
        n: the values behind the estimate (seeds paired; both sets' together unpaired).
        n_missing: values left out because they were NaN.
    """

    estimate: float
    standard_error: float
    df: float
    t: float
    interval: tuple[float, float]
    level: float
    p_value: float
    sign_flip_p: float | None
    bound: float | None
    tost_p: float | None
    outcome: str
    n: int
    n_missing: int = 0

    def as_row(self) -> dict[str, Any]:
        """The comparison as one flat row (``COMPARISON_COLUMNS``: the interval as ``low`` and ``high``)."""
        low, high = self.interval
        named = {"low": low, "high": high}
        return {name: named[name] if name in named else getattr(self, name) for name in COMPARISON_COLUMNS}

    def describe(self, decimals: int | None = None) -> str:
        """One line: ``+0.042 [−0.010, +0.094] (t 2.1, df 5, p 0.09)``, then the sign-flip and TOST p-values when
        known. ``decimals`` of the estimate and interval default to two significant digits of the standard error."""
        if not math.isfinite(self.estimate) or not math.isfinite(self.standard_error):
            return f"no estimate ({self.n} finite values, {self.n_missing} missing)"
        if decimals is None:
            scale = self.standard_error if self.standard_error > 0 else abs(self.estimate)
            # two significant digits of the scale; 1e-9 so that 0.00999… (rounding) counts as 0.01
            decimals = min(max(1 - math.floor(math.log10(scale) + 1e-9), 0), 8) if scale > 0 else 3
        low, high = self.interval
        df = f"{self.df:.0f}" if float(self.df).is_integer() or math.isinf(self.df) else f"{self.df:.1f}"
        tests = [f"t {_signed(self.t, 1)}", f"df {df}", f"p {_p(self.p_value)}"]
        text = f"{_signed(self.estimate, decimals)} [{_signed(low, decimals)}, {_signed(high, decimals)}] "
        text += f"({', '.join(tests)}"
        if self.sign_flip_p is not None and math.isfinite(self.sign_flip_p):
            text += f"; sign-flip p {_p(self.sign_flip_p)}"
        if self.bound is not None and self.tost_p is not None and math.isfinite(self.tost_p):
            text += f"; TOST p {_p(self.tost_p)} at ±{self.bound:.{decimals}f}"
        return text + ")"


def _signed(value: float, decimals: int) -> str:
    if math.isinf(value):
        return "+inf" if value > 0 else "−inf"
    return f"{value:+.{decimals}f}".replace("-", "−")


def _p(value: float) -> str:
    return "<1e-6" if value < 1e-6 else f"{value:.2g}"


def _check_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1) (0.95 for a 95% interval), got {level}.")
    return float(level)


def _check_bound(bound: float | None) -> float | None:
    """None or NaN (an unmeasured bound) mean no bound; otherwise it must be positive."""
    if bound is None or (isinstance(bound, float) and math.isnan(bound)):
        return None
    if not bound > 0 or math.isinf(bound):
        raise ValueError(
            f"bound must be a positive finite number (the smallest difference of interest), got {bound}."
        )
    return float(bound)


def t_comparison(
    estimate: float,
    standard_error: float,
    df: float,
    *,
    n: int,
    n_missing: int = 0,
    bound: float | None = None,
    level: float = 0.95,
    sign_flip_p: float | None = None,
) -> Comparison:
    """A ``Comparison`` from an estimate, its standard error and its degrees of freedom.

    Without a finite estimate, a finite standard error and df > 0 every statistic is NaN and the outcome
    "inconclusive". ``df`` may be ``inf`` (a normal reference).

    Raises:
        ValueError: ``level`` outside (0, 1), or a ``bound`` that is not positive.
    """
    level, bound = _check_level(level), _check_bound(bound)
    alpha = 1.0 - level
    estimate, standard_error, df = float(estimate), float(standard_error), float(df)
    if not (math.isfinite(estimate) and math.isfinite(standard_error) and standard_error >= 0 and df > 0):
        nan = math.nan
        tost_p = None if bound is None else nan
        return Comparison(
            nan,
            nan,
            nan,
            nan,
            (nan, nan),
            level,
            nan,
            sign_flip_p,
            bound,
            tost_p,
            "inconclusive",
            n,
            n_missing,
        )
    # scipy.special's t functions directly: stdtr(df, x) = P(T ≤ x), stdtrit(df, p) its inverse (the same as
    # scipy.stats.t's cdf and ppf without their argument checks, which cost ten times the computation).
    half_width = float(special.stdtrit(df, 0.5 + level / 2.0)) * standard_error
    interval = (estimate - half_width, estimate + half_width)
    if standard_error > 0:
        t = estimate / standard_error
    else:  # every per-seed difference equal: exact, no spread
        t = 0.0 if estimate == 0 else math.copysign(math.inf, estimate)
    p_value = float(2.0 * special.stdtr(df, -abs(t)))
    tost_p = None
    if bound is not None:
        if standard_error > 0:
            below = special.stdtr(df, -(estimate + bound) / standard_error)  # H0: difference ≤ −bound
            above = special.stdtr(df, (estimate - bound) / standard_error)  # H0: difference ≥ +bound
            tost_p = float(max(below, above))
        else:
            tost_p = 0.0 if abs(estimate) < bound else 1.0
    if interval[0] > 0:
        outcome = "higher"
    elif interval[1] < 0:
        outcome = "lower"
    elif tost_p is not None and tost_p < alpha:
        outcome = "equivalent"
    else:
        outcome = "inconclusive"
    return Comparison(
        estimate,
        standard_error,
        df,
        t,
        interval,
        level,
        p_value,
        sign_flip_p,
        bound,
        tost_p,
        outcome,
        n,
        n_missing,
    )


def _per_seed(name: str, values: Sequence[float]) -> tuple[np.ndarray, int]:
    """The finite values of a 1-D sequence and how many NaNs were left out; an infinite value is an error."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of per-seed values, got shape {array.shape}.")
    if np.isinf(array).any():
        raise ValueError(
            f"{name} holds an infinite value ({array.tolist()}): a per-seed value must be finite, or NaN when it "
            "was not measured."
        )
    finite = array[~np.isnan(array)]
    return finite, int(array.size - finite.size)


def sign_flip_p_value(
    differences: Sequence[float],
    *,
    draws: int = SIGN_FLIP_DRAWS,
    seed: int = 0,
    max_exact: int = EXACT_SIGN_FLIP_MAX,
) -> float:
    """Two-sided randomization p-value of "the per-seed differences are symmetric about 0" (NaNs left out).

    Under no difference each seed's difference is as likely to have either sign. The p-value is the share of the
    2^S sign patterns whose |sum| is at least the observed |sum| (the observed pattern included): exact up to
    ``max_exact`` values, else estimated from ``draws`` random patterns drawn with ``seed`` as (1 + hits)/(1 +
    draws). No normality is assumed, but with S seeds the smallest possible p-value is 2/2^S (0.25 with three).
    NaN without any value.
    """
    d, _ = _per_seed("differences", differences)
    if d.size == 0:
        return math.nan
    observed = abs(float(d.sum()))
    tolerance = 1e-9 * max(float(np.abs(d).sum()), np.finfo(np.float64).tiny)  # ties despite rounding
    if d.size <= max_exact:
        # Patterns come in ± pairs with the same |sum|: fix the first sign and enumerate the 2^(S−1) others.
        sums = d[:1].copy()
        for value in d[1:]:
            sums = np.concatenate((sums + value, sums - value))
        return float(np.mean(np.abs(sums) >= observed - tolerance))
    rng = np.random.default_rng(seed)
    hits, remaining = 0, draws
    while remaining > 0:
        size = min(remaining, max(1, 2_000_000 // d.size))
        signs = rng.choice((-1.0, 1.0), size=(size, d.size))
        hits += int(np.sum(np.abs(signs @ d) >= observed - tolerance))
        remaining -= size
    return (hits + 1) / (draws + 1)


def paired_comparison(
    differences: Sequence[float], *, bound: float | None = None, level: float = 0.95
) -> Comparison:
    """The mean of per-seed differences (configuration − baseline at the same seed) at S − 1 degrees of freedom.

    Standard error s_d/√S (s_d the sample standard deviation, ddof 1), the two-sided Student-t interval at
    ``level`` and the exact sign-flip p-value. NaN differences (a seed where either side is unmeasured) are left
    out and counted in ``n_missing``; with fewer than two left the statistics are NaN, the outcome "inconclusive".

    Args:
        differences: one difference per seed. Shape: (S,).
        bound: the equivalence bound for TOST (None or NaN: no equivalence test).
        level: the interval's coverage; the tests' α is ``1 − level``.
    """
    d, missing = _per_seed("differences", differences)
    if d.size < 2:
        return t_comparison(
            math.nan, math.nan, math.nan, n=int(d.size), n_missing=missing, bound=bound, level=level
        )
    return t_comparison(
        float(d.mean()),
        float(d.std(ddof=1)) / math.sqrt(d.size),
        d.size - 1.0,
        n=int(d.size),
        n_missing=missing,
        bound=bound,
        level=level,
        sign_flip_p=sign_flip_p_value(d),
    )


def welch_comparison(
    a: Sequence[float], b: Sequence[float], *, bound: float | None = None, level: float = 0.95
) -> Comparison:
    """mean(a) − mean(b) from two independent sets of per-seed values (Welch's t, as ``scipy.stats.ttest_ind(a, b,
    equal_var=False)``).

    Standard error √(s_a²/n_a + s_b²/n_b); degrees of freedom (Welch–Satterthwaite)
    (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1)), or n_a + n_b − 2 when neither set
    varies. NaNs are left out and counted; with fewer than two values on a side the statistics are NaN.
    """
    a, missing_a = _per_seed("a", a)
    b, missing_b = _per_seed("b", b)
    n, missing = int(a.size + b.size), missing_a + missing_b
    if a.size < 2 or b.size < 2:
        return t_comparison(math.nan, math.nan, math.nan, n=n, n_missing=missing, bound=bound, level=level)
    se_a, se_b = a.std(ddof=1) / math.sqrt(a.size), b.std(ddof=1) / math.sqrt(b.size)
    return t_comparison(
        float(a.mean() - b.mean()),
        math.hypot(se_a, se_b),
        welch_df(float(se_a), a.size, float(se_b), b.size),
        n=n,
        n_missing=missing,
        bound=bound,
        level=level,
    )


def welch_df(se_a: float, n_a: int, se_b: float, n_b: int) -> float:
    """Welch–Satterthwaite degrees of freedom of √(se_a² + se_b²), ``se_a`` = s_a/√n_a the standard error of a
    mean of ``n_a`` values (likewise b): (se_a² + se_b²)² / (se_a⁴/(n_a − 1) + se_b⁴/(n_b − 1)); n_a + n_b − 2 when
    neither varies."""
    var_a, var_b = se_a**2, se_b**2
    if var_a + var_b == 0:
        return float(n_a + n_b - 2)
    return float((var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1)))


def _check_design(sd: float, n: int, alpha: float) -> None:
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(
            f"sd must be a positive finite standard deviation of the per-seed differences, got {sd}."
        )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer number of seeds ≥ 2 (a t test needs a spread), got {n!r}.")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1) (0.05 for a 5% test), got {alpha}.")


def power(effect: float, sd: float, n: int, *, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t test at level ``alpha`` with ``n`` seeds.

    With true mean difference ``effect`` and per-seed standard deviation ``sd`` of the differences, t = d̄/(s/√n)
    follows a noncentral t with n − 1 df and noncentrality δ = effect·√n/sd, so the power is
    P(T > t_c) + P(T < −t_c), t_c = t_{1−α/2, n−1}. Equals ``alpha`` at ``effect`` 0.
    """
    _check_design(sd, n, alpha)
    df = n - 1
    critical = float(stats.t.ppf(1.0 - alpha / 2.0, df))
    noncentrality = effect * math.sqrt(n) / sd
    return float(stats.nct.sf(critical, df, noncentrality) + stats.nct.cdf(-critical, df, noncentrality))


def equivalence_power(bound: float, sd: float, n: int, *, alpha: float = 0.05, effect: float = 0.0) -> float:
    """Probability that TOST at level ``alpha`` declares |difference| < ``bound`` with ``n`` paired seeds.

    The per-seed differences are N(``effect``, ``sd``²). TOST passes when |d̄| ≤ bound − t_{1−α, n−1}·s/√n; d̄ and s
    are independent, (n − 1)s²/sd² ~ χ²(n − 1), so the probability is one integral over s (done numerically).
    At ``effect`` = ±``bound`` it is at most ``alpha``.
    """
    _check_design(sd, n, alpha)
    if not (math.isfinite(bound) and bound > 0):
        raise ValueError(f"bound must be a positive finite number, got {bound}.")
    df = n - 1
    critical = float(stats.t.ppf(1.0 - alpha, df))
    root_n = math.sqrt(n)
    se = sd / root_n

    def passes(u: float) -> float:  # u = √(n − 1)·s/sd ~ χ(n − 1)
        half = bound - critical * sd * u / math.sqrt(df) / root_n
        inside = stats.norm.cdf((half - effect) / se) - stats.norm.cdf((-half - effect) / se)
        return float(inside * stats.chi.pdf(u, df))

    u_max = bound * root_n * math.sqrt(df) / (critical * sd)  # beyond it the acceptance region is empty
    value, _ = integrate.quad(passes, 0.0, u_max, limit=200)
    return float(min(max(value, 0.0), 1.0))


def replicates_for_power(
    effect: float, sd: float, *, power: float = 0.8, alpha: float = 0.05, max_n: int = 200
) -> int | None:
    """The fewest seeds (≥ 2) for which the two-sided paired t test at ``alpha`` detects ``effect`` with at least
    probability ``power`` (the module's ``power``, noncentral t); None when no n up to ``max_n`` does.

    Args:
        effect: the smallest mean difference worth detecting (its sign does not matter).
        sd: the standard deviation of the per-seed differences, measured (for instance from a pilot's seeds).
    """
    if not alpha < power < 1.0:
        raise ValueError(f"power must be in (alpha, 1) = ({alpha}, 1), got {power}.")
    _check_design(sd, 2, alpha)
    for n in range(2, max_n + 1):
        if _power(effect, sd, n, alpha=alpha) >= power:
            return n
    return None


_power = power  # replicates_for_power's ``power`` argument shadows the function
