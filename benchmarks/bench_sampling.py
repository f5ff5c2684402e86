"""Sampling throughput: fdpo's ``sample`` engines against ``model.generate`` on the same batches, on the workloads the
project runs, and against the notebook's one-at-a-time loop.

    python benchmarks/bench_sampling.py [--rounds 5] [--threads 1 2] [--world full] [--small-batch 8] [--small-rounds 3] [--notebook-n 8]

Workloads (each sampled by every variant from the same prompts, batch size and seed):

1. Demo evaluation sampling: the demo world's SFT model (trained, so completions end at end-of-text), its generation
   settings (pure sampling: top_k=0, top_p=1, temperature 1, its max_new_tokens), 32 held-out prompts × 6 samples,
   batch 64, as ``fdpo demo`` evaluates a policy. ``--world`` picks the world (built on first use and cached under
   $FDPO_CACHE/demo).
2. Demo pair sampling: the same model and settings, 16 prompts × 8 samples, batch 32, as ``fdpo demo`` draws pairs.
3. IMDB pair sampling (examples/sweep_imdb.yaml: beam sampling with 5 beams, top_k=50, no_repeat_ngram_size=2,
   max_length=100, early_stopping, renormalize_logits; the prompt "Good Review:"), batch 64, on a stand-in GPT-2 of
   the demo's size (4 layers, 128 wide; random weights, so every beam runs to the length limit).
4. The same on a GPT-2 of GPT-2 small's shape (12 layers, 768 wide, 12 heads, 50,257 tokens; random weights),
   batch ``--small-batch``, ``--small-rounds`` rounds (a call takes about a minute on one thread; sweep_imdb.yaml
   samples pairs in batches of 64 and evaluates in batches of 25).

Variants: ``engine="generate"`` (``model.generate`` on every batch: the baseline), ``engine="auto"`` (the default),
``engine="exact"`` (``generate``'s random numbers, so its very tokens), and for beam sampling ``auto`` with the
beams' shared cache switched off (a cache row per beam, reordered as ``exact`` reorders it), which isolates what the
shared cache adds to auto's cheaper draws. Every round runs the baseline first and last and the variants in
between, so that load from other processes hits them alike; a round's ratio is the baseline's mean time over the
variant's (a rate ratio: > 1 is faster than ``generate``). The script prints, per pinned torch thread count, the
median and minimum ratio over rounds for wall-clock time and for this process's CPU time, side by side, the load
average before and after, and every round's ratios.

With ``--notebook-n`` > 0 it also times pair sampling + reward scoring at the notebook's settings (workload 3's
model with a 2-layer DistilBERT classifier) against the notebook's loop (``generate_from_input`` then ``classify``,
one text at a time, ``--notebook-n`` texts a round).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from fdpo.decoding import beams, sample
from fdpo.demo.assets import build_demo_assets
from fdpo.demo.corpus import generate_reviews
from fdpo.demo.models import build_causal_lm, build_classifier, train_tokenizer
from fdpo.reward import RewardModel

NOTEBOOK_SETTINGS = dict(
    do_sample=True,
    top_k=50,
    num_beams=5,
    max_length=100,
    early_stopping=True,
    no_repeat_ngram_size=2,
    renormalize_logits=True,
)
NO_TREE = "auto, cache per beam"


def timed(function: Callable[[], object]) -> tuple[float, float]:
    """(wall-clock seconds, this process's CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def without_shared_beam_cache(function: Callable[[], object]) -> Callable[[], object]:
    """``function`` run with the beams' shared cache switched off (a cache row per beam). No option of ``sample``
    does that (it would only be slower), so this swaps the test ``fdpo.decoding.beams`` makes for it."""

    def run():
        original = beams.takes_4d_float_mask
        beams.takes_4d_float_mask = lambda model: False
        try:
            return function()
        finally:
            beams.takes_4d_float_mask = original

    return run


def compare(
    baseline,
    variants: dict,
    rounds: int,
    baseline_count: int = 1,
    variant_count: int = 1,
    warm_up: bool = True,
):
    """Per variant, per round, the (wall, CPU) rate ratio variant / baseline; the baseline runs first and last in
    every round (its mean time counts). Also the baseline's mean (wall, CPU) seconds per round. ``warm_up``: one
    untimed call of each first (worth it where one call takes seconds, not a minute)."""
    for function in (baseline, *variants.values()) if warm_up else ():
        function()
    ratios: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    baseline_seconds = []
    for _ in range(rounds):
        first = timed(baseline)
        times = {name: timed(function) for name, function in variants.items()}
        last = timed(baseline)
        mean = tuple((a + b) / 2 for a, b in zip(first, last, strict=True))
        baseline_seconds.append(mean)
        for name, seconds in times.items():
            ratios[name].append(
                tuple((variant_count / seconds[i]) / (baseline_count / mean[i]) for i in range(2))
            )
    return ratios, baseline_seconds


def print_table(title: str, baseline_name: str, ratios: dict, baseline_seconds: list, columns: list[str]):
    print(f"\n{title}")
    print(f"  {'':<5} {baseline_name + ' s':>12}  " + "  ".join(f"{name:>22}" for name in columns))
    for index, clock in enumerate(("wall", "CPU")):
        cells = []
        for name in columns:
            if name in ratios:
                values = [ratio[index] for ratio in ratios[name]]
                cells.append(f"{statistics.median(values):6.2f}× (min {min(values):5.2f}×)")
            else:
                cells.append("-")
        seconds = statistics.median(s[index] for s in baseline_seconds)
        print(f"  {clock:<5} {seconds:12.2f}  " + "  ".join(f"{cell:>22}" for cell in cells))
    for name, values in ratios.items():
        print(f"  rounds, wall, {name}: {' '.join(f'{ratio[0]:.2f}' for ratio in values)}")


def notebook_loop(model, tokenizer, classifier, classifier_tokenizer, n):
    """The notebook's `generate_from_input(naive_guidance="positive")` then `classify(..., as_proba=False)`."""
    rewards = []
    for _ in range(n):
        input_ids = tokenizer.encode("Good Review:", return_tensors="pt", add_special_tokens=False)
        output = model.generate(input_ids, pad_token_id=tokenizer.pad_token_id, **NOTEBOOK_SETTINGS)
        text = tokenizer.decode(output[0], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        text = ".".join(text.split(".")[:-1]) + "."
        inputs = classifier_tokenizer(text, return_tensors="pt", truncation=True, max_length=128)
        with torch.no_grad():
            rewards.append(classifier(**inputs).logits[:, 1].numpy())
    return rewards


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--world", choices=["full", "quick"], default="full", help="the demo world of workloads 1-2"
    )
    parser.add_argument("--small-batch", type=int, default=8, help="batch of workload 4 (0: skip it)")
    parser.add_argument("--small-rounds", type=int, default=3, help="rounds of workload 4 (a minute a call)")
    parser.add_argument(
        "--notebook-n", type=int, default=8, help="texts per round for the notebook's loop (0: skip)"
    )
    parser.add_argument("--only", nargs="+", type=int, choices=[1, 2, 3, 4], default=[1, 2, 3, 4])
    args = parser.parse_args()

    torch.manual_seed(0)
    world = build_demo_assets(quick=args.world == "quick", show_progress=False)
    demo_model, demo_tokenizer = world.load_sft()
    demo_model.eval()
    demo_settings = world.generation_kwargs

    texts = [review.text for review in generate_reviews(2000, seed=0)]
    tokenizer = train_tokenizer(texts, vocab_size=2000)
    stand_in = build_causal_lm(tokenizer, n_layer=4, n_embd=128, n_head=4, n_positions=128).eval()
    small = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=50257,
            n_positions=1024,
            n_embd=768,
            n_layer=12,
            n_head=12,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    ).eval()
    small.generation_config.pad_token_id = tokenizer.pad_token_id
    small.generation_config.eos_token_id = tokenizer.eos_token_id

    def sampler(model, tokenizer_, prompts, samples_per_prompt, batch_size, settings, template="{prompt}"):
        def run(engine: str):
            return lambda: sample(
                model,
                tokenizer_,
                prompts,
                num_samples_per_prompt=samples_per_prompt,
                prompt_template=template,
                batch_size=batch_size,
                seed=0,
                show_progress=False,
                engine=engine,
                **settings,
            )

        return run

    workloads = {
        1: (
            f"1. demo evaluation sampling ({args.world} world, 32 prompts × 6, batch 64, {demo_settings})",
            sampler(demo_model, demo_tokenizer, world.eval_prompts[:32], 6, 64, demo_settings),
            False,
        ),
        2: (
            f"2. demo pair sampling ({args.world} world, 16 prompts × 8, batch 32)",
            sampler(demo_model, demo_tokenizer, world.prompts[:16], 8, 32, demo_settings),
            False,
        ),
        3: (
            "3. IMDB pair sampling, 5-beam sampling, demo-size GPT-2 (4 × 128, random weights), batch 64",
            sampler(stand_in, tokenizer, [""] * 64, 1, 64, NOTEBOOK_SETTINGS, "Good Review:{prompt}"),
            True,
        ),
    }
    if args.small_batch:
        workloads[4] = (
            f"4. IMDB pair sampling, 5-beam sampling, GPT-2 small shape (12 × 768, random weights), "
            f"batch {args.small_batch}",
            sampler(
                small,
                tokenizer,
                [""] * args.small_batch,
                1,
                args.small_batch,
                NOTEBOOK_SETTINGS,
                "Good Review:{prompt}",
            ),  # fmt: skip
            True,
        )

    classifier_tokenizer = train_tokenizer(texts, vocab_size=2000)
    classifier_tokenizer.padding_side = "right"
    classifier = build_classifier(classifier_tokenizer, n_layers=2, dim=64).eval()
    reward = RewardModel(classifier, classifier_tokenizer, batch_size=64)
    half = max(1, args.notebook_n // 2)

    def notebook():
        return notebook_loop(stand_in, tokenizer, classifier, classifier_tokenizer, half)

    pair_scoring = {
        engine: lambda engine=engine: reward.score(workloads[3][1](engine)().texts)
        for engine in ("auto", "exact")
    }

    columns = ["auto", NO_TREE, "exact"]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs visible, {args.rounds} rounds per table")
    print(f"IMDB settings {NOTEBOOK_SETTINGS}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\n=== torch threads {torch.get_num_threads()} (pinned), load average before {load()}")
        print(
            "rate / model.generate's on the same batches, median (min) over rounds; baseline: median seconds"
        )
        for number in args.only:
            if number not in workloads:
                continue
            title, run, beam = workloads[number]
            variants = {"auto": run("auto"), "exact": run("exact")}
            if beam:
                variants = {
                    "auto": run("auto"),
                    NO_TREE: without_shared_beam_cache(run("auto")),
                    "exact": run("exact"),
                }
            heavy = number == 4
            rounds = args.small_rounds if heavy else args.rounds
            ratios, seconds = compare(run("generate"), variants, rounds, warm_up=not heavy)
            print_table(title, "generate", ratios, seconds, columns)
            print(f"  load average {load()}")

        if args.notebook_n:
            ratios, seconds = compare(
                notebook, pair_scoring, args.rounds, baseline_count=half, variant_count=64
            )
            print_table(
                "pair sampling + scoring at the notebook's settings, rate / the notebook loop's",
                f"loop ({half})",
                ratios,
                seconds,
                ["auto", "exact"],
            )
        print(f"load average after {load()}")


if __name__ == "__main__":
    main()
