"""The classic IMDB study in one script: make lvwerra/gpt2-imdb write positive reviews with f-DPO, then compare
the reward and the diversity that each divergence leaves (reverse KL, JS, α ∈ {0.1, 0.3, 0.5, 0.7, 0.9}, forward KL;
hinge and sigmoid losses).

    python examples/imdb_positive.py --output-dir sweeps/imdb                  # real models (hub access; GPU advised)
    python examples/imdb_positive.py --output-dir sweeps/imdb 'grid.seeds=[0]' pairs.samples_per_prompt=2000
    python examples/imdb_positive.py --demo --output-dir demo-output          # the embedded world, offline, CPU
    python examples/imdb_positive.py --demo --quick --output-dir /tmp/smoke   # one-minute smoke run

The study itself lives in examples/sweep_imdb.yaml (prompt "Good Review:", the notebook's generation settings,
threshold pairs high=2 / low=0) and runs through the library's sweep: sample the SFT model, score with
lvwerra/distilbert-imdb, build pairs, train every divergence × loss × seed with FDPOTrainer, evaluate, plot.
Rerun the same command to resume. See docs/sweeps.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fdpo.demo.world import demo_config
from fdpo.report import markdown_table
from fdpo.sweep import SweepConfig, run_sweep

CONFIG = Path(__file__).with_name("sweep_imdb.yaml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output-dir", default="sweeps/imdb", help="Sweep directory (reused to resume).")
    parser.add_argument(
        "--demo", action="store_true", help="Use the embedded movie-review world instead of the hub."
    )
    parser.add_argument("--quick", action="store_true", help="With --demo: the one-minute smoke version.")
    parser.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
    parser.add_argument(
        "overrides", nargs="*", help="Dotted config overrides, e.g. training.learning_rate=5e-6."
    )
    args = parser.parse_args(argv)

    if args.demo:
        config = demo_config(quick=args.quick, overrides=args.overrides, show_progress=not args.no_progress)
    else:
        config = SweepConfig.from_yaml(CONFIG, overrides=args.overrides)
    run_sweep(config, args.output_dir, show_progress=not args.no_progress)

    output = Path(args.output_dir)
    print(markdown_table(output / "summary.csv"))
    print(f"Plot: {output / 'tradeoff.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
