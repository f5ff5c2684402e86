"""Prompt resampling: each run's metrics recomputed on resampled sets of evaluation prompts.

How a metric is recomputed on a resampled prompt set depends on what it is:

* **Per-sample metrics** (mean reward, mean predictive entropy, the KL estimate) are ratios Σ x_i / Σ n_i of
  per-sample values (n_i = 1, or 0 for a sample left out, such as an empty completion in the predictive
  entropy). They get a **bootstrap over prompts**: ``num_resamples`` draws of P prompts with replacement, each
  prompt's samples counted as many times as it was drawn; ``se_prompts`` is the standard deviation of the
  recomputed values (ddof 1). For a mean of iid values this tends to the classical s/√n.
* **Pooled metrics** (token entropy of the pooled token frequencies, distinct-n = unique / total n-grams over
  all samples) are not means of per-sample values, and a bootstrap biases them: a prompt drawn twice adds its
  n-grams to the total but none to the unique ones, so every resampled distinct-n is lower than the real one,
  and the replicates' spread mixes the real sampling variation with the varying number of duplicates (the same
  holds, more weakly, for the plug-in entropy of duplicated counts). They get a **delete-one-prompt jackknife**
  instead: the statistic is recomputed P times, each time without all samples of one prompt (in every run at
  once: paired), and ``se_prompts = √((P−1)/P · Σ_g (θ_(g) − θ_(·))²)``. No sample is ever duplicated, and for a
  mean the jackknife equals the classical s/√n exactly. Deletions are computed from per-prompt token and
  n-gram counts, so a run costs one pass over its counts, not P passes over its samples.

``replicates_by_run`` does it for every run of a sweep on the same resamples, so that configurations can be compared
pair by pair (``fdpo.uncertainty.estimates``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import xlogy

__all__ = [
    "POOLED_METRICS",
    "PER_SAMPLE_METRICS",
    "Method",
    "Replicates",
    "RunSamples",
    "bootstrap_weights",
    "distinct_n_jackknife",
    "ratio_bootstrap",
    "ratio_jackknife",
    "replicates_by_run",
    "run_replicates",
    "token_entropy_jackknife",
]

Method = Literal["bootstrap", "jackknife"]

#: Result columns recomputed from per-sample values by the bootstrap over prompts.
PER_SAMPLE_METRICS = ("reward_logit_mean", "reward_prob_mean", "predictive_entropy", "kl_to_ref")
#: Result columns pooled over all samples, recomputed by the delete-one-prompt jackknife.
POOLED_METRICS = ("token_entropy", "distinct_1", "distinct_2")


@dataclass(frozen=True)
class RunSamples:
    """The per-sample values of one run, each sample tagged with the index of its evaluation prompt.

    All arrays have shape (n,), one entry per sample. ``prompt_index`` numbers the prompts of the whole sweep
    (0 … num_prompts − 1, the same number for the same prompt in every run). A field is ``None`` when the run did
    not measure it. ``predictive_entropy`` is the sample's mean next-token entropy over its tokens (NaN or any
    value for an empty one: samples with ``num_tokens == 0`` are left out, as the metric does); ``log_ratios``
    is log π(y|x) − log π_ref(y|x); ``token_ids`` are the ids token entropy counts (pads removed);
    ``completions`` the texts distinct-n splits on whitespace.
    """

    prompt_index: np.ndarray
    num_prompts: int
    reward_logit: np.ndarray | None = None
    reward_prob: np.ndarray | None = None
    predictive_entropy: np.ndarray | None = None
    num_tokens: np.ndarray | None = None
    log_ratios: np.ndarray | None = None
    token_ids: Sequence[Sequence[int]] | None = None
    completions: Sequence[str] | None = None

    def __post_init__(self):
        index = np.asarray(self.prompt_index)
        if index.ndim != 1 or (index.size and (index.min() < 0 or index.max() >= self.num_prompts)):
            raise ValueError(
                f"prompt_index must be a 1-d array of integers in [0, num_prompts={self.num_prompts}); got shape "
                f"{index.shape} with range [{index.min() if index.size else None}, "
                f"{index.max() if index.size else None}]."
            )
        for name in ("reward_logit", "reward_prob", "predictive_entropy", "num_tokens", "log_ratios"):
            value = getattr(self, name)
            if value is not None and np.shape(value) != index.shape:
                raise ValueError(
                    f"{name} has shape {np.shape(value)}, prompt_index {index.shape}: one per sample."
                )
        for name in ("token_ids", "completions"):
            value = getattr(self, name)
            if value is not None and len(value) != index.size:
                raise ValueError(f"{name} has {len(value)} entries for {index.size} samples: one per sample.")
        if self.predictive_entropy is not None and self.num_tokens is None:
            raise ValueError("predictive_entropy needs num_tokens (empty completions are left out of it).")


@dataclass(frozen=True)
class Replicates:
    """One metric of one run recomputed on resampled prompt sets: ``values`` has shape (R,), R = the number of
    bootstrap resamples or, for the jackknife, of prompts (entry g leaves prompt g out). ``estimate`` is the
    metric on all samples."""

    method: Method
    values: np.ndarray
    estimate: float


def bootstrap_weights(num_prompts: int, num_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """How many times each prompt is drawn in each bootstrap resample. Shape: (num_resamples, num_prompts).

    Each row is a multinomial draw of ``num_prompts`` prompts with replacement; the same ``seed`` gives the same
    rows, which every run and configuration of a sweep shares (the paired bootstrap).
    """
    if num_prompts < 1 or num_resamples < 2:
        raise ValueError(
            f"Need at least one prompt and two resamples, got num_prompts={num_prompts}, "
            f"num_resamples={num_resamples}."
        )
    rng = np.random.default_rng(seed)
    return rng.multinomial(num_prompts, np.full(num_prompts, 1.0 / num_prompts), size=num_resamples)


def _per_prompt(prompt_index: np.ndarray, values: np.ndarray, num_prompts: int) -> np.ndarray:
    return np.bincount(prompt_index, weights=values, minlength=num_prompts)


def _ratio_parts(prompt_index, values, included, num_prompts) -> tuple[np.ndarray, np.ndarray]:
    included = np.asarray(included, dtype=bool)
    values = np.where(included, np.asarray(values, dtype=np.float64), 0.0)
    return (
        _per_prompt(prompt_index, values, num_prompts),
        _per_prompt(prompt_index, included.astype(np.float64), num_prompts),
    )


def ratio_bootstrap(
    prompt_index: np.ndarray, values: np.ndarray, weights: np.ndarray, included: np.ndarray | None = None
) -> np.ndarray:
    """Σ_i w_{p(i)} x_i / Σ_i w_{p(i)} over the included samples, for each row w of ``weights`` (B, P).

    The mean of per-sample values when every prompt is counted as often as the resample drew it. Shape: (B,).
    """
    prompt_index = np.asarray(prompt_index)
    included = np.ones(prompt_index.shape, dtype=bool) if included is None else included
    sums, counts = _ratio_parts(prompt_index, values, included, weights.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ sums) / (weights @ counts)


def ratio_jackknife(
    prompt_index: np.ndarray, values: np.ndarray, num_prompts: int, included: np.ndarray | None = None
) -> np.ndarray:
    """The mean of the included per-sample values with all samples of prompt g left out, for each g. Shape: (P,)."""
    prompt_index = np.asarray(prompt_index)
    included = np.ones(prompt_index.shape, dtype=bool) if included is None else included
    sums, counts = _ratio_parts(prompt_index, values, included, num_prompts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums.sum() - sums) / (counts.sum() - counts)


def _group_item_counts(prompt_index: np.ndarray, items: np.ndarray):
    """``items``: one per row (shape (m,) or (m, k)). For every distinct (prompt, item) pair: its prompt, its count and its item's total count; and the total
    count of every item."""
    _, item_codes = np.unique(items, axis=0 if items.ndim > 1 else None, return_inverse=True)
    item_codes = item_codes.ravel()
    num_items = int(item_codes.max()) + 1
    keys, pair_counts = np.unique(prompt_index * num_items + item_codes, return_counts=True)
    groups, pair_items = np.divmod(keys, num_items)
    item_totals = np.bincount(item_codes, minlength=num_items).astype(np.float64)
    return groups, pair_counts.astype(np.float64), item_totals[pair_items], item_totals


def _flatten(sequences: Sequence[Sequence], prompt_index: np.ndarray) -> tuple[np.ndarray, list]:
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    return np.repeat(np.asarray(prompt_index, dtype=np.int64), lengths), [x for s in sequences for x in s]


def token_entropy_jackknife(
    prompt_index: np.ndarray, token_ids: Sequence[Sequence[int]], num_prompts: int
) -> tuple[float, np.ndarray]:
    """Entropy (nats) of the pooled token frequencies, and the same with the tokens of prompt g left out, for g in
    0 … num_prompts − 1.

    H = log N − (1/N) Σ_v c_v log c_v with c_v the count of token v and N = Σ c_v; leaving prompt g out lowers
    c_v by its own count c_gv, which changes only the terms of the tokens g uses: O(distinct (prompt, token)
    pairs) in all. Returns ``(H, H_without)``, ``H_without`` of shape (P,) (NaN where no token would be left).
    """
    groups, ids = _flatten(token_ids, prompt_index)
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size == 0:
        raise ValueError("No tokens: token entropy is undefined.")
    group, pair_count, item_total, counts = _group_item_counts(groups, ids)
    total = float(ids.size)
    entropy_sum = float(xlogy(counts, counts).sum())
    delta = xlogy(item_total, item_total) - xlogy(item_total - pair_count, item_total - pair_count)
    kept_sum = entropy_sum - np.bincount(group, weights=delta, minlength=num_prompts)
    kept_total = total - np.bincount(group, weights=pair_count, minlength=num_prompts)
    with np.errstate(invalid="ignore", divide="ignore"):
        without = np.where(kept_total > 0, np.log(kept_total) - kept_sum / kept_total, np.nan)
    return math.log(total) - entropy_sum / total, without


def _word_codes(completions: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every whitespace word of every text as an integer code, with the index of its text and its position there."""
    vocabulary: dict[str, int] = {}
    words = [text.split() for text in completions]
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    codes = np.fromiter(
        (vocabulary.setdefault(word, len(vocabulary)) for text in words for word in text),
        dtype=np.int64,
        count=int(lengths.sum()),
    )
    text_index = np.repeat(np.arange(len(words)), lengths)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(words) else np.zeros(0, dtype=np.int64)
    position = np.arange(codes.size) - np.repeat(starts, lengths)
    return codes, text_index, lengths[text_index] - position  # words left in the text from each word on


def distinct_n_jackknife(
    prompt_index: np.ndarray, completions: Sequence[str], n: int, num_prompts: int
) -> tuple[float, np.ndarray]:
    """distinct-n (unique / total n-grams pooled over all texts, whitespace words, none across texts) and the same
    with the texts of prompt g left out, for each g.

    Leaving g out removes its n-grams from the total and, from the unique ones, those that occur under no other
    prompt. Returns ``(distinct, distinct_without)``, the latter of shape (P,) (0 where no n-gram is left, as
    ``fdpo.metrics.distinct_n`` returns for no n-gram).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    codes, text_index, remaining = _word_codes(completions)
    starts = np.flatnonzero(remaining >= n)  # an n-gram starts at every word with n − 1 more in its text
    if starts.size == 0:
        return 0.0, np.zeros(num_prompts)
    vocabulary = int(codes.max()) + 1
    if n * math.log2(vocabulary) < 62:  # one int64 per n-gram: its words' codes as the digits of a number
        grams = np.zeros(starts.size, dtype=np.int64)
        for k in range(n):
            grams = grams * vocabulary + codes[starts + k]
    else:
        grams = np.stack([codes[starts + k] for k in range(n)], axis=1)  # (number of n-grams, n)
    groups = np.asarray(prompt_index, dtype=np.int64)[text_index[starts]]
    group, pair_count, item_total, totals = _group_item_counts(groups, grams)
    total, unique = float(starts.size), float(totals.size)
    kept_total = total - np.bincount(group, weights=pair_count, minlength=num_prompts)
    kept_unique = unique - np.bincount(group, weights=(pair_count == item_total), minlength=num_prompts)
    with np.errstate(invalid="ignore", divide="ignore"):
        without = np.where(kept_total > 0, kept_unique / kept_total, 0.0)
    return unique / total, without


def run_replicates(samples: RunSamples, weights: np.ndarray) -> dict[str, Replicates]:
    """Every metric ``samples`` has the values for, recomputed on the resampled prompt sets.

    Per-sample metrics (``PER_SAMPLE_METRICS``) on the bootstrap resamples ``weights`` (from
    ``bootstrap_weights(samples.num_prompts, ...)``, the same array for every run of a sweep); pooled metrics
    (``POOLED_METRICS``) by the delete-one-prompt jackknife. Keys are result columns (``reward_logit_mean``, ...).
    """
    if weights.ndim != 2 or weights.shape[1] != samples.num_prompts:
        raise ValueError(
            f"weights has shape {weights.shape}; expected (num_resamples, num_prompts={samples.num_prompts})."
        )
    index = np.asarray(samples.prompt_index, dtype=np.int64)
    out: dict[str, Replicates] = {}
    per_sample = {
        "reward_logit_mean": (samples.reward_logit, None),
        "reward_prob_mean": (samples.reward_prob, None),
        "kl_to_ref": (samples.log_ratios, None),
    }
    if samples.predictive_entropy is not None:
        nonempty = np.asarray(samples.num_tokens) > 0
        per_sample["predictive_entropy"] = (np.where(nonempty, samples.predictive_entropy, 0.0), nonempty)
    for column, (values, included) in per_sample.items():
        if values is None:
            continue
        values = np.asarray(values, dtype=np.float64)
        kept = np.ones(index.shape, dtype=bool) if included is None else included
        estimate = float(values[kept].mean()) if kept.any() else math.nan
        out[column] = Replicates("bootstrap", ratio_bootstrap(index, values, weights, kept), estimate)
    if samples.token_ids is not None:
        estimate, values = token_entropy_jackknife(index, samples.token_ids, samples.num_prompts)
        out["token_entropy"] = Replicates("jackknife", values, estimate)
    if samples.completions is not None:
        for n in (1, 2):
            estimate, values = distinct_n_jackknife(index, samples.completions, n, samples.num_prompts)
            out[f"distinct_{n}"] = Replicates("jackknife", values, estimate)
    return out


def replicates_by_run(
    samples: Mapping[str, RunSamples], num_resamples: int = 1000, seed: int = 0
) -> dict[str, dict[str, Replicates]]:
    """``run_replicates`` of every run, all on the same bootstrap resamples (one ``bootstrap_weights`` draw)."""
    sizes = {s.num_prompts for s in samples.values()}
    if len(sizes) > 1:
        raise ValueError(
            f"The runs number their prompts differently ({sorted(sizes)} prompts): cannot pair them."
        )
    if not samples:
        return {}
    weights = bootstrap_weights(sizes.pop(), num_resamples, seed)
    return {run_id: run_replicates(run, weights) for run_id, run in samples.items()}
