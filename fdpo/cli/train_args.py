"""The arguments of ``fdpo train``: TRL's own dataclasses, parsed by ``trl.TrlParser`` as ``trl dpo`` parses them.

``fdpo train`` takes what ``trl dpo`` takes: every ``FDPOConfig`` (``DPOConfig``/``TrainingArguments``) field as
``--name`` or ``--name-with-dashes``, the model and PEFT options of ``trl.ModelConfig``, the dataset options of
``trl.ScriptArguments`` (``--dataset_name`` a hub id or a local dataset), a ``trl.DatasetMixtureConfig`` (``datasets:``
in the config file) and ``--config file.yaml``. fdpo adds
``--pairs FILE.jsonl`` (a pairs file of ``fdpo pairs``), ``--model`` as a short form of ``--model_name_or_path`` and,
from its first version, ``--set KEY=VALUE`` (read as ``--KEY VALUE``).

This module imports TRL (seconds): ``fdpo.cli.train`` imports it only when ``fdpo train`` runs.
"""

from __future__ import annotations

import argparse
import difflib
from dataclasses import dataclass, field
from pathlib import Path

from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, TrlParser

from fdpo.checks import TRAINING_VALUE_KEYS, rename_keys
from fdpo.config import FDPOConfig
from fdpo.errors import InputError

__all__ = ["TrainArguments", "TrainModelConfig", "make_parser", "parse"]

_DESCRIPTION = """\
Train one policy with FDPOTrainer and save it (save_pretrained, with its tokenizer) and train_log.json into
--output-dir. Takes what `trl dpo` takes: every FDPOConfig/DPOConfig/TrainingArguments option, the model and PEFT
options of trl.ModelConfig, --dataset_name (a hub dataset, a local dataset folder or a .jsonl/.json/.csv/.parquet
file) and --config FILE.yaml (its keys are option names; options on the line win). Or --pairs FILE.jsonl, a pairs
file of 'fdpo pairs': a file with ref_chosen_logps/ref_rejected_logps columns (a sweep's pairs_with_ref.jsonl) is
used without any reference forward pass.

Defaults are TRL's except: --seed 0, --save_strategy no (the model is saved once, at the end), and bf16 on
only where the accelerator supports it (FDPOConfig's default). --set KEY=VALUE is read as --KEY VALUE. A bare
--debug (no value after it) shows tracebacks; --debug MODE is TrainingArguments' own debug option.

examples:
  fdpo train --model M --pairs pairs.jsonl --divergence alpha:0.3 --beta 0.05 --output-dir policy/
  fdpo train --model M --dataset_name trl-lib/ultrafeedback_binarized --use_peft --lora_r 16 --output_dir out/
  fdpo train --config train.yaml --learning_rate 1e-6
"""


@dataclass
class TrainArguments(ScriptArguments):
    """TRL's script arguments (the dataset) plus fdpo's pairs file."""

    pairs: str | None = field(
        default=None,
        metadata={
            "help": "A pairs file written by 'fdpo pairs' (JSONL: prompt, chosen, rejected, ...); instead of "
            "--dataset_name."
        },
    )


@dataclass
class TrainModelConfig(ModelConfig):
    """``trl.ModelConfig`` with ``--model`` as a short form of ``--model_name_or_path``."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "The model to start from (and the reference): a local folder or a hub id.",
            "aliases": ["--model"],
        },
    )


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, the description's line breaks kept."""


def make_parser() -> TrlParser:
    parser = TrlParser(
        (TrainArguments, FDPOConfig, TrainModelConfig, DatasetMixtureConfig),
        prog="fdpo train",
        description=_DESCRIPTION,
        formatter_class=_Formatter,
    )
    parser.set_defaults(seed=0, save_strategy="no")
    return parser


def _expand_set(argv: list[str]) -> list[str]:
    """``--set KEY=VALUE`` → ``--KEY VALUE``."""
    expanded, items = [], iter(argv)
    for item in items:
        if item == "--set" or item.startswith("--set="):
            value = item.partition("=")[2] if item.startswith("--set=") else next(items, "")
            key, equals, setting = value.partition("=")
            if not equals or not key.strip():
                raise InputError(f"--set {value!r} must be KEY=VALUE, e.g. --set learning_rate=1e-5.")
            expanded += [f"--{key.strip()}", setting]
        else:
            expanded.append(item)
    return expanded


def _check_config_file(argv: list[str]) -> None:
    """``--config FILE``: an existing UTF-8 YAML file holding a mapping (TRL would fail with a bare traceback)."""
    if "--config" not in argv:
        return
    index = argv.index("--config")
    if index + 1 >= len(argv):
        raise InputError("--config needs a value: the path of a YAML file of training options.")
    import yaml

    from fdpo.cli.failures import about

    path = argv[index + 1]
    with about(f"--config {path!r}"):
        text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise InputError(f"--config {path!r}{where}: {problem}. Fix the YAML syntax there.") from error
    if not isinstance(data, dict):
        raise InputError(
            f"--config {path!r} must hold a YAML mapping of option names to values (e.g. 'learning_rate: 1e-6'), "
            f"got {type(data).__name__}."
        )


def _unknown(parser: TrlParser, remaining: list[str]) -> InputError:
    known = [option for action in parser._actions for option in action.option_strings]
    names = [item for item in remaining if item.startswith("-")] or remaining
    hints = []
    for name in names:
        close = difflib.get_close_matches(name.split("=")[0], known, n=1)
        hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return InputError(
        f"unknown option(s): {', '.join(hints)}. 'fdpo train --help' lists the options (TRL's DPOConfig, "
        "ModelConfig and ScriptArguments, plus --pairs)."
    )


def parse(argv: list[str]) -> tuple[TrainArguments, FDPOConfig, TrainModelConfig, DatasetMixtureConfig]:
    """The four argument dataclasses of ``argv``, as ``trl dpo`` has them.

    Raises:
        InputError: an unknown option (with the closest known one), a refused setting, a bad ``--config`` file.
    """
    from fdpo.cli.failures import about

    argv = _expand_set(argv)
    _check_config_file(argv)
    parser = make_parser()
    # FDPOConfig refuses bad settings in __post_init__ (ValueError/TypeError naming the setting); its value ranges
    # (fdpo.checks.training_value_problems) name the field, written here as the option that sets it.
    with about("invalid training arguments", also=(ValueError, TypeError)):
        try:
            *parsed, remaining = parser.parse_args_and_config(argv, return_remaining_strings=True)
        except InputError as error:
            options = {key: f"--{key}" for key in TRAINING_VALUE_KEYS}
            raise InputError(rename_keys(str(error), options)) from error
    if remaining:
        raise _unknown(parser, remaining)
    return tuple(parsed)
