"""Synthetic sweep results and sweep directories shared by the tests of fdpo/report/."""

from __future__ import annotations

import numpy as np

from fdpo._io import write_csv, write_json, write_jsonl
from fdpo.metrics import distinct_n, token_entropy

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def results() -> list[dict]:
    """Three seeds per divergence, reward falling and entropy rising from RKL to FKL, plus the SFT baseline."""
    rows = [
        dict(run_id="sft", divergence="sft", loss_type="", beta=None, seed=0, reward_logit_mean=0.2,
             reward_prob_mean=0.55, predictive_entropy=4.6, token_entropy=5.0, kl_to_ref=0.0, train_seconds=None),
    ]  # fmt: skip
    centres = {
        "reverse_kl": (2.7, 3.9),
        "jensen_shannon": (2.6, 4.1),
        "alpha:0.5": (2.45, 4.2),
        "forward_kl": (2.3, 4.4),
    }
    offsets = [(-0.05, 0.02), (0.0, -0.03), (0.08, 0.04)]
    for divergence, (reward, entropy) in centres.items():
        for seed, (dr, de) in enumerate(offsets):
            rows.append(
                dict(run_id=f"{divergence}-{seed}", divergence=divergence, loss_type="sigmoid", beta=0.1, seed=seed,
                     reward_logit_mean=reward + dr, reward_prob_mean=0.9 + dr / 10, predictive_entropy=entropy + de,
                     token_entropy=4.5 + de, kl_to_ref=3.0 + seed, train_seconds=10.0 + seed)
            )  # fmt: skip
    return rows


PROMPTS = ["The film was", "I thought the", "Overall it is", "The plot", "The acting was", "This movie"]
WORDS = np.array("great dull plot acting fun long wonderful boring score story".split())


def _run(rng, run_id, divergence, seed, reward_shift, tokenizer, samples_per_prompt=3):
    """A run's generations with every per-sample field, and its results row computed from them."""
    records = []
    for prompt in PROMPTS[::-1]:  # any order: runs are paired by prompt text
        for _ in range(samples_per_prompt):
            words = rng.choice(WORDS, size=rng.integers(0, 7))
            records.append(
                dict(prompt=prompt, query=prompt, completion=" " + " ".join(words) if len(words) else "",
                     reward_logit=float(rng.normal(reward_shift)), reward_prob=float(rng.random()),
                     predictive_entropy=float(rng.random()) if len(words) else None, num_tokens=len(words),
                     policy_logp=float(rng.normal(-20)), ref_logp=float(rng.normal(-22)))
            )  # fmt: skip
    if divergence == "sft":  # the baseline is its own reference: no ref_logp, KL 0
        for record in records:
            del record["ref_logp"]
    completions = [r["completion"] for r in records]
    row = dict(
        run_id=run_id, divergence=divergence, loss_type="" if divergence == "sft" else "sigmoid",
        beta=None if divergence == "sft" else 0.1, seed=seed,
        reward_logit_mean=np.mean([r["reward_logit"] for r in records]),
        reward_prob_mean=np.mean([r["reward_prob"] for r in records]),
        predictive_entropy=np.mean([r["predictive_entropy"] for r in records if r["num_tokens"]]),
        kl_to_ref=0.0 if divergence == "sft" else np.mean([r["policy_logp"] - r["ref_logp"] for r in records]),
        token_entropy=token_entropy(completions, tokenizer),
        distinct_1=distinct_n(completions, 1), distinct_2=distinct_n(completions, 2),
        num_eval_samples=len(records),
    )  # fmt: skip
    return row, records


def sweep_dir(root, tiny_model_dir, divergences=("reverse_kl", "forward_kl"), seeds=(0, 1)):
    """A sweep directory as the runner writes it: sweep.json, results.csv and runs/<id>/generations.jsonl."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rng = np.random.default_rng(0)
    rows, generations = [], {}
    runs = [("sft", "sft", 0, 0.0)]
    runs += [(f"{d}-{s}", d, s, 1.0 - i) for i, d in enumerate(divergences) for s in seeds]
    for run_id, divergence, seed, shift in runs:
        row, records = _run(rng, run_id, divergence, seed, shift, tokenizer)
        rows.append(row)
        generations[run_id] = records
        write_jsonl(root / "runs" / run_id / "generations.jsonl", records)
    write_json(root / "sweep.json", {"config": {"sft_model": tiny_model_dir, "evaluation": {}}})
    write_csv(root / "results.csv", rows)
    return rows, generations
