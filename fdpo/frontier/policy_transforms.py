"""Ways to sample a trained policy differently without training it again: each moves it along reward and diversity.

Each transform takes a policy trained from a reference model (the SFT model) and the generate() settings of its
evaluation, and gives the model and settings to sample with:

* ``Temperature``: sampling at another temperature (``with_temperature``).
* ``Interpolation``: the weights θ(t) = (1 − t)·θ_ref + t·θ_π (``interpolate_weights``; WiSE-FT, Wortsman et al.,
  2022; "rewarded soups", Ramé et al., 2023). t = 0 is the reference, t = 1 the policy; t > 1 extrapolates past the
  policy.
* ``Realignment``: decoding-time realignment (DeRa, Liu et al., 2024), sampling from
  softmax(λ·logits_π + (1 − λ)·logits_ref), which ``fdpo.decoding.sample(reference=, realign=)`` runs.

The frontier study plans them at the values of its settings (``fdpo.frontier.plan``) and evaluates the policy
through them.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

__all__ = [
    "Interpolation",
    "PolicyTransform",
    "Realignment",
    "Temperature",
    "interpolate_weights",
    "with_temperature",
]


def _check_same_architecture(reference: torch.nn.Module, policy: torch.nn.Module) -> None:
    if type(reference) is not type(policy):
        raise ValueError(
            f"Cannot interpolate a {type(reference).__name__} with a {type(policy).__name__}: both models must have "
            "the same architecture (the policy trained from the reference)."
        )
    reference_state, policy_state = reference.state_dict(), policy.state_dict()
    missing = [name for name in reference_state if name not in policy_state]
    extra = [name for name in policy_state if name not in reference_state]
    if missing or extra:
        raise ValueError(
            "Cannot interpolate models with different parameters: "
            f"{len(missing)} only in the reference (first: {missing[:3]}), {len(extra)} only in the policy "
            f"(first: {extra[:3]}). Interpolate a policy with the model it was trained from."
        )
    shapes = [
        f"{name}: {tuple(tensor.shape)} vs {tuple(policy_state[name].shape)}"
        for name, tensor in reference_state.items()
        if tensor.shape != policy_state[name].shape
    ]
    if shapes:
        raise ValueError(
            f"Cannot interpolate models whose parameters differ in shape ({len(shapes)}; first: {shapes[0]}). "
            "Interpolate a policy with the model it was trained from."
        )


def interpolate_weights(reference: torch.nn.Module, policy: torch.nn.Module, t: float) -> torch.nn.Module:
    """A new model with weights θ(t) = (1 − t)·θ_ref + t·θ_π; neither input is modified.

    Every floating-point tensor of the state dict (parameters and buffers) is interpolated in float64 and cast back
    to the policy's dtype, so t = 0 and t = 1 reproduce the endpoints' weights exactly. Tensors that are not
    floating point (counters, masks) cannot be interpolated: they are taken from the nearer endpoint (the
    reference for t < 0.5, the policy otherwise). Tied weights stay tied (the copy is of the policy). A forward
    patched on the policy's instance (TRL's trainer does this) is not carried over: the result runs its class's.

    Args:
        reference: the model the policy was trained from (e.g. the SFT model).
        policy: the trained policy; the result is a deep copy of it, on its device, in its train/eval mode.
        t: the mixing weight; any finite number (t > 1 extrapolates beyond the policy, t < 0 beyond the reference).

    Raises:
        ValueError: models of different classes, parameter names or shapes (the message names the first
            mismatch), or a non-finite t.
    """
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise ValueError(f"t must be a finite number (0: the reference, 1: the policy), got {t!r}.")
    _check_same_architecture(reference, policy)
    reference_state = reference.state_dict()
    mixed = {}
    with torch.no_grad():
        for name, tensor in policy.state_dict().items():
            start = reference_state[name].to(tensor.device)
            if tensor.is_floating_point():
                value = (1.0 - t) * start.double() + t * tensor.double()
                mixed[name] = value.to(tensor.dtype)
            else:
                mixed[name] = (start if t < 0.5 else tensor).clone()
    from fdpo.trainer import remove_fused_lm_head

    model = copy.deepcopy(policy)
    # A policy straight from a TRL trainer has a forward that closes over the *original* model (its fused LM head):
    # the copy would run the original's weights. The copy gets its class's forward back.
    remove_fused_lm_head(model)
    model.load_state_dict(mixed)
    return model


def with_temperature(generation: Mapping[str, Any] | None, temperature: float) -> dict[str, Any]:
    """The generate() settings ``generation`` with sampling at ``temperature`` (> 0; 1 samples the model as it is).

    Sampling is switched on (``do_sample=True``): greedy decoding ignores the temperature.
    """
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise ValueError(
            f"temperature must be a finite number > 0 (1: the model's own distribution), got {temperature!r}."
        )
    return {**dict(generation or {}), "do_sample": True, "temperature": float(temperature)}


class PolicyTransform:
    """A way to sample a trained policy differently, set by one number: a frozen dataclass with that one field."""

    #: The frontier's name for it (its ``lever`` column).
    lever: ClassVar[str]
    #: The symbol of its number in labels (``T=0.8``).
    symbol: ClassVar[str]

    @property
    def value(self) -> float:
        """Its one number (``temperature``, ``t``, ``weight``)."""
        (number,) = dataclasses.fields(self)
        return getattr(self, number.name)

    @property
    def label(self) -> str:
        return f"{self.symbol}={self.value:g}"

    def apply(
        self, reference: torch.nn.Module, policy: torch.nn.Module, generation: Mapping[str, Any]
    ) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The model and generate() settings that sample ``policy`` (trained from ``reference``) this way."""
        raise NotImplementedError


@dataclass(frozen=True)
class Temperature(PolicyTransform):
    """Sampling at ``temperature`` (> 0; 1 samples the policy as it is)."""

    temperature: float
    lever: ClassVar[str] = "temperature"
    symbol: ClassVar[str] = "T"

    def apply(self, reference, policy, generation):
        return policy, with_temperature(generation, self.temperature)


@dataclass(frozen=True)
class Interpolation(PolicyTransform):
    """The weights θ(t) = (1 − t)·θ_ref + t·θ_π (``interpolate_weights``)."""

    t: float
    lever: ClassVar[str] = "interpolation"
    symbol: ClassVar[str] = "t"

    def apply(self, reference, policy, generation):
        return interpolate_weights(reference, policy, self.t).eval(), dict(generation)


@dataclass(frozen=True)
class Realignment(PolicyTransform):
    """Sampling from softmax(λ·logits_π + (1 − λ)·logits_ref), λ = ``weight`` (≥ 0): λ < 1 moves towards the reference
    (as a larger β would), λ > 1 away from it."""

    weight: float
    lever: ClassVar[str] = "realignment"
    symbol: ClassVar[str] = "λ"

    def apply(self, reference, policy, generation):
        return policy, {**generation, "reference": reference, "realign": self.weight}
