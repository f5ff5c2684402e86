"""Time of the standard errors across seeds and prompts for a sweep the size of the demo's.

    OMP_NUM_THREADS=1 python benchmarks/bench_uncertainty.py [--rounds 5] [--prompts 128] [--samples 8]

Synthesises 7 configurations × 3 seeds (21 runs), each ``--prompts`` evaluation prompts × ``--samples`` samples with
every per-sample field (rewards, predictive entropy, log ratios, 20-token id lists, 20-word completions), then times
``fdpo.uncertainty.replicates_by_run`` (1,000 paired bootstrap resamples of the per-sample metrics and the
delete-one-prompt jackknife of token entropy and distinct-1/2) and the combination into standard errors of every
configuration. Reading the generations and re-tokenizing them for token entropy (what ``fdpo report`` adds) is not
included. Prints the thread count, the median and the range over the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from fdpo.uncertainty import RunSamples, combine, replicates_by_run


def synthetic_runs(num_prompts: int, samples_per_prompt: int, seed: int = 0) -> dict[str, RunSamples]:
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(2000)])
    index = np.repeat(np.arange(num_prompts), samples_per_prompt)
    n = index.size
    runs = {}
    for configuration in range(7):
        for run_seed in range(3):
            num_tokens = rng.integers(0, 40, size=n)
            runs[f"c{configuration}-s{run_seed}"] = RunSamples(
                index,
                num_prompts,
                reward_logit=rng.normal(size=n),
                reward_prob=rng.random(n),
                predictive_entropy=rng.random(n),
                num_tokens=num_tokens,
                log_ratios=rng.normal(size=n),
                token_ids=[rng.zipf(1.3, size=20) % 5000 for _ in range(n)],
                completions=[" ".join(rng.choice(words, size=20)) for _ in range(n)],
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--samples", type=int, default=8, help="Samples per prompt.")
    args = parser.parse_args()
    runs = synthetic_runs(args.prompts, args.samples)
    print(
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; 21 runs x {args.prompts} prompts x "
        f"{args.samples} samples; 1,000 bootstrap resamples"
    )
    times = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        replicates = replicates_by_run(runs, num_resamples=1000, seed=0)
        for configuration in range(7):
            members = [replicates[f"c{configuration}-s{s}"] for s in range(3)]
            for column in members[0]:
                combine([m[column].estimate for m in members], [m[column] for m in members])
        times.append(time.perf_counter() - started)
    print(f"median {statistics.median(times):.3f} s (range {min(times):.3f}-{max(times):.3f} s)")


if __name__ == "__main__":
    main()
