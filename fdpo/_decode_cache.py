"""The key/value caches of fdpo's decoding loop: one model's forward passes with a cache that reorders its rows
while it appends (one copy a step where ``generate`` makes two)."""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from fdpo._batching import forward_parameters

__all__ = ["DecodeStream", "ReorderingLayer"]


class ReorderingLayer(DynamicLayer):
    """A key/value cache layer that applies a pending row order while it appends.

    ``generate`` reorders the cache after a beam step (one copy) and then appends the next token by concatenation
    (a second copy into freshly allocated memory). Here the reorder waits until the next append and both happen in
    one copy, between two buffers allocated once for the whole generation; the keys and values handed to attention
    are a contiguous prefix of one of them.
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


class DecodeStream:
    """One model's forward passes with its own cache: the prompt once, then one token per row a step."""

    def __init__(self, model, input_ids, attention_mask, capacity: int):
        self.model = model
        # generate asks for the last position's logits only, where the model can.
        self.forward_kwargs = (
            {"logits_to_keep": 1} if "logits_to_keep" in (forward_parameters(model) or ()) else {}
        )
        self.cache = DynamicCache(config=model.config)
        self.cache.layers = [ReorderingLayer(capacity) for _ in self.cache.layers]
        self.attention_mask = attention_mask
        self.positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        self.first_ids = input_ids

    def _forward(self, input_ids, positions) -> torch.Tensor:
        output = self.model(
            input_ids=input_ids,
            attention_mask=self.attention_mask,
            position_ids=positions,
            cache=self.cache,
            use_cache=True,
            return_dict=True,
            **self.forward_kwargs,
        )
        return output.logits[:, -1].to(copy=True, dtype=torch.float32)

    def prefill(self) -> torch.Tensor:
        logits = self._forward(self.first_ids, self.positions)
        self.first_ids = None
        self.positions = self.positions[:, -1:]
        return logits

    def reorder(self, rows: torch.Tensor) -> None:
        """From the next step on, cache row i continues the history of row ``rows[i]`` (rows may repeat or be
        left out)."""
        for layer in self.cache.layers:
            layer.order = rows
        self.attention_mask = self.attention_mask[rows]
        self.positions = self.positions[rows]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits after appending ``tokens`` (one per cache row, in row order)."""
        mask = self.attention_mask
        self.attention_mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=-1)
        self.positions = self.positions + 1
        return self._forward(tokens[:, None], self.positions)
