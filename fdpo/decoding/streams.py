"""One model's forward passes over a key/value cache that grows by a token a step, as fdpo's decoding loop runs
them.

``DecodeStream`` keeps a cache row per sequence (per beam in beam search) and reorders the rows while it appends
(one copy a step where ``generate`` makes two). ``BeamTreeStream`` runs beam search without moving the cache:
the beams of a prompt share one cache row and attend to their own ancestors only.

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

from fdpo.decoding._transformers import AppendLayer, ReorderingLayer, new_cache
from fdpo.decoding.batching import forward_parameters

__all__ = ["BeamTreeStream", "DecodeStream", "beam_cache_logits"]

# Steps between two passes that drop dead cache entries (each pass copies the live part of the cache once; measured
# on a 4-layer GPT-2 with 5 beams: every 4 to 16 steps are alike, every step is slower).
_COMPACT_EVERY = 8


class DecodeStream:
    """One model's forward passes with its own cache: the prompt once, then one token per row a step."""

    def __init__(self, model, input_ids, attention_mask, capacity: int):
        self.model = model
        # generate asks for the last position's logits only, where the model can.
        self.forward_kwargs = (
            {"logits_to_keep": 1} if "logits_to_keep" in (forward_parameters(model) or ()) else {}
        )
        self.cache = new_cache(model, lambda: ReorderingLayer(capacity))
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
        self.cache = new_cache(model, lambda: AppendLayer(capacity))
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


@torch.no_grad()
def beam_cache_logits(model, input_ids, attention_mask, beams: int, steps: int, seed: int = 0):
    """``(pairs, tree)``: the logits of ``BeamTreeStream`` (the beams of a prompt sharing one cache row) and of a
    ``DecodeStream`` with a cache row per beam, side by side after the prompt and after each of ``steps`` beam steps
    of random parents and tokens (drawn from a generator seeded with ``seed``), and the tree stream. The two must
    agree up to float rounding."""
    batch, width = input_ids.shape
    generator = torch.Generator().manual_seed(seed)
    tree = BeamTreeStream(model, input_ids, attention_mask, beams, width + beams * steps)
    per_beam = DecodeStream(
        model,
        input_ids.repeat_interleave(beams, dim=0),
        attention_mask.repeat_interleave(beams, dim=0),
        width + steps,
    )
    pairs = [(tree.prefill().repeat_interleave(beams, dim=0), per_beam.prefill())]
    for _ in range(steps):
        parents = torch.randint(0, beams, (batch, beams), generator=generator)
        tokens = torch.randint(0, model.config.vocab_size, (batch * beams,), generator=generator)
        per_beam.reorder((parents + torch.arange(batch)[:, None] * beams).flatten())
        pairs.append((tree.step(tokens, parents), per_beam.step(tokens)))
    return pairs, tree
