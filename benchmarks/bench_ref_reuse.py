"""Speed-up of a 6-run sweep when the reference log-probs are computed once and reused, against TRL's default.

    python benchmarks/bench_ref_reuse.py                 # the demo world (built on first use), 3 divergences x 2 seeds
    python benchmarks/bench_ref_reuse.py --quick         # the quick demo world
    python benchmarks/bench_ref_reuse.py --epochs 3      # more epochs: TRL's default pays the reference every epoch

Both sweeps run side by side in this process on the same pairs (sampled and scored once, copied into both sweep
directories), the same grid and the same evaluation:

* reuse:   ``reuse_reference_log_probs: true``: the reference log-probs of the pairs are computed once (TRL's own
           precompute), saved with the pairs, and every run trains without a reference model;
* without: ``reuse_reference_log_probs: false`` with TRL's default ``precompute_ref_log_probs=False``: every run
           loads the reference model and runs its forward pass on every training batch.

Prints the wall time of each whole sweep (baseline evaluation, reference precompute, 6 trainings, 6 evaluations)
and of its training alone (the reuse sweep's one reference precompute included), and the two ratios.

What to expect: reuse removes the reference forward from every step, and a forward is about a third of the policy's
forward + backward, so training alone can be at most ~1.33x faster (less with TRL's default gradient checkpointing,
which recomputes the policy's forward). Measured on 2 CPU cores with the demo world (2 epochs, 32 steps a run):
training 1.21x and 1.32x in two runs, the whole sweep 1.11x, since sampling and scoring 1,024 evaluation samples per
run cost more than the training. Reuse pays most where loading a large reference model per run is slow, or memory is short.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from fdpo.demo.world import demo_config
from fdpo.pipeline import load_prompts
from fdpo.sweep import SweepResources, prepare_pairs, run_sweep

# One pair set for every run (copied into each sweep with its checksums, so no sweep samples again).
SHARED_FILES = ("pair_samples.jsonl", "pair_scores.json", "pairs.jsonl", "stages.json")
GRID = [
    "pairs.draw=shared",
    "grid.divergences=[reverse_kl,jensen_shannon,forward_kl]",
    "grid.seeds=[0,1]",
    "grid.loss_types=[sigmoid]",
]


def _timed_sweep(config, directory: Path, shared: Path, runs: int = 6) -> tuple[float, float]:
    directory.mkdir(parents=True)
    for name in SHARED_FILES:
        shutil.copy(shared / name, directory / name)
    started = time.perf_counter()
    rows = run_sweep(config, directory, show_progress=False, write_report_files=False)
    total = time.perf_counter() - started
    training = sum(row["train_seconds"] for row in rows if row["train_seconds"] is not None)
    reference = directory / "reference_log_probs.json"
    if reference.is_file():  # the one-time precompute belongs to the training cost of the reuse sweep
        training += json.loads(reference.read_text(encoding="utf-8"))["seconds"]
    assert len(rows) == 1 + runs, f"expected the baseline and {runs} runs, got {len(rows)}"
    return total, training


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Use the quick demo world and settings.")
    parser.add_argument(
        "--epochs", type=float, default=None, help="num_train_epochs of every run (default: demo's)."
    )
    args = parser.parse_args()

    overrides = list(GRID)
    if args.epochs is not None:
        overrides.append(f"training.num_train_epochs={args.epochs}")
    reuse = demo_config(quick=args.quick, overrides=[*overrides, "reuse_reference_log_probs=true"])
    without = demo_config(quick=args.quick, overrides=[*overrides, "reuse_reference_log_probs=false"])
    runs = reuse.runs()
    print(f"{len(runs)} runs: {', '.join(run.run_id for run in runs)}")
    print(f"training: {reuse.training}")

    with tempfile.TemporaryDirectory(prefix="bench-ref-reuse-") as temporary:
        root = Path(temporary)
        shared = root / "shared"
        shared.mkdir()
        # Sample and score once (no reference log-probs here: the `without` config does not compute them).
        prepare_pairs(
            shared,
            without,
            SweepResources(without),
            load_prompts(without.prompts.texts, without.prompts.file),
            False,
        )
        # Warm-up: one tiny sweep so that imports, kernels and file caches cost both modes the same.
        warm = without.with_overrides(["grid.divergences=[reverse_kl]", "grid.seeds=[0]"])
        _timed_sweep(warm.with_overrides(["training.max_steps=1"]), root / "warm-up", shared, runs=1)

        results = {}
        for name, config in (("without", without), ("reuse", reuse)):
            results[name] = _timed_sweep(config, root / name, shared)
            print(f"{name:>8}: sweep {results[name][0]:7.1f} s, training {results[name][1]:7.1f} s")

    (total_without, train_without), (total_reuse, train_reuse) = results["without"], results["reuse"]
    print()
    print(f"| {len(runs)}-run sweep | without reuse (s) | with reuse (s) | speed-up |")
    print("|---|---:|---:|---:|")
    print(f"| whole sweep | {total_without:.1f} | {total_reuse:.1f} | {total_without / total_reuse:.2f}x |")
    print(f"| training only | {train_without:.1f} | {train_reuse:.1f} | {train_without / train_reuse:.2f}x |")


if __name__ == "__main__":
    main()
