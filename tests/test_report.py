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

from fdpo._io import read_csv, write_csv, write_json, write_jsonl
from fdpo.metrics import distinct_n, token_entropy
from fdpo.report import (
    RESAMPLING_SEED,
    confidence_interval,
    configuration_label,
    markdown_table,
    pareto_front,
    plot_tradeoff,
    plot_tradeoff_html,
    read_verdict,
    summarize,
    sweep_replicates,
    verdict,
    verdict_lines,
    write_report,
)
from fdpo.uncertainty import bootstrap_weights, ratio_bootstrap

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


def _figure(summary, diversity="predictive_entropy"):
    from fdpo.report import _tradeoff, _tradeoff_figure

    return _tradeoff_figure(_tradeoff(summary, diversity, "reward_logit"), diversity, "reward_logit", None)


def test_plot_names_every_configuration_with_its_own_marker_and_colour():
    """The legend lists each configuration (and the frontier and the baseline); no two configurations share a
    marker or a colour; the bars are ±1 standard error, as the caption says."""
    from matplotlib.colors import to_hex

    summary = summarize(_results())
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
    hover = f"reward_logit: {rkl['reward_logit_mean']:.3f} ± {rkl['reward_logit_se']:.3f}"
    assert json.dumps(hover)[1:-1] in page  # as the page's JSON holds it
    assert "Pareto frontier" in page and "SFT baseline" in page
    for label in ("RKL", "JS", "α=0.5", "FKL"):  # one legend entry per configuration
        assert f'"name":{json.dumps(label)}' in page.replace('"name": ', '"name":')
    with pytest.raises(ValueError, match="diversity='distinct_1'"):
        plot_tradeoff_html(summary, tmp_path / "p.html", diversity="distinct_1")


def test_html_without_plotly_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(ImportError, match=r"pip install \"fdpo\[study\]\""):
        plot_tradeoff_html(summarize(_results()), tmp_path / "p.html")
    assert not (tmp_path / "p.html").exists()


def test_markdown_table_rows_and_cells():
    """Cells are mean ± standard error (here the seed part alone: no generations); an older summary.csv without
    standard errors gets mean ± 95% CI half-width."""
    summary = summarize(_results())
    lines = markdown_table(summary).strip().splitlines()
    assert len(lines) == 2 + 5
    assert lines[0].startswith("| configuration | loss | β | n | reward (logit) |")
    values = [2.65, 2.7, 2.78]
    assert f"| RKL | sigmoid | 0.1 | 3 | {np.mean(values):.3f} ± {stats.sem(values):.3f} |" in lines[3]
    assert lines[2].startswith("| SFT |  |  | 1 | 0.200 | ")
    assert "self-BLEU" not in lines[0]  # a metric no row has is left out
    old = [{k: v for k, v in row.items() if "_se" not in k} for row in summary]
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    old_line = markdown_table(old).strip().splitlines()[3]
    assert f"| RKL | sigmoid | 0.1 | 3 | {np.mean(values):.3f} ± {(high - low) / 2:.3f} |" in old_line


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


# ----------------------------------------------------------------------------------------------------------------
# Standard errors from the saved generations, and the verdict

PROMPTS = ["The film was", "I thought the", "Overall it is", "The plot", "The acting was", "This movie"]
WORDS = np.array("great dull plot acting fun long wonderful boring score story".split())


def _run(rng, run_id, divergence, seed, reward_shift, tokenizer, samples_per_prompt=3):
    """A run's generations with every per-sample field, and its results row computed from them."""
    records = []
    for prompt in PROMPTS[::-1]:  # any order: runs are paired by prompt text
        for _ in range(samples_per_prompt):
            words = rng.choice(WORDS, size=rng.integers(0, 7))
            records.append(
                dict(prompt=prompt, query=prompt, completion=" " + " ".join(words) if len(words) else "",
                     reward_logit=float(rng.normal(reward_shift)), reward_prob=float(rng.random()),
                     predictive_entropy=float(rng.random()) if len(words) else None, num_tokens=len(words),
                     policy_logp=float(rng.normal(-20)), ref_logp=float(rng.normal(-22)))
            )  # fmt: skip
    if divergence == "sft":  # the baseline is its own reference: no ref_logp, KL 0
        for record in records:
            del record["ref_logp"]
    completions = [r["completion"] for r in records]
    row = dict(
        run_id=run_id, divergence=divergence, loss_type="" if divergence == "sft" else "sigmoid",
        beta=None if divergence == "sft" else 0.1, seed=seed,
        reward_logit_mean=np.mean([r["reward_logit"] for r in records]),
        reward_prob_mean=np.mean([r["reward_prob"] for r in records]),
        predictive_entropy=np.mean([r["predictive_entropy"] for r in records if r["num_tokens"]]),
        kl_to_ref=0.0 if divergence == "sft" else np.mean([r["policy_logp"] - r["ref_logp"] for r in records]),
        token_entropy=token_entropy(completions, tokenizer),
        distinct_1=distinct_n(completions, 1), distinct_2=distinct_n(completions, 2),
        num_eval_samples=len(records),
    )  # fmt: skip
    return row, records


def _sweep_dir(root, tiny_model_dir, divergences=("reverse_kl", "forward_kl"), seeds=(0, 1)):
    """A sweep directory as the runner writes it: sweep.json, results.csv and runs/<id>/generations.jsonl."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rng = np.random.default_rng(0)
    rows, generations = [], {}
    runs = [("sft", "sft", 0, 0.0)]
    runs += [(f"{d}-{s}", d, s, 1.0 - i) for i, d in enumerate(divergences) for s in seeds]
    for run_id, divergence, seed, shift in runs:
        row, records = _run(rng, run_id, divergence, seed, shift, tokenizer)
        rows.append(row)
        generations[run_id] = records
        write_jsonl(root / "runs" / run_id / "generations.jsonl", records)
    write_json(root / "sweep.json", {"config": {"sft_model": tiny_model_dir, "evaluation": {}}})
    write_csv(root / "results.csv", rows)
    return rows, generations


def test_sweep_replicates_recompute_every_metric_on_shared_resamples(tmp_path, tiny_model_dir):
    rows, generations = _sweep_dir(tmp_path, tiny_model_dir)
    replicates, notes = sweep_replicates(tmp_path, read_csv(tmp_path / "results.csv"), num_resamples=200)
    assert notes == []
    assert set(replicates) == {row["run_id"] for row in rows}
    columns = {"reward_logit_mean", "reward_prob_mean", "predictive_entropy", "kl_to_ref", "token_entropy",
               "distinct_1", "distinct_2"}  # fmt: skip
    for row in rows:
        run = replicates[row["run_id"]]
        assert set(run) == columns
        for column in columns:
            assert run[column].estimate == pytest.approx(row[column], rel=1e-9)
        assert run["token_entropy"].method == "jackknife" and run["token_entropy"].values.shape == (6,)
    # the bootstrap of every run uses the same draws, prompts numbered in sorted order
    index = {prompt: i for i, prompt in enumerate(sorted(PROMPTS))}
    records = generations["reverse_kl-1"]
    expected = ratio_bootstrap(
        np.array([index[r["prompt"]] for r in records]),
        np.array([r["reward_logit"] for r in records]),
        bootstrap_weights(6, 200, RESAMPLING_SEED),
    )
    assert np.allclose(replicates["reverse_kl-1"]["reward_logit_mean"].values, expected, rtol=1e-12)
    # the baseline's KL is 0 with no spread; the summary's prompt part comes from the replicates
    assert np.all(replicates["sft"]["kl_to_ref"].values == 0.0)
    summary = summarize(read_csv(tmp_path / "results.csv"), replicates=replicates)
    rkl = next(row for row in summary if row["divergence"] == "reverse_kl")
    assert rkl["token_entropy_se_prompts"] > 0 and rkl["token_entropy_se_seeds"] > 0
    assert rkl["token_entropy_se"] == pytest.approx(
        math.hypot(rkl["token_entropy_se_prompts"], rkl["token_entropy_se_seeds"])
    )


def test_sweep_replicates_say_which_runs_count_seeds_only(tmp_path, tiny_model_dir):
    rows, generations = _sweep_dir(tmp_path, tiny_model_dir)
    results = read_csv(tmp_path / "results.csv")
    results[1]["distinct_2"] += 0.01  # a value the generations do not give
    write_jsonl(tmp_path / "runs" / "reverse_kl-1" / "generations.jsonl", generations["reverse_kl-1"][:-1])
    (tmp_path / "runs" / "forward_kl-0" / "generations.jsonl").unlink()
    for record in generations["forward_kl-1"]:
        del record["policy_logp"]
    write_jsonl(tmp_path / "runs" / "forward_kl-1" / "generations.jsonl", generations["forward_kl-1"])
    replicates, notes = sweep_replicates(tmp_path, results, num_resamples=50)
    text = "\n".join(notes)
    assert "reverse_kl-0: distinct_2 recomputed from generations.jsonl" in text
    assert "reverse_kl-1: generations.jsonl keeps 17 of its 18 samples" in text
    assert "forward_kl-0: no generations.jsonl" in text
    assert "kl_to_ref: the saved generations lack the per-sample values" in text
    assert "distinct_2" not in replicates["reverse_kl-0"] and "distinct_1" in replicates["reverse_kl-0"]
    assert set(replicates) == {"sft", "reverse_kl-0", "forward_kl-1"}
    # a configuration with one run lacking the prompt part gets the seed part alone
    fkl = next(row for row in summarize(results, replicates=replicates) if row["divergence"] == "forward_kl")
    assert fkl["reward_logit_se_prompts"] is None and fkl["reward_logit_se"] == fkl["reward_logit_se_seeds"]
    # different prompt sets cannot be paired
    generations["sft"][0]["prompt"] = "Another prompt"
    write_jsonl(tmp_path / "runs" / "sft" / "generations.jsonl", generations["sft"])
    replicates, notes = sweep_replicates(tmp_path, results)
    assert (
        replicates == {} and "The runs were evaluated on different prompts: no paired resampling" in notes[-1]
    )


def test_token_entropy_without_a_tokenizer_counts_seeds_only(tmp_path, tiny_model_dir):
    _sweep_dir(tmp_path, tiny_model_dir)
    write_json(
        tmp_path / "sweep.json", {"config": {"sft_model": str(tmp_path / "missing"), "evaluation": {}}}
    )
    replicates, notes = sweep_replicates(tmp_path, read_csv(tmp_path / "results.csv"), num_resamples=50)
    assert "token_entropy" not in replicates["sft"] and "reward_logit_mean" in replicates["sft"]
    assert any("Could not load the tokenizer" in note for note in notes)


def _family(means: dict[str, list[float]], divergences=None, seeds=(0, 1, 2), noise=0.01):
    """Results rows of a family: for each metric, the configuration means in family order, ± noise by seed."""
    divergences = divergences or [
        "reverse_kl",
        "jensen_shannon",
        "alpha:0.3",
        "alpha:0.5",
        "alpha:0.7",
        "forward_kl",
    ]
    rows = [dict(run_id="sft", divergence="sft", loss_type="", beta=None, seed=0,
                 **{metric: values[0] for metric, values in means.items()})]  # fmt: skip
    offsets = np.array([-1.0, 0.0, 1.0, 0.5, -0.5])[: len(seeds)] * noise
    for position, divergence in enumerate(divergences):
        for seed, offset in zip(seeds, offsets, strict=False):
            row = dict(
                run_id=f"{divergence}-{seed}", divergence=divergence, loss_type="sigmoid", beta=0.1, seed=seed
            )
            row.update({metric: values[position] + offset for metric, values in means.items()})
            rows.append(row)
    return rows


KNOWN_FAMILY = {
    "reward_logit_mean": [3.0, 2.8, 2.5, 2.2, 2.0, 1.5],  # falls cleanly: holds
    "predictive_entropy": [1.6, 1.58, 1.55, 1.54, 1.5, 1.45],  # falls: reversed
    "token_entropy": [5.0, 5.001, 4.999, 5.0, 5.002, 5.003],  # flat within noise: does not hold
    "distinct_2": [0.2, 0.25, 0.21, 0.26, 0.19, 0.3],  # ends apart, order scrambled: does not hold
    "kl_to_ref": [30.0, 25.0, 20.0, 15.0, 10.0, 5.0],  # falls: holds
}


def test_verdict_on_a_family_with_known_outcomes():
    (family,) = verdict(_family(KNOWN_FAMILY))
    assert family.reason == "" and family.labels == ("RKL", "JS", "α=0.3", "α=0.5", "α=0.7", "FKL")
    outcomes = {judged.claim.metric: judged.outcome for judged in family.claims}
    assert outcomes == {
        "reward_logit_mean": "holds",
        "predictive_entropy": "reversed",
        "token_entropy": "does not hold",
        "distinct_2": "does not hold",
        "kl_to_ref": "holds",
    }
    reward = family.claims[0]
    assert reward.rho == pytest.approx(-1.0)
    # seeds only: s = 0.01 at both ends, 3 seeds each
    assert reward.gap.value == pytest.approx(-1.5) and reward.gap.se == pytest.approx(
        math.sqrt(2 * 0.01**2 / 3)
    )
    lines = verdict_lines([family])
    assert lines[0].startswith("Along RKL → JS → α=0.3 → α=0.5 → α=0.7 → FKL: a claim holds")
    assert len(lines) == 6
    assert lines[1].startswith(
        "- reward falls: **holds** — ρ = −1.00; FKL − RKL = −1.500 ± 0.00816 (seeds only)"
    )
    assert lines[2].startswith("- predictive entropy rises: **reversed** — ρ = −1.00")


def test_verdict_reads_a_family_listed_from_forward_kl_backwards():
    divergences = ["forward_kl", "alpha:0.5", "reverse_kl"]
    means = {"reward_logit_mean": [1.0, 2.0, 3.0], "distinct_2": [0.3, 0.25, 0.2]}
    (family,) = verdict(_family(means, divergences))
    assert family.labels == ("RKL", "α=0.5", "FKL")
    assert [(c.claim.metric, c.outcome) for c in family.claims if c.outcome != "no verdict"] == [
        ("reward_logit_mean", "holds"),
        ("distinct_2", "holds"),
    ]
    assert [c.reason for c in family.claims if c.outcome == "no verdict"] == ["not measured"] * 3
    assert verdict_lines([family])[2] == "- predictive entropy rises: no verdict (not measured)"


@pytest.mark.parametrize(
    ("divergences", "seeds", "reason"),
    [
        (["reverse_kl", "jensen_shannon", "alpha:0.5"], (0, 1), "no forward_kl configuration"),
        (["alpha:0.3", "alpha:0.7"], (0, 1), "no reverse_kl and no forward_kl configuration"),
        (["reverse_kl", "forward_kl"], (0,), "at least two seeds each"),
        (["jensen_shannon", "reverse_kl", "forward_kl"], (0, 1), "the grid lists JS → RKL → FKL"),
        (["chi_squared_kl"], (0, 1), "no reverse KL, JS, α or forward KL configuration"),
    ],
)
def test_no_verdict_says_why(divergences, seeds, reason):
    means = {"reward_logit_mean": list(range(len(divergences)))}
    (family,) = verdict(_family(means, divergences, seeds))
    assert family.claims == () and reason in family.reason
    assert verdict_lines([family]) == [family.reason]


def test_verdict_uses_the_paired_prompt_part(tmp_path, tiny_model_dir):
    """With generations, the gap's standard error includes the paired prompt part."""
    rows, _ = _sweep_dir(tmp_path, tiny_model_dir)
    results = read_csv(tmp_path / "results.csv")
    replicates, _ = sweep_replicates(tmp_path, results, num_resamples=300)
    (family,) = verdict(results, replicates)
    reward = family.claims[0]
    rkl = [r["run_id"] for r in rows if r["divergence"] == "reverse_kl"]
    fkl = [r["run_id"] for r in rows if r["divergence"] == "forward_kl"]
    difference = np.mean([replicates[i]["reward_logit_mean"].values for i in fkl], axis=0) - np.mean(
        [replicates[i]["reward_logit_mean"].values for i in rkl], axis=0
    )
    assert reward.gap.se_prompts == pytest.approx(difference.std(ddof=1))
    assert reward.gap.se == pytest.approx(math.hypot(reward.gap.se_prompts, reward.gap.se_seeds))
    assert "(seeds and prompts)" in verdict_lines([family])[1]


def test_write_report_has_the_verdict_and_standard_errors(tmp_path, tiny_model_dir):
    _sweep_dir(tmp_path, tiny_model_dir)
    paths = write_report(tmp_path, title="synthetic")
    report = (tmp_path / "report.md").read_text()
    assert "## Verdict" in report and "\n".join(paths["verdict"]) in report
    assert read_verdict(tmp_path) == paths["verdict"]  # what fdpo sweep / fdpo demo print
    assert paths["verdict"][1].startswith("- reward falls: ")
    assert (
        "one standard error that counts both the seed-to-seed variation and the choice of evaluation prompts"
        in report
    )
    summary = read_csv(tmp_path / "summary.csv")
    assert all(
        _ in summary[1] for _ in ("reward_logit_se", "reward_logit_se_seeds", "reward_logit_se_prompts")
    )
    assert summary[1]["reward_logit_ci95"] is not None  # the old columns stay
    assert "Notes on the standard errors" not in report
    # a directory holding only a summary.csv is reported without a verdict
    (tmp_path / "results.csv").unlink()
    paths = write_report(tmp_path)
    assert paths["verdict"] == [
        "No verdict: the directory has no results.csv (one row per run) to judge from."
    ]
