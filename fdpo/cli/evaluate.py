"""``fdpo evaluate``: sample from a model and measure reward and diversity (a metrics JSON file)."""

from __future__ import annotations

import argparse

from fdpo.cli.options import add_fields, add_prompt_options, add_sampling_options

HELP = "Sample from a model and measure reward and diversity."
DESCRIPTION = (
    "Sample from a model and write its metrics (reward logit/probability, token and predictive "
    "entropy, distinct-1/2, KL to the reference) to a JSON file."
)

# EvaluationSettings fields the command sets → their options (for naming problems)
_OPTIONS = {
    "samples_per_prompt": "--samples-per-prompt",
    "batch_size": "--batch-size",
    "metrics": "--metrics",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fdpo.settings import DEFAULT_METRICS, EvaluationSettings, RewardSettings

    parser.add_argument("--model", required=True, help="The model to evaluate.")
    parser.add_argument(
        "--reference", help="Reference model for kl_to_ref (default: none, KL is not computed)."
    )
    parser.add_argument(
        "--reward-model", required=True, help="Local directory or hub id of the reward classifier."
    )
    add_fields(parser, RewardSettings, {"positive_index": "--positive-index"})
    add_fields(
        parser,
        EvaluationSettings,
        {"metrics": "--metrics"},
        defaults={"metrics": None},
        helps={
            "metrics": f"Metrics to compute (default: {', '.join(DEFAULT_METRICS)}; kl_to_ref only with --reference)."
        },
    )
    add_prompt_options(parser)
    add_sampling_options(parser, EvaluationSettings)
    parser.add_argument("--output", required=True, help="Metrics file to write (JSON).")
    parser.add_argument("--generations-output", help="Also write the generations with their rewards (JSONL).")
    parser.add_argument("--no-progress", action="store_true", help="Hide progress bars.")


def outputs(args: argparse.Namespace) -> list[str]:
    return [args.output, *([args.generations_output] if args.generations_output else [])]


def run(args: argparse.Namespace) -> int:
    from fdpo._io import write_json, write_jsonl
    from fdpo.checks import check_same_vocabulary
    from fdpo.cli.failures import about
    from fdpo.cli.options import (
        check_model,
        check_output_file,
        device,
        generation_settings,
        load_model,
        load_reward,
        option_problems,
        prompts,
        refuse,
    )
    from fdpo.pipeline import evaluate_policy
    from fdpo.settings import DEFAULT_METRICS, EvaluationSettings, RewardSettings
    from fdpo.sweep.preflight import classifier_label_problems, sample_memory_problems

    given = prompts(args)
    generation = generation_settings(args.gen)
    metrics = args.metrics or [m for m in DEFAULT_METRICS if m != "kl_to_ref" or args.reference]
    settings = EvaluationSettings(
        samples_per_prompt=args.samples_per_prompt, batch_size=args.batch_size, metrics=list(metrics)
    )
    problems = option_problems(settings.problems(), "evaluation", _OPTIONS)
    if "kl_to_ref" in metrics and not args.reference:
        problems.append("kl_to_ref needs --reference (the model the policy was trained from).")
    refuse(problems)
    check_output_file("--output", args.output)
    check_output_file("--generations-output", args.generations_output)
    check_model("--model", args.model)
    check_model("--reward-model", args.reward_model)
    if args.reference:
        check_model("--reference", args.reference)
    refuse(
        classifier_label_problems(
            "--reward-model", args.reward_model, args.positive_index, "--positive-index"
        )
    )
    refuse(
        sample_memory_problems(
            args.samples_per_prompt, len(given), generation.get("max_new_tokens"), "--samples-per-prompt"
        )
    )
    on = device(args.device)
    model, tokenizer = load_model("--model", args.model, on)
    reference = None
    if args.reference:
        reference, reference_tokenizer = load_model("--reference", args.reference, on)
        check_same_vocabulary(
            f"--model {args.model!r}", tokenizer, f"--reference {args.reference!r}", reference_tokenizer
        )
    reward = load_reward(
        "--reward-model", args.reward_model, RewardSettings(positive_index=args.positive_index), on
    )
    result, generations = evaluate_policy(
        model,
        tokenizer,
        reward,
        given,
        reference=reference,
        settings=settings,
        generation=generation,
        prompt_template=args.template,
        seed=args.seed,
        show_progress=not args.no_progress,
    )
    with about(f"--output {args.output!r}"):
        write_json(args.output, result)
    if args.generations_output:
        with about(f"--generations-output {args.generations_output!r}"):
            write_jsonl(args.generations_output, generations)
    for key, value in result.items():
        if value is not None:
            print(f"{key:>20}: {value:.4f}" if isinstance(value, float) else f"{key:>20}: {value}")
    return 0
