"""Everything fdpo's decoding loop takes from transformers beyond its public API, in one place, with a check that it
still holds.

The loop (``fdpo.decoding.sampling``, ``fdpo.decoding.beams``) reproduces ``generate`` step for step, so it relies
on parts of transformers that a release may change without notice:

- how ``generate`` resolves its settings: ``GenerationMixin._prepare_generation_config`` and
  ``GenerationConfig._get_default_generation_params`` (private);
- the key/value cache: ``DynamicCache(config=...).layers``, a list of ``transformers.cache_utils.DynamicLayer``,
  whose ``lazy_initialization``/``update``/``is_initialized``/``keys``/``values`` the layers below subclass;
- which attention implementations apply a 4-D float attention mask as given (``config._attn_implementation``);
- the logits processors ``generate`` builds for the options the loop supports, their arguments and their order,
  and its stopping rules.

No other fdpo module imports transformers' generation or cache code. ``internals_problems`` checks that the
names above exist and behave as used here; ``fdpo.decoding.sampling.fast_path_problems`` adds a tiny decode
compared with ``generate`` and sends every batch to ``model.generate`` when either check fails.
"""

from __future__ import annotations

import copy
import functools
import inspect

import torch
import transformers
from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel, LogitsProcessorList
from transformers.cache_utils import DynamicCache, DynamicLayer
from transformers.generation.logits_process import (
    LogitNormalization,
    MinLengthLogitsProcessor,
    MinNewTokensLengthLogitsProcessor,
    NoRepeatNGramLogitsProcessor,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

__all__ = [
    "TRANSFORMERS_VERSION",
    "AppendLayer",
    "ReorderingLayer",
    "default_generation_params",
    "has_plain_cache",
    "internals_problems",
    "logits_processors",
    "new_cache",
    "resolve_generation_config",
    "resolve_lengths",
    "sampling_warpers",
    "stop_hits",
    "takes_4d_float_mask",
    "tiny_causal_lm",
]

TRANSFORMERS_VERSION = transformers.__version__

# ---------------------------------------------------------------------------------------------------------------------
# Settings, as generate resolves them


def resolve_generation_config(model, generate_kwargs: dict) -> tuple[GenerationConfig, dict]:
    """``(config, model_kwargs)``: ``generate``'s own resolution of ``generate_kwargs`` against the model's
    generation config (``GenerationMixin._prepare_generation_config``). AttributeError where the model has none."""
    return model._prepare_generation_config(None, **generate_kwargs)


def default_generation_params() -> dict:
    """The value each ``GenerationConfig`` field has when nobody set it."""
    return GenerationConfig._get_default_generation_params()


def logits_processors(
    config: GenerationConfig, eos_ids: list[int], prompt_width: int, device, *, warpers: bool = True
) -> LogitsProcessorList:
    """The logits processors ``generate`` builds for the supported options, in its order; without ``warpers``,
    only those that come before temperature, top-k and top-p (and no renormalisation)."""
    eos = torch.tensor(eos_ids, device=device) if eos_ids else None
    processors = LogitsProcessorList()
    if config.no_repeat_ngram_size:
        processors.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
    if eos is not None and config.min_length and config.min_length > 0:
        processors.append(MinLengthLogitsProcessor(config.min_length, eos, device=device))
    if eos is not None and config.min_new_tokens and config.min_new_tokens > 0:
        processors.append(
            MinNewTokensLengthLogitsProcessor(prompt_width, config.min_new_tokens, eos, device=device)
        )
    if config.suppress_tokens is not None:
        processors.append(SuppressTokensLogitsProcessor(config.suppress_tokens, device=device))
    if not warpers:
        return processors
    if config.do_sample:
        keep = len(eos_ids) + 1 if config.num_beams > 1 and eos_ids else (2 if config.num_beams > 1 else 1)
        if config.temperature is not None and config.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(config.temperature))
        if config.top_k is not None and config.top_k != 0:
            processors.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=keep))
        if config.top_p is not None and config.top_p < 1.0:
            processors.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=keep))
    if config.renormalize_logits is True:
        processors.append(LogitNormalization())
    return processors


def sampling_warpers(config: GenerationConfig) -> LogitsProcessorList | None:
    """The warpers that shape the distribution ``generate`` samples each token from (temperature, then top-k, then
    top-p, with one token kept), as ``logits_processors`` builds them for one sequence; None when the resolved
    config does not sample or changes nothing (the model's own distribution)."""
    if not config.do_sample:
        return None
    processors = LogitsProcessorList()
    if config.temperature is not None and config.temperature != 1.0:
        processors.append(TemperatureLogitsWarper(config.temperature))
    if config.top_k is not None and config.top_k != 0:
        processors.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=1))
    if config.top_p is not None and config.top_p < 1.0:
        processors.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=1))
    return processors or None


def resolve_lengths(config: GenerationConfig, prompt_width: int) -> GenerationConfig:
    """``max_length``/``min_length`` counted with the prompt, as ``generate`` sets them."""
    config = copy.deepcopy(config)
    if config.max_new_tokens is not None:
        config.max_length = config.max_new_tokens + prompt_width
    if config.min_new_tokens is not None:
        config.min_length = config.min_new_tokens + prompt_width
    return config


def stop_hits(tokens: torch.Tensor, eos: torch.Tensor | None, length: int, max_length: int) -> torch.Tensor:
    """transformers' MaxLengthCriteria | EosTokenCriteria on rows whose last token is ``tokens``."""
    if length >= max_length:
        return torch.ones_like(tokens, dtype=torch.bool)
    if eos is None:
        return torch.zeros_like(tokens, dtype=torch.bool)
    return torch.isin(tokens, eos)


# ---------------------------------------------------------------------------------------------------------------------
# The key/value cache


def has_plain_cache(model) -> bool:
    """Whether ``model``'s cache is one plain ``DynamicLayer`` per layer (no sliding window, no quantisation)."""
    cache = DynamicCache(config=model.config)
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


def new_cache(model, make_layer) -> DynamicCache:
    """A ``DynamicCache`` for ``model`` whose layers are ``make_layer()`` (one per model layer)."""
    cache = DynamicCache(config=model.config)
    cache.layers = [make_layer() for _ in cache.layers]
    return cache


def takes_4d_float_mask(model) -> bool:
    """Whether ``model`` applies a 4-D float attention mask as given (transformers' eager and sdpa attention do)."""
    return getattr(getattr(model, "config", None), "_attn_implementation", None) in ("eager", "sdpa")


class ReorderingLayer(DynamicLayer):
    """A key/value cache layer that applies a pending row order while it appends.

    ``generate`` reorders the cache after a beam step (one copy) and then appends the next token by concatenation
    (a second copy into freshly allocated memory). Here the reorder waits until the next append and both happen in
    one copy, between two buffers allocated once for the whole generation; the keys and values handed to attention
    are a contiguous prefix of one of them. Set ``order`` to reorder the rows at the next append.
    """

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self.order: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        rows, heads, _, key_dim = key_states.shape
        value_dim = value_states.shape[-1]
        self.buffers = [
            [key_states.new_empty(rows * heads * self.capacity * key_dim) for _ in range(2)],
            [
                value_states.new_empty(rows * value_states.shape[1] * self.capacity * value_dim)
                for _ in range(2)
            ],
        ]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.keys = self.values = None
        self.keys = self._append(self.buffers[0], self.keys, key_states)
        self.values = self._append(self.buffers[1], self.values, value_states)
        self.order = None
        return self.keys, self.values

    def _append(
        self, buffers: list[torch.Tensor], old: torch.Tensor | None, new: torch.Tensor
    ) -> torch.Tensor:
        length = 0 if old is None else old.shape[-2]
        rows, heads, added, dim = new.shape
        buffers.reverse()  # write into the buffer that does not hold `old`
        grown = buffers[0][: rows * heads * (length + added) * dim].view(rows, heads, length + added, dim)
        if old is not None and self.order is None:
            grown[:, :, :length] = old
        elif old is not None:
            torch.index_select(old, 0, self.order, out=grown[:, :, :length])
        grown[:, :, length:] = new
        return grown


class AppendLayer(DynamicLayer):
    """A key/value cache layer that appends in place, into buffers allocated once for the whole generation; the
    keys and values handed to attention are a prefix of them along the sequence axis."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self.buffers = [
            states.new_empty(*states.shape[:2], self.capacity, states.shape[-1])
            for states in (key_states, value_states)
        ]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        for buffer, states in zip(self.buffers, (key_states, value_states), strict=True):
            buffer[:, :, self.length : end] = states
        self.length = end
        self.keys, self.values = (buffer[:, :, :end] for buffer in self.buffers)
        return self.keys, self.values

    def keep(self, entries: torch.Tensor) -> None:
        """Keeps cache entries ``entries`` (rows, kept) of each row, in that order, at the front."""
        kept = entries.shape[1]
        for buffer in self.buffers:
            index = entries[:, None, :, None].expand(-1, buffer.shape[1], -1, buffer.shape[-1])
            buffer[:, :, :kept] = buffer[:, :, : self.length].gather(2, index)
        self.length = kept
        self.keys, self.values = (buffer[:, :, :kept] for buffer in self.buffers)


# ---------------------------------------------------------------------------------------------------------------------
# The check


def tiny_causal_lm() -> GPT2LMHeadModel:
    """A 2-layer GPT-2 of 32 tokens with seeded random weights (pad 0, end-of-text 1), built from a config (no
    download), in eval mode; the caller's random state is left alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        config = GPT2Config(
            vocab_size=32, n_positions=32, n_embd=16, n_layer=2, n_head=2, bos_token_id=2, eos_token_id=1,
            pad_token_id=0,
        )  # fmt: skip
        model = GPT2LMHeadModel(config).eval()
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = 1
    return model


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def _check_settings(model) -> list[str]:
    problems = []
    name = "transformers.GenerationMixin._prepare_generation_config"
    if not callable(getattr(model, "_prepare_generation_config", None)):
        return [f"{name} is gone (fdpo resolves generate()'s settings with it)"]
    try:
        config, extra = resolve_generation_config(model, {"max_new_tokens": 3, "do_sample": True, "top_k": 5})
    except (TypeError, ValueError) as error:
        return [f"{name}(None, **settings) fails ({type(error).__name__}: {error})"]
    if not isinstance(config, GenerationConfig) or config.max_new_tokens != 3 or config.top_k != 5 or extra:
        problems.append(f"{name}(None, **settings) no longer returns (GenerationConfig with them, {{}})")
    name = "transformers.GenerationConfig._get_default_generation_params"
    try:
        defaults = default_generation_params()
    except (AttributeError, TypeError) as error:
        return [*problems, f"{name} is gone or changed ({type(error).__name__}: {error})"]
    if not isinstance(defaults, dict) or defaults.get("num_beams") != 1 or "top_k" not in defaults:
        problems.append(f"{name}() no longer maps each generate() setting to its default")
    return problems


def _check_cache(model) -> list[str]:
    problems = []
    for method, expected in (
        ("__init__", ["self"]),
        ("lazy_initialization", ["self", "key_states", "value_states"]),
        ("update", ["self", "key_states", "value_states"]),
    ):
        function = getattr(DynamicLayer, method, None)
        if function is None or _parameters(function)[: len(expected)] != expected:
            problems.append(
                f"transformers.cache_utils.DynamicLayer.{method} is gone or no longer takes {expected[1:]} first "
                "(fdpo's cache layers override it)"
            )
    if problems:
        return problems
    try:
        cache = DynamicCache(config=model.config)
        layers = cache.layers
    except (AttributeError, TypeError) as error:
        return [
            f"transformers.cache_utils.DynamicCache(config=...).layers is gone ({type(error).__name__}: {error})"
        ]
    if len(layers) != model.config.n_layer or not all(type(layer) is DynamicLayer for layer in layers):
        problems.append(
            "transformers.cache_utils.DynamicCache(config=...).layers is no longer one DynamicLayer per model layer"
        )
    states = torch.arange(2 * 2 * 3 * 4, dtype=torch.float32).view(2, 2, 3, 4)
    for layer_class in (ReorderingLayer, AppendLayer):
        layer = layer_class(8)
        try:
            layer.update(states, states + 1)
            keys, values = layer.update(states[:, :, :1], states[:, :, :1] + 1)
            initialized = layer.is_initialized
        except (AttributeError, TypeError, RuntimeError) as error:
            problems.append(
                f"transformers.cache_utils.DynamicLayer no longer works as {layer_class.__name__}'s base "
                f"({type(error).__name__}: {error})"
            )
            continue
        expected = torch.cat([states, states[:, :, :1]], dim=2)
        if not (initialized and torch.equal(keys, expected) and torch.equal(values, expected + 1)):
            problems.append(
                "transformers.cache_utils.DynamicLayer's lazy_initialization/update/is_initialized/keys/values no "
                f"longer behave as {layer_class.__name__} relies on (two appends gave other keys and values)"
            )
    return problems


def _check_processors() -> list[str]:
    device = torch.device("cpu")
    eos = torch.tensor([1])
    builders = {
        "NoRepeatNGramLogitsProcessor(ngram_size)": lambda: NoRepeatNGramLogitsProcessor(2),
        "MinLengthLogitsProcessor(min_length, eos_token_id, device=)": lambda: MinLengthLogitsProcessor(
            3, eos, device=device
        ),
        "MinNewTokensLengthLogitsProcessor(prompt_length_to_skip, min_new_tokens, eos_token_id, device=)": (
            lambda: MinNewTokensLengthLogitsProcessor(2, 3, eos, device=device)
        ),
        "SuppressTokensLogitsProcessor(suppress_tokens, device=)": lambda: SuppressTokensLogitsProcessor(
            [0], device=device
        ),
        "TemperatureLogitsWarper(temperature)": lambda: TemperatureLogitsWarper(0.7),
        "TopKLogitsWarper(top_k=, min_tokens_to_keep=)": lambda: TopKLogitsWarper(
            top_k=5, min_tokens_to_keep=2
        ),
        "TopPLogitsWarper(top_p=, min_tokens_to_keep=)": lambda: TopPLogitsWarper(
            top_p=0.9, min_tokens_to_keep=2
        ),
        "LogitNormalization()": LogitNormalization,
    }
    problems = []
    scores = torch.linspace(-2.0, 2.0, 32).repeat(2, 1)
    history = torch.tensor([[3, 4, 3], [5, 6, 7]])
    for name, build in builders.items():
        try:
            out = build()(history, scores.clone())
        except (TypeError, ValueError, RuntimeError) as error:
            problems.append(
                f"transformers.generation.logits_process.{name} fails ({type(error).__name__}: {error})"
            )
            continue
        if out.shape != scores.shape:
            problems.append(
                f"transformers.generation.logits_process.{name} no longer returns scores of their shape"
            )
    return problems


@functools.cache
def internals_problems() -> tuple[str, ...]:
    """What no longer holds of the transformers internals listed in this module's docstring, one line each naming
    the internal (empty when everything does). Computed once per process, on a tiny GPT-2 on the CPU."""
    try:
        model = tiny_causal_lm()
    except Exception as error:  # noqa: BLE001 (whatever breaks, the loop is not to be trusted)
        return (f"transformers.GPT2LMHeadModel(GPT2Config(...)) fails ({type(error).__name__}: {error})",)
    problems = [*_check_settings(model), *_check_cache(model), *_check_processors()]
    if not isinstance(getattr(model.config, "_attn_implementation", None), str):
        problems.append(
            "transformers' config._attn_implementation is gone (fdpo reads which attention runs from it)"
        )
    return tuple(problems)
