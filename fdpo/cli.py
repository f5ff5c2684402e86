"""The ``fdpo`` command: each stage of the study as a subcommand that reads and writes files, plus sweeps and the demo.

    fdpo generate  --model M --prompt "Good Review:" --samples-per-prompt 100 --output samples.jsonl
    fdpo pairs     --samples samples.jsonl --reward-model R --output pairs.jsonl --high 2 --low 0
    fdpo train     --model M --pairs pairs.jsonl --divergence alpha:0.3 --beta 0.01 --output-dir policy/
    fdpo evaluate  --model policy/ --reference M --reward-model R --prompt "Good Review:" --output metrics.json
    fdpo sweep     examples/sweep_imdb.yaml --output-dir sweeps/imdb training.learning_rate=1e-5
    fdpo report    sweeps/imdb --diversity token_entropy
    fdpo demo      --output-dir demo-output [--quick]

Heavy libraries (torch, transformers, TRL) are imported inside the subcommands, so ``--help`` is instant and a bad
sweep config is reported before any model is loaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# The names of the measures only: fdpo.evaluation imports nothing heavy at module level.
from fdpo.evaluation import DEFAULT_METRICS, DIVERSITY_MEASURES, METRIC_NAMES, REWARD_MEASURES

__all__ = ["build_parser", "main"]

_EPILOG = "Run 'fdpo <command> --help' for the options of a command. Docs: docs/sweeps.md."


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and shows the defaults that say something (not None/False/[])."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        says_nothing = default is None or default is False or default is argparse.SUPPRESS or default == []
        if "%(default)" in text or says_nothing or action.nargs == 0:
            return text
        return text + " (default: %(default)s)"


def _add_prompt_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("prompts")
    group.add_argument(
        "--prompt",
        action="append",
        default=[],
        metavar="TEXT",
        help="A prompt to continue; repeat for several.",
    )
    group.add_argument("--prompts-file", metavar="FILE", help="Text file with one prompt per line.")
    group.add_argument(
        "--template", default="{prompt}", help="Template applied to each prompt; must contain {prompt}."
    )


def _add_sampling_options(parser: argparse.ArgumentParser, samples_default: int) -> None:
    group = parser.add_argument_group("sampling")
    group.add_argument(
        "--samples-per-prompt", type=int, default=samples_default, help="Samples drawn per prompt."
    )
    group.add_argument(
        "--batch-size", type=int, default=32, help="Sequences per generate() call / forward pass."
    )
    group.add_argument("--seed", type=int, default=0, help="Sampling seed.")
    group.add_argument(
        "--gen",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="A generate() setting, value read as YAML (e.g. --gen top_k=50 --gen max_new_tokens=40); repeatable.",
    )
    group.add_argument("--device", help="Device for the models (default: cuda when available, else cpu).")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fdpo`` command (exposed for the docs and the tests)."""
    parser = argparse.ArgumentParser(
        prog="fdpo",
        description="f-DPO: preference optimization under f-divergences, and the reward/diversity study.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="store_true", help="Print the fdpo version and exit.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    generate = commands.add_parser(
        "generate",
        help="Sample completions of prompts from a causal LM into a JSONL file.",
        description="Sample completions of prompts from a causal LM (fdpo.generation.sample) into a JSONL file.",
        formatter_class=_Formatter,
    )
    generate.add_argument("--model", required=True, help="Local directory or hub id of the causal LM.")
    _add_prompt_options(generate)
    _add_sampling_options(generate, samples_default=4)
    generate.add_argument("--output", required=True, help="Samples file to write (JSONL, atomically).")
    generate.add_argument("--no-progress", action="store_true", help="Hide progress bars.")

    pairs = commands.add_parser(
        "pairs",
        help="Score samples with a reward model and build preference pairs.",
        description="Score the samples of 'fdpo generate' with a reward classifier and build preference pairs "
        "(fdpo.data.build_pairs). Writes a JSONL file with prompt, chosen, rejected, chosen_reward, rejected_reward.",
        formatter_class=_Formatter,
    )
    pairs.add_argument("--samples", required=True, help="Samples file written by 'fdpo generate'.")
    pairs.add_argument(
        "--reward-model", required=True, help="Local directory or hub id of the sequence classifier."
    )
    pairs.add_argument(
        "--positive-index", type=int, default=1, help="Index of the positive class in its logits."
    )
    pairs.add_argument("--reward-batch-size", type=int, default=64, help="Texts scored per forward pass.")
    pairs.add_argument(
        "--strategy",
        default="threshold",
        help="How chosen and rejected texts are paired: threshold, best_vs_worst or margin (see docs/sweeps.md).",
    )
    pairs.add_argument("--high", type=float, default=2.0, help="threshold: chosen texts score above this.")
    pairs.add_argument(
        "--low", type=float, default=0.0, help="threshold: rejected texts score between low and high."
    )
    pairs.add_argument("--margin", type=float, default=1.0, help="margin: minimum reward gap of a pair.")
    pairs.add_argument("--num-pairs", type=int, help="Number of pairs (default: what the strategy gives).")
    pairs.add_argument("--seed", type=int, default=0, help="Seed of the pairing.")
    pairs.add_argument("--device", help="Device for the reward model (default: cuda when available).")
    pairs.add_argument(
        "--scores-output", help="Also write the reward (logit) of every sample to this JSON file."
    )
    pairs.add_argument("--output", required=True, help="Pairs file to write (JSONL, atomically).")

    train = commands.add_parser(
        "train",
        help="Train one f-DPO policy on a pairs file.",
        description="Train one policy with FDPOTrainer on a pairs file and save it (save_pretrained) with its "
        "tokenizer and train_log.json. A pairs file with ref_chosen_logps/ref_rejected_logps columns (such as a "
        "sweep's pairs_with_ref.jsonl) is used without any reference forward pass.",
        formatter_class=_Formatter,
    )
    train.add_argument("--model", required=True, help="The SFT model to start from (and the reference).")
    train.add_argument("--pairs", required=True, help="Pairs file written by 'fdpo pairs' (JSONL).")
    train.add_argument("--divergence", default="reverse_kl", help="Divergence name or spec, e.g. alpha:0.3.")
    train.add_argument(
        "--loss-type",
        default="sigmoid",
        help="Outer loss of the f-DPO margin: sigmoid (DPO), hinge (SLiC) or ipo.",
    )
    train.add_argument(
        "--beta", type=float, default=0.1, help="β, the strength of the divergence constraint."
    )
    train.add_argument("--seed", type=int, default=0, help="Training seed.")
    train.add_argument(
        "--set",
        dest="training",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="An FDPOConfig (TRL DPOConfig) argument, value read as YAML (e.g. --set learning_rate=1e-5); "
        "repeatable.",
    )
    train.add_argument("--output-dir", required=True, help="Directory for the trained model.")

    evaluate = commands.add_parser(
        "evaluate",
        help="Sample from a model and measure reward and diversity.",
        description="Sample from a model and write its metrics (reward logit/probability, token and predictive "
        "entropy, distinct-1/2, KL to the reference) to a JSON file.",
        formatter_class=_Formatter,
    )
    evaluate.add_argument("--model", required=True, help="The model to evaluate.")
    evaluate.add_argument(
        "--reference", help="Reference model for kl_to_ref (default: none, KL is not computed)."
    )
    evaluate.add_argument(
        "--reward-model", required=True, help="Local directory or hub id of the reward classifier."
    )
    evaluate.add_argument(
        "--positive-index", type=int, default=1, help="Index of the positive class in its logits."
    )
    evaluate.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"Metrics among {', '.join(METRIC_NAMES)} (default: {', '.join(DEFAULT_METRICS)}; kl_to_ref only "
        "with --reference).",
    )
    _add_prompt_options(evaluate)
    _add_sampling_options(evaluate, samples_default=1)
    evaluate.add_argument("--output", required=True, help="Metrics file to write (JSON).")
    evaluate.add_argument(
        "--generations-output", help="Also write the generations with their rewards (JSONL)."
    )
    evaluate.add_argument("--no-progress", action="store_true", help="Hide progress bars.")

    sweep = commands.add_parser(
        "sweep",
        help="Run or resume a sweep described in YAML.",
        description="Run (or resume) the whole study: sample, score, pairs, then train and evaluate every grid cell "
        "divergence x loss_type x beta x seed; writes results.csv, summary.csv, tradeoff.png and report.md.\n"
        "Rerun the same command after an interruption: finished runs are skipped.\n\n"
        "example: fdpo sweep examples/sweep_imdb.yaml --output-dir sweeps/imdb \\\n"
        "             training.learning_rate=1e-5 'grid.divergences=[reverse_kl,alpha:0.5]'",
        formatter_class=_Formatter,
    )
    sweep.add_argument("config", help="Sweep YAML file (see examples/sweep_imdb.yaml, docs/sweeps.md).")
    sweep.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="Dotted overrides of the config, values read as YAML.",
    )
    sweep.add_argument("--output-dir", required=True, help="Sweep directory (created; reused to resume).")
    sweep.add_argument("--dry-run", action="store_true", help="Validate the config, list the runs and exit.")
    sweep.add_argument(
        "--restart",
        action="store_true",
        help="Discard the runs of an earlier sweep in --output-dir and start over.",
    )
    sweep.add_argument("--no-progress", action="store_true", help="Hide progress bars.")

    report = commands.add_parser(
        "report",
        help="Write tradeoff.png and report.md for a sweep directory.",
        description="Write the reward-vs-diversity plot (tradeoff.png) and a markdown table (report.md) from a "
        "sweep directory's summary.csv (or results.csv), and print the table.",
        formatter_class=_Formatter,
    )
    report.add_argument("sweep_dir", help="A directory written by 'fdpo sweep' or 'fdpo demo'.")
    report.add_argument(
        "--diversity",
        choices=DIVERSITY_MEASURES,
        help="Diversity measure on the y axis (default: the sweep's report.diversity, else predictive_entropy).",
    )
    report.add_argument(
        "--reward",
        choices=REWARD_MEASURES,
        help="Reward on the x axis (default: the sweep's report.reward, else reward_logit).",
    )
    report.add_argument("--title", help="Plot and report title (default: the sweep's name).")
    report.add_argument(
        "--html",
        action="store_true",
        help='Also write tradeoff.html, the interactive plot (needs plotly: pip install "fdpo[html]").',
    )

    demo = commands.add_parser(
        "demo",
        help="The whole study on the embedded movie-review world (offline, CPU).",
        description="Build (first run) or load the embedded demo world (a synthetic movie-review corpus, a small "
        "GPT-2 SFT model and a DistilBERT sentiment classifier, cached under $FDPO_CACHE or ~/.cache/fdpo), then run "
        "the default sweep: reverse KL, JS, alpha 0.3/0.5/0.7 and forward KL with the sigmoid loss over several "
        "seeds. Writes results.csv, summary.csv and tradeoff.png into --output-dir and prints the table.",
        formatter_class=_Formatter,
    )
    demo.add_argument("--output-dir", help="Directory for the results (reused to resume); required to run.")
    demo.add_argument(
        "--quick", action="store_true", help="A one-minute smoke version (tiny world, few runs)."
    )
    demo.add_argument(
        "--cache-dir", help="Where the demo models are cached (default: $FDPO_CACHE or ~/.cache/fdpo)."
    )
    demo.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="Dotted overrides of the demo sweep config."
    )
    demo.add_argument("--restart", action="store_true", help="Discard earlier results in --output-dir.")
    demo.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
    demo.add_argument(
        "--print-config",
        action="store_true",
        help="Print the demo's sweep config (YAML; with --quick, the quick one) and exit: "
        "fdpo demo --print-config > my.yaml, edit, then fdpo sweep my.yaml.",
    )
    return parser


# ----------------------------------------------------------------------------------------------------------------
# Subcommands


def _generation_settings(items: Sequence[str]) -> dict:
    from fdpo.sweep.yamlio import apply_overrides

    return apply_overrides({}, items)


def _prompts(args) -> list[str]:
    from fdpo.stages import load_prompts
    from fdpo.sweep.errors import SweepConfigError

    if args.prompts_file and not Path(args.prompts_file).is_file():
        raise SweepConfigError(f"--prompts-file {args.prompts_file!r} does not exist.")
    prompts = load_prompts(args.prompt, args.prompts_file)
    if not prompts:
        raise SweepConfigError("No prompts: give --prompt TEXT (repeatable) or --prompts-file FILE.")
    if "{prompt}" not in args.template:
        raise SweepConfigError(f"--template {args.template!r} must contain {{prompt}}.")
    return prompts


def _check_model(name: str, value: str) -> None:
    from fdpo.sweep.errors import SweepConfigError
    from fdpo.sweep.settings import model_reference_problems

    problems = model_reference_problems(name, value)
    if problems:
        raise SweepConfigError(problems[0])


def _device(args) -> str:
    if args.device:
        return args.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _cmd_generate(args) -> int:
    from fdpo.stages import generate_samples, load_causal_lm
    from fdpo.sweep.errors import SweepConfigError
    from fdpo.sweep.settings import generation_problems

    prompts = _prompts(args)
    generation = _generation_settings(args.gen)
    problems = generation_problems("--gen", generation)
    if problems:
        raise SweepConfigError(problems[0])
    _check_model("--model", args.model)
    model, tokenizer = load_causal_lm(args.model, _device(args))
    samples = generate_samples(
        model,
        tokenizer,
        prompts,
        samples_per_prompt=args.samples_per_prompt,
        batch_size=args.batch_size,
        seed=args.seed,
        prompt_template=args.template,
        generation=generation,
        show_progress=not args.no_progress,
    )
    samples.save(args.output)
    print(f"Wrote {len(samples)} samples to {args.output}")
    return 0


def _cmd_pairs(args) -> int:
    from fdpo._io import write_json, write_jsonl
    from fdpo.generation import Samples
    from fdpo.stages import load_reward_model, make_pairs, score_samples
    from fdpo.sweep.errors import SweepConfigError
    from fdpo.sweep.settings import PairSettings, RewardSettings

    settings = PairSettings(
        **{name: getattr(args, name) for name in ("strategy", "high", "low", "margin", "num_pairs", "seed")}
    )
    problems = settings.problems()
    if problems:
        raise SweepConfigError("; ".join(problem.replace("pairs.", "--") for problem in problems))
    if not Path(args.samples).is_file():
        raise SweepConfigError(f"--samples {args.samples!r} does not exist; write it with 'fdpo generate'.")
    _check_model("--reward-model", args.reward_model)
    samples = Samples.load(args.samples)
    reward = load_reward_model(
        args.reward_model,
        RewardSettings(positive_index=args.positive_index, batch_size=args.reward_batch_size),
        _device(args),
    )
    scores = score_samples(reward, samples.texts, kind="logit")
    if args.scores_output:
        write_json(args.scores_output, scores.tolist())
    pairs = make_pairs(samples, scores, settings)
    write_jsonl(args.output, pairs.to_list())
    print(
        f"Scored {len(samples)} samples (reward mean {scores.mean():.3f}, max {scores.max():.3f}); "
        f"wrote {len(pairs)} pairs to {args.output}"
    )
    return 0


def _cmd_train(args) -> int:
    from datasets import Dataset

    from fdpo._io import read_jsonl, write_json
    from fdpo.data import REFERENCE_COLUMNS
    from fdpo.stages import load_causal_lm, train_policy
    from fdpo.sweep import GridSettings, SweepConfig, SweepConfigError, apply_overrides

    if not Path(args.pairs).is_file():
        raise SweepConfigError(f"--pairs {args.pairs!r} does not exist; write it with 'fdpo pairs'.")
    _check_model("--model", args.model)
    config = SweepConfig(
        sft_model=args.model,
        training=apply_overrides({}, args.training),
        grid=GridSettings(
            divergences=[args.divergence], loss_types=[args.loss_type], betas=[args.beta], seeds=[args.seed]
        ),
    )
    problems = config.grid.problems()
    problems = problems or config.training_problems()
    if problems:
        raise SweepConfigError("; ".join(problems))
    (run,) = config.runs()
    records = read_jsonl(args.pairs)
    if not records:
        raise SweepConfigError(f"--pairs {args.pairs!r} holds no pairs.")
    pairs = Dataset.from_list(records)
    reuse = set(REFERENCE_COLUMNS) <= set(pairs.column_names)
    model, tokenizer = load_causal_lm(args.model)
    output_dir = Path(args.output_dir)
    policy, seconds, history = train_policy(
        model, tokenizer, pairs, config.fdpo_config(run, output_dir / "trainer"), reuse_reference=reuse
    )
    policy.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    write_json(
        output_dir / "train_log.json",
        {"run": run.to_dict(), "train_seconds": seconds, "log_history": history},
    )
    print(f"Trained {run.run_id} on {len(pairs)} pairs in {seconds:.1f} s; saved to {output_dir}")
    return 0


def _cmd_evaluate(args) -> int:
    from fdpo._io import write_json, write_jsonl
    from fdpo.evaluation import evaluate_policy
    from fdpo.stages import load_causal_lm, load_reward_model
    from fdpo.sweep.errors import SweepConfigError
    from fdpo.sweep.settings import EvaluationSettings, RewardSettings, generation_problems

    prompts = _prompts(args)
    generation = _generation_settings(args.gen)
    metrics = args.metrics or [m for m in DEFAULT_METRICS if m != "kl_to_ref" or args.reference]
    settings = EvaluationSettings(
        samples_per_prompt=args.samples_per_prompt, batch_size=args.batch_size, metrics=list(metrics)
    )
    problems = settings.problems() + generation_problems("--gen", generation)
    if "kl_to_ref" in metrics and not args.reference:
        problems.append("kl_to_ref needs --reference (the model the policy was trained from).")
    if problems:
        raise SweepConfigError("; ".join(problems))
    _check_model("--model", args.model)
    _check_model("--reward-model", args.reward_model)
    if args.reference:
        _check_model("--reference", args.reference)
    device = _device(args)
    model, tokenizer = load_causal_lm(args.model, device)
    reference = load_causal_lm(args.reference, device)[0] if args.reference else None
    reward = load_reward_model(args.reward_model, RewardSettings(positive_index=args.positive_index), device)
    result, generations = evaluate_policy(
        model,
        tokenizer,
        reward,
        prompts,
        reference=reference,
        settings=settings,
        generation=generation,
        prompt_template=args.template,
        seed=args.seed,
        show_progress=not args.no_progress,
    )
    write_json(args.output, result)
    if args.generations_output:
        write_jsonl(args.generations_output, generations)
    for key, value in result.items():
        if value is not None:
            print(f"{key:>20}: {value:.4f}" if isinstance(value, float) else f"{key:>20}: {value}")
    return 0


def _print_results(output_dir: Path, started: float) -> None:
    from fdpo.report import markdown_table, read_verdict

    print()
    print(markdown_table(output_dir / "summary.csv"))
    for line in read_verdict(output_dir):
        print(line)
    print()
    print(f"Results: {output_dir / 'results.csv'}")
    print(f"Summary: {output_dir / 'summary.csv'}")
    print(f"Plot:    {output_dir / 'tradeoff.png'}")
    print(f"Total time: {time.perf_counter() - started:.0f} s")


def _cmd_sweep(args) -> int:
    from fdpo.sweep import SweepConfig, run_sweep

    started = time.perf_counter()
    config = SweepConfig.from_yaml(args.config, overrides=args.overrides)
    if args.dry_run:
        runs = config.runs()
        print(f"{args.config}: valid; {len(runs)} runs (+ the SFT baseline):")
        for run in runs:
            print(f"  {run.run_id}")
        return 0
    output_dir = Path(args.output_dir)
    run_sweep(config, output_dir, show_progress=not args.no_progress, restart=args.restart)
    _print_results(output_dir, started)
    return 0


def _cmd_report(args) -> int:
    from fdpo.report import markdown_table, write_report

    if args.html and importlib.util.find_spec("plotly") is None:
        from fdpo.sweep.errors import SweepConfigError

        raise SweepConfigError('--html needs plotly: pip install "fdpo[html]" (or leave out --html).')
    # Unset options take the sweep's own settings (sweep.json), so that a redraw matches what the sweep drew.
    config: dict = {}
    sweep_json = Path(args.sweep_dir) / "sweep.json"
    if sweep_json.is_file():
        from fdpo._io import read_json

        config = read_json(sweep_json).get("config", {})
    settings = config.get("report", {})
    paths = write_report(
        args.sweep_dir,
        diversity=args.diversity or settings.get("diversity", "predictive_entropy"),
        reward=args.reward or settings.get("reward", "reward_logit"),
        title=args.title or config.get("name"),
        html=args.html,
    )
    print(markdown_table(paths["summary"]))
    print("\n".join(paths["verdict"]) + "\n")
    print(f"Plot:   {paths['plot']}")
    if "html" in paths:
        print(f"HTML:   {paths['html']}")
    print(f"Report: {paths['markdown']}")
    return 0


def _cmd_demo(args) -> int:
    from fdpo.demo.world import demo_config, demo_config_text
    from fdpo.sweep import run_sweep

    if args.print_config:
        print(demo_config_text(quick=args.quick), end="")
        return 0
    if not args.output_dir:
        from fdpo.sweep.errors import SweepConfigError

        raise SweepConfigError(
            "fdpo demo needs --output-dir DIR (or --print-config to print its sweep config)."
        )
    started = time.perf_counter()
    config = demo_config(
        quick=args.quick,
        cache_dir=args.cache_dir,
        overrides=args.overrides,
        show_progress=not args.no_progress,
    )
    output_dir = Path(args.output_dir)
    run_sweep(config, output_dir, show_progress=not args.no_progress, restart=args.restart)
    _print_results(output_dir, started)
    return 0


_COMMANDS = {
    "generate": _cmd_generate,
    "pairs": _cmd_pairs,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "sweep": _cmd_sweep,
    "report": _cmd_report,
    "demo": _cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fdpo`` console script; returns the exit status (2 for a bad config or input)."""
    parser = build_parser()
    # Overrides may come after the options too (`fdpo sweep c.yaml --output-dir d a=1`), which argparse's
    # positional nargs="*" does not take once an option has intervened: collect the leftovers here.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and all("=" in item and not item.startswith("-") for item in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.version:
        from fdpo import __version__

        print(f"fdpo {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    from fdpo.sweep.errors import SweepConfigError, SweepError

    try:
        return _COMMANDS[args.command](args)
    except (SweepConfigError, SweepError, FileNotFoundError) as error:
        print(f"fdpo {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
