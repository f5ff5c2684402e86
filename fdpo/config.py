"""``FDPOConfig``: TRL's ``DPOConfig`` plus the f-divergence that regularizes the policy.

The config speaks TRL's language (every ``DPOConfig`` / ``TrainingArguments`` field works as in TRL) and adds two
fields, ``divergence`` and ``alpha``. Settings of ``DPOConfig`` that the f-DPO loss cannot honour are refused here,
with an error that says what to use instead, rather than silently ignored.

α convention. We follow the paper (Wang et al., 2024): f′(u) = (1 − u^(−α))/α with α ∈ (0, 1); α → 0 is reverse KL
(standard DPO), α → 1 is forward KL. TRL's ``f_alpha_divergence_coef`` is 1 − α: TRL writes
f′(t) = (t^(coef − 1) − 1)/(coef − 1), so ``FDPOConfig(divergence="alpha", alpha=0.3)`` trains the same objective as
``DPOConfig(f_divergence_type="alpha_divergence", f_alpha_divergence_coef=0.7)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from trl import DPOConfig

from fdpo.checks import TRAINING_VALUE_KEYS, real_number, training_value_problems
from fdpo.divergences import FDivergence, get_divergence, list_divergences
from fdpo.errors import InputError
from fdpo.losses import LOSS_TYPES

__all__ = ["FDPOConfig", "bf16_supported"]


def bf16_supported() -> bool:
    """Whether this machine has an accelerator with bfloat16 support (the check ``TrainingArguments`` applies)."""
    from transformers.utils import is_torch_bf16_gpu_available, is_torch_xla_available

    return is_torch_bf16_gpu_available() or is_torch_xla_available()


# TRL's own f-divergence names and the divergence of ours that computes the same f′ (see the module docstring).
_TRL_F_DIVERGENCES = {
    "forward_kl": "forward_kl",
    "js_divergence": "jensen_shannon",
    "alpha_divergence": "alpha",
}

# DPOConfig settings the f-DPO path leaves at TRL's default: (field, default, why a non-default value is refused).
_REFUSED_SETTINGS = (
    (
        "ld_alpha",
        None,
        "LD-DPO's down-weighting of the longer completion's tail changes the log-probs f′ is applied to; "
        "FDPOTrainer sums the log-probs over the whole completion",
    ),
    (
        "use_weighting",
        False,
        "WPO weighting is not part of the f-DPO loss",
    ),
    (
        "label_smoothing",
        0.0,
        "label smoothing only enters TRL's robust, exo_pair and aot losses, which f-DPO does not support",
    ),
    (
        "discopop_tau",
        0.05,
        "discopop_tau only enters TRL's discopop loss, which f-DPO does not support",
    ),
    (
        "padding_free",
        False,
        "TRL 1.16 disables padding-free batches in DPO and falls back to padding, so the setting would have no effect",
    ),
)


@dataclass
class FDPOConfig(DPOConfig):
    r"""Configuration for [`FDPOTrainer`]: a ``trl.DPOConfig`` plus the f-divergence of f-DPO.

    Parameters:
        divergence (`str`, *optional*, defaults to `"reverse_kl"`):
            The f-divergence that constrains the policy to the reference: a registered name (see
            ``fdpo.divergences.list_divergences()``: ``reverse_kl``, ``forward_kl``, ``jensen_shannon``, ``alpha``,
            ``chi_squared_kl`` and any divergence registered with ``@register_divergence``) or a spec with its
            parameter, such as ``"alpha:0.3"``. ``reverse_kl`` is standard DPO. After validation the field holds the
            canonical spec (``divergence="alpha", alpha=0.3`` becomes ``"alpha:0.3"``).
        bf16 (`bool`, *optional*):
            bfloat16 mixed precision. Left unset (``None``), it is on exactly when ``fp16`` and ``use_cpu`` are off
            and the machine has an accelerator that supports bf16 (an Ampere or newer NVIDIA GPU, for instance), so
            the same code runs on a laptop CPU and in bf16 on such a GPU. TRL's ``DPOConfig`` turns it on whatever
            the hardware, which a CPU-only machine refuses. An explicit ``True`` or ``False`` is kept as given;
            ``True`` without bf16 hardware (and without ``use_cpu=True``) raises ``InputError``.
        alpha (`float`, *optional*):
            α of the α-divergence, in (0, 1), in the paper's convention: α → 0 is reverse KL, α → 1 is forward KL.
            TRL's ``f_alpha_divergence_coef`` is 1 − α. Only for a divergence that has an ``alpha`` parameter; if the
            spec already gives α, the two must agree. Left as ``None``, it is filled in from the divergence.

    Refused (``InputError``, a ``ValueError``, in ``__post_init__`` and again in ``FDPOTrainer``): a non-default ``f_divergence_type`` or
    ``f_alpha_divergence_coef`` (use ``divergence``/``alpha``; the divergence would otherwise be applied twice), a
    ``loss_type`` outside ``fdpo.losses.LOSS_TYPES`` or more than one loss type, ``loss_weights`` other than ``[1.0]``,
    non-default ``ld_alpha``, ``use_weighting``, ``label_smoothing``, ``discopop_tau``, ``padding_free``, and values
    that would fail late or train nothing (``fdpo.checks.training_value_problems``, the rule the sweep and
    ``fdpo train`` apply too): a learning rate or β that is not a finite number > 0, a batch size or
    ``gradient_accumulation_steps`` below 1, ``num_train_epochs`` <= 0 without ``max_steps`` > 0, ``max_length`` < 2.
    """

    divergence: str = field(
        default="reverse_kl",
        metadata={
            "help": "f-divergence between policy and reference: a registered name (reverse_kl, forward_kl, "
            "jensen_shannon, alpha, chi_squared_kl, or one you registered) or a spec such as 'alpha:0.3'. "
            "reverse_kl is standard DPO."
        },
    )
    alpha: float | None = field(
        default=None,
        metadata={
            "help": "α of the alpha divergence, in (0, 1), paper convention: α → 0 is reverse KL, α → 1 forward KL. "
            "TRL's f_alpha_divergence_coef is 1 − α."
        },
    )

    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "bf16 mixed precision. Unset: on when fp16 and use_cpu are off and the accelerator supports bf16 "
            "(off on a CPU-only machine). An explicit true/false is kept."
        },
    )

    def __post_init__(self):
        self.validate()
        self._resolve_bf16()
        self._resolve_checkpointing()
        super().__post_init__()

    def _resolve_checkpointing(self) -> None:
        # transformers 5 renamed gradient_checkpointing(_kwargs) to activation_checkpointing(_kwargs) and warns
        # whenever the old name carries the value, which TRL's own default (True) always does. Carrying it over
        # to the new name, when that is unset, is what transformers does next, without the FutureWarning.
        for old, new in (
            ("gradient_checkpointing", "activation_checkpointing"),
            ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs"),
        ):
            if hasattr(self, new) and getattr(self, new) is None and getattr(self, old, None) is not None:
                setattr(self, new, getattr(self, old))

    def _resolve_bf16(self) -> None:
        if self.bf16 is None:
            self.bf16 = not self.fp16 and not self.use_cpu and bf16_supported()
        elif self.bf16 and not self.use_cpu and not bf16_supported():
            raise InputError(
                "FDPOConfig(bf16=True): this machine has no accelerator with bfloat16 support. Leave bf16 unset "
                "(it is then on only where the hardware supports it), pass bf16=False, or pass use_cpu=True for "
                "bf16 on the CPU."
            )

    def get_divergence(self) -> FDivergence:
        """The ``FDivergence`` this config trains with (a fresh instance from ``divergence``)."""
        return get_divergence(self.divergence)

    def trl_equivalent(self) -> dict[str, object] | None:
        """The ``DPOConfig`` settings with which TRL's own f-divergence computes the same f′, or ``None`` if it has none.

        ``{"f_divergence_type": ..., "f_alpha_divergence_coef": ...}``; for ``alpha:0.3``, TRL's coefficient is 0.7
        (1 − α). The objectives agree where |f′| ≤ 1e4; beyond, fdpo extends f′ linearly where TRL's forward KL
        overflows and its α-divergence clamps (zero gradient). ``chi_squared_kl`` and registered divergences of your
        own have no TRL counterpart.
        """
        divergence = self.get_divergence()
        if divergence.name == "reverse_kl":
            return {"f_divergence_type": "reverse_kl", "f_alpha_divergence_coef": 0.5}
        for trl_name, ours in _TRL_F_DIVERGENCES.items():
            if ours == divergence.name:
                coefficient = 1.0 - divergence.params["alpha"] if ours == "alpha" else 0.5
                return {"f_divergence_type": trl_name, "f_alpha_divergence_coef": coefficient}
        return None

    def validate(self) -> None:
        """Checks the f-DPO fields and refuses the TRL settings the f-DPO loss cannot honour.

        Normalizes ``loss_type`` to a one-element list, ``divergence`` to its canonical spec and ``alpha`` to the
        divergence's α (or ``None`` if it has none). Called by ``__post_init__`` and by ``FDPOTrainer``, so a config
        changed after construction is checked again.

        Raises:
            InputError (a ValueError): naming the bad setting, the accepted values and what to use instead.
        """
        self._resolve_divergence()
        self._check_trl_divergence_unused()
        self._check_loss()
        problems = training_value_problems({key: getattr(self, key) for key in TRAINING_VALUE_KEYS})
        if problems:
            raise InputError(" ".join(problems))
        self.beta = float(self.beta)
        for name, default, reason in _REFUSED_SETTINGS:
            value = getattr(self, name)
            if value != default:
                raise InputError(
                    f"FDPOConfig does not support {name}={value!r}: {reason}. Leave {name} at its default ({default!r})."
                )

    def _resolve_divergence(self) -> None:
        divergence = self.divergence
        if isinstance(divergence, FDivergence):
            # Stored as its spec so that the config stays serializable; the spec must resolve back to it.
            divergence = divergence.spec
        if not isinstance(divergence, str):
            raise TypeError(
                f"divergence must be a name or spec string such as 'alpha:0.3', got {type(divergence).__name__}."
            )
        resolved = get_divergence(divergence)  # ValueError for an unknown name lists the registered ones
        if self.alpha is not None:
            alpha = real_number(self.alpha)
            if alpha is None:
                raise InputError(f"alpha must be a number in (0, 1), got {self.alpha!r}.")
            self.alpha = alpha
            if "alpha" not in resolved.params:
                raise InputError(
                    f"alpha={self.alpha!r} is set but divergence={divergence!r} has no alpha parameter. Use "
                    f"divergence='alpha' for the α-divergence (registered: {', '.join(list_divergences())}), or leave "
                    "alpha unset."
                )
            name, _, arguments = divergence.partition(":")
            if arguments.strip():
                if not math.isclose(resolved.params["alpha"], self.alpha, rel_tol=0.0, abs_tol=1e-12):
                    raise InputError(
                        f"divergence={divergence!r} and alpha={self.alpha!r} disagree on α; give α in one place only."
                    )
            else:
                # ValueError naming the value when α is outside (0, 1)
                resolved = get_divergence(name, alpha=float(self.alpha))
        spec = resolved.spec
        try:
            round_trip = get_divergence(spec)
        except ValueError as error:
            raise InputError(
                f"divergence {divergence!r} resolves to {resolved!r}, whose spec {spec!r} does not resolve back to it "
                f"({error}). Register its class with @fdpo.register_divergence and make its `params` the constructor "
                "arguments."
            ) from error
        if round_trip != resolved:
            raise InputError(
                f"divergence {divergence!r} resolves to {resolved!r} but its spec {spec!r} gives {round_trip!r}; make "
                "the class's `params` property return its constructor arguments."
            )
        self.divergence = spec
        self.alpha = resolved.params.get("alpha")

    def _check_trl_divergence_unused(self) -> None:
        if self.f_divergence_type != "reverse_kl":
            ours = _TRL_F_DIVERGENCES.get(self.f_divergence_type)
            if ours == "alpha":
                ours = f"alpha:{1.0 - self.f_alpha_divergence_coef:g}"
            hint = (
                f"divergence={ours!r}"
                if ours
                else "divergence=<one of " + ", ".join(list_divergences()) + ">"
            )
            raise InputError(
                f"FDPOConfig refuses f_divergence_type={self.f_divergence_type!r}: the f-divergence is set with "
                f"`divergence`, and TRL's own f_divergence_type would apply a second f′ on top of it. Leave "
                f"f_divergence_type='reverse_kl' and use {hint} instead."
            )
        if self.f_alpha_divergence_coef != 0.5:
            raise InputError(
                f"FDPOConfig refuses f_alpha_divergence_coef={self.f_alpha_divergence_coef!r}: it is TRL's α, ignored "
                f"by FDPOTrainer. Use divergence='alpha' with alpha={1.0 - self.f_alpha_divergence_coef:g} "
                "(our α is 1 − TRL's coefficient; α → 0 is reverse KL, α → 1 forward KL)."
            )

    def _check_loss(self) -> None:
        if isinstance(self.loss_type, str):
            self.loss_type = [self.loss_type]
        loss_types = list(self.loss_type)
        if len(loss_types) != 1:
            raise InputError(
                f"FDPOConfig takes exactly one loss_type, got {loss_types}. Combining TRL losses (MPO-style "
                f"loss_weights) is not supported; choose one of {', '.join(LOSS_TYPES)}."
            )
        if loss_types[0] not in LOSS_TYPES:
            raise InputError(
                f"FDPOConfig does not support loss_type={loss_types[0]!r}; choose one of {', '.join(LOSS_TYPES)}. "
                "f-DPO leaves a β·log Z(x) term that cancels only in the chosen-minus-rejected margin, so TRL's other "
                "losses have no f-divergence form here."
            )
        self.loss_type = loss_types
        if self.loss_weights is not None and [float(w) for w in self.loss_weights] != [1.0]:
            raise InputError(
                f"FDPOConfig does not support loss_weights={self.loss_weights!r}: there is a single loss. Leave "
                "loss_weights unset (or [1.0])."
            )
