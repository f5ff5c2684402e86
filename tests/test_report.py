"""Tests for fdpo/report.py: confidence intervals against scipy, the Pareto frontier, the plot and the tables."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from fdpo._io import read_csv, write_csv
from fdpo.report import (
    confidence_interval,
    configuration_label,
    markdown_table,
    pareto_front,
    plot_tradeoff,
    plot_tradeoff_html,
    summarize,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _results() -> list[dict]:
    """Three seeds per divergence, reward falling and entropy rising from RKL to FKL, plus the SFT baseline."""
    rows = [
        dict(run_id="sft", divergence="sft", loss_type="", beta=None, seed=0, reward_logit_mean=0.2,
             reward_prob_mean=0.55, predictive_entropy=4.6, token_entropy=5.0, kl_to_ref=0.0, train_seconds=None),
    ]  # fmt: skip
    centres = {
        "reverse_kl": (2.7, 3.9),
        "jensen_shannon": (2.6, 4.1),
        "alpha:0.5": (2.45, 4.2),
        "forward_kl": (2.3, 4.4),
    }
    offsets = [(-0.05, 0.02), (0.0, -0.03), (0.08, 0.04)]
    for divergence, (reward, entropy) in centres.items():
        for seed, (dr, de) in enumerate(offsets):
            rows.append(
                dict(run_id=f"{divergence}-{seed}", divergence=divergence, loss_type="sigmoid", beta=0.1, seed=seed,
                     reward_logit_mean=reward + dr, reward_prob_mean=0.9 + dr / 10, predictive_entropy=entropy + de,
                     token_entropy=4.5 + de, kl_to_ref=3.0 + seed, train_seconds=10.0 + seed)
            )  # fmt: skip
    return rows


@pytest.mark.parametrize(
    "values", [[1.0, 2.0], [2.5, 2.7, 2.4], [0.1, -0.3, 0.7, 1.9, 0.0], list(np.linspace(-3, 5, 11))]
)
def test_confidence_interval_matches_scipy_t_interval(values):
    mean, std, half_width = confidence_interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values), rel=1e-12, abs=1e-12)
    assert std == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert mean - half_width == pytest.approx(low, rel=1e-10, abs=1e-12)
    assert mean + half_width == pytest.approx(high, rel=1e-10, abs=1e-12)


def test_confidence_interval_of_two_values_by_hand():
    """[1, 3]: mean 2, std √2, half-width t_{0.975,1}·√2/√2 = 12.7062."""
    mean, std, half_width = confidence_interval([1.0, 3.0])
    assert (mean, std) == (2.0, pytest.approx(math.sqrt(2.0)))
    assert half_width == pytest.approx(12.706204736, rel=1e-9)


def test_confidence_interval_degenerate_inputs():
    assert confidence_interval([4.0]) == (4.0, None, None)
    mean, std, half_width = confidence_interval([])
    assert math.isnan(mean) and std is None and half_width is None
    # None and non-finite values are dropped
    assert confidence_interval([1.0, None, float("nan"), 3.0])[0] == 2.0


def test_summarize_groups_by_configuration_with_scipy_intervals():
    rows = _results()
    summary = summarize(rows)
    assert [row["divergence"] for row in summary] == [
        "sft",
        "reverse_kl",
        "jensen_shannon",
        "alpha:0.5",
        "forward_kl",
    ]
    assert [row["n"] for row in summary] == [1, 3, 3, 3, 3]
    assert [row["label"] for row in summary] == ["SFT", "RKL", "JS", "α=0.5", "FKL"]
    for row in summary[1:]:
        members = [r for r in rows if r["divergence"] == row["divergence"]]
        for metric, column in (
            ("reward_logit", "reward_logit_mean"),
            ("predictive_entropy", "predictive_entropy"),
        ):
            values = [m[column] for m in members]
            low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
            assert row[f"{metric}_mean"] == pytest.approx(np.mean(values))
            assert row[f"{metric}_ci95"] == pytest.approx((high - low) / 2)
            assert row[f"{metric}_std"] == pytest.approx(np.std(values, ddof=1))
    baseline = summary[0]
    assert baseline["reward_logit_mean"] == 0.2 and baseline["reward_logit_ci95"] is None
    assert baseline["train_seconds_mean"] is None  # no finite value for the baseline


def test_summarize_labels_name_loss_and_beta_only_when_they_vary():
    rows = [
        dict(divergence="alpha:0.3", loss_type="sigmoid", beta=0.01, reward_logit_mean=1.0),
        dict(divergence="alpha:0.3", loss_type="hinge", beta=0.01, reward_logit_mean=1.0),
        dict(divergence="alpha:0.3", loss_type="hinge", beta=0.1, reward_logit_mean=1.0),
    ]
    assert [row["label"] for row in summarize(rows)] == [
        "α=0.3 sigmoid β=0.01",
        "α=0.3 hinge β=0.01",
        "α=0.3 hinge β=0.1",
    ]
    assert configuration_label("chi_squared_kl") == "χ²+KL"
    assert configuration_label("my_divergence:2") == "my_divergence:2"


def test_pareto_front_on_crafted_points():
    """Maximizing both coordinates.

    (0, 6), (1, 5), (2, 4) and (3, 3) trade one for the other: the frontier. (2, 2) is dominated by (2, 4),
    (3, 1) by (3, 3) (same x, less y), (1, 5) repeated is not dominated by its twin, NaN is ignored.
    """
    points = [(1, 5), (2, 4), (3, 3), (2, 2), (3, 1), (0, 6), (1, 5), (float("nan"), 9)]
    assert pareto_front(points) == [5, 0, 6, 1, 2]
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 1.0)]) == [0]
    # one point dominating all others
    assert pareto_front([(0, 0), (5, 5), (1, 4), (4, 1)]) == [1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=1, max_size=25))
def test_pareto_front_properties(points):
    """No frontier point is dominated; every other point is dominated by a frontier point."""

    def dominates(p, q):
        return p[0] >= q[0] and p[1] >= q[1] and p != q

    front = pareto_front(points)
    assert front == sorted(front, key=lambda i: (points[i][0], -points[i][1]))
    for i in front:
        assert not any(dominates(q, points[i]) for q in points)
    for i in set(range(len(points))) - set(front):
        assert any(dominates(points[j], points[i]) for j in front)


@pytest.mark.parametrize("diversity", ["predictive_entropy", "token_entropy"])
def test_plot_tradeoff_writes_png(tmp_path, diversity):
    path = plot_tradeoff(summarize(_results()), tmp_path / "plot.png", diversity=diversity, title="t")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    assert not list(tmp_path.glob(".*tmp"))  # written atomically: no temporary file left


def test_plot_tradeoff_rejects_bad_axes(tmp_path):
    summary = summarize(_results())
    with pytest.raises(ValueError, match="diversity='distinct_1'"):
        plot_tradeoff(summary, tmp_path / "p.png", diversity="distinct_1")
    with pytest.raises(ValueError, match="reward='reward'"):
        plot_tradeoff(summary, tmp_path / "p.png", reward="reward")
    without_entropy = [{k: v for k, v in row.items() if k != "token_entropy"} for row in _results()]
    with pytest.raises(ValueError, match="token_entropy"):
        plot_tradeoff(summarize(without_entropy), tmp_path / "p.png", diversity="token_entropy")


def test_plot_tradeoff_html_is_self_contained_with_the_summary_on_hover(tmp_path):
    summary = summarize(_results())
    path = plot_tradeoff_html(summary, tmp_path / "plot.html", diversity="token_entropy", title="Title")
    page = path.read_text()
    assert (
        page.lstrip().lower().startswith("<!doctype html>")
        and "Title" in page
        and "token entropy (nats)" in page
    )
    assert '<script src="http' not in page and len(page) > 1_000_000  # plotly.js embedded: opens offline
    rkl = next(row for row in summary if row["divergence"] == "reverse_kl")
    hover = f"reward_logit: {rkl['reward_logit_mean']:.3f} ± {rkl['reward_logit_ci95']:.3f}"
    assert json.dumps(hover)[1:-1] in page  # as the page's JSON holds it
    assert "Pareto frontier" in page and "SFT baseline" in page
    with pytest.raises(ValueError, match="diversity='distinct_1'"):
        plot_tradeoff_html(summary, tmp_path / "p.html", diversity="distinct_1")


def test_html_without_plotly_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(ImportError, match=r"pip install \"fdpo\[study\]\""):
        plot_tradeoff_html(summarize(_results()), tmp_path / "p.html")
    assert not (tmp_path / "p.html").exists()


def test_markdown_table_rows_and_cells():
    table = markdown_table(summarize(_results()))
    lines = table.strip().splitlines()
    assert len(lines) == 2 + 5
    assert lines[0].startswith("| configuration | loss | β | n | reward (logit) |")
    values = [2.65, 2.7, 2.78]
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert f"| RKL | sigmoid | 0.1 | 3 | {np.mean(values):.3f} ± {(high - low) / 2:.3f} |" in lines[3]
    assert lines[2].startswith("| SFT |  |  | 1 | 0.200 | ")
    assert "self-BLEU" not in lines[0]  # a metric no row has is left out


def test_write_report_from_results_csv(tmp_path):
    write_csv(tmp_path / "results.csv", _results())
    paths = write_report(tmp_path, diversity="token_entropy", title="demo")
    assert paths["plot"].read_bytes().startswith(PNG_MAGIC) and "html" not in paths
    summary = read_csv(tmp_path / "summary.csv")
    assert [row["divergence"] for row in summary] == [
        "sft",
        "reverse_kl",
        "jensen_shannon",
        "alpha:0.5",
        "forward_kl",
    ]
    assert summary[1]["reward_logit_mean"] == pytest.approx(np.mean([2.65, 2.7, 2.78]))
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# demo") and "![reward vs token_entropy](tradeoff.png)" in report


def test_write_report_without_results_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="fdpo sweep"):
        write_report(tmp_path)
