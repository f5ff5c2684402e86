"""``fdpo generate``: sample completions of prompts from a causal LM into a samples file (JSONL)."""

from __future__ import annotations

import argparse

from fdpo.cli.options import add_prompt_options, add_sampling_options

HELP = "Sample completions of prompts from a causal LM into a JSONL file."
DESCRIPTION = "Sample completions of prompts from a causal LM (fdpo.decoding.sample) into a JSONL file."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fdpo.settings import PairSettings

    parser.add_argument("--model", required=True, help="Local directory or hub id of the causal LM.")
    add_prompt_options(parser)
    add_sampling_options(parser, PairSettings)
    parser.add_argument("--output", required=True, help="Samples file to write (JSONL, atomically).")
    parser.add_argument("--no-progress", action="store_true", help="Hide progress bars.")


def outputs(args: argparse.Namespace) -> list[str]:
    return [args.output]


def run(args: argparse.Namespace) -> int:
    from fdpo.checks import positive_int_problems
    from fdpo.cli.failures import about
    from fdpo.cli.options import (
        check_model,
        check_output_file,
        device,
        generation_settings,
        load_model,
        prompts,
        refuse,
    )
    from fdpo.pipeline import generate_samples
    from fdpo.sweep.preflight import sample_memory_problems

    given = prompts(args)
    generation = generation_settings(args.gen)
    problems = positive_int_problems("--samples-per-prompt", args.samples_per_prompt)
    problems += positive_int_problems("--batch-size", args.batch_size)
    refuse(problems)
    check_output_file("--output", args.output)
    refuse(
        sample_memory_problems(
            args.samples_per_prompt, len(given), generation.get("max_new_tokens"), "--samples-per-prompt"
        )
    )
    check_model("--model", args.model)
    model, tokenizer = load_model("--model", args.model, device(args.device))
    samples = generate_samples(
        model,
        tokenizer,
        given,
        samples_per_prompt=args.samples_per_prompt,
        batch_size=args.batch_size,
        seed=args.seed,
        prompt_template=args.template,
        generation=generation,
        show_progress=not args.no_progress,
    )
    with about(f"--output {args.output!r}"):
        samples.save(args.output)
    print(f"Wrote {len(samples)} samples to {args.output}")
    return 0
