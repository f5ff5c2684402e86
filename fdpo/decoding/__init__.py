"""Decoding: batched, seeded sampling from a causal LM, and scoring of completions (log-probs, entropies).

``sample`` draws completions for prompts (``Samples``); ``score_completions`` gives every completion token's
log-probability and next-token entropy under a model (``CompletionScores``). The modules behind them:

- ``sampling``: ``sample`` and fdpo's decoding loop (the engines ``"auto"``, ``"exact"``, ``"generate"``);
- ``beams``: beam search and beam sampling in that loop;
- ``streams``: the model's forward passes over a growing key/value cache;
- ``samples``: ``Samples`` and its JSONL format;
- ``scoring``: ``score_completions``;
- ``batching``: padding, the start token of an empty prompt, the model's device;
- ``_transformers``: everything taken from transformers beyond its public API, and the check that it still holds.
"""

from fdpo.decoding.samples import RECORD_KEYS, Samples
from fdpo.decoding.sampling import sample
from fdpo.decoding.scoring import CompletionScores, check_prompts_and_completions, score_completions

__all__ = [
    "RECORD_KEYS",
    "CompletionScores",
    "Samples",
    "check_prompts_and_completions",
    "sample",
    "score_completions",
]
