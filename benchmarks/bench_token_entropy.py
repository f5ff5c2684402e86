"""Token entropy over 10,000 generations: fdpo's vectorised version against a per-text Python loop (the usual notebook version).

    python benchmarks/bench_token_entropy.py [--n 10000] [--repeats 5]

Prints the three timings measured side by side in one run, each the best of ``--repeats``: the tokenizer's
batch encode alone (the floor: every implementation has to tokenize), ``fdpo.metrics.token_entropy`` and the
notebook's function. Targets: identical value, fdpo ≤ 1.5× the floor.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import scipy.stats

from fdpo.demo.corpus import generate_reviews
from fdpo.demo.models import train_tokenizer
from fdpo.metrics import token_entropy


def notebook_token_entropy(generations, tokenizer):
    """The per-text loop: encode each text, count ids in a dict, normalise, scipy entropy."""
    stats = defaultdict(int)
    num_tokens = 0
    for example in generations:
        tokens = tokenizer.encode(example)
        for t in tokens:
            if t == tokenizer.pad_token_id:
                continue
            stats[t] += 1
            num_tokens += 1
    for k in stats.keys():
        stats[k] /= num_tokens
    return scipy.stats.entropy(list(stats.values()))


def best_time(function, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000, help="number of generations")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    texts = [review.text for review in generate_reviews(args.n, seed=0)]
    tokenizer = train_tokenizer(texts[:2000], vocab_size=2000)
    floor, _ = best_time(lambda: tokenizer(texts)["input_ids"], args.repeats)
    ours, value = best_time(lambda: token_entropy(texts, tokenizer), args.repeats)
    notebook, reference = best_time(lambda: notebook_token_entropy(texts, tokenizer), args.repeats)

    print(f"{args.n} generations, {sum(len(t) for t in texts) / len(texts):.0f} characters each on average")
    print(f"{'':32} {'seconds':>9} {'× floor':>8}")
    for name, seconds in (
        ("tokenizer batch encode (floor)", floor),
        ("fdpo.metrics.token_entropy", ours),
        ("notebook token_entropy", notebook),
    ):
        print(f"{name:32} {seconds:9.4f} {seconds / floor:8.2f}")
    print(f"values: fdpo {value!r}, notebook {reference!r}, identical: {value == reference}")
    print(
        f"fdpo / floor = {ours / floor:.2f} (target ≤ 1.5); speed-up over the notebook: {notebook / ours:.1f}×"
    )


if __name__ == "__main__":
    main()
