"""The frontier study: every lever on one world, evaluated alike, and which configurations beat standard DPO.

``run_frontier(config, output_dir)`` takes a sweep config (the demo world's by default, from the CLI) and:

1. runs the sweep's pair stages once per pair draw (per seed by default): SFT samples, rewards, preference pairs,
   reference log-probs;
2. builds DivPO pairs from the *same* samples (``frontier.divpo`` criteria; ``fdpo.data.build_pairs``);
3. trains each policy it needs once and saves it: every grid cell of the sweep (its divergences × β × seeds, plus
   standard DPO, reverse KL at ``baseline_beta``, if the grid lacks it) and one DivPO policy per criterion and seed
   (trained like standard DPO);
4. evaluates every configuration × seed with the sweep's evaluation (``evaluate_policy``: same prompts, samples,
   metrics): the trained policies, the SFT model, and the evaluation-only levers applied to the policies named in
   ``lever_bases``, reusing them: sampling temperatures, weight interpolation with the SFT model
   (``fdpo.levers.interpolate_weights``) and decoding-time realignment (``fdpo.generation.sample(realign=)``);
5. writes frontier.csv, frontier.png (``fdpo.frontier``) and frontier.md.

Layout of ``output_dir`` (every file written atomically)::

    sweep.json                    the resolved sweep config and frontier settings (a changed shared config is refused)
    pairs/seed-<s>/               the pair stages of seed s, as in a sweep (``pairs.draw: shared``: in this folder):
        pair_samples.jsonl, pair_scores.json, pairs.jsonl, pairs_with_ref.jsonl, stages.json
        divpo-<criterion>-q<q>_pairs.jsonl (+ _pairs_with_ref.jsonl)   DivPO pairs from the same samples
    policies/<policy>/model, policies/<policy>/train.json   a trained policy; train.json (written last) marks it done
    runs/<configuration>__seed<s>/metrics.json, generations.jsonl   one evaluation per configuration and seed (the
                                  sweep's run layout, so the divergence study's standard errors read it)
    frontier.csv, frontier.png, frontier.md

Rerunning resumes: finished evaluations are kept, saved policies are loaded instead of trained.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fdpo._io import read_json, read_jsonl, write_json, write_jsonl, write_text
from fdpo.evaluation import evaluate_policy
from fdpo.frontier import frontier_markdown, write_frontier
from fdpo.frontier_plan import Configuration, FrontierSettings, PolicySpec, plan_frontier
from fdpo.report import sweep_replicates
from fdpo.stages import compute_reference_log_probs, load_prompts, train_policy
from fdpo.sweep import SweepConfig, SweepConfigError, SweepResources, evaluation_prompts, prepare_pairs
from fdpo.sweep.stage_files import PAIR_DRAWS_FOLDER, pair_stage_folder
from fdpo.sweep.store import RunStore, sweep_lock

__all__ = ["run_frontier"]


def _dataset(records):
    from datasets import Dataset

    return Dataset.from_list([dict(record) for record in records])


def _divpo_pairs(
    root: Path,
    config: SweepConfig,
    resources,
    name: str,
    settings: FrontierSettings,
    show_progress: bool = True,
):
    """The DivPO pair set ``name`` (``divpo_pairs_name``) from the SFT samples and rewards in ``root`` (one seed's
    pair stages, see ``fdpo.sweep.stage_files.pair_stage_folder``), with reference log-probs when the sweep reuses
    them."""
    from fdpo.generation import Samples
    from fdpo.stages import make_pairs

    criterion, quantile = name.split("-")[1], float(name.rsplit("-q", 1)[1])
    pairs_path, ref_path = root / f"{name}_pairs.jsonl", root / f"{name}_pairs_with_ref.jsonl"
    if config.reuse_reference_log_probs and ref_path.is_file():
        return _dataset(read_jsonl(ref_path))
    model, tokenizer = resources.sft
    if not pairs_path.is_file():
        pair_settings = dataclasses.replace(
            config.pairs,
            strategy="divpo",
            diversity=criterion,
            quantile=quantile,
            ngram=settings.divpo_ngram,
        )
        samples = Samples.load(root / "pair_samples.jsonl")
        rewards = read_json(root / "pair_scores.json")
        pairs = make_pairs(samples, rewards, pair_settings, model=model, tokenizer=tokenizer)
        write_jsonl(pairs_path, pairs.to_list())
    pairs = _dataset(read_jsonl(pairs_path))
    if not config.reuse_reference_log_probs:
        return pairs
    scratch = root / ".reference"
    with_ref = compute_reference_log_probs(
        model, tokenizer, pairs, config.fdpo_config(config.runs()[0], scratch), show_progress=show_progress
    )
    shutil.rmtree(scratch, ignore_errors=True)
    write_jsonl(ref_path, with_ref.to_list())
    return _dataset(read_jsonl(ref_path))


class _Policies:
    """Trained policies: loaded from ``policies/<id>`` when saved, trained (once) and saved otherwise."""

    def __init__(
        self, root: Path, config: SweepConfig, resources, settings: FrontierSettings, prompts, progress
    ):
        self.root, self.config, self.resources, self.settings = root, config, resources, settings
        self.prompts, self.progress = prompts, progress
        self._pairs: dict[tuple[str, int | None], Any] = {}

    def pairs(self, name: str, seed: int):
        draw = self.config.pair_draw(seed)
        if (name, draw) not in self._pairs:
            # The sweep's stages first: the DivPO pairs are built from its samples and rewards.
            standard = prepare_pairs(
                self.root, self.config, self.resources, self.prompts, self.progress, seed
            )
            self._pairs["pairs", draw] = standard
            if name != "pairs":
                folder = pair_stage_folder(self.root, self.config.pairs.draw, seed)
                self._pairs[name, draw] = _divpo_pairs(
                    folder, self.config, self.resources, name, self.settings, self.progress
                )
        return self._pairs[name, draw]

    def get(self, spec: PolicySpec):
        from transformers import AutoModelForCausalLM

        directory = self.root / "policies" / spec.policy_id
        if (directory / "train.json").is_file():
            return AutoModelForCausalLM.from_pretrained(directory / "model").to(self.resources.device).eval()
        model, tokenizer = self.resources.sft
        pairs = self.pairs(spec.pairs, spec.run.seed)
        args = self.config.fdpo_config(spec.run, output_dir=directory / "trainer")
        policy, seconds, history = train_policy(
            model, tokenizer, pairs, args, reuse_reference=self.config.reuse_reference_log_probs
        )
        shutil.rmtree(directory / "trainer", ignore_errors=True)
        policy.save_pretrained(directory / "model")
        losses = [entry for entry in history if "loss" in entry]
        write_json(
            directory / "train.json",
            {"policy": spec.policy_id, "train_seconds": seconds, "num_pairs": len(pairs), "log": losses[-1:]},
        )
        return policy


def _evaluate(configuration: Configuration, policy, seed: int, context: dict[str, Any]):
    from fdpo.levers import interpolate_weights, with_temperature

    config: SweepConfig = context["config"]
    sft, tokenizer = context["resources"].sft
    evaluation = config.evaluation
    generation = evaluation.generation if evaluation.generation is not None else config.generation
    model = sft if policy is None else policy
    if configuration.transform is not None:
        lever, value = configuration.transform
        if lever == "temperature":
            generation = with_temperature(generation, value)
        elif lever == "interpolation":
            model = interpolate_weights(sft, policy, value).eval()
        else:  # realignment: sample from softmax(λ·logits_policy + (1 − λ)·logits_sft)
            generation = {**generation, "reference": sft, "realign": value}
    return evaluate_policy(
        model,
        tokenizer,
        context["resources"].reward,
        context["eval_prompts"],
        reference=None if policy is None else sft,
        settings=dataclasses.replace(evaluation, generation=generation),
        generation=generation,
        prompt_template=config.prompts.template,
        seed=seed,
        show_progress=context["progress"],
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
    config.validate()
    config = config.resolved(show_progress=show_progress)
    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    with sweep_lock(root):
        state = {"shared": config.shared_dict(), "frontier": dataclasses.asdict(settings)}
        _check_same_study(root, state, restart)
        write_json(root / "sweep.json", {"config": config.to_dict(), **state})
        configurations = plan_frontier(config, settings)
        seeds = [int(seed) for seed in config.grid.seeds]
        resources = SweepResources(config)
        prompts = load_prompts(config.prompts.texts, config.prompts.file)
        context = {
            "config": config,
            "resources": resources,
            "eval_prompts": evaluation_prompts(config, prompts),
            "progress": show_progress,
        }
        store = RunStore(root)
        # Policy by policy, each seed's policy loaded or trained once for all the configurations on it, so that an
        # interrupted study has whole families on every seed: standard DPO's first, then DivPO's (the candidates),
        # the SFT model, the other divergences.
        todo: dict[tuple[PolicySpec | None, int], list[Configuration]] = {}
        rank = {"divergence": 2, "divpo": 0, "sft": 1}
        ordered = [configurations[0], *sorted(configurations[1:], key=lambda c: rank.get(c.lever, 3))]
        families = list(dict.fromkeys(c.policy(0) for c in ordered))
        for family in families:
            for seed in seeds:
                for configuration in configurations:
                    done = store.is_finished(f"{configuration.configuration_id}__seed{seed}")
                    if configuration.policy(0) == family and not done:
                        todo.setdefault((configuration.policy(seed), seed), []).append(configuration)
        policies = _Policies(root, config, resources, settings, prompts, show_progress)
        bar = tqdm(total=sum(map(len, todo.values())), desc="frontier evaluations", disable=not show_progress)
        for (spec, seed), pending in todo.items():
            policy = None if spec is None else policies.get(spec)
            for configuration in pending:
                bar.set_postfix_str(f"{configuration.setting} seed {seed}")
                run_id = f"{configuration.configuration_id}__seed{seed}"
                store.begin(run_id, {"configuration": dataclasses.asdict(configuration), "seed": seed})
                metrics, generations = _evaluate(configuration, policy, seed, context)
                row = {
                    "run_id": run_id,
                    "lever": configuration.lever,
                    "setting": configuration.setting,
                    "seed": seed,
                    "policy": spec.policy_id if spec is not None else "sft",
                    **metrics,
                }
                store.finish(run_id, row, generations)
                bar.update()
            del policy
        bar.close()
        rows = [store.load_row(f"{c.configuration_id}__seed{seed}") for c in configurations for seed in seeds]
        replicates, notes = sweep_replicates(root, rows)
        baseline = (configurations[0].lever, configurations[0].setting)
        table = write_frontier(
            rows, root, baseline, diversity=settings.diversity, title=config.name, replicates=replicates
        )
        write_text(root / "frontier.md", frontier_markdown(table, notes=notes))
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
        for pattern in (*_SHARED_FILES, "sweep.json", "divpo-*_pairs*.jsonl", "frontier.*"):
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
