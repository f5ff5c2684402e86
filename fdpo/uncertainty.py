"""Standard errors of a sweep's metrics across seeds *and* evaluation prompts, and the verdict on a family.

A configuration (divergence × loss type × β) is trained with several seeds; every run samples the same evaluation
prompts, several completions each. Its reported value is the mean over seeds of each run's metric. That mean moves
for two reasons, and its standard error here counts both:

* **seeds**: training and sampling noise. ``se_seeds = s / √S``, s the sample standard deviation (ddof 1) of
  the S per-seed values.
* **prompts**: which evaluation prompts were drawn. Every run's metric is recomputed on resampled prompt sets
  (the same resampled sets for every seed and every configuration, so that comparisons are *paired*), the
  recomputed values are averaged over the seeds of the configuration, and ``se_prompts`` is their spread.

``se = √(se_seeds² + se_prompts²)``. The two parts overlap a little: the sampling noise of the completions shows
in both (resampling a prompt resamples its completions too), so the combined error is slightly conservative.
With one seed the seed part is unknown and ``se`` is the prompt part alone.

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

The gap between two configurations (forward KL minus reverse KL) gets the paired treatment: its prompt part is the
spread of the *difference* of their recomputed values on the same prompt sets (prompt effects shared by both
cancel). Its seed part is ``√(s_a²/S_a + s_b²/S_b)`` when the two configurations' runs are independent, and the
standard error of the per-seed differences when runs with the same seed share what the seed draws (a sweep's runs of
one seed share their preference pairs and evaluation sampling seed): what a seed does to both cancels.

``judge`` turns a claim about an ordered family (reward falls from reverse KL to forward KL, ...) into "holds",
"does not hold" or "reversed", from the Spearman rank correlation of the configuration means with the position in
the family and the end-to-end gap in standard errors.

Everything here is a pure function of numpy arrays (no files, no models); ``fdpo.report`` reads sweeps and calls it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.special import xlogy

__all__ = [
    "CLAIMS",
    "GAP_THRESHOLD",
    "POOLED_METRICS",
    "PER_SAMPLE_METRICS",
    "RHO_THRESHOLD",
    "Claim",
    "ClaimVerdict",
    "Estimate",
    "Gap",
    "Replicates",
    "RunSamples",
    "bootstrap_weights",
    "combine",
    "distinct_n_jackknife",
    "gap",
    "judge",
    "prompt_standard_error",
    "ratio_bootstrap",
    "ratio_jackknife",
    "replicates_by_run",
    "run_replicates",
    "seed_standard_error",
    "spearman",
    "token_entropy_jackknife",
]

Method = Literal["bootstrap", "jackknife"]

#: Result columns recomputed from per-sample values by the bootstrap over prompts.
PER_SAMPLE_METRICS = ("reward_logit_mean", "reward_prob_mean", "predictive_entropy", "kl_to_ref")
#: Result columns pooled over all samples, recomputed by the delete-one-prompt jackknife.
POOLED_METRICS = ("token_entropy", "distinct_1", "distinct_2")

#: A claim holds only if the configuration means follow the family's order with |Spearman ρ| at least this.
#: With six configurations, 0.8 allows three swaps of neighbours (one swap gives 0.94) but not an order that is
#: merely more right than wrong; the significance comes from the gap, not from ρ.
RHO_THRESHOLD = 0.8
#: ... and the two ends of the family differ in the claimed direction by at least this many standard errors.
GAP_THRESHOLD = 3.0


# ----------------------------------------------------------------------------------------------------------------
# Per-run replicates


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


# ----------------------------------------------------------------------------------------------------------------
# Standard errors of configurations and of gaps


def seed_standard_error(values: Sequence[float]) -> float | None:
    """s / √S of the per-seed values (ddof 1); ``None`` with fewer than two."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return None
    return float(values.std(ddof=1) / math.sqrt(values.size))


def prompt_standard_error(replicates: np.ndarray, method: Method) -> float:
    """The standard error from replicate values of shape (R,): their standard deviation (ddof 1) for the bootstrap,
    √((R−1)/R · Σ (θ_g − θ̄)²) for the jackknife. Non-finite replicates (a resample with no sample left) are
    dropped."""
    values = np.asarray(replicates, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return math.nan
    if method == "bootstrap":
        return float(values.std(ddof=1))
    if method == "jackknife":
        return float(math.sqrt((values.size - 1) / values.size * np.sum((values - values.mean()) ** 2)))
    raise ValueError(f"method={method!r}: use 'bootstrap' or 'jackknife'.")


@dataclass(frozen=True)
class Estimate:
    """A configuration's mean over seeds and its standard errors (``None`` where a part is unknown)."""

    mean: float
    se: float | None
    se_seeds: float | None
    se_prompts: float | None
    n_seeds: int


def _seed_average(replicates: Sequence[Replicates]) -> tuple[np.ndarray, Method]:
    methods = {r.method for r in replicates}
    shapes = {r.values.shape for r in replicates}
    if len(methods) != 1 or len(shapes) != 1:
        raise ValueError(
            f"Replicates of one metric must share method and shape (the same prompt resamples), got methods "
            f"{sorted(methods)} and shapes {sorted(shapes)}."
        )
    return np.mean([r.values for r in replicates], axis=0), methods.pop()


def _hypot(*parts: float | None) -> float | None:
    known = [p for p in parts if p is not None and math.isfinite(p)]
    return math.sqrt(sum(p * p for p in known)) if known else None


def combine(seed_values: Sequence[float], replicates: Sequence[Replicates] | None = None) -> Estimate:
    """The mean over seeds of one metric of one configuration and its combined standard error.

    Args:
        seed_values: the metric of each seed's run. Shape: (S,).
        replicates: the same runs' ``Replicates`` (one per seed, in any order), or ``None`` (no prompt part).
    """
    values = np.asarray([v for v in seed_values if v is not None], dtype=np.float64)
    values = values[np.isfinite(values)]
    mean = float(values.mean()) if values.size else math.nan
    se_seeds = seed_standard_error(values)
    se_prompts = None
    if replicates:
        averaged, method = _seed_average(replicates)
        se_prompts = prompt_standard_error(averaged, method)
    return Estimate(mean, _hypot(se_seeds, se_prompts), se_seeds, se_prompts, int(values.size))


@dataclass(frozen=True)
class Gap:
    """``b − a`` of two configurations' means over seeds, its standard error and the gap in standard errors."""

    value: float
    se: float | None
    se_seeds: float | None
    se_prompts: float | None
    z: float
    paired_seeds: bool = False


def gap(
    a_values: Sequence[float],
    b_values: Sequence[float],
    a_replicates: Sequence[Replicates] | None = None,
    b_replicates: Sequence[Replicates] | None = None,
    *,
    paired_seeds: bool = False,
) -> Gap:
    """The gap mean(b) − mean(a) between two configurations, with a paired prompt part.

    The prompt part is the bootstrap or jackknife error of the difference of the two configurations' seed-averaged
    replicates, which were computed on the same prompt resamples: a prompt that is hard for both moves both and
    cancels. The seed part is √(s_a²/S_a + s_b²/S_b) for independent runs, or, with ``paired_seeds`` (``a_values[i]``
    and ``b_values[i]`` share seed i: its pair draw and its evaluation samples), s_d/√S of the per-seed differences
    d_i = b_i − a_i: what a seed shifts in both configurations cancels, what it shifts in one counts.
    ``z = gap / se`` (±inf for a nonzero gap with se 0).

    Raises:
        ValueError: ``paired_seeds`` with value lists of different lengths or with a missing (non-finite) value.
    """
    a, b = combine(a_values), combine(b_values)
    value = b.mean - a.mean
    if paired_seeds:
        a_array, b_array = np.asarray(a_values, dtype=np.float64), np.asarray(b_values, dtype=np.float64)
        if a_array.shape != b_array.shape or not (np.isfinite(a_array).all() and np.isfinite(b_array).all()):
            raise ValueError(
                f"paired_seeds needs one finite value per seed in both configurations, got {list(a_values)} and "
                f"{list(b_values)}."
            )
        se_seeds = seed_standard_error(b_array - a_array)
    elif a.se_seeds is not None and b.se_seeds is not None:
        se_seeds = _hypot(a.se_seeds, b.se_seeds)
    else:
        se_seeds = None
    se_prompts = None
    if a_replicates and b_replicates:
        averaged_a, method_a = _seed_average(a_replicates)
        averaged_b, method_b = _seed_average(b_replicates)
        if method_a != method_b or averaged_a.shape != averaged_b.shape:
            raise ValueError("The two configurations' replicates come from different prompt resamples.")
        se_prompts = prompt_standard_error(averaged_b - averaged_a, method_a)
    se = _hypot(se_seeds, se_prompts)
    if se is None or not math.isfinite(value):
        z = math.nan
    elif se > 0:
        z = value / se
    else:
        z = math.copysign(math.inf, value) if value != 0 else math.nan
    return Gap(value, se, se_seeds, se_prompts, z, paired_seeds)


# ----------------------------------------------------------------------------------------------------------------
# The verdict


@dataclass(frozen=True)
class Claim:
    """A claim about an ordered family of configurations: ``metric`` (a result column) moves in ``direction``
    (+1 rises, −1 falls) from the first configuration to the last."""

    metric: str
    direction: int
    text: str


#: The paper's trade-off along reverse KL → JS → growing α → forward KL, one claim per measure.
CLAIMS = (
    Claim("reward_logit_mean", -1, "reward falls"),
    Claim("predictive_entropy", +1, "predictive entropy rises"),
    Claim("token_entropy", +1, "token entropy rises"),
    Claim("distinct_2", +1, "distinct-2 rises"),
    Claim("kl_to_ref", -1, "KL to the reference falls"),
)


def spearman(values: Sequence[float]) -> float:
    """Spearman rank correlation of ``values`` with their positions 0, 1, 2, ... (ties get average ranks); NaN
    when all values are equal or fewer than two are given."""
    from scipy.stats import rankdata

    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or not np.isfinite(values).all():
        return math.nan
    ranks = rankdata(values)
    if np.all(ranks == ranks[0]):
        return math.nan
    return float(np.corrcoef(ranks, np.arange(values.size, dtype=np.float64))[0, 1])


@dataclass(frozen=True)
class ClaimVerdict:
    """What ``judge`` found for one claim: ``outcome`` is "holds", "does not hold", "reversed" or "no verdict"
    (``reason`` says why); ``rho`` the Spearman correlation of the means with the family position; ``gap`` the
    last minus the first configuration."""

    claim: Claim
    outcome: str
    rho: float = math.nan
    gap: Gap | None = None
    reason: str = ""
    means: tuple[float, ...] = field(default=())


def judge(
    claim: Claim,
    means: Sequence[float],
    end_gap: Gap,
    *,
    rho_threshold: float = RHO_THRESHOLD,
    gap_threshold: float = GAP_THRESHOLD,
) -> ClaimVerdict:
    """Judges ``claim`` from the configuration means in family order and the gap between the ends.

    The claim **holds** when ρ (Spearman, means against position) has the claimed sign with |ρ| ≥ ``rho_threshold``
    *and* the end-to-end gap is at least ``gap_threshold`` standard errors in the claimed direction. It is
    **reversed** when both hold in the opposite direction, and **does not hold** otherwise.
    """
    rho = spearman(means)
    signed_rho, signed_z = claim.direction * rho, claim.direction * end_gap.z
    if signed_rho >= rho_threshold and signed_z >= gap_threshold:
        outcome = "holds"
    elif signed_rho <= -rho_threshold and signed_z <= -gap_threshold:
        outcome = "reversed"
    else:
        outcome = "does not hold"
    return ClaimVerdict(claim, outcome, rho, end_gap, means=tuple(float(m) for m in means))


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
