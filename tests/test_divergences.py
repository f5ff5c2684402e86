"""Tests for fdpo/divergences.py: the registry, closed forms against float64, and the stability contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fdpo.divergences import (
    MAX_EXACT_F_PRIME,
    AlphaDivergence,
    FDivergence,
    get_divergence,
    list_divergences,
    register_divergence,
)
from fdpo.errors import InputError

BUILT_INS = ["alpha", "chi_squared_kl", "forward_kl", "jensen_shannon", "reverse_kl"]
LOW_PRECISION = [torch.float32, torch.bfloat16, torch.float16]


def _reference_f_prime(spec: str, log_ratio: np.ndarray) -> np.ndarray:
    """f′(u) of the paper's table, shifted so that f′(1) = 0, evaluated from u = e^a in float64."""
    u = np.exp(log_ratio.astype(np.float64))
    divergence = get_divergence(spec)
    if divergence.name == "reverse_kl":
        return np.log(u)
    if divergence.name == "forward_kl":
        return 1.0 - 1.0 / u
    if divergence.name == "jensen_shannon":
        return np.log(2 * u / (1 + u))
    if divergence.name == "alpha":
        # (1 − u^(−α))/α, as −expm1(−αa)/α so that a tiny α keeps float64 accuracy
        return -np.expm1(-divergence.alpha * np.log(u)) / divergence.alpha
    if divergence.name == "chi_squared_kl":
        return u + np.log(u) - 1.0
    raise KeyError(spec)


def _reference_f(spec: str, log_ratio: np.ndarray) -> np.ndarray:
    u = np.exp(log_ratio.astype(np.float64))
    divergence = get_divergence(spec)
    if divergence.name == "reverse_kl":
        return u * np.log(u)
    if divergence.name == "forward_kl":
        return -np.log(u)
    if divergence.name == "jensen_shannon":
        return u * np.log(u) - (u + 1) * np.log((u + 1) / 2)
    if divergence.name == "alpha":
        alpha = divergence.alpha
        return (u ** (1 - alpha) - (1 - alpha) * u - alpha) / (alpha * (alpha - 1))
    if divergence.name == "chi_squared_kl":
        return 0.5 * (u - 1) ** 2 + u * np.log(u)
    raise KeyError(spec)


SPECS = [
    "reverse_kl",
    "forward_kl",
    "jensen_shannon",
    "alpha:0.1",
    "alpha:0.5",
    "alpha:0.9",
    "chi_squared_kl",
]
# α so small that float32 rounds it to 0 (1e−46) or cannot hold it at all (1e−300): f′ must be reverse KL's, not NaN
TINY_ALPHA_SPECS = ["alpha:1e-300", "alpha:1e-46", "alpha:1e-8"]
F_PRIME_SPECS = SPECS + TINY_ALPHA_SPECS


def _exact_grid(divergence: FDivergence, n: int = 2001) -> np.ndarray:
    """Log ratios in [−30, 30] on which |f′| ≤ 1e4, i.e. the contract's exact region."""
    low, high = divergence.exact_range()
    grid = np.linspace(max(low, -30.0), min(high, 30.0), n)
    return grid


# ----------------------------------------------------------------------------------------------------------------------
# Registry


def test_list_divergences_holds_the_built_ins():
    assert set(BUILT_INS) <= set(list_divergences())
    assert list_divergences() == sorted(list_divergences())


@pytest.mark.parametrize("name", BUILT_INS)
def test_get_divergence_by_name_and_spec_round_trip(name):
    divergence = get_divergence(name)
    assert divergence.name == name
    assert get_divergence(divergence.spec) == divergence
    assert get_divergence(divergence) is divergence


def test_unknown_divergence_lists_registered_ones():
    with pytest.raises(ValueError, match="Unknown divergence 'kl_forward'") as error:
        get_divergence("kl_forward")
    for name in BUILT_INS:
        assert name in str(error.value)


@pytest.mark.parametrize("name", ["total_variation", "chi_squared"])
def test_divergences_violating_the_theorem_are_refused(name):
    with pytest.raises(ValueError, match="0 ∉ dom f′"):
        get_divergence(name)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, float("nan"), True, "x"])
def test_alpha_outside_the_open_interval_is_refused(alpha):
    with pytest.raises(ValueError, match="alpha must lie strictly between 0 and 1"):
        AlphaDivergence(alpha)


def test_spec_errors():
    with pytest.raises(ValueError, match="takes no parameter"):
        get_divergence("forward_kl:0.3")
    with pytest.raises(ValueError, match="both in the spec"):
        get_divergence("alpha:0.3", alpha=0.4)
    with pytest.raises(ValueError, match="Bad parameters"):
        get_divergence("alpha:beta=0.3")
    with pytest.raises(ValueError, match="pass one or the other"):
        get_divergence(get_divergence("alpha:0.3"), alpha=0.4)


def test_unknown_keyword_parameters_are_named():
    with pytest.raises(InputError, match=r"beta unknown; it takes only alpha"):
        get_divergence("alpha", beta=0.3)


@pytest.mark.parametrize("alpha", [np.float32(0.1), np.float64(0.3), np.float16(0.5)])
def test_numpy_scalars_are_accepted_as_alpha(alpha):
    assert AlphaDivergence(alpha).alpha == float(alpha)
    assert type(AlphaDivergence(alpha).alpha) is float  # serializable, spec round-trips
    divergence = get_divergence("alpha", alpha=alpha)
    assert get_divergence(divergence.spec) == divergence


def test_register_refuses_duplicates_and_excluded_names():
    class Duplicate(FDivergence):
        name = "reverse_kl"

    with pytest.raises(ValueError, match="already registered"):
        register_divergence(Duplicate)

    class TotalVariation(FDivergence):
        name = "total_variation"

    with pytest.raises(ValueError, match="cannot be registered"):
        register_divergence(TotalVariation)

    class Nameless(FDivergence):
        pass

    with pytest.raises(ValueError, match="non-empty string"):
        register_divergence(Nameless)


def test_user_divergence_registers_and_is_stabilised():
    """A user's divergence needs only f′, f and its exact range; the extension comes for free."""

    @register_divergence
    class Cubic(FDivergence):  # f′(a) = −e^(−3a): forward KL's shape, steeper
        name = "test_cubic_forward"

        def exact_range(self):
            return (-math.log(MAX_EXACT_F_PRIME) / 3, math.inf)

        def f_prime_exact(self, log_ratio):
            return -torch.exp(-3 * log_ratio)

        def f(self, log_ratio):
            return (torch.exp(-2 * log_ratio) - 1) / 2

    assert "test_cubic_forward" in list_divergences()
    log_ratio = torch.tensor([-500.0, -1.0, 0.0], requires_grad=True)
    value = get_divergence("test_cubic_forward").f_prime(log_ratio)
    (gradient,) = torch.autograd.grad(value.sum(), log_ratio)
    assert torch.isfinite(value).all() and torch.isfinite(gradient).all()
    torch.testing.assert_close(gradient[0], torch.tensor(3 * MAX_EXACT_F_PRIME), rtol=1e-5, atol=0)
    torch.testing.assert_close(value[1:], torch.tensor([-math.exp(3.0), -1.0]))


# ----------------------------------------------------------------------------------------------------------------------
# Closed forms


@pytest.mark.parametrize("spec", F_PRIME_SPECS)
def test_f_prime_matches_float64_closed_form_in_exact_region(spec):
    divergence = get_divergence(spec)
    grid = _exact_grid(divergence)
    ours = divergence.f_prime(torch.tensor(grid, dtype=torch.float32)).double().numpy()
    reference = _reference_f_prime(spec, grid.astype(np.float32))
    # float32 rounding: a few ulps of the value, or of the input's contribution for |f′| ≲ 1
    np.testing.assert_allclose(ours, reference, rtol=4e-6, atol=4e-6)
    assert np.abs(reference).max() <= MAX_EXACT_F_PRIME * (1 + 1e-3)


def _reference_f_double_prime(spec: str, log_ratio: np.ndarray) -> np.ndarray:
    """d f′/d a in float64: the gradient the loss sends to a log ratio."""
    divergence = get_divergence(spec)
    a = log_ratio.astype(np.float64)
    return {
        "reverse_kl": lambda: np.ones_like(a),
        "forward_kl": lambda: np.exp(-a),
        "jensen_shannon": lambda: 1 / (1 + np.exp(a)),
        "alpha": lambda: np.exp(-getattr(divergence, "alpha", 0.0) * a),
        "chi_squared_kl": lambda: np.exp(a) + 1,
    }[divergence.name]()


@pytest.mark.parametrize("spec", F_PRIME_SPECS)
def test_f_prime_gradient_matches_float64_in_exact_region(spec):
    """Relative accuracy of f″ in float32, tiny values included (torch's expm1 backward once rounded them to 0)."""
    divergence = get_divergence(spec)
    low, high = divergence.exact_range()
    grid = np.linspace(max(low, -30.0), min(high, 90.0), 2001).astype(np.float32)
    log_ratio = torch.tensor(grid, requires_grad=True)
    (gradient,) = torch.autograd.grad(divergence.f_prime(log_ratio).sum(), log_ratio)
    np.testing.assert_allclose(
        gradient.double().numpy(), _reference_f_double_prime(spec, grid), rtol=2e-5, atol=0
    )


@pytest.mark.parametrize("spec", F_PRIME_SPECS)
def test_f_prime_float64_input_is_float64_exact(spec):
    divergence = get_divergence(spec)
    grid = _exact_grid(divergence)
    ours = divergence.f_prime(torch.tensor(grid, dtype=torch.float64))
    assert ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), _reference_f_prime(spec, grid), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", SPECS)
def test_f_and_f_over_u_match_closed_form(spec):
    divergence = get_divergence(spec)
    grid = np.linspace(-20, 20, 401)
    tensor = torch.tensor(grid, dtype=torch.float64)
    np.testing.assert_allclose(divergence.f(tensor).numpy(), _reference_f(spec, grid), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        divergence.f_over_u(tensor).numpy(), _reference_f(spec, grid) * np.exp(-grid), rtol=1e-9, atol=1e-9
    )
    assert divergence.f(torch.zeros((), dtype=torch.float64)).item() == pytest.approx(
        0.0, abs=1e-15
    )  # f(1) = 0


@pytest.mark.parametrize("name", list_divergences())
def test_f_prime_is_the_derivative_of_f(name):
    """d f(u)/du = f′(u) up to the dropped constant, for every registered divergence."""
    divergence = get_divergence(name)
    log_ratio = torch.linspace(-5, 5, 41, dtype=torch.float64, requires_grad=True)
    (df_da,) = torch.autograd.grad(divergence.f(log_ratio).sum(), log_ratio)
    df_du = df_da / torch.exp(log_ratio)  # du/da = u
    difference = (df_du - divergence.f_prime(log_ratio)).detach()
    torch.testing.assert_close(
        difference, torch.full_like(difference, difference[20].item()), rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("name", list_divergences())
def test_f_prime_vanishes_at_equal_policies(name):
    """f′(1) = 0: a response π gives as often as π_ref has implicit reward 0 (and IPO's margin matches TRL's)."""
    zero = torch.zeros(3, dtype=torch.float64)
    torch.testing.assert_close(get_divergence(name).f_prime(zero), zero, rtol=0, atol=1e-12)


def test_notebook_printed_values_are_reproduced():
    """The notebook's helpers applied f′ to exp(a − b); its printout for a = [2,3,4,5], b = [1,2,3,10]:

    RKL [1, 1, 1, −5]; α=0.001 [0.9995, …, −5.0125]; α=0.5 [0.7869, …, −22.3650];
    α=1−1e−10 and KL [0.6321, …, −147.4132]; JS [0.3799, …, −4.3136]. (Its KL is f′(u) = 1 − 1/u, which is ours.)
    """
    a = torch.tensor([2, 3, 4, 5], dtype=torch.float64)
    b = torch.tensor([1, 2, 3, 10], dtype=torch.float64)
    printed = {
        "reverse_kl": [1, 1, 1, -5],
        "alpha:0.001": [0.9995, 0.9995, 0.9995, -5.0125],
        "alpha:0.5": [0.7869, 0.7869, 0.7869, -22.3650],
        "alpha:0.9999999999": [0.6321, 0.6321, 0.6321, -147.4132],
        "forward_kl": [0.6321, 0.6321, 0.6321, -147.4132],
        "jensen_shannon": [0.3799, 0.3799, 0.3799, -4.3136],
    }
    for spec, values in printed.items():
        ours = get_divergence(spec).f_prime(a - b)
        torch.testing.assert_close(
            ours, torch.tensor(values, dtype=torch.float64), rtol=0, atol=6e-5, msg=spec
        )


def test_alpha_limits_approach_reverse_and_forward_kl():
    grid = torch.linspace(-5, 5, 101, dtype=torch.float64)
    reverse = get_divergence("reverse_kl").f_prime(grid)
    forward = get_divergence("forward_kl").f_prime(grid)
    torch.testing.assert_close(get_divergence("alpha:1e-6").f_prime(grid), reverse, rtol=0, atol=1e-4)
    torch.testing.assert_close(get_divergence("alpha:0.999999").f_prime(grid), forward, rtol=0, atol=1e-3)


# ----------------------------------------------------------------------------------------------------------------------
# Stability contract

EXTREMES = torch.tensor(
    [
        -1e4,
        -3e3,
        -1e3,
        -300.0,
        -100.0,
        -88.0,
        -20.0,
        -9.5,
        -1.0,
        0.0,
        1.0,
        9.5,
        20.0,
        88.0,
        100.0,
        300.0,
        1e3,
        1e4,
    ]
)


@pytest.mark.parametrize("name", list_divergences() + TINY_ALPHA_SPECS)
@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_f_prime_finite_monotone_with_nonzero_gradient_on_extremes(name, dtype):
    divergence = get_divergence(name)
    log_ratio = EXTREMES.to(dtype).requires_grad_(True)
    value = divergence.f_prime(log_ratio)
    (gradient,) = torch.autograd.grad(value.sum(), log_ratio)
    assert value.dtype == torch.float32
    assert torch.isfinite(value).all() and torch.isfinite(gradient).all()
    assert (value.diff() >= 0).all(), "f′ must be non-decreasing in the log ratio"
    assert (gradient.float() >= 0).all()
    # Below a = 0, f′ → −∞ for every admissible divergence, so the gradient may never vanish there.
    assert (gradient.float()[EXTREMES < 0] > 0).all()


@pytest.mark.parametrize("spec", ["forward_kl", "alpha:0.3", "chi_squared_kl"])
def test_extension_is_tangent_at_the_boundary(spec):
    """Beyond the exact range f′ is the tangent line: C¹ at the boundary, slope f″(boundary)."""
    divergence = get_divergence(spec)
    low, high = divergence.exact_range()
    boundary, direction = (low, -1.0) if math.isfinite(low) else (high, 1.0)
    offsets = torch.tensor([0.0, 1.0, 10.0, 1000.0], dtype=torch.float64) * direction
    points = (boundary + offsets).requires_grad_(True)
    value = divergence.f_prime(points)
    (gradient,) = torch.autograd.grad(value.sum(), points)
    at_boundary = torch.tensor(boundary, dtype=torch.float64, requires_grad=True)
    (exact_slope,) = torch.autograd.grad(divergence.f_prime_exact(at_boundary), at_boundary)
    torch.testing.assert_close(gradient, exact_slope.expand(4), rtol=1e-9, atol=0)
    torch.testing.assert_close(value, value[0] + exact_slope * offsets, rtol=1e-9, atol=0)
    assert abs(value[0].item()) == pytest.approx(MAX_EXACT_F_PRIME, rel=1e-3)


@settings(max_examples=300, deadline=None)
@given(
    spec=st.sampled_from(F_PRIME_SPECS),
    first=st.floats(-1e4, 1e4),
    second=st.floats(-1e4, 1e4),
    dtype=st.sampled_from(LOW_PRECISION),
)
def test_property_f_prime_is_monotone_and_finite(spec, first, second, dtype):
    divergence = get_divergence(spec)
    pair = torch.tensor(sorted([first, second])).to(dtype).requires_grad_(True)
    value = divergence.f_prime(pair)
    (gradient,) = torch.autograd.grad(value.sum(), pair)
    assert torch.isfinite(value).all() and torch.isfinite(gradient).all()
    assert value[0] <= value[1]


@settings(max_examples=300, deadline=None)
@given(spec=st.sampled_from(F_PRIME_SPECS), log_ratio=st.floats(-30, 30))
def test_property_exact_wherever_f_prime_is_modest(spec, log_ratio):
    divergence = get_divergence(spec)
    reference = _reference_f_prime(spec, np.array([np.float32(log_ratio)]))[0]
    if abs(reference) > MAX_EXACT_F_PRIME:
        return
    ours = divergence.f_prime(torch.tensor([log_ratio], dtype=torch.float32)).item()
    assert ours == pytest.approx(reference, rel=4e-6, abs=4e-6)


# ----------------------------------------------------------------------------------------------------------------------
# Tiny α: the limit α → 0 is reverse KL, computed without 0/0


def _mpmath_alpha(alpha: float, log_ratio: float) -> tuple[float, float, float]:
    """(f′, f″, f/u) of the α-divergence at a = log_ratio, in arbitrary precision (f/u needs ~α⁻¹'s digits)."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(int(-math.log10(alpha)) + 40):
        a, al = mpmath.mpf(log_ratio), mpmath.mpf(alpha)
        f_prime = -mpmath.expm1(-al * a) / al
        f_second = mpmath.exp(-al * a)
        f_over_u = (mpmath.exp(-al * a) - (1 - al) - al * mpmath.exp(-a)) / (al * (al - 1))
        return float(f_prime), float(f_second), float(f_over_u)


@pytest.mark.parametrize("spec", TINY_ALPHA_SPECS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
def test_tiny_alpha_matches_arbitrary_precision(spec, dtype):
    """α = 1e−300 and 1e−46 once gave NaN in float32 ((1 − e^0)/0); f′, f″ and f/u now match mpmath."""
    divergence = get_divergence(spec)
    grid = torch.tensor([-9000.0, -300.0, -20.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 20.0, 300.0, 9000.0]).to(dtype)
    log_ratio = grid.detach().clone().requires_grad_(True)
    value = divergence.f_prime(log_ratio)
    (gradient,) = torch.autograd.grad(value.sum(), log_ratio)
    reference = np.array([_mpmath_alpha(divergence.alpha, a) for a in grid.double().tolist()])
    tolerance = 1e-13 if dtype == torch.float64 else 4e-7
    # the gradient comes back in the input's dtype: one rounding of a value near 1
    gradient_tolerance = {torch.bfloat16: 2**-8, torch.float16: 2**-11}.get(dtype, tolerance)
    np.testing.assert_allclose(
        value.detach().double().numpy(), reference[:, 0], rtol=tolerance, atol=tolerance
    )
    np.testing.assert_allclose(gradient.double().numpy(), reference[:, 1], rtol=gradient_tolerance, atol=0)
    f_over_u = divergence.f_over_u(grid.double()).numpy()
    np.testing.assert_allclose(f_over_u, reference[:, 2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", TINY_ALPHA_SPECS)
def test_tiny_alpha_is_exact_where_reverse_kl_is_modest(spec):
    """|f′| ≤ 1e4 ⇔ |a| ≲ 1e4 here; beyond, the tangent, as for every divergence (contract test above)."""
    low, high = get_divergence(spec).exact_range()
    assert -1.0001e4 < low < -0.9999e4 and 0.9999e4 < high < 1.0001e4
