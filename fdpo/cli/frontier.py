"""``fdpo frontier``: the levers beyond the divergence on one reward/diversity front, against standard DPO."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from fdpo.cli.sweep import add_config_arguments, outputs  # noqa: F401 — outputs: the same folder as sweep's

HELP = "Which levers raise reward and diversity together: their front against standard DPO."
DESCRIPTION = (
    "Train the policies the levers need once (the sweep's divergences, standard DPO = reverse KL "
    "beta 0.1, DivPO pairs), evaluate them and the evaluation-only levers (sampling temperature, weight "
    "interpolation with the SFT model, decoding-time realignment) on every seed, and write frontier.csv, frontier.png and frontier.md: "
    "the Pareto front and the configurations that beat standard DPO on reward and on two of three diversity "
    "measures. The demo world by default. See docs/frontier.md.\n\n"
    "example: fdpo frontier --output-dir frontier-output 'frontier.temperatures=[0.8,1.2]'"
)


#: What ``fdpo frontier`` changes in the demo sweep: the two ends of the divergence family (the others lie between,
#: docs/sweeps.md) and 4 samples per held-out opening (512 per evaluation), so that its 9 trainings and 30
#: evaluations stay within minutes on a laptop CPU. Overrides (grid.divergences=[...]) put the others back.
DEMO_FRONTIER: dict[str, Any] = {
    "name": "Demo world: the levers beyond the divergence",
    "grid": {"divergences": ["reverse_kl", "forward_kl"]},
    "evaluation": {"samples_per_prompt": 4},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="Sweep YAML, optionally with a frontier: section (default: the demo world's sweep)."
    )
    parser.add_argument("--quick", action="store_true", help="With the demo world: its quick version.")
    parser.add_argument("--cache-dir", help="Where the demo models are cached (default: $FDPO_CACHE).")
    add_config_arguments(
        parser,
        overrides_help="Dotted overrides of the sweep config; frontier.* keys set the levers (values read as YAML).",
        dry_run_help="Validate, list the configurations and exit.",
        executors=False,  # the frontier's evaluations run here, one after another
    )


def run(args: argparse.Namespace) -> int:
    from fdpo.cli.options import check_output_dir
    from fdpo.cli.sweep import run_options
    from fdpo.errors import InputError
    from fdpo.frontier import frontier_config, frontier_markdown, plan_frontier, run_frontier

    started = time.perf_counter()
    if args.config is not None and args.quick:
        raise InputError(
            f"--quick picks the quick version of the demo world, which --config {args.config!r} replaces: the two "
            "cannot be combined. Drop --quick to run the config as written (make it smaller with overrides such as "
            "grid.seeds=[0] evaluation.samples_per_prompt=2), or drop --config for the quick demo."
        )
    if args.config is not None and args.cache_dir is not None:
        raise InputError(
            f"--cache-dir is where the demo world's models are cached, and --config {args.config!r} names its own "
            "models: drop --cache-dir, or set world_cache_dir in the config if it uses a world."
        )
    if args.config is not None:
        config, settings = frontier_config(args.config, args.overrides)
    else:
        data = demo_frontier_dict(quick=args.quick, cache_dir=args.cache_dir)
        config, settings = frontier_config(
            data, args.overrides, source="fdpo frontier (demo world)", check_models=False
        )
    if args.dry_run:
        configurations = plan_frontier(config, settings).configurations
        print(f"valid; {len(configurations)} configurations x {len(config.grid.seeds)} seeds:")
        for configuration in configurations:
            print(f"  {configuration.lever:>13}  {configuration.setting}")
        return 0
    check_output_dir("--output-dir", args.output_dir)
    output_dir = Path(args.output_dir)
    table = run_frontier(config, output_dir, settings, **run_options(args))
    print()
    print(frontier_markdown(table))
    print(f"Table: {output_dir / 'frontier.csv'}")
    print(f"Plot:  {output_dir / 'frontier.png'}")
    if (output_dir / "frontier_matched.csv").is_file():  # the levers against standard DPO's curve
        print(f"Matched: {output_dir / 'frontier_matched.csv'} (its section in {output_dir / 'frontier.md'})")
    print(f"Total time: {time.perf_counter() - started:.0f} s")
    return 0


def demo_frontier_dict(*, quick: bool = False, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """The sweep config of ``fdpo frontier`` without ``--config``: the demo world's sweep with ``DEMO_FRONTIER`` on
    top (``quick``: the quick demo, with the frontier's grid; ``cache_dir``: where the world is cached)."""
    from fdpo.demo.world import demo_config_dict
    from fdpo.sweep import deep_merge

    overlay = DEMO_FRONTIER if not quick else {"grid": DEMO_FRONTIER["grid"]}
    data = deep_merge(demo_config_dict(quick=quick), overlay)
    if cache_dir is not None:
        data["world_cache_dir"] = str(cache_dir)
    return data
