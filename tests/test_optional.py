"""Tests for fdpo/_optional.py: with a module of an extra hidden (``sys.modules[name] = None`` makes its import
fail), the plot, the HTML plot, self_bleu, a sweep and the Ray executor say which extra to install, and a sweep
says it before any model is loaded or any file written."""

from __future__ import annotations

import sys

import pytest

from fdpo._optional import MissingExtraError, require
from fdpo.demo.world import demo_config
from fdpo.errors import InputError
from fdpo.frontier import plot_frontier
from fdpo.metrics import self_bleu
from fdpo.report import plot_tradeoff, plot_tradeoff_html, summarize
from fdpo.sweep import run_sweep

STUDY = r'pip install "fdpo\[study\]"'


def _summary() -> list[dict]:
    rows = [
        dict(run_id="sft", divergence="sft", loss_type="", beta=None, seed=0, reward_logit_mean=0.1,
             reward_prob_mean=0.5, predictive_entropy=4.0, token_entropy=5.0, kl_to_ref=0.0, train_seconds=None),
    ]  # fmt: skip
    for seed in (0, 1):
        rows.append(
            dict(run_id=f"rkl-{seed}", divergence="reverse_kl", loss_type="sigmoid", beta=0.1, seed=seed,
                 reward_logit_mean=1.0 + seed, reward_prob_mean=0.7, predictive_entropy=3.5 + seed / 10,
                 token_entropy=4.5, kl_to_ref=2.0, train_seconds=1.0)
        )  # fmt: skip
    return summarize(rows)


def test_require_returns_the_module_and_names_the_extra_when_it_is_missing(monkeypatch):
    import json

    assert require("json", "study", "Reading") is json
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    with pytest.raises(MissingExtraError, match=r"^Text metrics needs sacrebleu, .*" + STUDY) as caught:
        require("sacrebleu", "study", "Text metrics")
    # one paragraph the CLI prints (an InputError), and an ImportError for code that checks for one
    assert isinstance(caught.value, InputError) and isinstance(caught.value, ImportError)


def test_a_hidden_package_is_not_masked_by_a_cached_submodule(monkeypatch):
    import plotly.graph_objects  # noqa: F401  (cached in sys.modules)

    monkeypatch.setitem(sys.modules, "plotly", None)
    with pytest.raises(MissingExtraError, match="needs plotly"):
        require("plotly.graph_objects", "study", "The interactive HTML plot")


@pytest.mark.parametrize(
    ("hidden", "draw", "name"),
    [
        ("matplotlib", plot_tradeoff, "tradeoff.png"),
        ("plotly", plot_tradeoff_html, "tradeoff.html"),
        ("matplotlib", plot_frontier, "frontier.png"),
    ],
)
def test_plots_without_their_extra_name_it_and_write_nothing(monkeypatch, tmp_path, hidden, draw, name):
    summary = _summary()
    monkeypatch.setitem(sys.modules, hidden, None)
    with pytest.raises(MissingExtraError, match=f"needs {hidden}.*{STUDY}"):
        draw(summary, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_self_bleu_without_sacrebleu_names_the_extra(monkeypatch):
    texts = ["a good film", "a bad film", "a fine film"]
    assert 0 < self_bleu(texts) < 100
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    with pytest.raises(MissingExtraError, match="self_bleu needs sacrebleu.*" + STUDY):
        self_bleu(texts)


@pytest.mark.parametrize(
    ("hidden", "kwargs", "overrides", "message"),
    [
        ("matplotlib", {}, [], "tradeoff.png.*needs matplotlib.*" + STUDY),
        (
            "sacrebleu",
            {"write_report_files": False},
            ["evaluation.metrics=[reward,self_bleu]"],
            "self_bleu.*" + STUDY,
        ),
        ("ray", {"executor": "ray"}, [], r'Ray executor.*pip install "fdpo\[ray\]"'),
    ],
)
def test_a_sweep_missing_an_extra_says_so_before_any_work(
    monkeypatch, request, tmp_path, hidden, kwargs, overrides, message
):
    config = demo_config(
        quick=True, overrides=overrides, show_progress=False
    )  # builds the world if not cached
    request.getfixturevalue("no_model_loading")  # from here on, loading a model fails the test
    monkeypatch.setitem(sys.modules, hidden, None)
    output = tmp_path / "sweep"
    with pytest.raises(MissingExtraError, match=message):
        run_sweep(config, output, show_progress=False, **kwargs)
    assert not output.exists()


def test_fdpo_report_without_matplotlib_is_one_paragraph_naming_the_extra(monkeypatch, tmp_path, capsys):
    from fdpo._io import write_csv
    from fdpo.cli import main

    write_csv(tmp_path / "summary.csv", _summary())
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'needs matplotlib, which is not installed. Install it with: pip install "fdpo[study]"' in err
    assert "Traceback" not in err and not (tmp_path / "tradeoff.png").exists()
