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
    runs/<run_id>/curve.jsonl      with evaluation.checkpoints: its evaluation at each checkpoint step (and at its
                                   last step, the final policy's, when that is not a checkpoint), in step order
    runs/<run_id>/done.json        written last: run id, grid cell, digest of the shared config, file checksums; a run
                                   is finished if and only if it verifies (``RunStore``)
    sft_evaluations/runs/seed-<s>_T-<t>/   the SFT model of seed s evaluated at temperature t (its seed's prompts and
                                   sampling seed): the curves' step 0 and the controls (a RunStore of its own)
    results.csv, summary.csv       regenerated from the finished runs after every run
    curves.csv                     with evaluation.checkpoints, regenerated after every run: one row per (run, step),
                                   step 0 the SFT model of the run's seed (fdpo.report.study reads it)
    controls.csv                   with evaluation.control_temperatures: one row per (seed, temperature) of the SFT
                                   model, the evaluation's own temperature included
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
import dataclasses
import gc
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fdpo._io import read_json, read_jsonl, remove_stale_temp_files, write_csv, write_json, write_jsonl
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
from fdpo.report.machine import record_machine
from fdpo.report.study import CONTROLS_FILE, CURVES_FILE
from fdpo.settings import METRIC_COLUMNS
from fdpo.sweep.config import RunSpec, SweepConfig
from fdpo.sweep.executors import check_executor, run_on_ray
from fdpo.sweep.stage_files import (
    PAIR_DRAWS_FOLDER,
    STAGE_FILES,
    STAGE_MANIFEST,
    StageFiles,
    pair_stage_folder,
)
from fdpo.sweep.store import CURVE_FILE, IDENTITY_COLUMNS, RunStore, check_same_sweep, sweep_lock

__all__ = [
    "SFT_EVALUATIONS",
    "SweepResources",
    "evaluation_prompts",
    "prepare_pairs",
    "run_cell",
    "run_sweep",
]

#: The folder (under the sweep's) of the SFT model's evaluations per seed and temperature: the curves' step 0 and the
#: controls. A ``RunStore`` of its own: each evaluation is finished iff its manifest verifies.
SFT_EVALUATIONS = "sft_evaluations"
# Keys of a result row that are not measures of the evaluated model.
_NOT_METRICS = (
    *IDENTITY_COLUMNS,
    "temperature",
    "step",
    "train_seconds",
    "train_loss",
    "train_reward_accuracy",
    "train_reward_margin",
)


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
    prompts = load_prompts(config.prompts.texts, config.prompts.file)
    # Per seed (one list for every seed unless evaluation.prompt_draw is per_seed); a draw it cannot make is refused
    # here, before the output folder is created.
    eval_prompts = {int(seed): evaluation_prompts(config, prompts, int(seed)) for seed in config.grid.seeds}
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
            stage_files = (
                *STAGE_FILES,
                STAGE_MANIFEST,
                PAIR_DRAWS_FOLDER,
                SFT_EVALUATIONS,
                CURVES_FILE,
                CONTROLS_FILE,
            )
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
        import torch

        # what the numbers hold for: the CPU, threads, device and library versions of this invocation
        record_machine(root, threads=torch.get_num_threads(), device=resources.device)

        finished = set(store.scan())  # warns about each folder it does not trust, and why
        todo = [run for run in runs if run.run_id not in finished]
        if BASELINE not in finished:
            model, tokenizer = resources.sft
            store.begin(BASELINE, {"run": baseline, **config.to_dict()}, identity=baseline)
            metrics, generations = _evaluate(
                config, resources, model, eval_prompts[eval_seed], None, eval_seed, show_progress
            )
            store.finish(BASELINE, {**baseline, **metrics, "train_seconds": None}, generations)
            store.write_tables(order)
        sft = _SFTEvaluations(root, config, store, resources, eval_prompts, show_progress)
        sft.run_all()

        def write_tables(_run=None) -> list[dict[str, Any]]:
            rows = store.write_tables(order)
            _write_study_tables(root, config, store, sft, order)
            return rows

        write_tables()

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
                on_finished=write_tables,
                address=ray_address,
                resources=ray_resources,
                show_progress=show_progress,
            )
        elif todo:
            bar = tqdm(todo, desc="f-DPO runs", unit="run", disable=not show_progress)
            for run in bar:
                bar.set_postfix_str(run.run_id)
                _run_one(
                    store, config, run, resources, pairs_of(run.seed), eval_prompts[run.seed], show_progress
                )
                write_tables()
        rows = write_tables()
        if write_report_files:
            write_report(
                root,
                diversity=config.report.diversity,
                reward=config.report.reward,
                title=config.name,
                html=config.report.html,
                note=config.report.note,
            )
    return rows


def evaluation_prompts(config: SweepConfig, prompts: list[str], seed: int | None = None) -> list[str]:
    """The prompts the policies of seed ``seed`` are evaluated on (``SweepConfig.evaluation_prompts``):
    ``evaluation.prompts``/``prompts_file``, else ``prompts``; the first ``evaluation.max_prompts`` of them, or with
    ``evaluation.prompt_draw: per_seed`` a draw of that many for each seed (``seed`` is then needed)."""
    return config.evaluation_prompts(prompts, seed)


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
    eval_prompts: Mapping[int, Sequence[str]],
    show_progress: bool = False,
) -> dict[str, Any]:
    """One grid cell in a process of its own (a Ray task): loads the models from ``config``'s paths and the pairs
    from the files ``prepare_pairs`` wrote in ``root``, trains and evaluates the run through ``RunStore``, and
    returns its result row (``eval_prompts``: the evaluation prompts of each seed). A run already finished (its
    worker died after writing its manifest, done.json) is not redone; the store takes the shared settings' digest from
    ``root/sweep.json``, so the manifest it writes is one the sweep trusts.

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
        store,
        config,
        run,
        resources,
        _pairs_dataset(read_jsonl(pairs_path)),
        eval_prompts[run.seed],
        show_progress,
    )
    return store.load_row(run.run_id)


class _SFTEvaluations:
    """The SFT model of each seed evaluated as the policies are (that seed's prompts and sampling seed, no reference:
    its KL is 0), at the evaluation's own temperature (the curves' step 0, with ``evaluation.checkpoints``) and at
    each of ``evaluation.control_temperatures`` (the controls), each stored once in ``<root>/sft_evaluations`` and
    reused by a rerun. The baseline row ``sft`` is the first seed's evaluation at the own temperature, so that one is
    not made twice."""

    def __init__(
        self, root: Path, config: SweepConfig, store: RunStore, resources, eval_prompts, show_progress
    ):
        self.config = config
        self.store = store  # the sweep's runs, for the baseline row
        self.evaluations = RunStore(root / SFT_EVALUATIONS, shared=config.shared_dict())
        self.resources = resources
        self.eval_prompts = eval_prompts
        self.show_progress = show_progress
        self.seeds = [int(seed) for seed in config.grid.seeds]
        self.temperature = config.evaluation_temperature()
        controls = [float(t) for t in config.evaluation.control_temperatures]
        self.control_temperatures = [t for t in controls if t != self.temperature]
        wanted = (
            [self.temperature] if config.evaluation.checkpoints or controls else []
        ) + self.control_temperatures
        self.wanted = [(seed, temperature) for seed in self.seeds for temperature in wanted]

    @staticmethod
    def run_id(seed: int, temperature: float) -> str:
        return f"seed-{seed}_T-{float(temperature)!r}"

    def _is_baseline(self, seed: int, temperature: float) -> bool:
        return seed == self.seeds[0] and temperature == self.temperature

    def run_all(self) -> None:
        """Evaluates what is wanted and not stored yet."""
        for seed, temperature in self.wanted:
            run_id = self.run_id(seed, temperature)
            identity = {"run_id": run_id, "divergence": BASELINE, "loss_type": "", "beta": None, "seed": seed}
            if self._is_baseline(seed, temperature) or self.evaluations.is_finished(run_id, identity):
                continue
            model, _ = self.resources.sft
            self.evaluations.begin(run_id, {"run": identity, "temperature": temperature}, identity=identity)
            metrics, generations = _evaluate(
                self.config,
                self.resources,
                model,
                self.eval_prompts[seed],
                None,
                seed,
                self.show_progress,
                temperature=None if temperature == self.temperature else temperature,
            )
            self.evaluations.finish(run_id, {**identity, "temperature": temperature, **metrics}, generations)

    def metrics(self, seed: int, temperature: float) -> dict[str, Any] | None:
        """The measures of the SFT model of ``seed`` at ``temperature``; None when not evaluated (yet)."""
        if self._is_baseline(seed, temperature):
            row = self.store.load_row(BASELINE) if self.store.is_finished(BASELINE) else None
        else:
            run_id = self.run_id(seed, temperature)
            row = self.evaluations.load_row(run_id) if self.evaluations.is_finished(run_id) else None
        return None if row is None else {k: v for k, v in row.items() if k not in _NOT_METRICS}


def _metric_columns(rows: Sequence[Mapping[str, Any]], first: Sequence[str]) -> list[str]:
    """``first``, then ``METRIC_COLUMNS``, then every other key of the rows in first-seen order."""
    return list(dict.fromkeys([*first, *METRIC_COLUMNS, *(key for row in rows for key in row)]))


def _write_study_tables(
    root: Path, config: SweepConfig, store: RunStore, sft: _SFTEvaluations, order: Sequence[str]
) -> None:
    """curves.csv (with ``evaluation.checkpoints``): one row per finished run and step, step 0 the SFT model of the
    run's seed, then the run's curve.jsonl; controls.csv (with ``evaluation.control_temperatures``): one row per seed
    and temperature of the SFT model, the evaluation's own temperature included. Rebuilt from the files each time."""
    if config.evaluation.checkpoints:
        rows = []
        for row in store.rows(order):
            path = store.run_dir(row["run_id"]) / CURVE_FILE
            if row["run_id"] == BASELINE or not path.is_file():
                continue
            identity = {key: row.get(key) for key in IDENTITY_COLUMNS}
            start = sft.metrics(int(row["seed"]), sft.temperature)
            points = ([{"step": 0, **start}] if start is not None else []) + read_jsonl(path)
            rows += [{**identity, **point} for point in points]
        write_csv(root / CURVES_FILE, rows, _metric_columns(rows, (*IDENTITY_COLUMNS, "step")))
    if config.evaluation.control_temperatures:
        rows = []
        for seed in sft.seeds:
            for temperature in sorted({sft.temperature, *sft.control_temperatures}):
                metrics = sft.metrics(seed, temperature)
                if metrics is not None:
                    rows.append({"seed": seed, "temperature": temperature, **metrics})
        write_csv(root / CONTROLS_FILE, rows, _metric_columns(rows, ("seed", "temperature")))


def _pairs_dataset(records):
    from datasets import Dataset

    return Dataset.from_list([dict(r) for r in records])


def _evaluate(
    config: SweepConfig,
    resources: SweepResources,
    policy,
    prompts,
    reference,
    seed,
    show_progress,
    temperature: float | None = None,
):
    """``evaluate_policy`` with the sweep's settings: the one place a sweep evaluates a model (``temperature``: sample
    at this temperature instead of the evaluation's own, for the controls)."""
    _, tokenizer = resources.sft
    settings = config.evaluation
    if temperature is not None:
        generation = config.evaluation_generation()
        settings = dataclasses.replace(settings, generation={**generation, "temperature": float(temperature)})
    return evaluate_policy(
        policy,
        tokenizer,
        resources.reward,
        prompts,
        reference=reference,
        settings=settings,
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
    curve: list[dict[str, Any]] = []
    checkpoints = sorted(config.evaluation.checkpoints)
    last: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}  # the latest checkpoint's evaluation

    def evaluate_checkpoint(step: int, policy) -> None:
        # The policy being trained, in eval mode, against the SFT model as the final policy is (CheckpointCallback).
        point, generations = _evaluate(
            config, resources, policy, eval_prompts, model, run.seed, show_progress
        )
        curve.append({"step": step, **point})
        last.clear()
        last[step] = (point, generations)

    extra = {"checkpoints": checkpoints, "on_checkpoint": evaluate_checkpoint} if checkpoints else {}
    policy, seconds, history = train_policy(
        model, tokenizer, pairs, args, reuse_reference=config.reuse_reference_log_probs, **extra
    )
    final_step = max((int(entry["step"]) for entry in history if "step" in entry), default=0)
    if final_step in last:
        # A checkpoint at the last step measured the final policy exactly (CheckpointCallback): not evaluated twice.
        metrics, generations = last[final_step]
    else:
        metrics, generations = _evaluate(
            config, resources, policy, eval_prompts, model, run.seed, show_progress
        )
        if checkpoints:
            curve.append({"step": final_step, **metrics})  # the end of the curve: the final policy
    if checkpoints:
        write_jsonl(directory / CURVE_FILE, curve)
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
