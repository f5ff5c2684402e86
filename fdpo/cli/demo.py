"""``fdpo demo``: the whole study on the embedded movie-review world (offline, CPU), or its config printed."""

from __future__ import annotations

import argparse
import time

from fdpo.cli.sweep import add_run_options, run_and_print

HELP = "The whole study on the embedded movie-review world (offline, CPU)."
DESCRIPTION = (
    "Build (first run) or load the embedded demo world (a synthetic movie-review corpus, a small "
    "GPT-2 SFT model and a DistilBERT sentiment classifier, cached under $FDPO_CACHE or ~/.cache/fdpo), then run "
    "the default sweep: reverse KL, JS, alpha 0.3/0.5/0.7 and forward KL with the sigmoid loss over several "
    "seeds. Writes results.csv, summary.csv and tradeoff.png into --output-dir and prints the table."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser, output_required=False)
    parser.add_argument(
        "--quick", action="store_true", help="A one-minute smoke version (tiny world, few runs)."
    )
    parser.add_argument(
        "--study",
        action="store_true",
        help="The full study: the demo's design with the seeds its power calculation asks for (docs/sweeps.md, "
        "'The demo, measured'); about half an hour on 2 CPU cores.",
    )
    parser.add_argument(
        "--cache-dir", help="Where the demo models are cached (default: $FDPO_CACHE or ~/.cache/fdpo)."
    )
    parser.add_argument(
        "--world-seed",
        type=int,
        metavar="N",
        help="Build the demo world from seed N (its corpus, prompts, tokenizer, SFT model and classifier; cached "
        "apart): a replicate of the whole study in another world. Default: the config's world_seed, else 0.",
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="Dotted overrides of the demo sweep config."
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="Print the demo's sweep config (YAML; with --quick, the quick one) and exit: "
        "fdpo demo --print-config > my.yaml, edit, then fdpo sweep my.yaml.",
    )


def outputs(args: argparse.Namespace) -> list[str]:
    return [args.output_dir] if args.output_dir and not args.print_config else []


def run(args: argparse.Namespace) -> int:
    from fdpo.cli.options import check_output_dir
    from fdpo.demo.world import demo_config, demo_config_text
    from fdpo.errors import InputError

    if args.quick and args.study:
        raise InputError("fdpo demo takes --quick (a smoke run) or --study (the full study), not both.")
    if args.print_config:
        print(demo_config_text(quick=args.quick, study=args.study), end="")
        return 0
    if not args.output_dir:
        raise InputError("fdpo demo needs --output-dir DIR (or --print-config to print its sweep config).")
    check_output_dir("--output-dir", args.output_dir)
    check_output_dir("--cache-dir", args.cache_dir)
    started = time.perf_counter()
    config = demo_config(
        quick=args.quick,
        study=args.study,
        cache_dir=args.cache_dir,
        overrides=args.overrides,
        show_progress=not args.no_progress,
        world_seed=args.world_seed,
    )
    return run_and_print(config, args, started)
