"""Options shared by the subcommands, built from the settings dataclasses where the command restates them.

``add_fields`` turns fields of a settings dataclass (``fdpo.settings``) into options: the type, the choices of a
``Literal`` field, the default and the help (``metadata["help"]``) come from the field, so the command and the YAML
config cannot drift apart. ``settings_from`` builds the dataclass back from the parsed arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from fdpo.checks import rename_keys
from fdpo.errors import InputError

__all__ = [
    "Formatter",
    "add_fields",
    "add_prompt_options",
    "add_sampling_options",
    "check_model",
    "check_output_dir",
    "check_output_file",
    "check_output_paths",
    "check_output_not_input",
    "device",
    "generation_settings",
    "load_model",
    "load_reward",
    "option_problems",
    "prompts",
    "refuse",
    "settings_from",
]


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and shows the defaults that say something (not None/False/[])."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        says_nothing = default is None or default is False or default is argparse.SUPPRESS or default == []
        if "%(default)" in text or says_nothing or action.nargs == 0:
            return text
        return text + " (default: %(default)s)"


def _option_type(hint: Any) -> dict[str, Any]:
    """argparse keywords for a field type: ``int | None`` → int, ``Literal[...]`` → choices, ``list[X]`` → nargs."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) is list:
        return {"nargs": "+", **_option_type(typing.get_args(hint)[0])}
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        return {"choices": choices, "type": type(choices[0])}
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    return {"type": hint}


def add_fields(
    group: argparse._ActionsContainer,
    settings: type,
    options: Mapping[str, str],
    *,
    helps: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Adds one option per field of the dataclass ``settings``.

    Args:
        options: field name → option string (``{"batch_size": "--reward-batch-size"}``); the parsed value is stored
            under the option's name (``args.reward_batch_size``).
        helps: a help text for the command line where the field's own speaks of the YAML config.
        defaults: a default of the command that differs from the field's.
    """
    hints = typing.get_type_hints(settings)
    fields = {item.name: item for item in dataclasses.fields(settings)}
    helps, defaults = helps or {}, defaults or {}
    for name, option in options.items():
        item = fields[name]
        if name in defaults:
            default = defaults[name]
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = item.default
        group.add_argument(
            option,
            default=default,
            help=helps.get(name, item.metadata.get("help")),
            **_option_type(hints[name]),
        )


def refuse(problems: list[str]) -> None:
    """Raises one ``InputError`` that names every problem found, if there is any."""
    if problems:
        raise InputError("; ".join(problems))


def settings_from(settings: type, args: argparse.Namespace, options: Mapping[str, str], **values: Any) -> Any:
    """The dataclass ``settings`` from the arguments of ``add_fields(..., options)``, plus ``values``."""
    given = {name: getattr(args, option.lstrip("-").replace("-", "_")) for name, option in options.items()}
    return settings(**given, **values)


def option_problems(problems: list[str], section: str, options: Mapping[str, str]) -> list[str]:
    """Problems of a settings section (``pairs.high ...``) said with the options that set them (``--high ...``)."""
    names = {f"{section}.{name}": option for name, option in options.items()}
    return [rename_keys(problem, names) for problem in problems]


# ----------------------------------------------------------------------------------------------------------------
# Prompts and sampling (generate, evaluate)


def add_prompt_options(parser: argparse.ArgumentParser) -> None:
    from fdpo.settings import PromptSettings

    group = parser.add_argument_group("prompts")
    group.add_argument(
        "--prompt",
        action="append",
        default=[],
        metavar="TEXT",
        help="A prompt to continue; repeat for several.",
    )
    add_fields(
        group,
        PromptSettings,
        {"file": "--prompts-file", "template": "--template"},
        helps={"file": "Text file with one prompt per line (added to --prompt)."},
    )


def add_sampling_options(parser: argparse.ArgumentParser, settings: type) -> None:
    """``--samples-per-prompt``, ``--batch-size``, ``--seed`` (fields of ``settings``), ``--gen``, ``--device``."""
    group = parser.add_argument_group("sampling")
    options = {"samples_per_prompt": "--samples-per-prompt", "batch_size": "--batch-size"}
    if "seed" in {item.name for item in dataclasses.fields(settings)}:
        options["seed"] = "--seed"
    add_fields(group, settings, options)
    if "seed" not in options:
        group.add_argument("--seed", type=int, default=0, help="Sampling seed.")
    group.add_argument(
        "--gen",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="A generate() setting, value read as YAML (e.g. --gen top_k=50 --gen max_new_tokens=40); repeatable.",
    )
    group.add_argument("--device", help="Device for the models (default: cuda when available, else cpu).")


def prompts(args: argparse.Namespace) -> list[str]:
    """The prompts of ``--prompt``/``--prompts-file``, checked: the file exists, is UTF-8 text and is not blank."""
    from fdpo.cli.failures import about
    from fdpo.pipeline import load_prompts

    file = args.prompts_file
    if file is not None:
        path = Path(file).expanduser()
        if path.is_dir():
            raise InputError(
                f"--prompts-file {file!r} is a folder; give a text file with one prompt per line."
            )
        if not path.is_file():
            raise InputError(
                f"--prompts-file {file!r} does not exist; give a text file with one prompt per line."
            )
    with about(f"--prompts-file {file!r}"):
        from_file = load_prompts([], file) if file is not None else []
    if file is not None and not from_file:
        raise InputError(
            f"--prompts-file {file!r} holds no prompts (it is empty or blank); write one prompt per line."
        )
    given = list(args.prompt) + from_file
    if not given:
        raise InputError("No prompts: give --prompt TEXT (repeatable) or --prompts-file FILE.")
    if "{prompt}" not in args.template:
        raise InputError(f"--template {args.template!r} must contain {{prompt}}, where each prompt goes.")
    return given


def generation_settings(items: list[str]) -> dict[str, Any]:
    """The ``--gen KEY=VALUE`` settings, checked against what ``generate()`` knows."""
    from fdpo.checks import generation_problems
    from fdpo.sweep.yamlio import apply_overrides

    settings = apply_overrides({}, items)
    refuse(generation_problems("--gen", settings))
    return settings


# ----------------------------------------------------------------------------------------------------------------
# Models, devices, output folders


def check_model(option: str, value: str) -> None:
    """A model given as a local folder or a hub id: refused before anything loads if it cannot be found."""
    from fdpo.sweep.preflight import model_reference_problems

    problems = model_reference_problems(option, value)
    if problems:
        raise InputError(problems[0])


def load_model(option: str, value: str, on: str):
    """``(model, tokenizer)`` of the causal LM ``option`` names (checked with ``check_model``), on device ``on``; a
    failure to load names the option."""
    from fdpo.cli.failures import about
    from fdpo.pipeline import load_causal_lm

    with about(f"{option} {value!r}"):
        return load_causal_lm(value, on)


def load_reward(option: str, value: str, settings: Any, on: str):
    """The reward classifier ``option`` names, with its ``RewardSettings``, on device ``on``; a failure to load
    names the option."""
    from fdpo.cli.failures import about
    from fdpo.pipeline import load_reward_model

    with about(f"{option} {value!r}"):
        return load_reward_model(value, settings, on)


def device(requested: str | None) -> str:
    """``requested`` checked (a device torch knows, present on this machine), or cuda when available, else cpu."""
    import torch

    if not requested:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(requested).type
    except (RuntimeError, ValueError) as error:
        raise InputError(
            f"--device {requested!r} is not a device ({error}); use cpu, cuda, cuda:1 or mps."
        ) from error
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"--device {requested!r}: no CUDA GPU is available here; use --device cpu or leave it out."
        )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise InputError(
            f"--device {requested!r}: MPS is not available here; use --device cpu or leave it out."
        )
    return requested


def check_output_dir(option: str, value: str | None) -> None:
    """An output folder that exists as a file is refused before any work."""
    if value is not None and Path(value).exists() and not Path(value).is_dir():
        raise InputError(
            f"{option} {value!r} is a file, not a folder. Give a folder path (it is created if missing), or move "
            "the file away."
        )


def check_output_file(option: str, value: str | None) -> None:
    """An output file that exists as a folder or a socket is refused before any work. A symlink is followed (its
    target is written); a device such as /dev/null or a FIFO is written through, never replaced."""
    import stat

    if value is None:
        return
    path = Path(value).expanduser()
    if path.is_dir():
        raise InputError(
            f"{option} {value!r} is a folder, so no file can be written there. Give the path of a file (for "
            f"example {str(path / 'out.jsonl')!r})."
        )
    if path.exists() and stat.S_ISSOCK(path.stat().st_mode):
        raise InputError(f"{option} {value!r} is a socket, not a file. Give the path of a regular file.")


def check_output_not_input(option: str, value: str | None, inputs: dict[str, str | None]) -> None:
    """An output folder that is, or lies inside, a model folder the same command reads (``inputs``: option → value)
    is refused before any work: saving there would overwrite the model (or mix new files into it)."""
    if value is None:
        return
    output = Path(value).expanduser().resolve()
    for name, given in inputs.items():
        if not given or not Path(given).expanduser().is_dir():
            continue
        model = Path(given).expanduser().resolve()
        if output == model or model in output.parents:
            where = "is" if output == model else "lies inside"
            raise InputError(
                f"{option} {value!r} {where} {name} {given!r}, the model this command starts from: saving there would "
                f"overwrite it (or mix the new files into it). Give {option} a folder of its own, e.g. "
                f"{str(model.parent / (model.name + '-fdpo'))!r}."
            )


def check_output_paths(paths: list[str]) -> None:
    """Output files and folders a command will write: no part of the path is a file, and the folder they go in
    (its nearest existing part) is writable. Checked before any work, so that the work is not lost at the end."""
    import os

    for value in paths:
        path = Path(value).expanduser()
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise InputError(
                        f"{value!r}: {str(parent)!r} is a file, so nothing can be written under it. Give another path."
                    )
                if not os.access(parent, os.W_OK | os.X_OK):
                    raise InputError(
                        f"{value!r}: the folder {str(parent)!r} is not writable for you. Choose a folder you can "
                        "write to, or change its permissions."
                    )
                break
