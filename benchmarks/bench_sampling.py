"""Sampling throughput: fdpo's ``sample`` against the notebook's one-at-a-time loop and against ``model.generate``.

    python benchmarks/bench_sampling.py [--rounds 5] [--threads 1 2] [--notebook-n 8] [--batch-size 64]

Models as in the demo (a 4-layer GPT-2, a 2-layer DistilBERT reward classifier, built with fdpo.demo.models;
random weights, so completions run to the length limit). Two comparisons, each alternating its variants inside
every round (the baseline split in two halves around the others), so that load from other processes hits them
alike; every round gives a ratio of completion rates, and the script prints the minimum and median ratio per
thread count, with the torch thread count (pinned) and the load average before and after. Ratios are given for
wall-clock time and for this process's CPU time; on a loaded machine the one-at-a-time loop loses more wall-clock
time to waiting than a batched loop does, so its CPU-time ratio is the more conservative one.

1. Pair sampling at the notebook's settings (beam sampling with 5 beams, top_k=50, no_repeat_ngram_size=2,
   max_length=100, early_stopping, renormalize_logits), sampling + reward scoring: the notebook's loop
   (``generate_from_input`` then ``classify``, one text at a time, ``--notebook-n`` texts a round) against fdpo's
   ``sample`` + ``RewardModel.score`` (one batch of ``--batch-size`` texts a round), with engine="auto" (the
   default) and engine="exact" (``generate``'s random numbers). Target: median ≥ 6× on 1 thread.
2. Evaluation sampling (plain sampling: top_k=0, top_p=1, temperature 1, max_new_tokens=48) of ``--batch-size``
   prompts: ``model.generate`` on the batch against ``sample`` with engine="auto" and engine="exact".
"""

from __future__ import annotations

import argparse
import os
import statistics
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
EVALUATION_SETTINGS = dict(do_sample=True, top_k=0, top_p=1.0, temperature=1.0, max_new_tokens=48)


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


def timed(function) -> tuple[float, float]:
    """(wall-clock seconds, this process's CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def report(label: str, ratios: list[tuple[float, float]]) -> None:
    for index, clock in enumerate(("wall", "CPU")):
        values = [ratio[index] for ratio in ratios]
        print(
            f"  {label:<34} {clock:<4} min {min(values):5.2f}×  median {statistics.median(values):5.2f}×  "
            f"rounds {' '.join(f'{r:.2f}' for r in values)}"
        )


def ratio(baseline: list[tuple[float, float]], baseline_count: int, variant: tuple[float, float], count: int):
    """(wall, CPU) rate of ``variant`` over the rate of the summed ``baseline`` timings."""
    return tuple(
        (count / variant[i]) / (baseline_count / sum(part[i] for part in baseline)) for i in range(2)
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--notebook-n", type=int, default=8, help="texts per round for the notebook's loop")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    torch.manual_seed(0)
    reviews = generate_reviews(2000, seed=0)
    texts = [review.text for review in reviews]
    tokenizer = train_tokenizer(texts, vocab_size=2000)
    model = build_causal_lm(tokenizer, n_layer=4, n_embd=128, n_head=4, n_positions=128).eval()
    classifier_tokenizer = train_tokenizer(texts, vocab_size=2000)
    classifier_tokenizer.padding_side = "right"
    classifier = build_classifier(classifier_tokenizer, n_layers=2, dim=64).eval()
    reward = RewardModel(classifier, classifier_tokenizer, batch_size=args.batch_size)
    prompts = [
        " ".join(text.split()[:4]) for text in texts[: args.batch_size]
    ]  # 4-word prompts, as in the study

    def pairs(engine: str):
        samples = sample(
            model,
            tokenizer,
            [""] * args.batch_size,
            prompt_template="Good Review:{prompt}",
            batch_size=args.batch_size,
            seed=0,
            show_progress=False,
            engine=engine,
            **NOTEBOOK_SETTINGS,
        )
        return reward.score(samples.texts)

    def evaluation(engine: str):
        return sample(
            model,
            tokenizer,
            prompts,
            batch_size=args.batch_size,
            seed=0,
            show_progress=False,
            engine=engine,
            **EVALUATION_SETTINGS,
        )

    half = max(1, args.notebook_n // 2)

    def notebook_half():
        return timed(lambda: notebook_loop(model, tokenizer, classifier, classifier_tokenizer, half))

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs; batch {args.batch_size}, {args.rounds} rounds")
    print(f"notebook settings {NOTEBOOK_SETTINGS}; evaluation settings {EVALUATION_SETTINGS}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\ntorch threads {torch.get_num_threads()}, load average before {load()}")
        notebook_loop(model, tokenizer, classifier, classifier_tokenizer, 1)  # warm-up
        pairs("auto")
        auto, exact = [], []
        for _ in range(args.rounds):
            first = notebook_half()
            auto_time, exact_time = timed(lambda: pairs("auto")), timed(lambda: pairs("exact"))
            notebook = [first, notebook_half()]
            auto.append(ratio(notebook, 2 * half, auto_time, args.batch_size))
            exact.append(ratio(notebook, 2 * half, exact_time, args.batch_size))
        print("pair sampling + scoring, notebook settings, rate / the notebook loop's:")
        report("sample(engine='auto') + score", auto)
        report("sample(engine='exact') + score", exact)

        evaluation("auto")
        auto, exact = [], []
        for _ in range(args.rounds):
            first = timed(lambda: evaluation("generate"))
            auto_time, exact_time = timed(lambda: evaluation("auto")), timed(lambda: evaluation("exact"))
            generate = [first, timed(lambda: evaluation("generate"))]
            auto.append(ratio(generate, 2, auto_time, 1))
            exact.append(ratio(generate, 2, exact_time, 1))
        print("evaluation sampling (plain sampling), rate / model.generate's on the same batch:")
        report("sample(engine='auto')", auto)
        report("sample(engine='exact')", exact)
        print(f"load average after {load()}")


if __name__ == "__main__":
    main()
