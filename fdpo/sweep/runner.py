"""``run_sweep``: the whole study (sample → score → pairs → train a grid → evaluate) as one resumable function.

    sample from the SFT model ─► score with the reward model ─► build preference pairs
      ─► reference log-probs of the pairs, computed ONCE per pair set and reused by every run trained on it
      ─► for each grid cell divergence × loss_type × beta × seed: train FDPOTrainer, sample from the policy, evaluate
      ─► results.csv (one row per run, plus the SFT model evaluated once as the baseline row "sft")
      ─► summary.csv (mean ± 95% CI across seeds per configuration) and the report (tradeoff.png, report.md)

Layout of ``output_dir`` (every file written atomically, see ``fdpo._io``)::

    sweep.json                     the resolved config, written once the config passed every check (``check()``);
                                   a rerun with a different shared config is refused once a trained run finished
    pairs/seed-<s>/                the pair set of the runs with seed s (``pairs.draw: per_seed``, the default):
                                   the five files below; with ``pairs.draw: shared`` they are in the sweep folder
    pair_samples.jsonl             samples of the SFT model the pairs are built from
    pair_scores.json               their rewards (reward-model logits)
    pairs.jsonl                    the preference pairs (prompt, chosen, rejected, chosen_reward, rejected_reward)
    pairs_with_ref.jsonl           the pairs as the trainer sees them, plus ref_chosen_logps / ref_rejected_logps
    reference_log_probs.json       how long they took
    stages.json                    checksums of the four files above and digests of the settings each was made
                                   from; one that does not match is made again, with those after it
    runs/<run_id>/config.json      the resolved config of the run (written when it starts)
    runs/<run_id>/generations.jsonl   its evaluation samples with their rewards and per-sample statistics
    runs/<run_id>/metrics.json     its results row
    runs/<run_id>/done.json        written last: run id, grid cell, digest of the shared config, file checksums; a run
                                   is finished if and only if it verifies (``RunStore``)
    results.csv, summary.csv       regenerated from the finished runs after every run
    tradeoff.png, report.md        the report (``fdpo.report.write_report``)

Rerunning the same command after an interruption (even ``kill -9``) skips finished runs, redoes the unfinished one
and rewrites results.csv from the run directories, so no row is lost or duplicated. A run folder that does not verify
(a truncated or edited file, a manifest of another run or config) is run again, a folder outside the grid that does
not verify (``cp -r runs/X runs/backup``) is ignored, each with a warning line on the ``fdpo.sweep`` logger, and
temporary files of killed writes are removed.

Pair draws. Which SFT samples became the preference pairs is a random effect like the training seed: on the demo
world a second draw of its 256 pairs moved the predictive entropy's gap between reverse and forward KL by more than
three standard errors computed with one draw. So by default each seed is a replicate of the whole study (its own SFT
samples, pairs, training and evaluation samples), and the spread across seeds counts the pair draw too. Runs with the
same seed share a pair set, so differences between configurations stay paired.

Reference log-probs. With ``precompute_ref_log_probs=True`` TRL 1.16 computes the reference log-probs of the whole
dataset when a ``DPOTrainer`` is built and caches them in a ``datasets`` cache file keyed by the prepared dataset's
fingerprint and a hash of the model. Across the trainers of a sweep that cache misses (the fingerprints of TRL's
tokenization maps differ from one trainer to the next, and an in-memory dataset gets a random cache file). So the
sweep computes the columns once (``fdpo.pipeline.compute_reference_log_probs``, through TRL's own precompute: same
tokenization, same collation, same ``max_length`` truncation as training), saves them in ``pairs_with_ref.jsonl``,
and trains every run on them: ``FDPOTrainer`` keeps reference columns a dataset already has. No run loads a
reference model or runs a reference forward pass.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fdpo._io import read_json, read_jsonl, remove_stale_temp_files, write_json, write_jsonl
from fdpo._optional import require
from fdpo.errors import SweepError
from fdpo.pipeline import (
    compute_reference_log_probs,
    evaluate_policy,
    generate_samples,
    load_causal_lm,
    load_prompts,
    load_reward_model,
    make_pairs,
    score_samples,
    train_policy,
)
from fdpo.report import BASELINE, write_report
from fdpo.sweep.config import RunSpec, SweepConfig
from fdpo.sweep.executors import check_executor, run_on_ray
from fdpo.sweep.stage_files import (
    PAIR_DRAWS_FOLDER,
    STAGE_FILES,
    STAGE_MANIFEST,
    StageFiles,
    pair_stage_folder,
)
from fdpo.sweep.store import RunStore, check_same_sweep, sweep_lock

__all__ = ["SweepResources", "evaluation_prompts", "prepare_pairs", "run_cell", "run_sweep"]


class SweepResources:
    """Models a sweep needs, each loaded once, on first use (a finished sweep loads nothing)."""

    def __init__(self, config: SweepConfig):
        self.config = config
        self.device = config.resolved_device()
        self._sft = None
        self._reward = None

    @property
    def sft(self):
        """``(model, tokenizer)`` of the SFT model."""
        if self._sft is None:
            self._sft = load_causal_lm(self.config.sft_model, self.device)
        return self._sft

    @property
    def reward(self):
        """The reward model (``fdpo.reward.RewardModel``)."""
        if self._reward is None:
            self._reward = load_reward_model(self.config.reward_model, self.config.reward, self.device)
        return self._reward


def run_sweep(
    config: SweepConfig,
    output_dir: str | os.PathLike,
    *,
    show_progress: bool = True,
    write_report_files: bool = True,
    restart: bool = False,
    executor: str = "sequential",
    ray_address: str | None = None,
    ray_resources: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Runs (or resumes) a sweep and returns its result rows, the SFT baseline first.

    Args:
        config: the sweep; ``config.check()`` runs first (and again on the config its world resolves to), before
            anything is loaded or created.
        output_dir: where everything is written (see the module docstring for the layout).
        show_progress: tqdm bars for sampling, evaluation and the runs.
        write_report_files: also write tradeoff.png and report.md at the end.
        restart: discard the runs and stages of an earlier sweep in ``output_dir`` with a different config.
        executor: ``"sequential"`` (the runs one after another in this process) or ``"ray"`` (one Ray task per run,
            after the shared stages ran here; see ``fdpo.sweep.executors``).
        ray_address: the Ray cluster to use (``"auto"``, ``"ray://host:10001"``); default: the one this process is
            connected to, ``RAY_ADDRESS``, or a local Ray started for the sweep.
        ray_resources: Ray's resource options for each run (e.g. ``{"num_gpus": 0.5}``); default one GPU when the
            device is CUDA, else one CPU.

    Returns:
        one dict per finished run (the rows of results.csv).
    """
    from tqdm.auto import tqdm

    # Every check before anything is created (a refused config leaves no folder behind); those that read nothing first.
    config.check(quick=True)
    check_executor(executor)
    if write_report_files:  # before any training, not after it
        require("matplotlib", "study", "The sweep's plot (tradeoff.png)")
    if "self_bleu" in config.evaluation.metrics:
        require("sacrebleu", "study", "The self_bleu metric")
    config.check()
    resolved = config.resolved(show_progress=show_progress)
    if resolved is not config:
        resolved.check(source=f"{config.world} (as resolved)")  # the world's models and prompts
    config = resolved
    root = Path(output_dir)
    if root.exists() and not root.is_dir():
        raise SweepError(
            f"The output folder {str(root)!r} is a file. Give the path of a folder (new or existing)."
        )
    root.mkdir(parents=True, exist_ok=True)
    with sweep_lock(root):
        remove_stale_temp_files(root)  # temp files of writes killed with an earlier sweep
        check_same_sweep(root, config, restart)
        if restart:
            stage_files = (*STAGE_FILES, STAGE_MANIFEST, PAIR_DRAWS_FOLDER)
            for target in (root / "runs", *(root / name for name in stage_files)):
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        write_json(root / "sweep.json", {"config": config.to_dict(), "shared": config.shared_dict()})
        runs = config.runs()
        order = [BASELINE, *(run.run_id for run in runs)]
        eval_seed = int(config.grid.seeds[0])
        baseline = {
            "run_id": BASELINE,
            "divergence": BASELINE,
            "loss_type": "",
            "beta": None,
            "seed": eval_seed,
        }
        expected = {BASELINE: baseline, **{run.run_id: run.to_dict() for run in runs}}
        store = RunStore(root, shared=config.shared_dict(), expected=expected)
        resources = SweepResources(config)
        prompts = load_prompts(config.prompts.texts, config.prompts.file)
        eval_prompts = evaluation_prompts(config, prompts)

        finished = set(store.scan())  # warns about each folder it does not trust, and why
        todo = [run for run in runs if run.run_id not in finished]
        if BASELINE not in finished:
            model, tokenizer = resources.sft
            store.begin(BASELINE, {"run": baseline, **config.to_dict()}, identity=baseline)
            metrics, generations = _evaluate(
                config, resources, model, eval_prompts, None, eval_seed, show_progress
            )
            store.finish(BASELINE, {**baseline, **metrics, "train_seconds": None}, generations)
            store.write_tables(order)

        pair_sets: dict[int | None, Any] = {}  # pair set of each draw (one shared, or one per seed)

        def pairs_of(seed: int):
            draw = config.pair_draw(seed)
            if draw not in pair_sets:
                pair_sets[draw] = prepare_pairs(root, config, resources, prompts, show_progress, seed=seed)
            return pair_sets[draw]

        if todo and executor == "ray":
            for seed in sorted({run.seed for run in todo}):  # the tasks read the pair files these write
                pairs_of(seed)
            run_on_ray(
                run_cell,
                root,
                config,
                todo,
                eval_prompts,
                on_finished=lambda run: store.write_tables(order),
                address=ray_address,
                resources=ray_resources,
                show_progress=show_progress,
            )
        elif todo:
            bar = tqdm(todo, desc="f-DPO runs", unit="run", disable=not show_progress)
            for run in bar:
                bar.set_postfix_str(run.run_id)
                _run_one(store, config, run, resources, pairs_of(run.seed), eval_prompts, show_progress)
                store.write_tables(order)
        rows = store.write_tables(order)
        if write_report_files:
            write_report(
                root,
                diversity=config.report.diversity,
                reward=config.report.reward,
                title=config.name,
                html=config.report.html,
            )
    return rows


def evaluation_prompts(config: SweepConfig, prompts: list[str]) -> list[str]:
    """The prompts policies are evaluated on: ``evaluation.prompts``/``prompts_file``, else ``prompts``, cut to
    ``evaluation.max_prompts``."""
    evaluation = config.evaluation
    if evaluation.prompts is not None or evaluation.prompts_file is not None:
        eval_prompts = load_prompts(evaluation.prompts, evaluation.prompts_file)
    else:
        eval_prompts = list(prompts)
    if evaluation.max_prompts is not None:
        eval_prompts = eval_prompts[: evaluation.max_prompts]
    return eval_prompts


def prepare_pairs(
    root: str | os.PathLike,
    config: SweepConfig,
    resources: SweepResources,
    prompts: Sequence[str],
    show_progress: bool = True,
    seed: int | None = None,
):
    """The pair stages of the runs with seed ``seed``, each skipped when its file exists: SFT samples, scores, pairs
    and (with ``reuse_reference_log_probs``) the reference log-probs. Returns the pairs as a ``datasets.Dataset``.

    With ``pairs.draw: per_seed`` (the default) every seed has its own pair set in ``root/pairs/seed-<seed>``, from
    samples drawn with ``config.pair_sampling_seed(seed)``; with ``shared`` one set in ``root`` serves every run
    (``seed`` is then not needed).

    Raises:
        SweepError: the samples give no preference pairs (the message names the counts and the fix).
    """
    from fdpo.decoding import Samples

    root = pair_stage_folder(root, config.pairs.draw, seed)
    root.mkdir(parents=True, exist_ok=True)
    stages = StageFiles(
        root, config.shared_dict()
    )  # a stage file not to be trusted is removed, with later ones
    samples_path = root / "pair_samples.jsonl"
    scores_path = root / "pair_scores.json"
    pairs_path = root / "pairs.jsonl"
    ref_path = root / "pairs_with_ref.jsonl"
    if config.reuse_reference_log_probs and stages.trusted(ref_path.name):
        return _pairs_dataset(read_jsonl(ref_path))
    if not stages.trusted(pairs_path.name):
        if stages.trusted(samples_path.name):
            samples = Samples.load(samples_path)
        else:
            model, tokenizer = resources.sft
            samples = generate_samples(
                model,
                tokenizer,
                prompts,
                samples_per_prompt=config.pairs.samples_per_prompt,
                batch_size=config.pairs.batch_size,
                seed=config.pair_sampling_seed(0 if seed is None else seed),
                prompt_template=config.prompts.template,
                generation=config.generation,
                show_progress=show_progress,
            )
            samples.save(samples_path)
            stages.record(samples_path.name)
        if stages.trusted(scores_path.name):
            scores = read_json(scores_path)
        else:
            scores = score_samples(resources.reward, samples.texts, kind="logit").tolist()
            write_json(scores_path, scores)
            stages.record(scores_path.name)
        try:
            needs_model = config.pairs.strategy == "divpo" and config.pairs.diversity == "logprob"
            model, tokenizer = resources.sft if needs_model else (None, None)
            pairs = make_pairs(samples, scores, config.pairs, model=model, tokenizer=tokenizer)
        except ValueError as error:  # build_pairs names the candidate counts and the fix
            raise SweepError(
                f"No preference pairs from {len(samples)} samples of the SFT model: {error}"
            ) from error
        write_jsonl(pairs_path, pairs.to_list())
        stages.record(pairs_path.name)
    pairs = _pairs_dataset(read_jsonl(pairs_path))
    if not config.reuse_reference_log_probs:
        return pairs
    model, tokenizer = resources.sft
    first = config.runs()[0]
    scratch = root / ".reference"  # the trainer's output_dir, removed after use
    args = config.fdpo_config(first, output_dir=scratch)
    started = time.perf_counter()
    with_ref = compute_reference_log_probs(model, tokenizer, pairs, args, show_progress=show_progress)
    write_json(
        root / "reference_log_probs.json",
        {
            "seconds": time.perf_counter() - started,
            "num_pairs": len(with_ref),
            "dropped_by_trl": len(pairs) - len(with_ref),
        },
    )
    write_jsonl(ref_path, with_ref.to_list())
    stages.record(ref_path.name)
    shutil.rmtree(scratch, ignore_errors=True)
    return _pairs_dataset(read_jsonl(ref_path))


def run_cell(
    root: str | os.PathLike,
    config: SweepConfig,
    run: RunSpec,
    eval_prompts: Sequence[str],
    show_progress: bool = False,
) -> dict[str, Any]:
    """One grid cell in a process of its own (a Ray task): loads the models from ``config``'s paths and the pairs
    from the files ``prepare_pairs`` wrote in ``root``, trains and evaluates the run through ``RunStore``, and
    returns its result row. A run already finished (its worker died after writing its manifest, done.json) is not
    redone; the store takes the shared settings' digest from ``root/sweep.json``, so the manifest it writes is one
    the sweep trusts.

    Raises:
        SweepError: the pairs file is not in ``root`` (on a cluster, ``root`` must be on a shared file system).
    """
    store = RunStore(root)
    if store.is_finished(run.run_id, run.to_dict()):
        return store.load_row(run.run_id)
    folder = pair_stage_folder(root, config.pairs.draw, run.seed)
    pairs_path = folder / ("pairs_with_ref.jsonl" if config.reuse_reference_log_probs else "pairs.jsonl")
    if not pairs_path.is_file():
        import socket

        raise SweepError(
            f"Run {run.run_id} on host {socket.gethostname()} finds no {pairs_path}, which the sweep wrote before "
            "starting its runs. Put the output folder on a file system every node of the Ray cluster shares."
        )
    resources = SweepResources(config)
    _run_one(
        store, config, run, resources, _pairs_dataset(read_jsonl(pairs_path)), eval_prompts, show_progress
    )
    return store.load_row(run.run_id)


def _pairs_dataset(records):
    from datasets import Dataset

    return Dataset.from_list([dict(r) for r in records])


def _evaluate(
    config: SweepConfig, resources: SweepResources, policy, prompts, reference, seed, show_progress
):
    """``evaluate_policy`` with the sweep's settings: the one place a sweep evaluates a model."""
    _, tokenizer = resources.sft
    return evaluate_policy(
        policy,
        tokenizer,
        resources.reward,
        prompts,
        reference=reference,
        settings=config.evaluation,
        generation=config.generation,
        prompt_template=config.prompts.template,
        seed=seed,
        show_progress=show_progress,
    )


def _run_one(
    store: RunStore,
    config: SweepConfig,
    run: RunSpec,
    resources: SweepResources,
    pairs,
    eval_prompts,
    show_progress,
):
    model, tokenizer = resources.sft
    directory = store.begin(run.run_id, {"run": run.to_dict(), **config.to_dict()}, identity=run.to_dict())
    args = config.fdpo_config(run, output_dir=directory / "trainer")
    policy, seconds, history = train_policy(
        model, tokenizer, pairs, args, reuse_reference=config.reuse_reference_log_probs
    )
    metrics, generations = _evaluate(config, resources, policy, eval_prompts, model, run.seed, show_progress)
    if config.save_models:
        policy.save_pretrained(directory / "model")
        tokenizer.save_pretrained(directory / "model")
    shutil.rmtree(directory / "trainer", ignore_errors=True)
    train_logs = [entry for entry in history if "loss" in entry]
    final = train_logs[-1] if train_logs else {}
    row = {
        **run.to_dict(),
        **metrics,
        "train_seconds": seconds,
        "train_loss": final.get("loss"),
        "train_reward_accuracy": final.get("rewards/accuracies"),
        "train_reward_margin": final.get("rewards/margins"),
    }
    store.finish(run.run_id, row, generations)
    del policy
    gc.collect()
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
