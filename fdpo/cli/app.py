"""The ``fdpo`` parser and entry point: a registry of subcommands, each a module of this package.

A subcommand module exposes ``HELP`` (its line in ``fdpo --help``), ``DESCRIPTION`` (the text of ``fdpo <command>
--help``), ``add_arguments(parser)`` (adds its options to the parser built here) and ``run(args) -> int``; optionally
``outputs(args)`` (paths it writes: folders it created are removed again if it fails before putting anything in them)
and ``PASSTHROUGH = True`` (no ``add_arguments``: its arguments, ``--help`` included, are handed to ``run`` unparsed, as
``args.arguments``, for a command with a parser of its own). Registering a command is one line in ``COMMANDS``.

Only the selected subcommand's options are built (they come from the settings dataclasses, whose modules import
numpy and torch), so ``fdpo --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable, Sequence
from types import ModuleType

from fdpo.cli.failures import debug_requested, guarded, missing_roots, remove_new_empty_folders
from fdpo.cli.options import Formatter, check_output_paths

__all__ = ["COMMANDS", "build_parser", "main"]

#: name → module implementing it (see the module docstring); the order is the order of ``fdpo --help``.
COMMANDS: dict[str, str] = {
    "generate": "fdpo.cli.generate",
    "pairs": "fdpo.cli.pairs",
    "train": "fdpo.cli.train",
    "evaluate": "fdpo.cli.evaluate",
    "sweep": "fdpo.cli.sweep",
    "report": "fdpo.cli.report",
    "demo": "fdpo.cli.demo",
    "frontier": "fdpo.cli.frontier",
}

_EPILOG = (
    "Run 'fdpo <command> --help' for the options of a command. Docs: docs/sweeps.md, docs/cli.md.\n"
    "A bad input ends with one paragraph and exit code 2; --debug (or FDPO_DEBUG=1) also shows the traceback."
)


def _module(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


def build_parser(full: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser of the ``fdpo`` command.

    Args:
        full: the subcommands whose options are built (default: all); the others get only their name and help,
            which is all ``fdpo --help`` shows.
    """
    full = set(COMMANDS if full is None else full)
    parser = argparse.ArgumentParser(
        prog="fdpo",
        description="f-DPO: preference optimization under f-divergences, and the reward/diversity study.",
        epilog=_EPILOG,
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="store_true", help="Print the fdpo version and exit.")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="Show the traceback of an input error too (also: FDPO_DEBUG=1, or --debug anywhere on the line).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = _module(name)
        if name in full:
            passthrough = getattr(module, "PASSTHROUGH", False)
            command = subparsers.add_parser(
                name,
                help=module.HELP,
                description=module.DESCRIPTION,
                formatter_class=Formatter,
                add_help=not passthrough,
            )
            if not passthrough:
                module.add_arguments(command)
        else:
            subparsers.add_parser(name, help=module.HELP, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    # Top-level options take no value, so the first word that is not an option is the command.
    return next((item for item in argv if not item.startswith("-")), None)


def _take_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Removes a bare ``--debug`` (one not followed by a value: TrainingArguments has a ``--debug MODE`` of its own)."""
    kept, debug = [], False
    for index, item in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else None
        if item == "--debug" and (following is None or following.startswith("-")):
            debug = True
        else:
            kept.append(item)
    return kept, debug


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fdpo`` console script; returns the exit status (2 for a bad input, 1 for a bug)."""
    argv, debug = _take_debug(list(sys.argv[1:] if argv is None else argv))
    command = _command_of(argv)
    parser = build_parser(full=[command] if command in COMMANDS else [])
    # Overrides may come after the options too (`fdpo sweep c.yaml --output-dir d a=1`), which argparse's
    # positional nargs="*" does not take once an option has intervened: collect the leftovers here.
    args, extra = parser.parse_known_args(argv)
    module = _module(args.command) if args.command else None
    if getattr(module, "PASSTHROUGH", False):
        args.arguments = extra
    elif extra:
        if hasattr(args, "overrides") and all("=" in item and not item.startswith("-") for item in extra):
            args.overrides = [*args.overrides, *extra]
        elif hasattr(args, "overrides") and not any(item.startswith("-") for item in extra):
            parser.error(
                f"{' '.join(extra)}: neither an option nor a KEY=VALUE override; write overrides as "
                "grid.seeds=[0,1] (dotted keys of the config, values read as YAML)."
            )
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.version:
        from fdpo import __version__

        print(f"fdpo {__version__}")
        return 0
    if module is None:
        parser.print_help()
        return 2
    outputs = module.outputs(args) if hasattr(module, "outputs") else []
    created = missing_roots(outputs)

    def run() -> int:
        check_output_paths(outputs)
        return module.run(args)

    status = guarded(args.command, run, debug=debug or args.debug or debug_requested())
    if status != 0:
        remove_new_empty_folders(created)
    return status
