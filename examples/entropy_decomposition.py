"""Why did a policy's predictive entropy change? Splits the change into a per-context part and a sample-shift part.

The predictive entropy of a policy π (``predictive_entropy`` in results.csv) is its next-token entropy along its
own samples, so it moves for two reasons: π's distribution at a given context, and which contexts π's samples
visit. With H(model | samples) the mean over samples of the model's next-token entropy averaged over the sample's
completion positions, and ref the SFT model:

    H(π | π's samples) − H(ref | ref's samples)
        = [H(π | π's samples) − H(ref | π's samples)]        per context: is π sharper or flatter where it writes?
        + [H(ref | π's samples) − H(ref | ref's samples)]    shift: do π's samples sit where ref is less certain?

It also prints H(π | ref's samples) (every policy on one fixed set of contexts), the mean change of log π on the
chosen and rejected responses of the training pairs, the share of chosen responses whose log-probability fell,
the share of π's sampled tokens that ref gives probability < 1e-3, and the completion length.

    fdpo demo --output-dir demo-output save_models=true
    python examples/entropy_decomposition.py demo-output
    python examples/entropy_decomposition.py demo-output --runs reverse_kl__sigmoid__beta0.1__seed0

It reads the sweep's ``sweep.json``, the ``pairs.jsonl`` each run was trained on (``pairs/seed-<s>/``) and each
run's ``generations.jsonl`` and ``model/`` folder (written with ``save_models: true``); the SFT model's samples are the baseline run's (``runs/sft``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from fdpo.decoding import score_completions
from fdpo.sweep.stage_files import pair_stage_folder

IMPROBABLE = 1e-3


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_generations(run_dir: Path) -> tuple[list[str], list[str]]:
    """(queries, completions) of a run's saved generations, empty completions left out (they have no position)."""
    rows = [row for row in read_jsonl(run_dir / "generations.jsonl") if row["completion"].strip()]
    if not rows:
        raise SystemExit(f"{run_dir / 'generations.jsonl'} has no non-empty completion to score.")
    return [row["query"] for row in rows], [row["completion"] for row in rows]


def mean_entropy(model, tokenizer, queries, completions) -> tuple[float, np.ndarray, np.ndarray]:
    """The predictive-entropy statistic of ``model`` on the given samples, with per-token log-probs and lengths."""
    scores = score_completions(model, tokenizer, queries, completions, batch_size=64, entropy=True)
    return float(scores.mean_entropies.mean()), np.concatenate(scores.token_logps), scores.num_tokens


def pair_logps(model, tokenizer, pairs) -> tuple[np.ndarray, np.ndarray]:
    prompts = [pair["prompt"] for pair in pairs]
    chosen = score_completions(model, tokenizer, prompts, [pair["chosen"] for pair in pairs], batch_size=64)
    rejected = score_completions(
        model, tokenizer, prompts, [pair["rejected"] for pair in pairs], batch_size=64
    )
    return chosen.sum_logps, rejected.sum_logps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="a finished sweep run with save_models: true")
    parser.add_argument("--runs", nargs="*", help="run ids (default: every run with a saved model)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = args.sweep_dir
    config = read_json(root / "sweep.json")["config"]
    runs = args.runs or sorted(p.parent.name for p in (root / "runs").glob("*/model") if p.is_dir())
    if not runs:
        raise SystemExit(
            f"No run under {root / 'runs'} has a saved model: rerun the sweep with save_models=true."
        )
    reference = AutoModelForCausalLM.from_pretrained(config["sft_model"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(config["sft_model"])

    ref_queries, ref_completions = load_generations(root / "runs" / "sft")
    h_ref_ref, ref_token_logps, ref_lengths = mean_entropy(reference, tokenizer, ref_queries, ref_completions)
    draw = config.get("pairs", {}).get("draw", "shared")  # sweeps before pairs.draw shared one pair set
    reference_pair_logps = {}  # per pair set: the SFT model's log-probs of its chosen and rejected responses
    print(
        f"SFT on its own samples: H = {h_ref_ref:.3f}, {ref_lengths.mean():.1f} tokens per completion, "
        f"{np.mean(ref_token_logps < np.log(IMPROBABLE)):.2%} of tokens with p_ref < {IMPROBABLE:g}"
    )
    header = (
        f"{'run':40s} {'H(π|π)':>7s} {'H(ref|π)':>8s} {'H(π|ref)':>8s} {'context':>8s} {'shift':>7s} "
        f"{'Δchosen':>8s} {'Δrejected':>9s} {'chosen↓':>8s} {'p_ref<1e-3':>10s} {'tokens':>6s}"
    )
    print(header)
    for run in runs:
        policy = AutoModelForCausalLM.from_pretrained(root / "runs" / run / "model").eval()
        queries, completions = load_generations(root / "runs" / run)
        h_pol_pol, _, lengths = mean_entropy(policy, tokenizer, queries, completions)
        h_ref_pol, ref_logps_on_pol, _ = mean_entropy(reference, tokenizer, queries, completions)
        h_pol_ref, _, _ = mean_entropy(policy, tokenizer, ref_queries, ref_completions)
        seed = read_json(root / "runs" / run / "config.json")["run"]["seed"]
        folder = pair_stage_folder(root, draw, seed)  # the pairs this run was trained on
        pairs = read_jsonl(folder / "pairs.jsonl")
        if folder not in reference_pair_logps:
            reference_pair_logps[folder] = pair_logps(reference, tokenizer, pairs)
        ref_chosen, ref_rejected = reference_pair_logps[folder]
        chosen, rejected = pair_logps(policy, tokenizer, pairs)
        d_chosen, d_rejected = chosen - ref_chosen, rejected - ref_rejected
        print(
            f"{run:40s} {h_pol_pol:7.3f} {h_ref_pol:8.3f} {h_pol_ref:8.3f} {h_pol_pol - h_ref_pol:+8.3f} "
            f"{h_ref_pol - h_ref_ref:+7.3f} {d_chosen.mean():+8.2f} {d_rejected.mean():+9.2f} "
            f"{np.mean(d_chosen < 0):8.0%} {np.mean(ref_logps_on_pol < np.log(IMPROBABLE)):10.2%} "
            f"{lengths.mean():6.1f}"
        )


if __name__ == "__main__":
    main()
