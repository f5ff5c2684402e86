"""Tests for fdpo/losses.py: float64 references, the per-response ratio, stability over extreme log ratios."""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fdpo.divergences import get_divergence
from fdpo.errors import InputError
from fdpo.losses import LOSS_TYPES, fdpo_loss

SPECS = ["reverse_kl", "forward_kl", "jensen_shannon", "alpha:0.3", "alpha:0.7", "chi_squared_kl"]
LOW_PRECISION = [torch.float32, torch.bfloat16, torch.float16]


def _batch(n=16, scale=3.0, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    logps = -torch.rand(4, n, generator=generator, dtype=torch.float64) * 40 - 1
    ref = logps.clone()
    ref[2:] = logps[:2] - (torch.rand(2, n, generator=generator, dtype=torch.float64) - 0.5) * 2 * scale
    return [t.to(dtype) for t in (logps[0], logps[1], ref[2], ref[3])]


def _numpy_f_prime(spec, log_ratio):
    """f′(u) of the paper's table from u = e^a, shifted so that f′(1) = 0 as fdpo and TRL do: constants cancel in
    sigmoid and hinge margins, not in IPO's length-normalised one."""
    u = np.exp(log_ratio)
    name = get_divergence(spec).name
    if name == "alpha":
        alpha = get_divergence(spec).alpha
        return (1 - u ** (-alpha)) / alpha
    return {
        "reverse_kl": np.log(u),
        "forward_kl": 1 - 1 / u,
        "jensen_shannon": np.log(2 * u / (1 + u)),
        "chi_squared_kl": u + np.log(u) - 1,
    }[name]


def _numpy_loss(spec, beta, loss_type, pc, pr, rc, rr, lengths=None):
    chosen = _numpy_f_prime(spec, pc - rc)
    rejected = _numpy_f_prime(spec, pr - rr)
    margin = beta * (chosen - rejected)
    if loss_type == "sigmoid":
        return np.logaddexp(0.0, -margin)
    if loss_type == "hinge":
        return np.maximum(0.0, 1 - margin)
    if lengths is not None:
        chosen, rejected = chosen / lengths[0], rejected / lengths[1]
    return (chosen - rejected - 1 / (2 * beta)) ** 2


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_loss_matches_float64_reference(spec, loss_type):
    """Per-pair losses and rewards against numpy float64 closed forms."""
    beta = 0.1
    tensors = _batch()
    lengths = (torch.tensor(range(1, 17)), torch.tensor(range(16, 0, -1)))
    losses, chosen_rewards, rejected_rewards = fdpo_loss(
        *[t.float() for t in tensors],
        spec,
        beta,
        loss_type,
        chosen_lengths=lengths[0],
        rejected_lengths=lengths[1],
    )
    arrays = [t.numpy() for t in tensors]
    reference = _numpy_loss(spec, beta, loss_type, *arrays, lengths=[x.numpy() for x in lengths])
    assert losses.dtype == torch.float32 and losses.shape == (16,)
    np.testing.assert_allclose(losses.numpy(), reference, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        chosen_rewards.numpy(), beta * _numpy_f_prime(spec, arrays[0] - arrays[2]), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        rejected_rewards.numpy(), beta * _numpy_f_prime(spec, arrays[1] - arrays[3]), rtol=1e-5, atol=1e-5
    )


def test_rewards_are_detached_and_losses_unreduced():
    tensors = [t.float().requires_grad_(True) for t in _batch()]
    losses, chosen_rewards, rejected_rewards = fdpo_loss(*tensors, "forward_kl", 0.1)
    assert losses.requires_grad and not chosen_rewards.requires_grad and not rejected_rewards.requires_grad
    assert losses.shape == chosen_rewards.shape == rejected_rewards.shape == (16,)


def _notebook_margin(spec, pc, pr, rc, rr):
    """The notebook's Part 2: f′ of π(y_w)/π(y_l) minus f′ of π_ref(y_w)/π_ref(y_l)."""
    divergence = get_divergence(spec)
    return divergence.f_prime(pc - pr) - divergence.f_prime(rc - rr)


@pytest.mark.parametrize("spec", SPECS)
def test_f_prime_is_applied_per_response_not_to_the_ratio_of_pairs(spec):
    """The notebook's loss and ours agree only for reverse KL, where log is linear."""
    beta = 0.1
    pc, pr, rc, rr = _batch()
    ours = fdpo_loss(pc, pr, rc, rr, spec, beta)[0]
    notebook = -torch.nn.functional.logsigmoid(beta * _notebook_margin(spec, pc, pr, rc, rr))
    if spec == "reverse_kl":
        torch.testing.assert_close(ours, notebook)
    else:
        assert (ours - notebook).abs().max() > 1e-2
    reference = _numpy_loss(spec, beta, "sigmoid", *[t.numpy() for t in (pc, pr, rc, rr)])
    np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------------------
# Stability: a chosen × rejected grid of log ratios from −1e4 to 1e4

GRID = [
    -1e4,
    -1e3,
    -300.0,
    -100.0,
    -89.0,
    -20.0,
    -9.5,
    -1.0,
    0.0,
    0.5,
    9.5,
    20.0,
    89.0,
    100.0,
    300.0,
    1e3,
    1e4,
]


def _mp_f_prime(spec, a):
    divergence = get_divergence(spec)
    if divergence.name == "reverse_kl":
        return a
    if divergence.name == "forward_kl":
        return 1 - mpmath.exp(-a)
    if divergence.name == "jensen_shannon":
        return mpmath.log(2) - mpmath.log1p(mpmath.exp(-a))
    if divergence.name == "alpha":
        return (1 - mpmath.exp(-divergence.alpha * a)) / divergence.alpha
    return mpmath.exp(a) - 1 + a


def _mp_f_double_prime(spec, a):
    divergence = get_divergence(spec)
    if divergence.name == "reverse_kl":
        return mpmath.mpf(1)
    if divergence.name == "forward_kl":
        return mpmath.exp(-a)
    if divergence.name == "jensen_shannon":
        return 1 / (1 + mpmath.exp(a))
    if divergence.name == "alpha":
        return mpmath.exp(-divergence.alpha * a)
    return mpmath.exp(a) + 1


def _exact_gradients(spec, beta, loss_type, chosen, rejected):
    """dL/da_w and dL/da_l of the exact (unextended) loss, with 60-digit arithmetic."""
    with mpmath.workdps(60):
        chosen, rejected = mpmath.mpf(chosen), mpmath.mpf(rejected)
        margin = beta * (_mp_f_prime(spec, chosen) - _mp_f_prime(spec, rejected))
        if loss_type == "sigmoid":
            outer = -1 / (1 + mpmath.exp(margin))  # d/dm of −log σ(m)
        else:
            outer = mpmath.mpf(-1) if 1 - margin > 0 else mpmath.mpf(0)
        grad_chosen = outer * beta * _mp_f_double_prime(spec, chosen)
        grad_rejected = -outer * beta * _mp_f_double_prime(spec, rejected)
        return float(grad_chosen), float(grad_rejected)


NEGLIGIBLE = {torch.float32: 1e-30, torch.bfloat16: 1e-30, torch.float16: 1e-6}


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge"])
@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_stable_on_extreme_grid(spec, loss_type, dtype):
    """Finite loss and gradients everywhere; ours non-zero with the exact sign wherever the exact one is not tiny."""
    beta = 0.1
    pairs = list(itertools.product(GRID, GRID))
    chosen = torch.tensor([p[0] for p in pairs]).to(dtype).requires_grad_(True)
    rejected = torch.tensor([p[1] for p in pairs]).to(dtype).requires_grad_(True)
    zeros = torch.zeros_like(chosen)
    losses, _, _ = fdpo_loss(chosen, rejected, zeros, zeros, spec, beta, loss_type)
    assert losses.dtype == torch.float32
    assert torch.isfinite(losses).all(), (
        f"non-finite loss at {[pairs[i] for i in (~torch.isfinite(losses)).nonzero()]}"
    )
    grad_chosen, grad_rejected = torch.autograd.grad(losses.sum(), (chosen, rejected))
    assert torch.isfinite(grad_chosen).all() and torch.isfinite(grad_rejected).all()
    tiny = NEGLIGIBLE[dtype]
    for index, (a_w, a_l) in enumerate(zip(chosen.tolist(), rejected.tolist(), strict=True)):
        exact_w, exact_l = _exact_gradients(spec, beta, loss_type, a_w, a_l)
        for exact, ours, side in (
            (exact_w, grad_chosen[index].item(), "chosen"),
            (exact_l, grad_rejected[index].item(), "rejected"),
        ):
            if abs(exact) > tiny:
                assert ours != 0 and math.copysign(1, ours) == math.copysign(1, exact), (
                    f"{side} gradient at a_w={a_w}, a_l={a_l}: exact {exact:.3g}, ours {ours:.3g}"
                )


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_ipo_finite_on_extreme_grid(spec, dtype):
    pairs = list(itertools.product(GRID, GRID))
    chosen = torch.tensor([p[0] for p in pairs]).to(dtype).requires_grad_(True)
    rejected = torch.tensor([p[1] for p in pairs]).to(dtype).requires_grad_(True)
    zeros = torch.zeros_like(chosen)
    lengths = torch.full_like(chosen, 64.0)
    losses, _, _ = fdpo_loss(chosen, rejected, zeros, zeros, spec, 0.1, "ipo", lengths, lengths)
    grads = torch.autograd.grad(losses.sum(), (chosen, rejected))
    assert torch.isfinite(losses).all() and all(torch.isfinite(g).all() for g in grads)


def test_trl_forward_kl_is_not_finite_where_ours_is():
    """The failure fdpo exists to fix: TRL 1.16 computes 1 − exp(−a) with no guard (trl/trainer/dpo_trainer.py)."""
    log_ratio = torch.tensor([-100.0], requires_grad=True)
    trl_scores = 1 - torch.exp(-log_ratio)
    trl_loss = -torch.nn.functional.logsigmoid(0.1 * (trl_scores - 0.0))
    assert (
        not torch.isfinite(trl_loss).all()
        or not torch.isfinite(torch.autograd.grad(trl_loss.sum(), log_ratio)[0]).all()
    )
    ours = fdpo_loss(log_ratio, torch.zeros(1), torch.zeros(1), torch.zeros(1), "forward_kl", 0.1)[0]
    (gradient,) = torch.autograd.grad(ours.sum(), log_ratio)
    assert torch.isfinite(ours).all() and gradient.item() < 0


@settings(max_examples=300, deadline=None)
@given(
    spec=st.sampled_from(SPECS),
    a_w=st.floats(-1e4, 1e4),
    a_l=st.floats(-1e4, 1e4),
    beta=st.floats(1e-3, 1.0),
    loss_type=st.sampled_from(["sigmoid", "hinge"]),
    dtype=st.sampled_from(LOW_PRECISION),
)
def test_property_loss_finite_and_gradient_signs(spec, a_w, a_l, beta, loss_type, dtype):
    chosen = torch.tensor([a_w]).to(dtype).requires_grad_(True)
    rejected = torch.tensor([a_l]).to(dtype).requires_grad_(True)
    zero = torch.zeros(1, dtype=dtype)
    loss = fdpo_loss(chosen, rejected, zero, zero, spec, beta, loss_type)[0]
    grad_chosen, grad_rejected = torch.autograd.grad(loss.sum(), (chosen, rejected))
    assert (
        torch.isfinite(loss).all()
        and torch.isfinite(grad_chosen).all()
        and torch.isfinite(grad_rejected).all()
    )
    assert grad_chosen.item() <= 0 <= grad_rejected.item()  # raising the chosen ratio never hurts


# ----------------------------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_log_probs_are_refused(bad):
    tensors = list(_batch(n=4, dtype=torch.float32))
    tensors[2] = tensors[2].clone()
    tensors[2][1] = bad
    with pytest.raises(ValueError, match=r"ref_chosen_logps holds non-finite values .* positions \[1\]"):
        fdpo_loss(*tensors, "reverse_kl", 0.1)


def test_shape_errors():
    pc, pr, rc, rr = _batch(n=4, dtype=torch.float32)
    with pytest.raises(ValueError, match="policy_rejected_logps has shape \\(3,\\) but policy_chosen_logps"):
        fdpo_loss(pc, pr[:3], rc, rr, "reverse_kl", 0.1)
    with pytest.raises(ValueError, match="must have shape \\(batch,\\)"):
        fdpo_loss(pc[None], pr[None], rc[None], rr[None], "reverse_kl", 0.1)
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        fdpo_loss(pc.tolist(), pr, rc, rr, "reverse_kl", 0.1)


@pytest.mark.parametrize("beta", [0, -0.1, float("nan"), float("inf"), True, "0.1"])
def test_bad_beta_is_refused(beta):
    with pytest.raises(ValueError, match=r"beta=.* must be a finite number > 0"):
        fdpo_loss(*_batch(n=2, dtype=torch.float32), "reverse_kl", beta)


def test_bad_loss_type_and_divergence_are_refused():
    tensors = _batch(n=2, dtype=torch.float32)
    with pytest.raises(ValueError, match="Unknown loss_type 'kto'.*sigmoid, hinge, ipo"):
        fdpo_loss(*tensors, "reverse_kl", 0.1, "kto")
    with pytest.raises(ValueError, match="Unknown divergence 'kl'"):
        fdpo_loss(*tensors, "kl", 0.1)
    with pytest.raises(ValueError, match="alpha must lie strictly between 0 and 1"):
        fdpo_loss(*tensors, "alpha:1.5", 0.1)


@pytest.mark.parametrize("beta", [np.float32(0.1), np.float64(0.1), np.int64(1)])
def test_numpy_scalar_beta_is_accepted(beta):
    tensors = _batch(n=3, dtype=torch.float64)
    ours = fdpo_loss(*tensors, "jensen_shannon", beta)
    reference = fdpo_loss(*tensors, "jensen_shannon", float(beta))
    for got, expected in zip(ours, reference, strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_empty_batch_is_refused_instead_of_a_nan_mean():
    empty = torch.zeros(0)
    with pytest.raises(InputError, match=r"empty batch \(0 preference pairs\)"):
        fdpo_loss(empty, empty, empty, empty, "reverse_kl", 0.1)


@pytest.mark.parametrize("side", ["chosen_lengths", "rejected_lengths"])
def test_ipo_with_lengths_for_one_side_only_is_refused(side):
    tensors = _batch(n=4, dtype=torch.float32)
    lengths = {side: torch.full((4,), 8)}
    other = "rejected_lengths" if side == "chosen_lengths" else "chosen_lengths"
    with pytest.raises(InputError, match=f"IPO got {side} but not {other}"):
        fdpo_loss(*tensors, "reverse_kl", 0.1, "ipo", **lengths)
    with pytest.raises(InputError, match=r"rejected_lengths must be a tensor of shape \(4,\)"):
        fdpo_loss(*tensors, "reverse_kl", 0.1, "ipo", torch.full((4,), 8), torch.full((3,), 8))


@pytest.mark.parametrize("spec", ["alpha:1e-300", "alpha:1e-46", "alpha:1e-8"])
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_tiny_alpha_loss_is_the_reverse_kl_loss(spec, loss_type, dtype):
    """α → 0 is reverse KL: a tiny α gives DPO's loss and gradients (it gave NaN for α ≲ 1e−45 in float32)."""
    alpha = get_divergence(spec).alpha
    tensors = [t.requires_grad_(True) for t in _batch(n=16, scale=20.0, dtype=dtype)]
    lengths = (torch.full((16,), 32), torch.full((16,), 48)) if loss_type == "ipo" else (None, None)
    losses, chosen_rewards, _ = fdpo_loss(*tensors, spec, 0.1, loss_type, *lengths)
    gradients = torch.autograd.grad(losses.sum(), tensors)
    # float64 reference: the α-divergence's f′ = −expm1(−αa)/α from the same (rounded) inputs
    pc, pr, rc, rr = (t.detach().double().numpy() for t in tensors)
    chosen, rejected = pc - rc, pr - rr
    f_chosen, f_rejected = (-np.expm1(-alpha * a) / alpha for a in (chosen, rejected))
    margin = 0.1 * (f_chosen - f_rejected)
    reference = {
        "sigmoid": lambda: np.logaddexp(0.0, -margin),
        "hinge": lambda: np.maximum(0.0, 1 - margin),
        "ipo": lambda: (f_chosen / 32 - f_rejected / 48 - 1 / 0.2) ** 2,
    }[loss_type]()
    assert all(torch.isfinite(g).all() for g in gradients)
    np.testing.assert_allclose(losses.detach().double().numpy(), reference, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(chosen_rewards.double().numpy(), 0.1 * f_chosen, rtol=1e-5, atol=1e-5)
