"""The frontier study: every lever on one world, evaluated alike, and which configurations beat standard DPO.

``run_frontier(config, output_dir)`` takes a sweep config (the demo world's by default, from the CLI) and:

1. runs the sweep's shared stages once: SFT samples, rewards, preference pairs, reference log-probs;
2. builds DivPO pairs from the *same* samples (``frontier.divpo`` criteria; ``fdpo.data.build_pairs``);
3. trains each policy it needs once and saves it: every grid cell of the sweep (its divergences × β × seeds, plus
   standard DPO, reverse KL at ``baseline_beta``, if the grid lacks it) and one DivPO policy per criterion and seed
   (trained like standard DPO);
4. evaluates every configuration × seed with the sweep's evaluation (``evaluate_policy``: same prompts, samples,
   metrics): the trained policies, the SFT model, and the evaluation-only levers applied to the policies named in
   ``lever_bases``, reusing them: sampling temperatures, weight interpolation with the SFT model
   (``fdpo.levers.interpolate_weights``) and, where ``fdpo.generation.sample`` supports it, decoding-time
   realignment;
5. writes frontier.csv, frontier.png (``fdpo.frontier``) and frontier.md.

Layout of ``output_dir`` (every file written atomically)::

    frontier.json                 the resolved sweep config and frontier settings (a changed shared config is refused)
    pair_samples.jsonl, pair_scores.json, pairs.jsonl, pairs_with_ref.jsonl   the sweep's shared stages
    divpo-<criterion>-q<q>_pairs.jsonl (+ _pairs_with_ref.jsonl)               DivPO pairs from the same samples
    policies/<policy>/model, policies/<policy>/train.json   a trained policy; train.json (written last) marks it done
    evaluations/<configuration>__seed<s>.json (+ .generations.jsonl)   one per configuration and seed
    frontier.csv, frontier.png, frontier.md

Rerunning resumes: finished evaluations are kept, saved policies are loaded instead of trained.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fdpo._io import read_json, read_jsonl, write_json, write_jsonl, write_text
from fdpo.data import DIVERSITY_CRITERIA
from fdpo.evaluation import evaluate_policy
from fdpo.frontier import DOMINANCE_MEASURES, write_frontier
from fdpo.report import configuration_label
from fdpo.stages import compute_reference_log_probs, load_prompts, train_policy
from fdpo.sweep import (
    RunSpec,
    SweepConfig,
    SweepConfigError,
    SweepResources,
    evaluation_prompts,
    prepare_pairs,
)
from fdpo.sweep.store import sweep_lock

__all__ = [
    "Configuration",
    "FrontierSettings",
    "PolicySpec",
    "frontier_config",
    "frontier_markdown",
    "plan_frontier",
    "run_frontier",
]


@dataclass
class FrontierSettings:
    """The levers of the frontier study (the ``frontier:`` section of a sweep YAML, or ``frontier.*`` overrides)."""

    baseline_divergence: str = field(
        default="reverse_kl", metadata={"help": "The divergence of standard DPO."}
    )
    baseline_beta: float = field(
        default=0.1, metadata={"help": "β of standard DPO, the configuration to beat."}
    )
    divpo: list[str] = field(
        default_factory=lambda: ["logprob"],
        metadata={
            "help": "DivPO diversity criteria (logprob, ngram); one DivPO policy per criterion and seed."
        },
    )
    divpo_quantile: float = field(
        default=0.5, metadata={"help": "DivPO reward pools: top/bottom share of each prompt's samples."}
    )
    divpo_ngram: int = field(default=2, metadata={"help": "n of the ngram criterion."})
    temperatures: list[float] = field(
        default_factory=lambda: [0.7, 0.85, 1.15], metadata={"help": "Evaluation sampling temperatures."}
    )
    interpolation: list[float] = field(
        default_factory=lambda: [0.5, 0.75, 1.25],
        metadata={"help": "t of θ(t) = (1 − t)·θ_SFT + t·θ_policy (t > 1 extrapolates)."},
    )
    realignment: list[float] = field(
        default_factory=list, metadata={"help": "λ of decoding-time realignment (needs sample(realign=))."}
    )
    lever_bases: list[str] = field(
        default_factory=lambda: ["baseline", "divpo"],
        metadata={"help": "Policies the evaluation-only levers apply to: baseline and/or divpo."},
    )
    diversity: str = field(default="token_entropy", metadata={"help": "Diversity measure of on_front."})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, source: str = "frontier") -> FrontierSettings:
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = [key for key in data if key not in known]
        if unknown:
            raise SweepConfigError(
                f"{source}: unknown frontier setting(s) {unknown}; known: {', '.join(sorted(known))}."
            )
        settings = cls(**data)
        settings.validate(source=source)
        return settings

    def validate(self, *, source: str = "frontier") -> None:
        """Checks every setting before anything is loaded; raises ``SweepConfigError`` listing the problems."""
        problems = []

        def numbers(name, values, low=None, allow_empty=True):
            if not isinstance(values, list) or (not values and not allow_empty):
                return [f"frontier.{name} must be a list of numbers, got {values!r}."]
            bad = [v for v in values if not _is_number(v) or (low is not None and v <= low)]
            if bad:
                bound = f" > {low}" if low is not None else ""
                return [f"frontier.{name} has {bad}; give finite numbers{bound}."]
            return [f"frontier.{name} has duplicates: {values}."] if len(set(values)) != len(values) else []

        problems += numbers("temperatures", self.temperatures, low=0)
        problems += numbers("interpolation", self.interpolation)
        problems += numbers("realignment", self.realignment)
        if not _is_number(self.baseline_beta) or self.baseline_beta <= 0:
            problems.append(f"frontier.baseline_beta must be a number > 0, got {self.baseline_beta!r}.")
        if not isinstance(self.divpo, list) or any(c not in DIVERSITY_CRITERIA for c in self.divpo):
            problems.append(
                f"frontier.divpo={self.divpo!r}: a list of {', '.join(DIVERSITY_CRITERIA)} (or [])."
            )
        if not _is_number(self.divpo_quantile) or not 0 < self.divpo_quantile <= 0.5:
            problems.append(f"frontier.divpo_quantile must be in (0, 0.5], got {self.divpo_quantile!r}.")
        if (
            isinstance(self.divpo_ngram, bool)
            or not isinstance(self.divpo_ngram, int)
            or self.divpo_ngram < 1
        ):
            problems.append(f"frontier.divpo_ngram must be a positive integer, got {self.divpo_ngram!r}.")
        if not isinstance(self.lever_bases, list) or any(
            b not in ("baseline", "divpo") for b in self.lever_bases
        ):
            problems.append(f"frontier.lever_bases={self.lever_bases!r}: a list of baseline and/or divpo.")
        if self.diversity not in DOMINANCE_MEASURES:
            problems.append(
                f"frontier.diversity={self.diversity!r}: use one of {', '.join(DOMINANCE_MEASURES)}."
            )
        if self.realignment and not _realignment_available():
            problems.append(
                "frontier.realignment needs decoding-time realignment in fdpo.generation.sample (a `realign` "
                "argument), which this version lacks; set frontier.realignment=[]."
            )
        try:
            from fdpo.divergences import get_divergence

            get_divergence(str(self.baseline_divergence))
        except (ValueError, TypeError, KeyError) as error:
            problems.append(f"frontier.baseline_divergence={self.baseline_divergence!r}: {error}")
        if problems:
            raise SweepConfigError(f"{source}: " + " ".join(problems))


@dataclass(frozen=True)
class PolicySpec:
    """A policy to train: the pairs it learns from (``pairs`` or a DivPO pair set) and its grid cell."""

    pairs: str
    run: RunSpec

    @property
    def policy_id(self) -> str:
        return f"{self.pairs}__{self.run.run_id}"


@dataclass(frozen=True)
class Configuration:
    """One point of the front: a lever at a setting, on a policy family (None: the SFT model), per seed."""

    lever: str
    setting: str
    pairs: str | None = None  # the policy's pairs and grid cell, seed left out
    divergence: str = ""
    loss_type: str = ""
    beta: float = 0.0
    transform: tuple[str, float] | None = None  # ("temperature", T), ("interpolation", t), ("realignment", λ)

    def policy(self, seed: int) -> PolicySpec | None:
        if self.pairs is None:
            return None
        return PolicySpec(self.pairs, RunSpec(self.divergence, self.loss_type, self.beta, seed))

    @property
    def configuration_id(self) -> str:
        text = f"{self.lever}__{self.setting}"
        for symbol, name in (("β", "beta"), ("α", "alpha"), ("λ", "lambda"), ("=", "")):
            text = text.replace(symbol, name)
        return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def _is_number(value: Any) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _realignment_available() -> bool:
    import inspect

    from fdpo.generation import sample

    return "realign" in inspect.signature(sample).parameters


def _dataset(records):
    from datasets import Dataset

    return Dataset.from_list([dict(record) for record in records])


def _divpo_name(criterion: str, settings: FrontierSettings) -> str:
    return f"divpo-{criterion}-q{settings.divpo_quantile:g}"


def plan_frontier(config: SweepConfig, settings: FrontierSettings) -> list[Configuration]:
    """The configurations of the study, the baseline (standard DPO) first."""
    from fdpo.divergences import get_divergence

    baseline_spec = get_divergence(str(settings.baseline_divergence)).spec
    baseline_beta = float(settings.baseline_beta)
    cells = [(run.divergence, run.loss_type, run.beta) for run in config.runs()]
    cells = list(dict.fromkeys([(baseline_spec, "sigmoid", baseline_beta), *cells]))
    with_loss = len({loss for _, loss, _ in cells}) > 1
    labels = {cell: configuration_label(*cell, with_loss=with_loss, with_beta=True) for cell in cells}
    baseline = Configuration("divergence", labels[cells[0]], "pairs", baseline_spec, "sigmoid", baseline_beta)
    configurations = [baseline, Configuration("sft", "SFT")]
    configurations += [Configuration("divergence", labels[cell], "pairs", *cell) for cell in cells[1:]]
    bases = [baseline] if "baseline" in settings.lever_bases else []
    for criterion in settings.divpo:
        name = _divpo_name(criterion, settings)
        divpo = Configuration(
            "divpo", f"DivPO {criterion} q={settings.divpo_quantile:g} {baseline.setting}", name, *cells[0]
        )
        configurations.append(divpo)
        if "divpo" in settings.lever_bases:
            bases.append(divpo)
    for base in bases:
        prefix = (
            base.setting if base.lever == "divergence" else base.setting.replace(f" {baseline.setting}", "")
        )
        for lever, symbol, values in (
            ("temperature", "T", settings.temperatures),
            ("interpolation", "t", settings.interpolation),
            ("realignment", "λ", settings.realignment),
        ):
            for value in values:
                configurations.append(
                    dataclasses.replace(
                        base,
                        lever=lever,
                        setting=f"{prefix} {symbol}={value:g}",
                        transform=(lever, float(value)),
                    )
                )
    return configurations


def _divpo_pairs(root: Path, config: SweepConfig, resources, criterion: str, settings: FrontierSettings):
    """DivPO pairs from the sweep's SFT samples and rewards (with reference log-probs when the sweep reuses them)."""
    from fdpo.generation import Samples
    from fdpo.stages import make_pairs

    name = _divpo_name(criterion, settings)
    pairs_path, ref_path = root / f"{name}_pairs.jsonl", root / f"{name}_pairs_with_ref.jsonl"
    if config.reuse_reference_log_probs and ref_path.is_file():
        return _dataset(read_jsonl(ref_path))
    model, tokenizer = resources.sft
    if not pairs_path.is_file():
        pair_settings = dataclasses.replace(
            config.pairs,
            strategy="divpo",
            diversity=criterion,
            quantile=settings.divpo_quantile,
            ngram=settings.divpo_ngram,
        )
        samples = Samples.load(root / "pair_samples.jsonl")
        rewards = read_json(root / "pair_scores.json")
        pairs = make_pairs(samples, rewards, pair_settings, model=model, tokenizer=tokenizer)
        write_jsonl(pairs_path, pairs.to_list())
    pairs = _dataset(read_jsonl(pairs_path))
    if not config.reuse_reference_log_probs:
        return pairs
    scratch = root / "policies" / ".reference"
    with_ref = compute_reference_log_probs(
        model, tokenizer, pairs, config.fdpo_config(config.runs()[0], scratch)
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
        self._pairs: dict[str, Any] = {}

    def pairs(self, name: str):
        if name not in self._pairs:
            # The sweep's stages first: the DivPO pairs are built from its samples and rewards.
            standard = prepare_pairs(self.root, self.config, self.resources, self.prompts, self.progress)
            self._pairs["pairs"] = standard
            if name != "pairs":
                criterion = name.split("-")[1]
                self._pairs[name] = _divpo_pairs(
                    self.root, self.config, self.resources, criterion, self.settings
                )
        return self._pairs[name]

    def get(self, spec: PolicySpec):
        from transformers import AutoModelForCausalLM

        directory = self.root / "policies" / spec.policy_id
        if (directory / "train.json").is_file():
            return AutoModelForCausalLM.from_pretrained(directory / "model").to(self.resources.device).eval()
        model, tokenizer = self.resources.sft
        pairs = self.pairs(spec.pairs)
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
        write_json(root / "frontier.json", {"config": config.to_dict(), **state})
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
        evaluations = root / "evaluations"
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
                    done = (evaluations / f"{configuration.configuration_id}__seed{seed}.json").is_file()
                    if configuration.policy(0) == family and not done:
                        todo.setdefault((configuration.policy(seed), seed), []).append(configuration)
        policies = _Policies(root, config, resources, settings, prompts, show_progress)
        bar = tqdm(total=sum(map(len, todo.values())), desc="frontier evaluations", disable=not show_progress)
        for (spec, seed), pending in todo.items():
            policy = None if spec is None else policies.get(spec)
            for configuration in pending:
                bar.set_postfix_str(f"{configuration.setting} seed {seed}")
                metrics, generations = _evaluate(configuration, policy, seed, context)
                row = {
                    "lever": configuration.lever,
                    "setting": configuration.setting,
                    "seed": seed,
                    "policy": spec.policy_id if spec is not None else "sft",
                    **metrics,
                }
                stem = f"{configuration.configuration_id}__seed{seed}"
                write_jsonl(evaluations / f"{stem}.generations.jsonl", generations)
                write_json(evaluations / f"{stem}.json", row)
                bar.update()
            del policy
        bar.close()
        rows = [
            read_json(evaluations / f"{c.configuration_id}__seed{seed}.json")
            for c in configurations
            for seed in seeds
        ]
        baseline = (configurations[0].lever, configurations[0].setting)
        table = write_frontier(rows, root, baseline, diversity=settings.diversity, title=config.name)
        write_text(root / "frontier.md", frontier_markdown(table))
    return table


_SHARED_FILES = (
    "pair_samples.jsonl",
    "pair_scores.json",
    "pairs.jsonl",
    "pairs_with_ref.jsonl",
    "reference_log_probs.json",
)


def _check_same_study(root: Path, state: Mapping[str, Any], restart: bool) -> None:
    path = root / "frontier.json"
    if restart:
        for name in ("policies", "evaluations", "runs"):
            shutil.rmtree(root / name, ignore_errors=True)
        for pattern in (*_SHARED_FILES, "divpo-*_pairs*.jsonl", "frontier.*"):
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


def frontier_markdown(table: Sequence[Mapping[str, Any]], digits: int = 3) -> str:
    """frontier.csv as a markdown table: mean ± 95% half-width across seeds, front and dominance marks."""

    def cell(row, metric):
        mean, half_width = row.get(f"{metric}_mean"), row.get(f"{metric}_ci95")
        if mean is None:
            return ""
        return f"{mean:.{digits}f}" + (f" ± {half_width:.{digits}f}" if half_width is not None else "")

    header = (
        "| lever | setting | reward | pred. entropy | token entropy | distinct-2 | KL to ref | n | front |"
    )
    lines = [header + " dominates RKL |", "|---|---|" + "---:|" * 6 + ":---:|:---:|"]
    for row in table:
        metrics = " | ".join(cell(row, m) for m in ("reward", *DOMINANCE_MEASURES, "kl_to_ref"))
        marks = f"{'✓' if row['on_front'] else ''} | {'✓' if row['dominates_rkl'] else ''}"
        lines.append(f"| {row['lever']} | {row['setting']} | {metrics} | {row['n']} | {marks} |")
    return "\n".join(lines) + "\n"


def frontier_config(
    config_path: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    quick: bool = False,
    cache_dir: str | Path | None = None,
) -> tuple[SweepConfig, FrontierSettings]:
    """The sweep config and frontier settings of ``fdpo frontier``, validated, nothing loaded.

    Args:
        config_path: a sweep YAML, optionally with a ``frontier:`` section (``FrontierSettings``); None: the demo
            world's sweep (``quick``: its quick version; ``cache_dir``: where the world is cached).
        overrides: dotted ``KEY=VALUE`` overrides; ``frontier.*`` keys set the frontier settings.
    """
    from fdpo.demo.world import demo_config_dict
    from fdpo.sweep import apply_overrides, load_yaml

    if config_path is not None:
        data, source = load_yaml(config_path), str(config_path)
    else:
        data, source = demo_config_dict(quick=quick), "fdpo frontier (demo world)"
        if cache_dir is not None:
            data["world_cache_dir"] = str(cache_dir)
    data = apply_overrides(data, overrides)
    settings = FrontierSettings.from_dict(data.pop("frontier", None), source=source)
    return SweepConfig.from_dict(data, source=source, check_models=config_path is not None), settings
