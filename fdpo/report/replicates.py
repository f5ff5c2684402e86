"""The prompt part of the standard errors: a sweep's saved generations, recomputed on resampled prompt sets."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fdpo import uncertainty
from fdpo._io import read_json, read_jsonl
from fdpo.report.summary import finite
from fdpo.uncertainty import Replicates

#: Bootstrap resamples of the prompt sets, and the seed that draws them (the same for every run of a sweep).
NUM_RESAMPLES = 1000
RESAMPLING_SEED = 0


def sweep_replicates(
    root: str | os.PathLike,
    rows: Sequence[Mapping[str, Any]],
    *,
    num_resamples: int = NUM_RESAMPLES,
    seed: int = RESAMPLING_SEED,
) -> tuple[dict[str, dict[str, Replicates]], list[str]]:
    """Reads every run's ``runs/<run_id>/generations.jsonl`` and recomputes its metrics on resampled prompt sets.

    The per-sample fields a sweep saves with each generation (``reward_logit``, ``reward_prob``,
    ``predictive_entropy``, ``num_tokens``, ``policy_logp``, ``ref_logp``, the prompt and the completion) give the
    per-sample metrics; token entropy re-tokenizes the completions (or whole texts) with the tokenizer the sweep
    used (``sweep.json``: the SFT model's or the reward model's). A metric is left out for a run, with a note,
    when its values are not there (an older sweep, fewer generations kept than sampled) or when recomputing it
    from the generations does not give the run's own value in results.csv.

    Returns:
        ``(replicates, notes)``: per run id, per result column, the ``Replicates``; and one line per problem.
    """
    root = Path(root)
    config = _sweep_settings(root)
    notes: list[str] = []
    records: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        run_id = str(row.get("run_id"))
        path = root / "runs" / run_id / "generations.jsonl"
        if not path.is_file():
            notes.append(f"{run_id}: no generations.jsonl; its standard errors count seeds only.")
            continue
        loaded = read_jsonl(path)
        expected = row.get("num_eval_samples")
        if finite(expected) and len(loaded) != int(expected):
            notes.append(
                f"{run_id}: generations.jsonl keeps {len(loaded)} of its {int(expected)} samples "
                "(evaluation.num_saved_generations); its standard errors count seeds only."
            )
            continue
        if loaded:
            records[run_id] = loaded
    prompt_sets = {run_id: frozenset(r.get("prompt") for r in recs) for run_id, recs in records.items()}
    if len(set(prompt_sets.values())) > 1:
        notes.append("The runs were evaluated on different prompts: no paired resampling; seeds only.")
        return {}, notes
    if not records:
        return {}, notes
    prompt_index = {prompt: i for i, prompt in enumerate(sorted(next(iter(prompt_sets.values())), key=str))}
    tokenizer, texts_field = (
        _entropy_tokenizer(config, notes)
        if any(finite(row.get("token_entropy")) for row in rows)
        else (None, None)
    )
    samples = {
        run_id: _run_samples(recs, prompt_index, tokenizer, texts_field, row)
        for row in rows
        if (run_id := str(row.get("run_id"))) in records and (recs := records[run_id])
    }
    replicates = uncertainty.replicates_by_run(samples, num_resamples, seed)
    by_id = {str(row.get("run_id")): row for row in rows}
    for run_id, run in replicates.items():
        for column, replicate in list(run.items()):
            reported = by_id[run_id].get(column)
            if not finite(reported):
                del run[column]
            elif not math.isclose(replicate.estimate, reported, rel_tol=1e-6, abs_tol=1e-9):
                del run[column]
                notes.append(
                    f"{run_id}: {column} recomputed from generations.jsonl is {replicate.estimate:.6g}, "
                    f"results.csv has {reported:.6g}; its standard error counts seeds only."
                )
    lacking = [
        column
        for column in (*uncertainty.PER_SAMPLE_METRICS, *uncertainty.POOLED_METRICS)
        if any(finite(by_id[run_id].get(column)) and column not in run for run_id, run in replicates.items())
        and not any(column in note for note in notes)
    ]
    if lacking:
        notes.append(
            f"{', '.join(lacking)}: the saved generations lack the per-sample values (a sweep written by an "
            "earlier fdpo); their standard errors count seeds only."
        )
    return replicates, notes


def _sweep_settings(root: Path) -> dict[str, Any]:
    path = root / "sweep.json"
    return read_json(path).get("config", {}) if path.is_file() else {}


def _entropy_tokenizer(config: Mapping[str, Any], notes: list[str]):
    """The tokenizer token entropy was counted with, and whether it counted completions or whole texts."""
    evaluation = config.get("evaluation", {}) or {}
    which = evaluation.get("token_entropy_tokenizer", "policy")
    model = config.get("reward_model" if which == "reward" else "sft_model")
    texts_field = "texts" if evaluation.get("token_entropy_on", "completions") == "texts" else "completions"
    if not model:
        notes.append(
            "No sweep.json naming the model whose tokenizer counts token entropy: seeds only for it."
        )
        return None, texts_field
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model), texts_field
    except Exception as error:  # noqa: BLE001 — any failure to load only costs the prompt part of one metric
        notes.append(f"Could not load the tokenizer of {model} ({error}): token entropy counts seeds only.")
        return None, texts_field


def _run_samples(records, prompt_index, tokenizer, texts_field, row) -> uncertainty.RunSamples:
    """One run's generations as ``RunSamples``; a field absent from any record is left out."""

    def column(name: str, missing=None) -> np.ndarray | None:
        if any(name not in r for r in records):
            return None
        return np.array([missing if r[name] is None else r[name] for r in records], dtype=np.float64)

    log_ratios = None
    policy, reference = column("policy_logp"), column("ref_logp")
    if policy is not None and reference is not None:
        log_ratios = policy - reference
    elif row.get("kl_to_ref") == 0.0:
        log_ratios = np.zeros(len(records))  # the baseline: the policy is the reference
    token_ids = None
    if tokenizer is not None:
        texts = [
            (r.get("query", "") + r["completion"]) if texts_field == "texts" else r["completion"]
            for r in records
        ]
        encoded = tokenizer(texts, return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        pad = tokenizer.pad_token_id
        token_ids = [[t for t in ids if t != pad] for ids in encoded] if pad is not None else encoded
    completions = [r["completion"] for r in records] if all("completion" in r for r in records) else None
    num_tokens = column("num_tokens")
    entropy = column("predictive_entropy", math.nan) if num_tokens is not None else None
    return uncertainty.RunSamples(
        np.array([prompt_index[r.get("prompt")] for r in records], dtype=np.int64),
        len(prompt_index),
        reward_logit=column("reward_logit"),
        reward_prob=column("reward_prob"),
        predictive_entropy=entropy,
        num_tokens=num_tokens,
        log_ratios=log_ratios,
        token_ids=token_ids,
        completions=completions,
    )
