"""``fdpo sweep``: run or resume a sweep described in YAML; the options it shares with ``fdpo demo`` and ``frontier``.

``add_run_options`` and ``run_and_print`` are the one place where a sweep is started from the command line: an
option that changes how the runs execute is added there (with its keyword to ``run_sweep``) for every command that
runs one. ``add_config_arguments`` adds the overrides, the run options and ``--dry-run`` of ``sweep`` and ``frontier``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HELP = "Run or resume a sweep described in YAML."
DESCRIPTION = (
    "Run (or resume) the whole study: sample, score, pairs, then train and evaluate every grid cell "
    "divergence x loss_type x beta x seed; writes results.csv, summary.csv, tradeoff.png and report.md.\n"
    "Rerun the same command after an interruption: finished runs are skipped.\n\n"
    "example: fdpo sweep examples/sweep_imdb.yaml --output-dir sweeps/imdb \\\n"
    "             training.learning_rate=1e-5 'grid.divergences=[reverse_kl,alpha:0.5]'"
)


def add_run_options(
    parser: argparse.ArgumentParser, *, output_required: bool, executors: bool = True
) -> None:
    """The options of running a sweep: output folder, restart, progress and (``executors``) executor."""
    group = parser.add_argument_group("running")
    group.add_argument(
        "--output-dir",
        required=output_required,
        help="Sweep directory (created; reused to resume)"
        + ("." if output_required else "; required to run."),
    )
    group.add_argument(
        "--restart",
        action="store_true",
        help="Discard the runs of an earlier sweep in --output-dir and start over.",
    )
    group.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
    if not executors:
        return
    group.add_argument(
        "--executor",
        choices=("sequential", "ray"),
        default="sequential",
        help='Run the grid cells one after another here, or one Ray task each (pip install "fdpo[ray]"; '
        "docs/sweeps.md, Scale out).",
    )
    group.add_argument(
        "--address",
        help="With --executor ray: the Ray cluster (auto: the one started with `ray start` here; ray://HOST:10001). "
        "Default: RAY_ADDRESS, else a local Ray on this machine.",
    )


def add_config_arguments(
    parser: argparse.ArgumentParser, *, overrides_help: str, dry_run_help: str, executors: bool = True
) -> None:
    """The dotted ``KEY=VALUE`` overrides of a sweep config, the run options (``--output-dir`` required) and
    ``--dry-run``: what ``fdpo sweep`` and ``fdpo frontier`` take after their config."""
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=overrides_help)
    add_run_options(parser, output_required=True, executors=executors)
    parser.add_argument("--dry-run", action="store_true", help=dry_run_help)


def run_options(args: argparse.Namespace) -> dict:
    """The keywords of ``fdpo.sweep.run_sweep`` (or, without executor options, ``run_frontier``) that
    ``add_run_options`` sets."""
    if not hasattr(args, "executor"):
        return {"show_progress": not args.no_progress, "restart": args.restart}
    if args.address and args.executor != "ray":
        from fdpo.errors import InputError

        raise InputError(
            f"--address {args.address} needs --executor ray (the sequential executor runs here)."
        )
    return {
        "show_progress": not args.no_progress,
        "restart": args.restart,
        "executor": args.executor,
        "ray_address": args.address,
    }


def run_and_print(config, args: argparse.Namespace, started: float) -> int:
    """Runs (or resumes) the sweep into ``--output-dir`` and prints the summary table and the files written."""
    from fdpo.cli.options import check_output_dir
    from fdpo.report import markdown_table, read_verdict
    from fdpo.sweep import run_sweep

    output_dir = Path(args.output_dir)
    check_output_dir("--output-dir", args.output_dir)
    run_sweep(config, output_dir, **run_options(args))
    print()
    print(markdown_table(output_dir / "summary.csv"))
    for line in read_verdict(output_dir):
        print(line)
    print()
    print(f"Results: {output_dir / 'results.csv'}")
    print(f"Summary: {output_dir / 'summary.csv'}")
    print(f"Plot:    {output_dir / 'tradeoff.png'}")
    print(f"Total time: {time.perf_counter() - started:.0f} s")
    return 0


def _refuse_machine_problems(config, args: argparse.Namespace) -> None:
    """What ``SweepConfig.check`` does not look at and a run would fail on late: the output folder inside a model
    folder and a Ray cluster that does not answer. Checked before the dry run says "valid" and before a run starts."""
    from fdpo.cli.options import check_output_not_input

    if not args.dry_run:
        models = {"sft_model": config.sft_model, "reward_model": config.reward_model}
        check_output_not_input("--output-dir", args.output_dir, models)
    if getattr(args, "executor", None) == "ray":
        from fdpo.sweep.executors import check_executor, check_ray_address

        check_executor("ray")  # Ray installed
        check_ray_address(args.address)  # an unreachable cluster fails now, not after the shared stages


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="Sweep YAML file (see examples/sweep_imdb.yaml, docs/sweeps.md).")
    add_config_arguments(
        parser,
        overrides_help="Dotted overrides of the config, values read as YAML.",
        dry_run_help="Run every check of the config (files, models, grid, training arguments), list the runs and exit.",
    )


def outputs(args: argparse.Namespace) -> list[str]:
    return [] if args.dry_run else [args.output_dir]


def run(args: argparse.Namespace) -> int:
    from fdpo.cli.failures import about
    from fdpo.sweep import SweepConfig

    started = time.perf_counter()
    with about(f"sweep config {args.config!r}"):
        config = SweepConfig.from_yaml(args.config, overrides=args.overrides)
    _refuse_machine_problems(config, args)
    if args.dry_run:
        config.check(source=args.config)  # exactly the checks run_sweep makes before it creates anything
        runs = config.runs()
        print(f"{args.config}: valid; {len(runs)} runs (+ the SFT baseline):")
        for spec in runs:
            print(f"  {spec.run_id}")
        return 0
    return run_and_print(config, args, started)
