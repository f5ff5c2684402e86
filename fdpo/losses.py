"""The f-DPO loss: a pure tensor function, unreduced, with no model and no TRL."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fdpo.checks import real_number, training_value_problems
from fdpo.divergences import FDivergence, compute_dtype, get_divergence
from fdpo.errors import InputError

__all__ = ["LOSS_TYPES", "fdpo_loss", "validate_log_probs"]

#: Outer functions of the preference margin that f-DPO supports (the β·log Z(x) term cancels only in a margin).
LOSS_TYPES = ("sigmoid", "hinge", "ipo")


def validate_log_probs(**tensors: torch.Tensor) -> None:
    """Checks that log-prob tensors are 1-D, of one shape, and finite.

    Raises:
        ValueError: naming the offending argument and what to do about it.
    """
    shape = None
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape (batch,), got {type(tensor).__name__}.")
        if tensor.dim() != 1:
            raise InputError(
                f"{name} must have shape (batch,): summed log-probs, one per sequence. Got shape {tuple(tensor.shape)}; "
                "sum per-token log-probs over the completion first."
            )
        if shape is None:
            first, shape = name, tensor.shape
        elif tensor.shape != shape:
            raise InputError(
                f"{name} has shape {tuple(tensor.shape)} but {first} has shape {tuple(shape)}; all four log-prob "
                "tensors must hold one value per preference pair."
            )
        if not torch.isfinite(tensor).all():
            bad = (~torch.isfinite(tensor)).nonzero().flatten().tolist()
            raise InputError(
                f"{name} holds non-finite values (NaN or inf) at batch positions {bad[:10]}. Log-probs must be finite: "
                "check for empty completions, fp16 overflow in the model, or -inf from masked logits."
            )


def _check_lengths(batch_size: int, **lengths: torch.Tensor) -> None:
    for name, tensor in lengths.items():
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != (batch_size,):
            got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise InputError(
                f"{name} must be a tensor of shape ({batch_size},), the completion length of each pair; got {got}."
            )


def fdpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    divergence: FDivergence | str,
    beta: float,
    loss_type: str = "sigmoid",
    chosen_lengths: torch.Tensor | None = None,
    rejected_lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Computes the f-DPO loss for a batch of preference pairs.

    With a = log π(y|x) − log π_ref(y|x) for each response, f′ is applied per response (Wang et al., 2024, Eq. 9):

        sigmoid: −log σ(β f′(a_w) − β f′(a_l))
        hinge:   max(0, 1 − β (f′(a_w) − f′(a_l)))
        ipo:     (f′(a_w)/|y_w| − f′(a_l)/|y_l| − 1/(2β))², lengths as TRL 1.16 normalises (omitted if not given)

    Args:
        policy_chosen_logps: log π(y_w|x), summed over the completion. Shape: (batch_size,).
        policy_rejected_logps: log π(y_l|x). Shape: (batch_size,).
        ref_chosen_logps: log π_ref(y_w|x). Shape: (batch_size,).
        ref_rejected_logps: log π_ref(y_l|x). Shape: (batch_size,).
        divergence: an ``FDivergence``, a registered name or a spec such as ``"alpha:0.3"``.
        beta: strength of the divergence constraint, > 0 (for IPO, its τ).
        loss_type: one of ``LOSS_TYPES``.
        chosen_lengths, rejected_lengths: completion lengths in tokens, used by ``"ipo"`` only (both or neither).
            Shape: (batch_size,).

    Returns:
        ``(losses, chosen_rewards, rejected_rewards)``, each of shape (batch_size,): the unreduced loss in float32
        (float64 for float64 inputs) and the detached implicit rewards β·f′(u).

    Raises:
        InputError (a ``ValueError``): a bad divergence, β or loss type, log-probs that are not finite or not of one
            shape (batch_size,), an empty batch, or IPO lengths given for one side only.
    """
    divergence = get_divergence(divergence)
    problems = training_value_problems({"beta": beta})  # the rule FDPOConfig applies to its beta
    if problems:
        raise InputError(problems[0])
    beta = real_number(beta)
    if loss_type not in LOSS_TYPES:
        raise InputError(f"Unknown loss_type {loss_type!r}; f-DPO supports {', '.join(LOSS_TYPES)}.")
    validate_log_probs(
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        ref_chosen_logps=ref_chosen_logps,
        ref_rejected_logps=ref_rejected_logps,
    )

    batch_size = policy_chosen_logps.shape[0]
    if batch_size == 0:
        raise InputError(
            "fdpo_loss got an empty batch (0 preference pairs): there is no loss to compute, and the mean of the "
            "empty result would be NaN. Skip empty batches, or check that the dataset has rows."
        )
    if loss_type == "ipo" and (chosen_lengths is None) != (rejected_lengths is None):
        given, missing = (
            ("chosen_lengths", "rejected_lengths")
            if chosen_lengths is not None
            else ("rejected_lengths", "chosen_lengths")
        )
        raise InputError(
            f"IPO got {given} but not {missing}: it normalizes both completions by their lengths or neither. Pass "
            "both (tokens per completion, shape (batch_size,)) or neither."
        )
    if loss_type == "ipo" and chosen_lengths is not None:
        _check_lengths(batch_size, chosen_lengths=chosen_lengths, rejected_lengths=rejected_lengths)

    # Upcast before subtracting: a bfloat16 difference of two log-probs near −200 keeps about one digit.
    dtype = compute_dtype(policy_chosen_logps)
    chosen_log_ratios = policy_chosen_logps.to(dtype) - ref_chosen_logps.to(dtype)
    rejected_log_ratios = policy_rejected_logps.to(dtype) - ref_rejected_logps.to(dtype)
    chosen_scores = divergence.f_prime(chosen_log_ratios)
    rejected_scores = divergence.f_prime(rejected_log_ratios)

    if loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * (chosen_scores - rejected_scores))
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * (chosen_scores - rejected_scores))
    else:  # ipo, Azar et al. (2023) Eq. 17 with the scores in place of the log ratios
        if chosen_lengths is not None:
            chosen_scores_per_token = chosen_scores / chosen_lengths.to(dtype).clamp(min=1.0)
            rejected_scores_per_token = rejected_scores / rejected_lengths.to(dtype).clamp(min=1.0)
        else:
            chosen_scores_per_token, rejected_scores_per_token = chosen_scores, rejected_scores
        losses = (chosen_scores_per_token - rejected_scores_per_token - 1 / (2 * beta)) ** 2

    chosen_rewards = beta * chosen_scores.detach()
    rejected_rewards = beta * rejected_scores.detach()
    return losses, chosen_rewards, rejected_rewards
