"""Tests for fdpo/sweep/yamlio.py: YAML files, dotted overrides and the deep merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from fdpo.sweep import SweepConfig, SweepConfigError
from fdpo.sweep.yamlio import apply_overrides, parse_override


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_parse_override_values_are_yaml():
    assert parse_override("training.learning_rate=1e-5") == (["training", "learning_rate"], 1e-5)
    assert parse_override("grid.divergences=[reverse_kl,alpha:0.5]")[1] == ["reverse_kl", "alpha:0.5"]
    assert parse_override("name=a=b") == (["name"], "a=b")
    assert parse_override("device=") == (["device"], "")
    for bad in ("training.learning_rate", "=3", "training..lr=1"):
        with pytest.raises(SweepConfigError, match="section.key=value"):
            parse_override(bad)


def test_apply_overrides_does_not_touch_the_input_and_refuses_keys_under_a_value():
    data = {"training": {"learning_rate": 1.0}, "name": "x"}
    assert apply_overrides(data, ["training.seed_x=1"])["training"] == {"learning_rate": 1.0, "seed_x": 1}
    assert data == {"training": {"learning_rate": 1.0}, "name": "x"}
    with pytest.raises(SweepConfigError, match="name is a str, not a section"):
        apply_overrides(data, ["name.first=1"])


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = _write(
        tmp_path / "broken.yaml",
        "sft_model: a/b\ngrid:\n  divergences: [reverse_kl, alpha:0.3\n  seeds: [0]\n",
    )
    with pytest.raises(SweepConfigError, match=rf"{path}:\d+:\d+: malformed YAML: .*line 3"):
        SweepConfig.from_yaml(path)
    top_level_list = _write(tmp_path / "list.yaml", "- a\n- b\n")
    with pytest.raises(SweepConfigError, match="top level of a sweep config must be a mapping"):
        SweepConfig.from_yaml(top_level_list)
    with pytest.raises(SweepConfigError, match="does not exist"):
        SweepConfig.from_yaml(tmp_path / "missing.yaml")
