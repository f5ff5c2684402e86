"""Options built from settings dataclasses (fdpo/cli/options.py): type, choices, default and help come from the field,
and the dataclass is built back from the parsed arguments."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

import pytest

from fdpo.cli.options import add_fields, option_problems, settings_from


@dataclass
class Section:
    mode: Literal["a", "b"] = field(default="a", metadata={"help": "The mode."})
    sizes: list[int] = field(default_factory=lambda: [1, 2], metadata={"help": "Sizes."})
    limit: int | None = field(default=None, metadata={"help": "A limit."})
    flag: bool = field(default=False, metadata={"help": "A flag."})
    kinds: list[Literal["x", "y"]] = field(default_factory=lambda: ["x"], metadata={"help": "Kinds."})


OPTIONS = {"mode": "--mode", "sizes": "--sizes", "limit": "--the-limit", "flag": "--flag", "kinds": "--kinds"}


def _parser(**kwargs) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_fields(parser, Section, OPTIONS, **kwargs)
    return parser


def test_fields_become_options_and_come_back_as_the_dataclass():
    parser = _parser()
    assert settings_from(Section, parser.parse_args([]), OPTIONS) == Section()
    args = parser.parse_args(
        ["--mode", "b", "--sizes", "3", "4", "--the-limit", "7", "--flag", "--kinds", "y", "x"]
    )
    assert settings_from(Section, args, OPTIONS) == Section("b", [3, 4], 7, True, ["y", "x"])
    assert settings_from(Section, parser.parse_args(["--no-flag"]), OPTIONS).flag is False
    helps = {action.dest: action.help for action in parser._actions}
    assert helps["the_limit"] == "A limit." and helps["mode"] == "The mode."


@pytest.mark.parametrize(
    "argv", [["--mode", "c"], ["--kinds", "z"], ["--the-limit", "x"], ["--sizes", "1.5"]]
)
def test_values_outside_the_field_type_are_refused_by_the_parser(argv):
    with pytest.raises(argparse.ArgumentError):
        _parser().parse_args(argv)


def test_command_defaults_and_helps_override_the_fields_and_problems_name_the_options():
    parser = _parser(defaults={"mode": "b"}, helps={"mode": "Mode on the command line."})
    assert parser.parse_args([]).mode == "b"
    assert {a.dest: a.help for a in parser._actions}["mode"] == "Mode on the command line."
    problems = ["section.limit=0 must be a positive integer.", "section.mode=3 is unknown."]
    assert option_problems(problems, "section", OPTIONS) == [
        "--the-limit=0 must be a positive integer.",
        "--mode=3 is unknown.",
    ]
