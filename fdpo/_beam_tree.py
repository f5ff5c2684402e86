"""Beam search without moving the key/value cache: the beams of a prompt share one cache row and attend to their
own ancestors only.

``generate`` keeps one cache row per beam and, after every beam step, copies the whole cache into the beams' new
order, then copies it again to append the next token: on CPU, memory traffic that rivals the model's arithmetic.
Here each prompt's beams share one row that grows by one entry per beam a step; a 4-D attention mask (0 where a beam
may attend, the dtype's minimum elsewhere) lets each beam see its prompt and its own ancestors, so a beam step copies
no cache, and the model sees a prompt's beams as that many query positions of one row (position ids say where each
token stands). Every few steps, entries that no beam attends to any more (histories that were not continued) are
dropped, so attention runs over about one history per prompt plus the branches still alive. The attention arithmetic
is the same as with a cache per beam; only the summation order (and so float rounding) differs.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from fdpo._batching import forward_parameters

__all__ = ["AppendLayer", "BeamTreeStream", "supports_tree_attention"]

# Steps between two passes that drop dead cache entries (each pass copies the live part of the cache once; measured
# on a 4-layer GPT-2 with 5 beams: every 4 to 16 steps are alike, every step is slower).
_COMPACT_EVERY = 8


def supports_tree_attention(model) -> bool:
    """Whether ``model`` applies a 4-D float attention mask as given (transformers' eager and sdpa attention do)."""
    return getattr(getattr(model, "config", None), "_attn_implementation", None) in ("eager", "sdpa")


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


class BeamTreeStream:
    """Beam search's forward passes with a cache that never moves: the beams of a prompt share one cache row, which
    grows by one entry per beam a step, and each beam attends to its own ancestors only (a 4-D attention mask). A
    beam step then costs no cache copy; the model sees each prompt's beams as ``beams`` query positions of one row.
    """

    def __init__(
        self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor, beams: int, capacity: int
    ):
        self.model = model
        self.keeps_logits = "logits_to_keep" in (forward_parameters(model) or ())
        self.cache = DynamicCache(config=model.config)
        self.cache.layers = [AppendLayer(capacity) for _ in self.cache.layers]
        batch, width = input_ids.shape
        dtype = getattr(model, "dtype", torch.float32)
        blocked = torch.finfo(dtype).min
        # visible[b, j, i]: 0 where beam j of prompt b attends to cache entry i, else the dtype's minimum.
        self.visible = torch.full((batch, beams, capacity), blocked, dtype=dtype, device=input_ids.device)
        self.visible[:, :, :width] = torch.where(attention_mask[:, None, :] == 1, 0.0, blocked)
        self.own = torch.full((beams, beams), blocked, dtype=dtype, device=input_ids.device).fill_diagonal_(
            0.0
        )
        self.length = width
        self.steps = 0
        self.prompt = (input_ids, attention_mask)
        self.positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)

    def _forward(self, input_ids, attention_mask, positions) -> torch.Tensor:
        keep = {"logits_to_keep": input_ids.shape[1]} if self.keeps_logits else {}
        output = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=positions,
            cache=self.cache,
            use_cache=True,
            return_dict=True,
            **keep,
        )
        return output.logits.to(copy=True, dtype=torch.float32)

    def prefill(self) -> torch.Tensor:
        """The prompts' next-token logits, (batch, vocabulary): one row per prompt, shared by its beams."""
        input_ids, attention_mask = self.prompt
        logits = self._forward(input_ids, attention_mask, self.positions)[:, -1]
        self.positions = self.positions[:, -1:]
        return logits

    def step(self, tokens: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
        """Logits (batch·beams, vocabulary) after beam j of each prompt appends ``tokens`` (batch·beams) to the
        history of the previous step's beam ``parents[:, j]`` (batch, beams)."""
        batch, beams = parents.shape
        held = self.length
        self.visible[:, :, :held] = self.visible[:, :, :held].gather(
            1, parents[:, :, None].expand(-1, -1, held)
        )
        self.visible[:, :, held : held + beams] = self.own
        self.steps += 1
        self.length = held + beams
        self.positions = self.positions + 1
        logits = self._forward(
            tokens.view(batch, beams),
            self.visible[:, None, :, : self.length],
            self.positions.expand(-1, beams),
        )
        if self.steps % _COMPACT_EVERY == 0:
            self._drop_dead_entries()
        return logits.view(batch * beams, -1)

    def _drop_dead_entries(self) -> None:
        """Drops the cache entries no beam attends to any more (the histories of beams that were not continued), so
        that attention does not run over them."""
        held = self.length
        visible = self.visible[:, :, :held]
        alive = (visible == 0).any(1)  # (batch, held)
        kept = int(alive.sum(1).max())
        if kept == held:
            return
        # Each row's live entries first, in order; a row with fewer keeps some dead ones, visible to no beam.
        entries = torch.argsort((~alive).to(torch.int8), dim=1, stable=True)[:, :kept]
        for layer in self.cache.layers:
            layer.keep(entries)
        self.visible[:, :, :kept] = visible.gather(2, entries[:, None, :].expand(-1, visible.shape[1], -1))
        self.length = kept
