"""Prompts, spies and model tweaks shared by the sampling tests (tests/decoding/)."""

from __future__ import annotations

import torch

PROMPTS = ["This movie", "The worst film I have", "A", "I loved every minute of", ""]
QUIET = dict(show_progress=False)


class GenerateSpy:
    """Wraps ``model.generate``: records each call's keyword arguments, and optionally asks for the raw logits."""

    def __init__(self, model, with_logits: bool = False):
        self.model, self.original, self.with_logits = model, model.generate, with_logits
        self.calls: list[dict] = []
        self.outputs = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if self.with_logits:
            kwargs = dict(kwargs, return_dict_in_generate=True, output_logits=True)
            output = self.original(**kwargs)
            self.outputs.append((kwargs["input_ids"], output))
            return output.sequences
        return self.original(**kwargs)


def no_stop(tokenizer) -> dict:
    # A random model may emit end-of-text or pad at any step; suppressing them makes lengths predictable.
    return dict(suppress_tokens=[tokenizer.eos_token_id, tokenizer.pad_token_id])


def likely_eos(model, tokenizer, scale: float = 1.0):
    """Gives end-of-text a logit that varies with the context (adding a constant to its output row would cancel in
    the final layer norm), so that some rows end early and others do not."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        weight = model.get_output_embeddings().weight
        weight[tokenizer.eos_token_id] += scale * torch.randn(weight.shape[1], generator=generator)
    return model


def peaked(model, gain: float):
    """Sharper next-token distributions (the final layer norm's gain × ``gain``; a randomly initialised model is
    nearly uniform over its 300 tokens), so that a wrong temperature shows."""
    with torch.no_grad():
        model.transformer.ln_f.weight.mul_(gain)
    return model
