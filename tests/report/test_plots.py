"""Tests for fdpo/report/plots.py: the Pareto frontier and the reward-vs-diversity plots (PNG and HTML)."""

from __future__ import annotations

import json
import sys

import pytest
from _report_data import PNG_MAGIC, results
from hypothesis import given, settings
from hypothesis import strategies as st

from fdpo.report import (
    pareto_front,
    plot_tradeoff,
    plot_tradeoff_html,
    summarize,
)


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
    path = plot_tradeoff(summarize(results()), tmp_path / "plot.png", diversity=diversity, title="t")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    assert not list(tmp_path.glob(".*tmp"))  # written atomically: no temporary file left


def _figure(summary, diversity="predictive_entropy"):
    from fdpo.report.plots import _tradeoff, _tradeoff_figure

    return _tradeoff_figure(_tradeoff(summary, diversity, "reward_logit"), diversity, "reward_logit", None)


def test_plot_names_every_configuration_with_its_own_marker_and_colour():
    """The legend lists each configuration (and the frontier and the baseline); no two configurations share a
    marker or a colour; the bars are ±1 standard error, as the caption says."""
    from matplotlib.colors import to_hex

    summary = summarize(results())
    (axes,) = _figure(summary).axes
    handles, labels = axes.get_legend_handles_labels()
    assert labels == ["Pareto frontier", "RKL", "JS", "α=0.5", "FKL", "SFT baseline"]
    configurations = handles[1:5]
    assert len({h.get_marker() for h in configurations}) == 4
    assert len({to_hex(h.get_markerfacecolor()) for h in configurations}) == 4
    rkl = summary[1]
    bars = [c for c in axes.collections if len(c.get_segments()) == 1]
    vertical = [c.get_segments()[0] for c in bars if c.get_segments()[0][0][0] == c.get_segments()[0][1][0]]
    (low, high) = next(seg[:, 1] for seg in vertical if seg[0][0] == pytest.approx(rkl["reward_logit_mean"]))
    assert (low, high) == pytest.approx(
        (
            rkl["predictive_entropy_mean"] - rkl["predictive_entropy_se"],
            rkl["predictive_entropy_mean"] + rkl["predictive_entropy_se"],
        )
    )
    captions = [t.get_text() for t in axes.texts]
    assert "mean over 3 seeds ± 1 standard error (seeds and evaluation prompts)" in captions
    # an older summary.csv without standard errors: 95% intervals, and the caption says so
    old = [{k: v for k, v in row.items() if "_se" not in k} for row in summary]
    assert "mean over 3 seeds ± 95% CI across seeds" in [t.get_text() for t in _figure(old).axes[0].texts]


def test_plot_rings_a_single_point_frontier():
    """When one configuration dominates the others, the frontier is that point, drawn as a ring."""
    rows = [dict(divergence=d, loss_type="sigmoid", beta=0.1, seed=0, reward_logit_mean=r, predictive_entropy=e)
            for d, r, e in (("reverse_kl", 3.0, 2.0), ("forward_kl", 1.0, 1.0))]  # fmt: skip
    (axes,) = _figure(summarize(rows)).axes
    frontier = axes.get_lines()[0]
    assert frontier.get_label() == "Pareto frontier" and list(frontier.get_xdata()) == [3.0]
    assert frontier.get_marker() == "o" and frontier.get_markerfacecolor() == "none"


def test_plot_tradeoff_rejects_bad_axes(tmp_path):
    summary = summarize(results())
    with pytest.raises(ValueError, match="diversity='distinct_1'"):
        plot_tradeoff(summary, tmp_path / "p.png", diversity="distinct_1")
    with pytest.raises(ValueError, match="reward='reward'"):
        plot_tradeoff(summary, tmp_path / "p.png", reward="reward")
    without_entropy = [{k: v for k, v in row.items() if k != "token_entropy"} for row in results()]
    with pytest.raises(ValueError, match="token_entropy"):
        plot_tradeoff(summarize(without_entropy), tmp_path / "p.png", diversity="token_entropy")


def test_plot_tradeoff_html_is_self_contained_with_the_summary_on_hover(tmp_path):
    summary = summarize(results())
    path = plot_tradeoff_html(summary, tmp_path / "plot.html", diversity="token_entropy", title="Title")
    page = path.read_text()
    assert (
        page.lstrip().lower().startswith("<!doctype html>")
        and "Title" in page
        and "token entropy (nats)" in page
    )
    assert '<script src="http' not in page and len(page) > 1_000_000  # plotly.js embedded: opens offline
    rkl = next(row for row in summary if row["divergence"] == "reverse_kl")
    hover = f"reward_logit: {rkl['reward_logit_mean']:.3f} ± {rkl['reward_logit_se']:.3f}"
    assert json.dumps(hover)[1:-1] in page  # as the page's JSON holds it
    assert "Pareto frontier" in page and "SFT baseline" in page
    assert '"circle-open"' in page.replace('"symbol": ', '"symbol":').replace(
        '"symbol":', ""
    )  # ringed as in the PNG
    for label in ("RKL", "JS", "α=0.5", "FKL"):  # one legend entry per configuration
        assert f'"name":{json.dumps(label)}' in page.replace('"name": ', '"name":')
    with pytest.raises(ValueError, match="diversity='distinct_1'"):
        plot_tradeoff_html(summary, tmp_path / "p.html", diversity="distinct_1")


def test_html_without_plotly_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(ImportError, match=r"pip install \"fdpo\[study\]\""):
        plot_tradeoff_html(summarize(results()), tmp_path / "p.html")
    assert not (tmp_path / "p.html").exists()
