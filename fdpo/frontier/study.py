"""The frontier study: every lever on one world, evaluated alike, and which configurations beat standard DPO.

``run_frontier(config, output_dir)`` takes a sweep config (the demo world's by default, from the CLI), plans the study
(``fdpo.frontier.plan``) and:

1. runs the sweep's pair stages once per pair draw (per seed by default): SFT samples, rewards, preference pairs,
   reference log-probs;
2. builds DivPO pairs from the *same* samples (``frontier.divpo`` criteria; ``fdpo.pairs.build_pairs``);
3. trains each policy it needs once and saves it: every grid cell of the sweep (its divergences × β × seeds, plus
   standard DPO, reverse KL at ``baseline_beta``, if the grid lacks it) and one DivPO policy per criterion, quantile
   and seed (trained like standard DPO);
4. evaluates every configuration × seed with the sweep's evaluation (``evaluate_policy``: same prompts, samples,
   metrics): the trained policies, the SFT model, and the policy transforms (``fdpo.frontier.policy_transforms``:
   sampling temperature, weight interpolation with the SFT model, decoding-time realignment) applied to the
   policies named in ``lever_bases``, reusing them;
5. writes frontier.csv, frontier.png (``write_frontier``) and frontier.md;
6. with ``evaluation.checkpoints``: standard DPO's policies were evaluated at those steps while training (their
   curves), and every other configuration is judged against those curves at its own reward
   (``fdpo.frontier.matched``): frontier_matched.csv and a section of frontier.md.

Layout of ``output_dir`` (every file written atomically)::

    sweep.json                    the resolved sweep config and frontier settings (a changed shared config is refused)
    pairs/seed-<s>/               the pair stages of seed s, as in a sweep (``pairs.draw: shared``: in this folder):
        pair_samples.jsonl, pair_scores.json, pairs.jsonl, pairs_with_ref.jsonl, stages.json
        divpo-<criterion>-q<q>_pairs.jsonl (+ _pairs_with_ref.jsonl)   DivPO pairs from the same samples
    policies/<policy>/model, policies/<policy>/train.json   a trained policy; train.json (written last) marks it done
    policies/<policy>/curve.jsonl  with evaluation.checkpoints, standard DPO's policies only: the policy evaluated as the
                                  baseline configuration while training (one row per step: seed, step, metrics; step 0
                                  the SFT configuration's evaluation of that seed, the last the final policy)
    runs/<configuration>__seed<s>/config.json, metrics.json, generations.jsonl   one evaluation per configuration and
                                  seed (the sweep's run layout, so the divergence study's standard errors read it)
    frontier.csv, frontier.png, frontier.md
    frontier_matched.csv          with evaluation.checkpoints: every lever against standard DPO's curves at its own
                                  reward and KL (``fdpo.frontier.matched``), also a section of frontier.md

Rerunning resumes: finished evaluations are kept, saved policies are loaded instead of trained.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fdpo._io import read_json, read_jsonl, write_csv, write_json, write_jsonl, write_text
from fdpo.frontier.matched import frontier_matched, matched_columns, matched_markdown
from fdpo.frontier.plan import Configuration, DivPOPairs, TrainedPolicy, plan_frontier
from fdpo.frontier.plot import plot_frontier
from fdpo.frontier.settings import FrontierSettings
from fdpo.frontier.table import frontier_columns, frontier_markdown, frontier_table, summarize_configurations
from fdpo.pipeline import compute_reference_log_probs, evaluate_policy, load_prompts, train_policy
from fdpo.report import sweep_replicates
from fdpo.sweep import SweepConfig, SweepConfigError, SweepResources, evaluation_prompts, prepare_pairs
from fdpo.sweep.stage_files import PAIR_DRAWS_FOLDER, pair_stage_folder
from fdpo.sweep.store import CURVE_FILE, RunStore, sweep_lock
from fdpo.uncertainty import Replicates

__all__ = ["run_frontier", "write_frontier"]

#: The keys of an evaluation row that name it; the rest are its metrics.
_ROW_KEYS = ("run_id", "lever", "setting", "seed", "policy")
#: The untrained model's configuration: the curves' step 0.
_SFT = Configuration(None)


def _dataset(records):
    from datasets import Dataset

    return Dataset.from_list([dict(record) for record in records])


@dataclass
class _Study:
    """What the trainings and evaluations of one study share: its folder, the sweep config, its models (loaded on
    first use), the pair stages' prompts and the held-out evaluation prompts of each seed; and the pair sets built so
    far; ``store`` holds the evaluations."""

    root: Path
    config: SweepConfig
    resources: SweepResources
    prompts: list[str]
    evaluation_prompts: dict[int, list[str]]
    show_progress: bool
    store: RunStore
    _pairs: dict[tuple[DivPOPairs | None, int | None], Any] = field(
        default_factory=dict, init=False, repr=False
    )

    def pairs(self, divpo: DivPOPairs | None, seed: int):
        """The pairs of seed ``seed``'s pair draw: the sweep's (``divpo`` None) or the DivPO set ``divpo``."""
        draw = self.config.pair_draw(seed)
        if (divpo, draw) not in self._pairs:
            # The sweep's stages first: the DivPO pairs are built from its samples and rewards.
            self._pairs[None, draw] = prepare_pairs(
                self.root, self.config, self.resources, self.prompts, self.show_progress, seed
            )
            if divpo is not None:
                folder = pair_stage_folder(self.root, self.config.pairs.draw, seed)
                self._pairs[divpo, draw] = self._divpo_pairs(folder, divpo)
        return self._pairs[divpo, draw]

    def _divpo_pairs(self, folder: Path, divpo: DivPOPairs):
        """The DivPO pair set ``divpo`` from the SFT samples and rewards in ``folder`` (one seed's pair stages, see
        ``fdpo.sweep.stage_files.pair_stage_folder``), with reference log-probs when the sweep reuses them."""
        from fdpo.decoding import Samples
        from fdpo.pipeline import make_pairs

        config = self.config
        pairs_path = folder / f"{divpo.name}_pairs.jsonl"
        ref_path = folder / f"{divpo.name}_pairs_with_ref.jsonl"
        if config.reuse_reference_log_probs and ref_path.is_file():
            return _dataset(read_jsonl(ref_path))
        model, tokenizer = self.resources.sft
        if not pairs_path.is_file():
            samples = Samples.load(folder / "pair_samples.jsonl")
            rewards = read_json(folder / "pair_scores.json")
            settings = divpo.pair_settings(config.pairs)
            pairs = make_pairs(samples, rewards, settings, model=model, tokenizer=tokenizer)
            write_jsonl(pairs_path, pairs.to_list())
        pairs = _dataset(read_jsonl(pairs_path))
        if not config.reuse_reference_log_probs:
            return pairs
        scratch = folder / ".reference"
        args = config.fdpo_config(config.runs()[0], scratch)
        with_ref = compute_reference_log_probs(
            model, tokenizer, pairs, args, show_progress=self.show_progress
        )
        shutil.rmtree(scratch, ignore_errors=True)
        write_jsonl(ref_path, with_ref.to_list())
        return _dataset(read_jsonl(ref_path))

    def trained(self, policy: TrainedPolicy, seed: int, curve: Configuration | None = None):
        """``policy`` trained at ``seed``: loaded from ``policies/<policy id>`` when saved, else trained and saved.

        With ``curve`` (a configuration of ``policy``, with ``evaluation.checkpoints``), the policy is also evaluated
        as ``curve`` at each checkpoint while it trains, and the curve written to ``policies/<policy id>/curve.jsonl``
        before train.json: step 0 the SFT configuration's evaluation at ``seed``, the last step the final policy (a
        checkpoint there is stored as the configuration's own evaluation; without one, that evaluation is made). A saved policy is loaded as
        it is, with or without its curve."""
        from transformers import AutoModelForCausalLM

        directory = self.root / "policies" / policy.policy_id(seed)
        if (directory / "train.json").is_file():
            return AutoModelForCausalLM.from_pretrained(directory / "model").to(self.resources.device).eval()
        model, tokenizer = self.resources.sft
        pairs = self.pairs(policy.divpo, seed)
        args = self.config.fdpo_config(policy.run(seed), output_dir=directory / "trainer")
        points: list[dict[str, Any]] = []
        latest: list[Any] = []  # [step, (metrics, generations)] of the latest checkpoint
        tracing = {}
        if curve is not None:
            points.append({"seed": seed, "step": 0, **self.measured(_SFT, None, seed)})

            def on_checkpoint(step: int, policy_now) -> None:
                # The policy being trained, in eval mode, measured as the configuration's final policy will be.
                metrics, generations = self.evaluate(curve, policy_now, seed)
                points.append({"seed": seed, "step": step, **metrics})
                latest[:] = [step, (metrics, generations)]

            tracing = {
                "checkpoints": sorted(self.config.evaluation.checkpoints),
                "on_checkpoint": on_checkpoint,
            }
        trained, seconds, history = train_policy(
            model, tokenizer, pairs, args, reuse_reference=self.config.reuse_reference_log_probs, **tracing
        )
        shutil.rmtree(directory / "trainer", ignore_errors=True)
        trained.save_pretrained(directory / "model")
        if curve is not None:
            last = max((int(entry["step"]) for entry in history if "step" in entry), default=0)
            if latest and latest[0] == last:
                # the checkpoint at the last step measured the final policy exactly: it is the configuration's run
                self.measured(curve, trained, seed, evaluation=latest[1])
            else:
                points.append({"seed": seed, "step": last, **self.measured(curve, trained, seed)})
            write_jsonl(directory / CURVE_FILE, points)
        losses = [entry for entry in history if "loss" in entry]
        write_json(
            directory / "train.json",
            {
                "policy": policy.policy_id(seed),
                "train_seconds": seconds,
                "num_pairs": len(pairs),
                "log": losses[-1:],
            },
        )
        return trained

    def measured(
        self, configuration: Configuration, policy, seed: int, evaluation: tuple[dict, list] | None = None
    ) -> dict[str, Any]:
        """The metrics of ``configuration`` at ``seed``: its stored evaluation, else ``evaluation`` (metrics and
        generations already made of this very policy) or ``evaluate``, stored as its run."""
        run_id = configuration.run_id(seed)
        if not self.store.is_finished(run_id):
            self.store.begin(run_id, {"configuration": configuration.record(), "seed": seed})
            metrics, generations = evaluation or self.evaluate(configuration, policy, seed)
            row = {
                "run_id": run_id,
                "lever": configuration.lever,
                "setting": configuration.setting,
                "seed": seed,
                "policy": "sft" if configuration.policy is None else configuration.policy.policy_id(seed),
                **metrics,
            }
            self.store.finish(run_id, row, generations)
        return {key: value for key, value in self.store.load_row(run_id).items() if key not in _ROW_KEYS}

    def curve(self, policy: TrainedPolicy, seed: int) -> list[dict[str, Any]]:
        """The curve of ``policy`` at ``seed`` (see ``trained``); empty when it was trained without one."""
        path = self.root / "policies" / policy.policy_id(seed) / CURVE_FILE
        return read_jsonl(path) if path.is_file() else []

    def evaluate(self, configuration: Configuration, policy, seed: int):
        """``configuration`` measured with the sweep's evaluation at ``seed``: ``policy`` (its policy trained at that
        seed; None: the SFT model) sampled as it is or through the configuration's transform."""
        sft, tokenizer = self.resources.sft
        evaluation = self.config.evaluation
        generation = self.config.evaluation_generation()
        model = sft if policy is None else policy
        if configuration.transform is not None:
            model, generation = configuration.transform.apply(sft, model, generation)
        return evaluate_policy(
            model,
            tokenizer,
            self.resources.reward,
            self.evaluation_prompts[int(seed)],
            reference=None if policy is None else sft,
            settings=dataclasses.replace(evaluation, generation=generation),
            generation=generation,
            prompt_template=self.config.prompts.template,
            seed=seed,
            show_progress=self.show_progress,
        )


def run_frontier(
    config: SweepConfig,
    output_dir: str | Path,
    settings: FrontierSettings | None = None,
    *,
    show_progress: bool = True,
    restart: bool = False,
) -> list[dict[str, Any]]:
    """Runs (or resumes) the frontier study in ``output_dir`` and returns the rows of frontier.csv."""
    from tqdm.auto import tqdm

    settings = settings or FrontierSettings()
    settings.validate()
    config.check(quick=True)
    config = config.resolved(show_progress=show_progress)
    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    with sweep_lock(root):
        state = {"shared": config.shared_dict(), "frontier": dataclasses.asdict(settings)}
        _check_same_study(root, state, restart)
        write_json(root / "sweep.json", {"config": config.to_dict(), **state})
        plan = plan_frontier(config, settings)
        seeds = [int(seed) for seed in config.grid.seeds]
        prompts = load_prompts(config.prompts.texts, config.prompts.file)
        # One list for every seed, or each seed's own draw (evaluation.prompt_draw: per_seed), as in a sweep.
        eval_prompts = {seed: evaluation_prompts(config, prompts, seed) for seed in seeds}
        store = RunStore(root)
        study = _Study(root, config, SweepResources(config), prompts, eval_prompts, show_progress, store)
        checkpoints = bool(config.evaluation.checkpoints)
        # In the plan's order of policies, each seed's policy loaded or trained once for all the configurations on it.
        todo: dict[tuple[TrainedPolicy | None, int], list[Configuration]] = {}
        for policy in plan.policies:
            for seed in seeds:
                for configuration in plan.configurations:
                    if configuration.policy == policy and not store.is_finished(configuration.run_id(seed)):
                        todo.setdefault((policy, seed), []).append(configuration)
        bar = tqdm(total=sum(map(len, todo.values())), desc="frontier evaluations", disable=not show_progress)
        for (policy, seed), pending in todo.items():
            # Standard DPO traces its curve while training (evaluating the SFT model and maybe itself on the way).
            traced = plan.baseline if checkpoints and policy == plan.baseline.policy else None
            model = None if policy is None else study.trained(policy, seed, curve=traced)
            for configuration in pending:
                bar.set_postfix_str(f"{configuration.setting} seed {seed}")
                study.measured(configuration, model, seed)
                bar.update()
            del model
        bar.close()
        rows = [store.load_row(c.run_id(seed)) for c in plan.configurations for seed in seeds]
        replicates, notes = sweep_replicates(root, rows)
        baseline = (plan.baseline.lever, plan.baseline.setting)
        curve = (
            [point for seed in seeds for point in study.curve(plan.baseline.policy, seed)]
            if checkpoints
            else []
        )
        table = write_frontier(
            rows,
            root,
            baseline,
            diversity=settings.diversity,
            title=config.name,
            replicates=replicates,
            curve=curve,
        )
        matched = _write_matched(root, curve, rows, baseline) if checkpoints else None
        why_not = (
            "This comparison needs the baseline's curves: list training steps in `evaluation.checkpoints` (a "
            "changed config needs a new --output-dir, or --restart)."
            if not checkpoints
            else "No curve of the baseline was found (its policies were trained without checkpoints)."
        )
        section = matched_markdown(matched, plan.baseline.setting, why_not=why_not)
        write_text(root / "frontier.md", frontier_markdown(table, notes=notes) + "\n" + section)
    return table


def _write_matched(
    root: Path,
    points: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    baseline: tuple[str, str],
) -> list[dict[str, Any]] | None:
    """frontier_matched.csv from the baseline's curve points (every seed's) and every evaluation row; None (nothing
    written) when no policy of the baseline has a curve."""
    if not points:
        (root / "frontier_matched.csv").unlink(missing_ok=True)
        return None
    matched = frontier_matched(points, rows, baseline)
    write_csv(root / "frontier_matched.csv", matched, matched_columns())
    return matched


def write_frontier(
    evaluations: Sequence[Mapping[str, Any]],
    output_dir: str | os.PathLike,
    baseline: tuple[str, str],
    *,
    diversity: str = "token_entropy",
    title: str | None = None,
    replicates: Mapping[str, Mapping[str, Replicates]] | None = None,
    curve: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Writes frontier.csv and frontier.png into ``output_dir`` from one row per evaluation; returns the table.

    ``replicates`` (per evaluation ``run_id``, from ``fdpo.report.sweep_replicates``) adds the prompt part to the
    standard errors; ``curve`` (the baseline's checkpoint evaluations: ``seed``, ``step`` and the metrics) draws
    the baseline's training curve on the plot."""
    table = frontier_table(
        summarize_configurations(evaluations, replicates=replicates),
        baseline,
        diversity=diversity,
        evaluations=evaluations,
        replicates=replicates,
    )
    output_dir = Path(output_dir)
    write_csv(output_dir / "frontier.csv", table, frontier_columns())
    plot_frontier(
        table,
        output_dir / "frontier.png",
        baseline=baseline,
        curve=curve,
        **({"title": title} if title else {}),
    )
    return table


_SHARED_FILES = (
    "pair_samples.jsonl",
    "pair_scores.json",
    "pairs.jsonl",
    "pairs_with_ref.jsonl",
    "reference_log_probs.json",
    "stages.json",
)


def _check_same_study(root: Path, state: Mapping[str, Any], restart: bool) -> None:
    path = root / "sweep.json"
    if restart:
        for name in ("policies", "runs", PAIR_DRAWS_FOLDER):
            shutil.rmtree(root / name, ignore_errors=True)
        for pattern in (
            *_SHARED_FILES,
            "sweep.json",
            "divpo-*_pairs*.jsonl",
            "frontier.*",
            "frontier_matched.csv",
        ):
            for file in root.glob(pattern):
                file.unlink()
        return
    if not path.is_file():
        return
    previous = read_json(path)
    if previous.get("shared") != state["shared"]:
        raise SweepConfigError(
            f"{root} holds a frontier study with another sweep config (models, prompts, pairs, training or "
            "evaluation differ): its policies and evaluations would not match. Use another --output-dir, or "
            "--restart to discard them."
        )
    old, new = previous.get("frontier", {}), state["frontier"]
    changed = [key for key in ("baseline_divergence", "baseline_beta") if old.get(key) != new.get(key)]
    if changed:
        raise SweepConfigError(
            f"{root} holds a frontier study with another {', '.join(changed)}; use another --output-dir or --restart."
        )
