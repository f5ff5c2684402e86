"""Train a causal LM with f-DPO on your own preference pairs.

    python examples/quickstart.py                                    # offline demo: tiny local model, 8 pairs
    python examples/quickstart.py pairs.jsonl --model path/to/sft-model --divergence alpha --alpha 0.3 --beta 0.01

pairs.jsonl holds one JSON object per line with "prompt", "chosen" and "rejected" strings (completions without the
prompt). Any TRL DPO setting can be changed in the FDPOConfig below; see docs/trainer.md.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from datasets import Dataset, load_dataset
from transformers import AutoTokenizer

from fdpo.config import FDPOConfig
from fdpo.demo.models import build_causal_lm, save_pretrained, train_tokenizer
from fdpo.trainer import FDPOTrainer

DEMO_PAIRS = [
    ("This movie was", " great, the acting was wonderful.", " terrible and the plot was boring."),
    ("The cast is", " superb and the script is sharp.", " awful and the effects look cheap."),
    ("I loved", " every minute of it, a true delight.", " nothing, it was a waste of time."),
    ("The film is", " fine, with a lovely score.", " the worst I have seen, dull and long."),
] * 2


def _demo_model(directory: str) -> str:
    """A freshly initialised 2-layer GPT-2 with a tokenizer trained on the demo pairs, saved to ``directory``."""
    tokenizer = train_tokenizer([" ".join(pair) for pair in DEMO_PAIRS] * 8, vocab_size=300)
    return str(save_pretrained(build_causal_lm(tokenizer, n_layer=2, n_embd=64), tokenizer, directory))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pairs", nargs="?", help="JSONL of prompt/chosen/rejected; omit for the demo")
    parser.add_argument("--model", help="SFT model path or hub id to start from (required with pairs)")
    parser.add_argument(
        "--divergence", default="reverse_kl", help="a name such as jensen_shannon, or alpha:0.3"
    )
    parser.add_argument("--alpha", type=float, default=None, help="α in (0, 1) for --divergence alpha")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--loss-type", default="sigmoid", choices=["sigmoid", "hinge", "ipo"])
    parser.add_argument("--output-dir", default="fdpo-quickstart")
    parser.add_argument("--max-steps", type=int, default=None, help="default: one epoch (demo: 20 steps)")
    parser.add_argument("--learning-rate", type=float, default=None, help="default: 1e-6 (demo: 1e-3)")
    args = parser.parse_args()

    scratch = tempfile.TemporaryDirectory()
    if args.pairs:
        if not args.model:
            parser.error("--model is required when you give a pairs file")
        model, train_dataset = args.model, load_dataset("json", data_files=args.pairs, split="train")
    else:
        model = _demo_model(scratch.name)
        prompts, chosen, rejected = (list(column) for column in zip(*DEMO_PAIRS, strict=True))
        train_dataset = Dataset.from_dict({"prompt": prompts, "chosen": chosen, "rejected": rejected})

    demo = not args.pairs
    config = FDPOConfig(
        output_dir=args.output_dir,
        divergence=args.divergence,
        alpha=args.alpha,
        beta=args.beta,
        loss_type=args.loss_type,
        max_steps=args.max_steps or (20 if demo else -1),
        learning_rate=args.learning_rate or (1e-3 if demo else 1e-6),
        per_device_train_batch_size=4,
        logging_steps=5,
        save_strategy="no",
        report_to="none",
        num_train_epochs=1,
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),  # TRL's default bf16 fails on CPU
        gradient_checkpointing=not demo,
    )
    tokenizer = AutoTokenizer.from_pretrained(model)
    trainer = FDPOTrainer(model=model, args=config, train_dataset=train_dataset, processing_class=tokenizer)
    trainer.train()
    trainer.save_model(args.output_dir)
    # The last log holding rewards (TRL folds metrics of steps not logged yet into the end-of-training summary).
    last = [entry for entry in trainer.state.log_history if "rewards/margins" in entry][-1]
    loss = last.get("loss", last.get("train_loss"))
    print(
        f"{trainer.divergence.spec}: loss {loss:.4f}, reward margin β·(f′(u_w) − f′(u_l)) "
        f"{last['rewards/margins']:.4f}, accuracy {last['rewards/accuracies']:.2f}; model saved to {args.output_dir}"
    )
    scratch.cleanup()


if __name__ == "__main__":
    main()
