"""f-divergences for f-DPO, each f′ computed in log space and numerically stable.

Every function here takes the log ratio ``a = log π(y|x) − log π_ref(y|x)`` of a response, never the ratio
``u = e^a`` itself: sequence log ratios of −100 to −300 are common, and ``u`` under- or overflows long before ``a``
does. The table (Wang et al., 2024, Table 1), with every f′ shifted by a constant so that f′(1) = 0: the implicit
reward β·f′ is then 0 where π = π_ref, and IPO's length-normalised margin (where constants do not cancel) matches
TRL's, which uses the same normalisation:

=================  ===============================  ==============  =======================
name               f(u)                             f′(u)           f′ as a function of a
=================  ===============================  ==============  =======================
reverse_kl         u log u                          log u + 1       a
forward_kl         −log u                           −1/u            1 − e^(−a)
jensen_shannon     u log u − (u+1) log((u+1)/2)     log(2u/(1+u))   log 2 + log σ(a)
alpha (α∈(0,1))    (u^(1−α) − (1−α)u − α)/(α(α−1))  (1 − u^(−α))/α  (1 − e^(−αa))/α
chi_squared_kl     ½(u−1)² + u log u                u + log u + 1   e^a − 1 + a
=================  ===============================  ==============  =======================

Stability contract: where |f′| ≤ ``MAX_EXACT_F_PRIME`` (1e4) the closed form is evaluated as is (float32 rounding).
Beyond that, f′ continues along its tangent at the boundary: monotone, C¹, finite, with the boundary's non-zero
slope as gradient. Computation happens in float32 (float64 inputs stay float64), whatever the input precision.
"""

from __future__ import annotations

import math
import re
from typing import ClassVar

import torch
import torch.nn.functional as F

from fdpo._divergence_specs import constructor_parameters, parse_spec
from fdpo.checks import real_number
from fdpo.errors import InputError

__all__ = [
    "MAX_EXACT_F_PRIME",
    "FDivergence",
    "ReverseKL",
    "ForwardKL",
    "JensenShannon",
    "AlphaDivergence",
    "ChiSquaredKL",
    "register_divergence",
    "get_divergence",
    "list_divergences",
]

#: Largest |f′| that is computed from the closed form; beyond it f′ is extended linearly.
MAX_EXACT_F_PRIME = 1e4

_REGISTRY: dict[str, type[FDivergence]] = {}
# A registered name is a run-id component (fdpo.sweep.grid.make_run_id) and a folder name: plain ASCII words only.
_VALID_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

_REFUSED = {
    "total_variation": "f′(u) = ±½ is bounded, so 0 lies in the domain of f′",
    "chi_squared": "f′(u) = 2(u − 1) is finite at u = 0, so 0 lies in the domain of f′",
}


def compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    """The dtype f′ and the loss are computed in: float32 for half precision and integer inputs, float64 stays
    float64 (``fdpo.losses`` follows the same rule)."""
    return torch.promote_types(tensor.dtype, torch.float32)


#: Below this |αa|, the α-divergence's f′ uses the series of (1 − e^(−x))/x (truncation error x⁴/120 < 1e−17).
_SERIES_BOUND = 1e-4
#: Below this α, the α-divergence's f′ is the series alone: |αa| < 1e−4 on its whole exact range.
_SERIES_ONLY_ALPHA = 1e-12


def _one_minus_exp(x: torch.Tensor) -> torch.Tensor:
    """1 − e^x, accurate in value and gradient for every x.

    ``-expm1(x)`` is accurate near 0, but torch differentiates expm1 as (expm1(x) + 1)·g, which rounds to exactly 0
    once expm1(x) ≈ −1 (x ≲ −17 in float32) and silently kills the gradient; ``1 − exp(x)`` is accurate there.
    """
    return torch.where(x > -1.0, -torch.expm1(x.clamp(min=-1.0)), 1.0 - torch.exp(x.clamp(max=-1.0)))


class FDivergence:
    """An f-divergence D_f(π‖π_ref) = E_{π_ref}[f(π/π_ref)], described through f and f′ in log space.

    Subclasses set ``name``, implement ``f_prime_exact`` (the closed-form f′ as a function of the log ratio a) and
    ``f``, and, where f′ grows exponentially, ``exact_range`` (the interval of a on which |f′| ≤ 1e4). The public
    ``f_prime`` adds the stable extension and dtype handling; do not override it. Register a subclass with
    ``@register_divergence`` and it works in the loss, the trainer and the sweeps with no other change.

    The implicit reward of f-DPO is β·f′(u); f must be convex with f(1) = 0, and the paper's theorem needs
    f′(u) → −∞ as u → 0 (0 ∉ dom f′), which makes f′ strictly increasing in a and unbounded below.
    """

    name: ClassVar[str] = ""
    #: Name of the parameter a spec string "name:value" sets (e.g. "alpha:0.3"); None if there is none.
    spec_param: ClassVar[str | None] = None

    @property
    def params(self) -> dict[str, float]:
        """The divergence's parameters, as keyword arguments of its constructor."""
        return {}

    @property
    def spec(self) -> str:
        """A string ``get_divergence`` turns back into this divergence, e.g. ``"alpha:0.3"``."""
        if not self.params:
            return self.name
        if self.spec_param is not None and set(self.params) == {self.spec_param}:
            return f"{self.name}:{self.params[self.spec_param]!r}"
        return self.name + ":" + ",".join(f"{key}={value!r}" for key, value in self.params.items())

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.params == self.params

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.params.items()))))

    def exact_range(self) -> tuple[float, float]:
        """Interval of log ratios on which f′ is computed from its closed form. Default: everywhere."""
        return (-math.inf, math.inf)

    def f_prime_exact(self, log_ratio: torch.Tensor) -> torch.Tensor:
        """f′(u) at u = exp(log_ratio) from the closed form, shifted so that f′ = 0 at log_ratio = 0."""
        raise NotImplementedError

    def f(self, log_ratio: torch.Tensor) -> torch.Tensor:
        """f(u) at u = exp(log_ratio)."""
        raise NotImplementedError

    def f_over_u(self, log_ratio: torch.Tensor) -> torch.Tensor:
        """f(u)/u at u = exp(log_ratio), so that D_f(π‖π_ref) = E_π[f(u)/u]. Override with a stable form."""
        log_ratio = log_ratio.to(compute_dtype(log_ratio))
        return self.f(log_ratio) * torch.exp(-log_ratio)

    def f_prime(self, log_ratio: torch.Tensor) -> torch.Tensor:
        """f′(u) at u = exp(log_ratio), stable for any finite log ratio.

        Args:
            log_ratio: log π(y|x) − log π_ref(y|x) of each response. Shape: any.

        Returns:
            f′ shifted so that f′(1) = 0, same shape, in float32 (float64 for float64 inputs). Exact inside
            ``exact_range()``; outside, the tangent line at the nearest end of the range.
        """
        log_ratio = log_ratio.to(compute_dtype(log_ratio))
        low, high = self.exact_range()
        if low == -math.inf and high == math.inf:
            return self.f_prime_exact(log_ratio)
        # The exact branch sees clamped inputs so it never overflows, and torch.where routes each point's gradient
        # through its own branch only. (Writing the extension as f′(clamp(a)) + s·(a − clamp(a)) instead would add
        # +s and −s into the same gradient and, in float32, wipe out an exact f″ smaller than s·1e−7.)
        inside = log_ratio.clamp(
            min=None if low == -math.inf else low, max=None if high == math.inf else high
        )
        value = self.f_prime_exact(inside)
        (low_value, low_slope), (high_value, high_slope) = self._boundary_tangents()
        if low != -math.inf:
            value = torch.where(log_ratio < low, low_value + low_slope * (log_ratio - low), value)
        if high != math.inf:
            value = torch.where(log_ratio > high, high_value + high_slope * (log_ratio - high), value)
        return value

    def _boundary_tangents(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(f′, f″) with respect to a at both ends of ``exact_range``, in float64 (cached)."""
        cached = self.__dict__.get("_tangents")
        if cached is None:
            tangents = []
            for end in self.exact_range():
                if math.isinf(end):
                    tangents.append((0.0, 0.0))
                    continue
                point = torch.tensor(end, dtype=torch.float64, requires_grad=True)
                value = self.f_prime_exact(point)
                (slope,) = torch.autograd.grad(value, point)
                tangents.append((value.item(), slope.item()))
            cached = self.__dict__["_tangents"] = tuple(tangents)
        return cached


def register_divergence(cls: type[FDivergence]) -> type[FDivergence]:
    """Class decorator adding an ``FDivergence`` subclass to the registry under ``cls.name``.

    Raises:
        ValueError: if the name is empty or not a valid run-id component (letters, digits, ``_`` and ``-``, starting
            with a letter, no ``__``), already registered, or one the paper's theorem excludes.
    """
    if not (isinstance(cls, type) and issubclass(cls, FDivergence)):
        raise TypeError(f"register_divergence expects an FDivergence subclass, got {cls!r}.")
    name = cls.name
    if not isinstance(name, str) or not _VALID_NAME.fullmatch(name) or "__" in name:
        raise InputError(
            f"{cls.__name__}.name={name!r} is not a valid divergence name: it must be a non-empty string that starts "
            "with a letter and holds only "
            "letters, digits, '_' and '-' (no '__', which separates the parts of a run id), because it names the "
            "runs' folders and rows in results.csv (a name such as '..' or 'a/b' would name no folder of its own). "
            "Rename it, e.g. 'my_divergence'."
        )
    if name in _REFUSED:
        raise ValueError(f"'{name}' cannot be registered: {_REFUSED[name]} (see get_divergence).")
    if name in _REGISTRY:
        raise ValueError(
            f"A divergence named '{name}' is already registered ({_REGISTRY[name].__name__}); choose another name."
        )
    _REGISTRY[name] = cls
    return cls


def list_divergences() -> list[str]:
    """Names of the registered divergences, sorted."""
    return sorted(_REGISTRY)


def get_divergence(divergence: str | FDivergence, **params) -> FDivergence:
    """Returns a divergence from a name, a spec string or an instance.

    Args:
        divergence: a registered name (``"forward_kl"``), a spec (``"alpha:0.3"`` or ``"alpha:alpha=0.3"``), or an
            ``FDivergence`` instance, returned unchanged. A spec sets each parameter once: ``"alpha:0.3,0.7"``,
            ``"alpha:alpha=0.2,alpha=0.4"``, ``"alpha:"`` and unknown parameter names are refused.
        **params: constructor arguments, e.g. ``get_divergence("alpha", alpha=0.3)``.

    Raises:
        InputError (a ``ValueError``): unknown name (the message lists the registered ones), a divergence the f-DPO
            theorem excludes, a malformed spec or bad parameters.
    """
    if isinstance(divergence, FDivergence):
        if params:
            raise InputError(
                f"Got an FDivergence instance {divergence!r} and parameters {params}; pass one or the other."
            )
        return divergence
    if not isinstance(divergence, str):
        raise TypeError(
            f"divergence must be a name, a spec string or an FDivergence, got {type(divergence).__name__}."
        )
    name, colon, arguments = divergence.strip().partition(":")
    name = name.strip()
    if name in _REFUSED:
        raise InputError(
            f"'{name}' cannot be used with f-DPO: {_REFUSED[name]}. The f-DPO reparameterization (Wang et al., 2024, "
            "Theorem 1) needs 0 ∉ dom f′, i.e. f′(u) → −∞ as u → 0. "
            f"Use one of: {', '.join(list_divergences())}."
        )
    if name not in _REGISTRY:
        raise InputError(
            f"Unknown divergence '{name}'. Registered divergences: {', '.join(list_divergences())}. "
            "Register your own with @fdpo.register_divergence."
        )
    cls = _REGISTRY[name]
    parsed = parse_spec(name, cls, arguments, divergence) if colon else {}
    duplicated = set(parsed) & set(params)
    if duplicated:
        raise InputError(
            f"Parameter(s) {sorted(duplicated)} given both in the spec {divergence!r} and as arguments; give them "
            "in one place."
        )
    accepted = constructor_parameters(cls)
    unknown = [] if accepted is None else sorted((set(parsed) | set(params)) - set(accepted))
    if unknown:
        takes = f"takes only {', '.join(accepted)}" if accepted else "takes no parameter"
        raise InputError(
            f"Bad parameters for divergence '{name}' (spec {divergence!r}): {', '.join(unknown)} unknown; it {takes}."
        )
    try:
        return cls(**parsed, **params)
    except TypeError as error:
        raise InputError(f"Bad parameters for divergence '{name}': {error}.") from error


@register_divergence
class ReverseKL(FDivergence):
    """Reverse KL, KL(π‖π_ref): standard DPO.

    f(u) = u log u, f′(u) = log u + 1, as a function of a (shifted to vanish at 0): f′ = a. Linear in a, so
    exact everywhere.
    """

    name = "reverse_kl"

    def f_prime_exact(self, log_ratio: torch.Tensor) -> torch.Tensor:
        return log_ratio

    def f(self, log_ratio: torch.Tensor) -> torch.Tensor:
        return log_ratio * torch.exp(log_ratio)

    def f_over_u(self, log_ratio: torch.Tensor) -> torch.Tensor:
        return log_ratio.to(compute_dtype(log_ratio))


@register_divergence
class ForwardKL(FDivergence):
    """Forward KL, KL(π_ref‖π).

    f(u) = −log u, f′(u) = −1/u, as a function of a (shifted to vanish at 0): f′ = 1 − e^(−a). |f′| exceeds 1e4 for
    a < −log(1e4 + 1) ≈ −9.21; there
    f′ continues linearly with slope 1e4, where TRL's ``1 − exp(−a)`` overflows to inf for a ≲ −88 in float32.
    """

    name = "forward_kl"

    def exact_range(self) -> tuple[float, float]:
        return (-math.log1p(MAX_EXACT_F_PRIME), math.inf)

    def f_prime_exact(self, log_ratio: torch.Tensor) -> torch.Tensor:
        return _one_minus_exp(-log_ratio)

    def f(self, log_ratio: torch.Tensor) -> torch.Tensor:
        return -log_ratio

    def f_over_u(self, log_ratio: torch.Tensor) -> torch.Tensor:
        log_ratio = log_ratio.to(compute_dtype(log_ratio))
        return -log_ratio * torch.exp(-log_ratio)


@register_divergence
class JensenShannon(FDivergence):
    """Jensen–Shannon divergence.

    f(u) = u log u − (u+1) log((u+1)/2), f′(u) = log(2u/(1+u)), as a function of a: f′ = log 2 + log σ(a), which is
    bounded above by log 2 and ≈ a as a → −∞; evaluated with ``logsigmoid``, it is exact everywhere.
    """

    name = "jensen_shannon"

    def f_prime_exact(self, log_ratio: torch.Tensor) -> torch.Tensor:
        return math.log(2.0) + F.logsigmoid(log_ratio)

    def f(self, log_ratio: torch.Tensor) -> torch.Tensor:
        ratio = torch.exp(log_ratio)
        return ratio * log_ratio - (ratio + 1.0) * (F.softplus(log_ratio) - math.log(2.0))

    def f_over_u(self, log_ratio: torch.Tensor) -> torch.Tensor:
        log_ratio = log_ratio.to(compute_dtype(log_ratio))
        # f(u)/u = a − (1 + e^(−a)) (log(1 + e^a) − log 2)
        return log_ratio - (1.0 + torch.exp(-log_ratio)) * (F.softplus(log_ratio) - math.log(2.0))


@register_divergence
class AlphaDivergence(FDivergence):
    """α-divergence in the paper's convention, α ∈ (0, 1): α → 0 is reverse KL, α → 1 is forward KL.

    f(u) = (u^(1−α) − (1−α)u − α)/(α(α−1)), f′(u) = (1 − u^(−α))/α, as a function of a: f′ = (1 − e^(−αa))/α,
    evaluated without cancellation near a = 0.
    TRL's ``f_alpha_divergence_coef`` is 1 − α (TRL writes f′(t) = (t^(coef−1) − 1)/(coef − 1)).
    |f′| exceeds 1e4 for a < −log1p(1e4·α)/α; there f′ continues linearly (TRL clamps, which zeroes the gradient).
    For α < 1e−4, f′ also exceeds 1e4 for a > −log(1 − 1e4·α)/α (f′ tends to 1/α > 1e4) and continues linearly.

    Any α in (0, 1) that is a positive float is accepted, however small: where |αa| < 1e−4, f′ is computed as
    a·(1 − x/2 + x²/6 − x³/24) with x = αa (the series of a·(1 − e^(−x))/x), so a tiny α, which float32 rounds to
    0, gives reverse KL's f′ = a to float32 precision instead of 0/0.
    """

    name = "alpha"
    spec_param = "alpha"

    def __init__(self, alpha: float = 0.5):
        value = real_number(alpha)
        if value is None or not 0.0 < value < 1.0:
            raise InputError(
                f"alpha must lie strictly between 0 and 1 (paper convention: α → 0 is reverse_kl, α → 1 is "
                f"forward_kl), got {alpha!r}. For the limits use 'reverse_kl' or 'forward_kl'."
            )
        self.alpha = value

    @property
    def params(self) -> dict[str, float]:
        return {"alpha": self.alpha}

    def exact_range(self) -> tuple[float, float]:
        alpha = self.alpha
        low = -math.log1p(MAX_EXACT_F_PRIME * alpha) / alpha
        high = (
            -math.log1p(-MAX_EXACT_F_PRIME * alpha) / alpha if MAX_EXACT_F_PRIME * alpha < 1.0 else math.inf
        )
        return (low, high)

    def f_prime_exact(self, log_ratio: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha
        scaled = log_ratio * alpha  # x = αa; 0 in float32 when α < 1.4e−45, which the series below handles
        small = scaled.abs() < _SERIES_BOUND
        # Both branches see safe inputs, so the one torch.where drops contributes a zero gradient, never 0·inf.
        x = torch.where(small, scaled, torch.zeros_like(scaled))
        series = log_ratio * (1.0 - x / 2.0 * (1.0 - x / 3.0 * (1.0 - x / 4.0)))
        if alpha < _SERIES_ONLY_ALPHA:
            # |αa| < 1e−4 all over the exact range (|a| ≲ 1e4), and 1/α would overflow float32
            return series
        closed = _one_minus_exp(-torch.where(small, torch.ones_like(scaled), scaled)) / alpha
        return torch.where(small, series, closed)

    def f(self, log_ratio: torch.Tensor) -> torch.Tensor:
        log_ratio = log_ratio.to(compute_dtype(log_ratio))
        return torch.exp(log_ratio) * self.f_over_u(log_ratio)

    def f_over_u(self, log_ratio: torch.Tensor) -> torch.Tensor:
        log_ratio = log_ratio.to(compute_dtype(log_ratio))
        # (e^(−αa) − (1−α) − α e^(−a)) / (α(α−1)) = ((1 − e^(−αa))/α − (1 − e^(−a))) / (1 − α): no division by a
        # tiny α, and the first term is f′ in closed form
        return (self.f_prime_exact(log_ratio) - _one_minus_exp(-log_ratio)) / (1.0 - self.alpha)


@register_divergence
class ChiSquaredKL(FDivergence):
    """χ² + KL mixture of χPO (Huang et al., 2024): the link u + log u.

    f(u) = ½(u−1)² + u log u, f′(u) = u + log u + 1, as a function of a (shifted): f′ = e^a − 1 + a. |f′| exceeds 1e4 for
    a > log(1e4) ≈ 9.21; there f′ continues linearly with slope ≈ 1e4 + 1.
    """

    name = "chi_squared_kl"

    def exact_range(self) -> tuple[float, float]:
        return (-math.inf, math.log(MAX_EXACT_F_PRIME))

    def f_prime_exact(self, log_ratio: torch.Tensor) -> torch.Tensor:
        return log_ratio - _one_minus_exp(log_ratio)

    def f(self, log_ratio: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.expm1(log_ratio) ** 2 + log_ratio * torch.exp(log_ratio)

    def f_over_u(self, log_ratio: torch.Tensor) -> torch.Tensor:
        log_ratio = log_ratio.to(compute_dtype(log_ratio))
        # ½(u − 2 + 1/u) + log u = cosh(a) − 1 + a
        return torch.cosh(log_ratio) - 1.0 + log_ratio
