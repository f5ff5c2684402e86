"""Times one training step of FDPOTrainer against TRL's DPOTrainer, side by side, for every registered divergence.

    python benchmarks/bench_trainer_step.py                       # tiny GPT-2, 4 pairs, 200 interleaved steps
    python benchmarks/bench_trainer_step.py --n-layer 4 --n-embd 256 --batch-size 8 --repeats 100

Both trainers get the same weights, the same collated batch and the same settings. A step is
``trainer.training_step`` (forward of policy and reference, loss, metric logging, backward) plus ``zero_grad``; the
optimizer update is left out because it is the same code in both and would only dilute the difference. The two
trainers alternate step by step (order flipped every repeat) so that drifts in machine load hit both alike; the
table reports median step times and their ratio. TRL runs its own equivalent f-divergence where it has one
(``forward_kl``, ``js_divergence``, ``alpha_divergence`` with coefficient 1 − α) and standard DPO otherwise.
Target: ratio ≤ 1.05 for every divergence.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from datasets import Dataset
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer

from fdpo.config import FDPOConfig
from fdpo.demo.models import build_causal_lm, save_pretrained, train_tokenizer
from fdpo.divergences import get_divergence, list_divergences
from fdpo.trainer import FDPOTrainer

TARGET_RATIO = 1.05

_TEXTS = [
    (
        "This movie was",
        " great and the acting was wonderful, a fine film with a lovely score.",
        " terrible and dull.",
    ),
    (
        "The cast is",
        " superb, the script is sharp and funny.",
        " awful and the effects look cheap, far too long.",
    ),
    ("I loved", " every minute of it, a true delight.", " nothing about it, it was a waste of time."),
    ("The worst film", " I have never seen: it is clever and kind.", " I have seen, dull and far too long."),
]


def _trl_equivalent(spec: str) -> tuple[str, float]:
    """TRL's (f_divergence_type, f_alpha_divergence_coef) computing the same f′, or standard DPO."""
    divergence = get_divergence(spec)
    if divergence.name == "forward_kl":
        return "forward_kl", 0.5
    if divergence.name == "jensen_shannon":
        return "js_divergence", 0.5
    if divergence.name == "alpha":
        return "alpha_divergence", 1.0 - divergence.params["alpha"]
    return "reverse_kl", 0.5


def _build_model(directory: str, n_layer: int, n_embd: int) -> str:
    corpus = [" ".join(parts) for parts in _TEXTS] * 16
    tokenizer = train_tokenizer(corpus, vocab_size=400)
    torch.manual_seed(0)
    model = build_causal_lm(
        tokenizer, n_layer=n_layer, n_embd=n_embd, n_head=max(1, n_embd // 32), n_positions=256
    )
    return str(save_pretrained(model, tokenizer, directory))


def _trainers(model_dir: str, spec: str, batch_size: int, output_dir: str) -> tuple[DPOTrainer, FDPOTrainer]:
    dataset = Dataset.from_dict(
        {
            "prompt": [_TEXTS[i % len(_TEXTS)][0] for i in range(batch_size)],
            "chosen": [_TEXTS[i % len(_TEXTS)][1] for i in range(batch_size)],
            "rejected": [_TEXTS[i % len(_TEXTS)][2] for i in range(batch_size)],
        }
    )
    common = dict(
        output_dir=output_dir,
        per_device_train_batch_size=batch_size,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        bf16=False,
        gradient_checkpointing=False,
        beta=0.1,
    )
    f_divergence_type, coef = _trl_equivalent(spec)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    trainers = []
    for trainer_class, config in (
        (DPOTrainer, DPOConfig(**common, f_divergence_type=f_divergence_type, f_alpha_divergence_coef=coef)),
        (FDPOTrainer, FDPOConfig(**common, divergence=spec)),
    ):
        trainer = trainer_class(
            model=AutoModelForCausalLM.from_pretrained(model_dir),
            ref_model=AutoModelForCausalLM.from_pretrained(model_dir),
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
        )
        trainer.model.train()
        trainer.current_gradient_accumulation_steps = 1  # set by Trainer's training loop, which we bypass
        trainers.append(trainer)
    return trainers[0], trainers[1]


def _timed_step(trainer, batch) -> float:
    synchronize = torch.cuda.synchronize if trainer.accelerator.device.type == "cuda" else (lambda: None)
    synchronize()
    start = time.perf_counter()
    trainer.training_step(trainer.model, batch)
    trainer.model.zero_grad(set_to_none=True)
    synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-embd", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4, help="preference pairs per step")
    parser.add_argument("--repeats", type=int, default=200, help="timed steps per trainer and divergence")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--divergences", nargs="*", default=None, help="specs; default: every registered one")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    specs = args.divergences or [("alpha:0.5" if name == "alpha" else name) for name in list_divergences()]

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        model_dir = _build_model(f"{directory}/model", args.n_layer, args.n_embd)
        for spec in tqdm(specs, desc="divergences"):
            trl, ours = _trainers(model_dir, spec, args.batch_size, f"{directory}/run")
            batch = trl._prepare_inputs(next(iter(trl.get_train_dataloader())))
            times = {"trl": [], "fdpo": []}
            pair = (("trl", trl), ("fdpo", ours))
            for repeat in range(args.warmup + args.repeats):
                for name, trainer in pair if repeat % 2 == 0 else pair[::-1]:
                    elapsed = _timed_step(trainer, batch)
                    if repeat >= args.warmup:
                        times[name].append(elapsed)
                trl._metrics["train"].clear()
                ours._metrics["train"].clear()
            trl_ms = 1e3 * statistics.median(times["trl"])
            our_ms = 1e3 * statistics.median(times["fdpo"])
            rows.append((spec, _trl_equivalent(spec), trl_ms, our_ms, our_ms / trl_ms))
        device = ours.accelerator.device

    print(
        f"\nTraining step (forward + backward), median of {args.repeats}; device {device}, "
        f"{torch.get_num_threads()} threads; GPT-2 n_layer={args.n_layer} n_embd={args.n_embd}, "
        f"{args.batch_size} pairs, batch of {batch['input_ids'].shape[0]}x{batch['input_ids'].shape[1]} tokens\n"
    )
    print(f"{'divergence':<16} {'TRL f_divergence_type':<28} {'TRL ms':>8} {'f-DPO ms':>9} {'ratio':>7}")
    for spec, (trl_type, coef), trl_ms, our_ms, ratio in rows:
        trl_label = f"{trl_type} (coef {coef:g})" if trl_type == "alpha_divergence" else trl_type
        flag = "" if ratio <= TARGET_RATIO else "  > target"
        print(f"{spec:<16} {trl_label:<28} {trl_ms:8.2f} {our_ms:9.2f} {ratio:7.3f}{flag}")
    worst = max(row[-1] for row in rows)
    print(f"\nworst ratio {worst:.3f} (target ≤ {TARGET_RATIO})")


if __name__ == "__main__":
    main()
