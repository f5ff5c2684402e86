"""Tests for fdpo/report/document.py: the markdown table and report.md of a sweep directory."""

from __future__ import annotations

import numpy as np
import pytest
from _report_data import PNG_MAGIC, results, sweep_dir
from scipy import stats

from fdpo._io import read_csv, write_csv
from fdpo.errors import InputError, NoResultsError
from fdpo.report import (
    markdown_table,
    read_verdict,
    summarize,
    write_report,
)


def test_markdown_table_rows_and_cells():
    """Cells are mean ± standard error (here the seed part alone: no generations); an older summary.csv without
    standard errors gets mean ± 95% CI half-width."""
    summary = summarize(results())
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
    write_csv(tmp_path / "results.csv", results())
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
    """An existing folder without results: a NoResultsError (an InputError the command prints as one paragraph,
    and a FileNotFoundError); a missing folder: a plain FileNotFoundError."""
    with pytest.raises(NoResultsError, match="exists but holds no results.*fdpo sweep"):
        write_report(tmp_path)
    assert issubclass(NoResultsError, FileNotFoundError) and issubclass(NoResultsError, InputError)
    with pytest.raises(FileNotFoundError, match="has neither summary.csv nor results.csv") as raised:
        write_report(tmp_path / "missing")
    assert not isinstance(raised.value, NoResultsError)


# ----------------------------------------------------------------------------------------------------------------
# Standard errors from the saved generations, and the verdict


def test_write_report_has_the_verdict_and_standard_errors(tmp_path, tiny_model_dir):
    sweep_dir(tmp_path, tiny_model_dir)
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
