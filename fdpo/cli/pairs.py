"""``fdpo pairs``: score a samples file with a reward classifier and build preference pairs (JSONL)."""

from __future__ import annotations

import argparse

from fdpo.cli.options import add_fields

HELP = "Score samples with a reward model and build preference pairs."
DESCRIPTION = (
    "Score the samples of 'fdpo generate' with a reward classifier and build preference pairs "
    "(fdpo.pairs.build_pairs). Writes a JSONL file with prompt, chosen, rejected, chosen_reward, rejected_reward."
)

# PairSettings / RewardSettings field → option
_PAIR_OPTIONS = {
    "strategy": "--strategy",
    "high": "--high",
    "low": "--low",
    "margin": "--margin",
    "num_pairs": "--num-pairs",
    "seed": "--seed",
    "diversity": "--diversity",
    "quantile": "--quantile",
    "ngram": "--ngram",
}
_REWARD_OPTIONS = {"positive_index": "--positive-index", "batch_size": "--reward-batch-size"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fdpo.settings import PairSettings, RewardSettings

    parser.add_argument("--samples", required=True, help="Samples file written by 'fdpo generate'.")
    parser.add_argument(
        "--reward-model", required=True, help="Local directory or hub id of the sequence classifier."
    )
    add_fields(parser, RewardSettings, _REWARD_OPTIONS)
    helps = {
        "strategy": "How chosen and rejected texts are paired (see docs/sweeps.md).",
        "seed": "Seed of the pairing.",
    }
    add_fields(parser, PairSettings, _PAIR_OPTIONS, helps=helps)
    parser.add_argument(
        "--model", help="divpo with --diversity logprob: the SFT model that drew the samples (scores them)."
    )
    parser.add_argument("--device", help="Device for the models (default: cuda when available).")
    parser.add_argument(
        "--scores-output", help="Also write the reward (logit) of every sample to this JSON file."
    )
    parser.add_argument("--output", required=True, help="Pairs file to write (JSONL, atomically).")


def outputs(args: argparse.Namespace) -> list[str]:
    return [args.output, *([args.scores_output] if args.scores_output else [])]


def run(args: argparse.Namespace) -> int:
    from fdpo._io import write_json, write_jsonl
    from fdpo.cli.failures import about
    from fdpo.cli.options import (
        check_model,
        check_output_file,
        device,
        load_model,
        load_reward,
        option_problems,
        refuse,
        settings_from,
    )
    from fdpo.decoding import RECORD_KEYS, Samples
    from fdpo.errors import InputError
    from fdpo.pipeline import make_pairs, score_samples
    from fdpo.settings import PairSettings, RewardSettings
    from fdpo.sweep.preflight import classifier_label_problems

    settings = settings_from(PairSettings, args, _PAIR_OPTIONS)
    reward_settings = settings_from(RewardSettings, args, _REWARD_OPTIONS)
    problems = option_problems(settings.problems(), "pairs", _PAIR_OPTIONS)
    problems += option_problems(reward_settings.problems(), "reward", _REWARD_OPTIONS)
    refuse(problems)
    check_output_file("--output", args.output)
    check_output_file("--scores-output", args.scores_output)
    with about(f"--samples {args.samples!r}", also=(ValueError, KeyError, TypeError)):
        samples = Samples.load(args.samples)
    if not len(samples):
        raise InputError(f"--samples {args.samples!r} holds no samples; write it with 'fdpo generate'.")
    for name in ("queries", "completions", "texts"):
        bad = next((i for i, value in enumerate(getattr(samples, name)) if not isinstance(value, str)), None)
        if bad is not None:
            value = getattr(samples, name)[bad]
            raise InputError(
                f"--samples {args.samples!r}, record {bad + 1}: {RECORD_KEYS[name]!r} is {value!r:.60}, where text "
                "is expected. "
                "Regenerate the file with 'fdpo generate', or fix that record."
            )
    check_model("--reward-model", args.reward_model)
    refuse(
        classifier_label_problems(
            "--reward-model", args.reward_model, args.positive_index, "--positive-index"
        )
    )
    needs_model = settings.strategy == "divpo" and settings.diversity == "logprob"
    if needs_model and not args.model:
        raise InputError(
            "--strategy divpo with --diversity logprob ranks the samples by their mean token log-prob under the SFT "
            "model: give it as --model, or use --diversity ngram."
        )
    if needs_model:
        check_model("--model", args.model)
    reward = load_reward("--reward-model", args.reward_model, reward_settings, device(args.device))
    scores = score_samples(reward, samples.texts, kind="logit")
    # No pair passing the strategy's test is a matter of its settings (thresholds, margin), said by build_pairs.
    model = tokenizer = None
    if needs_model:
        model, tokenizer = load_model("--model", args.model, device(args.device))
    with about(f"--strategy {settings.strategy}", also=(ValueError,)):
        pairs = make_pairs(samples, scores, settings, model=model, tokenizer=tokenizer)
    if args.scores_output:
        with about(f"--scores-output {args.scores_output!r}"):
            write_json(args.scores_output, scores.tolist())
    with about(f"--output {args.output!r}"):
        write_jsonl(args.output, pairs.to_list())
    print(
        f"Scored {len(samples)} samples (reward mean {scores.mean():.3f}, max {scores.max():.3f}); "
        f"wrote {len(pairs)} pairs to {args.output}"
    )
    return 0
