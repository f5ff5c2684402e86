"""Sampling + scoring throughput: fdpo's batched pipeline against the seed notebook's one-at-a-time loop.

    python benchmarks/bench_sampling.py [--n 2000] [--batch-size 128] [--notebook-n 100]

Same models (a 4-layer GPT-2 and a 2-layer DistilBERT built with fdpo.demo.models), same machine, the notebook's
generation settings (beam sampling with 5 beams, top_k=50, no_repeat_ngram_size=2, max_length=100,
early_stopping, renormalize_logits). The notebook's loop (`generate_from_input` + `classify`, one text at a time)
is timed on ``--notebook-n`` samples and fdpo's ``sample`` + ``RewardModel.score`` on ``--n``; both are reported
as completions per second, interleaved in one run, with their ratio (target ≥ 5×).
"""

from __future__ import annotations

import argparse
import time

import torch

from fdpo.demo.corpus import generate_reviews
from fdpo.demo.models import build_causal_lm, build_classifier, train_tokenizer
from fdpo.generation import sample
from fdpo.reward import RewardModel

NOTEBOOK_SETTINGS = dict(
    top_k=50,
    num_beams=5,
    max_length=100,
    early_stopping=True,
    no_repeat_ngram_size=2,
    renormalize_logits=True,
)


def notebook_loop(model, tokenizer, classifier, classifier_tokenizer, n):
    """The notebook's `generate_from_input(naive_guidance="positive")` then `classify(..., as_proba=False)`."""
    rewards = []
    for _ in range(n):
        input_ids = tokenizer.encode("Good Review:", return_tensors="pt", add_special_tokens=False)
        output = model.generate(
            input_ids, do_sample=True, pad_token_id=tokenizer.pad_token_id, **NOTEBOOK_SETTINGS
        )
        text = tokenizer.decode(output[0], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        text = ".".join(text.split(".")[:-1]) + "."
        inputs = classifier_tokenizer(text, return_tensors="pt", truncation=True, max_length=128)
        with torch.no_grad():
            rewards.append(classifier(**inputs).logits[:, 1].numpy())
    return rewards


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=256, help="completions for fdpo's batched pipeline")
    parser.add_argument("--notebook-n", type=int, default=32, help="completions for the notebook's loop")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    torch.manual_seed(0)
    texts = [review.text for review in generate_reviews(2000, seed=0)]
    tokenizer = train_tokenizer(texts, vocab_size=2000)
    model = (
        build_causal_lm(tokenizer, n_layer=4, n_embd=128, n_head=4, n_positions=128).to(args.device).eval()
    )
    classifier_tokenizer = train_tokenizer(texts, vocab_size=2000)
    classifier_tokenizer.padding_side = "right"
    classifier = build_classifier(classifier_tokenizer, n_layers=2, dim=64).to(args.device).eval()
    reward = RewardModel(classifier, classifier_tokenizer, batch_size=args.batch_size)

    def batched(n):
        samples = sample(
            model,
            tokenizer,
            [""] * n,
            prompt_template="Good Review:{prompt}",
            batch_size=args.batch_size,
            seed=0,
            show_progress=False,
            **NOTEBOOK_SETTINGS,
        )
        return reward.score(samples.texts)

    notebook_loop(model, tokenizer, classifier, classifier_tokenizer, 2)  # warm-up
    batched(min(args.n, args.batch_size))
    start = time.perf_counter()
    notebook_loop(model, tokenizer, classifier, classifier_tokenizer, args.notebook_n)
    notebook_rate = args.notebook_n / (time.perf_counter() - start)
    start = time.perf_counter()
    batched(args.n)
    fdpo_rate = args.n / (time.perf_counter() - start)

    print(f"device {args.device}, torch threads {torch.get_num_threads()}, settings {NOTEBOOK_SETTINGS}")
    print(f"notebook loop  : {notebook_rate:8.2f} completions/s ({args.notebook_n} completions)")
    print(f"fdpo batch {args.batch_size:<4}: {fdpo_rate:8.2f} completions/s ({args.n} completions)")
    print(f"speed-up: {fdpo_rate / notebook_rate:.1f}× (target ≥ 5×)")


if __name__ == "__main__":
    main()
