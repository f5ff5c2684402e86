"""Tests of the fdpo command (fdpo/cli/): help texts, config errors, each stage from files, the demo end to end."""

from __future__ import annotations

import argparse
import importlib.util
import os
import runpy
from pathlib import Path

import pytest

from fdpo._io import read_csv, read_json, read_jsonl, write_csv, write_json
from fdpo.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ("generate", "pairs", "train", "evaluate", "sweep", "report", "demo", "frontier")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_subcommand_exists_and_every_option_has_help():
    subparsers = _subparsers(build_parser())
    assert tuple(subparsers) == SUBCOMMANDS
    for name, parser in subparsers.items():
        assert parser.description, name
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and len(action.help) > 10, (name, action.dest)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_of_each_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: fdpo {command}")


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_sweep_with_a_bad_config_fails_fast_with_the_problem(tmp_path, capsys, no_model_loading):
    config = tmp_path / "bad.yaml"
    config.write_text(
        "sft_model: ./does/not/exist\nreward_model: a/b\nprompts: {texts: [x]}\ngrid: {seeds: []}\n"
    )
    assert main(["sweep", str(config), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "sft_model='./does/not/exist' does not exist" in err and "grid.seeds is empty" in err
    assert not (tmp_path / "out").exists()


def test_sweep_overrides_before_and_after_options_and_dry_run(
    tmp_path, capsys, tiny_model_dir, tiny_classifier_dir, monkeypatch
):
    """--dry-run runs every check of the sweep (the SFT tokenizer measures the prompts) and loads no model."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    for name in ("AutoModelForCausalLM", "AutoModelForSequenceClassification"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)
    config = tmp_path / "sweep.yaml"
    config.write_text(
        f"sft_model: {tiny_model_dir}\nreward_model: {tiny_classifier_dir}\nprompts: {{texts: [x]}}\n"
    )
    argv = ["sweep", str(config), "grid.seeds=[0,1]", "--output-dir", str(tmp_path), "--dry-run"]
    assert main([*argv, "grid.divergences=[reverse_kl,alpha:0.5]"]) == 0
    out = capsys.readouterr().out
    assert "4 runs" in out and "alpha-0.5__sigmoid__beta0.1__seed1" in out
    with pytest.raises(SystemExit):
        main([*argv, "--no-such-option"])


def test_report_command(tmp_path, capsys):
    rows = [
        dict(run_id=f"{d}{s}", divergence=d, loss_type="sigmoid", beta=0.1, seed=s, reward_logit_mean=r + s * step,
             predictive_entropy=e - s / 10, token_entropy=4.0)
        for d, r, e, step in (("reverse_kl", 2.0, 3.0, 0.1), ("forward_kl", 1.0, 4.0, 0.2)) for s in (0, 1)
    ]  # fmt: skip
    write_csv(tmp_path / "results.csv", rows)
    assert main(["report", str(tmp_path), "--diversity", "token_entropy", "--title", "T"]) == 0
    out = capsys.readouterr().out
    assert "| RKL | sigmoid | 0.1 | 2 |" in out and "tradeoff.png" in out
    # the verdict, as report.md has it: reward falls 0.95, per-seed differences −1.0 and −0.9 (SE 0.05, df 1: the
    # 95% t interval is −0.95 ± 12.706 × 0.05 and the two-sided p of t = 19 at one df is 1 − 2·atan(19)/π = 0.033);
    # token entropy flat
    line = (
        "- reward falls: **holds** — ρ = −1.00; FKL − RKL = −0.950 ± 0.05 (seeds only, paired by seed); "
        "95% t interval −0.950 [−1.585, −0.315] (t −19.0, df 1, p 0.033)"
    )
    assert line in out
    assert "- token entropy rises: **does not hold**" in out
    assert "- reward falls: **holds**" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "tradeoff.png").read_bytes().startswith(b"\x89PNG")
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_report_command_takes_the_sweeps_settings_and_writes_html(tmp_path, capsys, monkeypatch):
    """Unset --diversity/--title come from sweep.json (as the sweep drew them); --html adds tradeoff.html."""
    import fdpo.report

    rows = [
        dict(run_id=f"{d}{s}", divergence=d, loss_type="sigmoid", beta=0.1, seed=s, reward_logit_mean=r + s / 10,
             predictive_entropy=3.0, token_entropy=e + s / 10)
        for d, r, e in (("reverse_kl", 2.0, 4.0), ("forward_kl", 1.0, 5.0)) for s in (0, 1)
    ]  # fmt: skip
    write_csv(tmp_path / "results.csv", rows)
    write_json(
        tmp_path / "sweep.json", {"config": {"name": "My sweep", "report": {"diversity": "token_entropy"}}}
    )
    calls = []
    real = fdpo.report.write_report
    monkeypatch.setattr(fdpo.report, "write_report", lambda *a, **k: calls.append(k) or real(*a, **k))
    assert main(["report", str(tmp_path), "--html"]) == 0
    assert calls[0]["diversity"] == "token_entropy" and calls[0]["title"] == "My sweep" and calls[0]["html"]
    out = capsys.readouterr().out
    assert f"HTML:   {tmp_path / 'tradeoff.html'}" in out
    assert "My sweep" in (tmp_path / "tradeoff.html").read_text()
    assert (tmp_path / "report.md").read_text().startswith("# My sweep")

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "plotly" else real_find_spec(name, *a)
    )
    (tmp_path / "tradeoff.html").unlink()
    assert main(["report", str(tmp_path), "--html"]) == 2
    assert 'needs plotly: pip install "fdpo[html]"' in capsys.readouterr().err
    assert not (tmp_path / "tradeoff.html").exists()


def test_stages_from_files(tiny_model_dir, tiny_classifier_dir, tmp_path, capsys):
    """generate → pairs → train → evaluate, each reading the previous stage's file."""
    samples = tmp_path / "samples.jsonl"
    prompts = ["--prompt", "This movie was", "--prompt", "The cast is", "--prompt", "I loved"]
    generate = ["generate", "--model", tiny_model_dir, *prompts, "--samples-per-prompt", "4"]
    assert main([*generate, "--gen", "max_new_tokens=6", "--output", str(samples), "--no-progress"]) == 0
    assert len(read_jsonl(samples)) == 12
    mask = os.umask(0o022)
    os.umask(mask)
    assert samples.stat().st_mode & 0o777 == 0o666 & ~mask  # the user's permissions, not a temp file's 0600

    pairs = tmp_path / "pairs.jsonl"
    scores = tmp_path / "scores.json"
    pair_args = [
        "pairs",
        "--samples",
        str(samples),
        "--reward-model",
        tiny_classifier_dir,
        "--strategy",
        "best_vs_worst",
    ]
    assert main([*pair_args, "--output", str(pairs), "--scores-output", str(scores)]) == 0
    records = read_jsonl(pairs)
    assert records and {"prompt", "chosen", "rejected"} <= set(records[0]) and len(read_json(scores)) == 12

    policy = tmp_path / "policy"
    train = [
        "train",
        "--model",
        tiny_model_dir,
        "--pairs",
        str(pairs),
        "--divergence",
        "alpha:0.5",
        "--beta",
        "0.05",
    ]
    settings = [
        "--set",
        "max_steps=2",
        "--set",
        "per_device_train_batch_size=2",
        "--set",
        "learning_rate=1e-2",
    ]
    assert (
        main([*train, *settings, "--set", "gradient_checkpointing=false", "--output-dir", str(policy)]) == 0
    )
    assert (policy / "config.json").is_file() and read_json(policy / "train_log.json")["run"][
        "divergence"
    ] == "alpha:0.5"

    metrics = tmp_path / "metrics.json"
    evaluate = [
        "evaluate",
        "--model",
        str(policy),
        "--reference",
        tiny_model_dir,
        "--reward-model",
        tiny_classifier_dir,
    ]
    assert (
        main([*evaluate, *prompts, "--gen", "max_new_tokens=6", "--output", str(metrics), "--no-progress"])
        == 0
    )
    result = read_json(metrics)
    for key in (
        "reward_logit_mean",
        "reward_prob_mean",
        "token_entropy",
        "predictive_entropy",
        "distinct_1",
        "kl_to_ref",
    ):
        assert isinstance(result[key], float), key
    assert "predictive_entropy" in capsys.readouterr().out

    bad_train = [
        "train",
        "--model",
        tiny_model_dir,
        "--pairs",
        str(pairs),
        "--divergence",
        "alpah",
        "--output-dir",
        "x",
    ]
    assert main(bad_train) == 2


@pytest.mark.slow
def test_demo_quick_end_to_end_and_the_example_resumes_it(tmp_path, capsys, monkeypatch):
    """`fdpo demo --quick` writes the three files and prints the table; examples/imdb_positive.py --demo --quick on
    the same directory finds every run finished (same sweep) and trains nothing."""
    output = tmp_path / "demo"
    assert main(["demo", "--quick", "--output-dir", str(output), "--no-progress"]) == 0
    out = capsys.readouterr().out
    for name in ("results.csv", "summary.csv", "tradeoff.png"):
        assert (output / name).is_file()
        assert str(output / name) in out
    results = read_csv(output / "results.csv")
    divergences = {row["divergence"] for row in results}
    assert "sft" in divergences and "reverse_kl" in divergences and "forward_kl" in divergences
    assert len({row["seed"] for row in results if row["divergence"] != "sft"}) >= 2
    assert "| SFT |" in out and "| RKL |" in out
    assert "- reward falls: **" in out  # the verdict follows the table

    import fdpo.sweep.runner as runner

    monkeypatch.setattr(runner, "train_policy", lambda *a, **k: pytest.fail("a finished run was retrained"))
    module = runpy.run_path(str(REPO / "examples" / "imdb_positive.py"))
    assert module["main"](["--demo", "--quick", "--output-dir", str(output), "--no-progress"]) == 0
    assert [row["run_id"] for row in read_csv(output / "results.csv")] == [row["run_id"] for row in results]


@pytest.mark.slow
def test_full_demo_shows_the_papers_trade_off(tmp_path, capsys):
    """`fdpo demo` (the full world, its default sweep), asserting only what held on every seed set measured.

    Measured with every seed drawing its own pairs (docs/sweeps.md, "The demo, measured"; four demo settings, nine
    runs of three seeds, one and two threads): forward KL always had the least reward of the family and reverse KL
    the most or within 0.03 of it (JS once above); FKL − RKL was −0.42 to −0.66 logits, 3.3 to 10.5 standard errors (paired
    by seed), with rank correlations −0.94 to −1.00; forward KL always ended closer to the SFT model than reverse KL
    on average (KL lower by 1.4 to 5.7 nats); every configuration's mean KL was 2.5 to 17 nats and its predictive
    entropy within 0.12 of the SFT model's; every configuration's token entropy was 0 to 0.22 nats below the SFT
    model's. The margins below are about half the smallest measured. The diversity
    measures did not separate the ends by 3 standard errors on any seed set (token entropy rose by +0.04 to +0.11
    nats, 0.5 to 2.2 SE; distinct-2 and the predictive entropy fell slightly), so nothing is asserted about their
    order; the report's verdict lines are checked to be there."""
    from fdpo.report import summarize_sweep, verdict

    output = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(output), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert str(output / "tradeoff.png") in out and "reward falls:" in out and "paired by seed" in out
    rows, summary, replicates, _ = summarize_sweep(output)
    means = {row["divergence"]: row for row in summary}
    family = ["reverse_kl", "jensen_shannon", "alpha:0.3", "alpha:0.5", "alpha:0.7", "forward_kl"]
    assert set(family) <= set(means) and all(int(means[name]["n"]) == 3 for name in family)
    assert len(list((output / "pairs").glob("seed-*/pairs_with_ref.jsonl"))) == 3  # one pair draw per seed
    (judged,) = verdict(rows, replicates)
    claims = {claim.claim.metric: claim for claim in judged.claims}

    reward = [float(means[name]["reward_logit_mean"]) for name in family]
    assert reward[-1] == min(reward), reward  # forward KL has the least reward
    assert reward[0] >= max(reward) - 0.15, reward  # standard DPO the most, or close to it
    assert claims["reward_logit_mean"].gap.paired_seeds
    assert claims["reward_logit_mean"].gap.value <= -0.2, claims["reward_logit_mean"]
    assert claims["reward_logit_mean"].gap.z <= -1.6, claims["reward_logit_mean"]
    assert claims["reward_logit_mean"].rho <= -0.5, claims["reward_logit_mean"]
    assert claims["kl_to_ref"].gap.value < 0, claims["kl_to_ref"]  # forward KL stays closer to the SFT model
    sft = means["sft"]
    for name in family:
        assert 1.0 <= float(means[name]["kl_to_ref_mean"]) <= 25.0, name  # nats, as real DPO runs
        drift = float(means[name]["predictive_entropy_mean"]) - float(sft["predictive_entropy_mean"])
        assert abs(drift) <= 0.3, (name, drift)
        # measured: from 0.001 above to 0.22 nats below the SFT model's token entropy
        narrowing = float(sft["token_entropy_mean"]) - float(means[name]["token_entropy_mean"])
        assert -0.1 <= narrowing <= 0.4, (name, narrowing)
    assert claims["token_entropy"].gap.value > -0.15, claims["token_entropy"]  # measured +0.04 to +0.11


def test_the_command_and_the_package_import_nothing_heavy():
    """`import fdpo` and the CLI module load no torch/transformers/TRL (what keeps `fdpo --help` instant; timed in
    benchmarks/bench_cli_startup.py); the lazy exports still resolve; `python -m fdpo` is the command."""
    import subprocess
    import sys

    code = (
        "import sys, fdpo, fdpo.cli\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'trl', 'datasets') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "assert fdpo.FDPOTrainer.__name__ == 'FDPOTrainer' and fdpo.LOSS_TYPES == ('sigmoid', 'hinge', 'ipo')\n"
        "assert all(getattr(fdpo, name) is not None for name in fdpo.__all__)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    result = subprocess.run([sys.executable, "-m", "fdpo", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("fdpo ")
    import fdpo

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        fdpo.nope  # noqa: B018


def test_demo_print_config_prints_a_sweep_config(capsys, tmp_path):
    """`fdpo demo --print-config > my.yaml` gives a file `fdpo sweep` validates (and lists the demo's runs)."""
    assert main(["demo", "--print-config"]) == 0
    path = tmp_path / "my.yaml"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    assert main(["sweep", str(path), "--output-dir", str(tmp_path / "x"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "valid; 18 runs" in out and "forward_kl__sigmoid__beta0.1__seed2" in out
    assert main(["demo", "--quick"]) == 2
    assert "--output-dir" in capsys.readouterr().err
