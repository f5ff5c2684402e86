"""Tests for fdpo/sweep/executors.py: the executor checks, the resources a run asks Ray for, and the Ray executor on
a local two-CPU Ray cluster running the quick demo sweep: the same results.csv as the sequential executor, and a
worker killed in the middle of a run (tests/sweep/_ray_faults.py) has its run re-executed once, with one row."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

from fdpo._io import read_csv
from fdpo.cli import main
from fdpo.demo.world import demo_config
from fdpo.errors import InputError
from fdpo.sweep import SweepConfig, SweepError, run_sweep
from fdpo.sweep.executors import check_executor, ray_task_resources, run_on_ray

from ._ray_faults import FAULTS_ENV


def _config(**fields) -> SweepConfig:
    data = {"sft_model": "unused", "reward_model": "unused", "prompts": {"texts": ["A"]}, **fields}
    return SweepConfig.from_dict(
        data, validate=False
    )  # device=cuda is valid on the GPU machines it describes


def test_unknown_executor_is_refused_with_the_choices():
    with pytest.raises(InputError, match="'dask'.*sequential, ray"):
        check_executor("dask")


def test_a_run_asks_ray_for_a_gpu_only_when_it_trains_on_cuda():
    assert ray_task_resources(_config(device="cuda"), cluster_has_gpus=False) == {
        "num_cpus": 1,
        "num_gpus": 1,
    }
    assert ray_task_resources(_config(device="cuda:1"), cluster_has_gpus=True)["num_gpus"] == 1
    assert ray_task_resources(_config(device="cpu"), cluster_has_gpus=True) == {"num_cpus": 1}
    assert ray_task_resources(_config(), cluster_has_gpus=True) == {"num_cpus": 1, "num_gpus": 1}  # auto
    assert ray_task_resources(_config(), cluster_has_gpus=False) == {"num_cpus": 1}


def test_no_cluster_at_the_address_is_one_paragraph_naming_it(monkeypatch, tmp_path):
    """ray.init raises ConnectionError ("Could not find any running Ray instance ...") for --address auto with no
    cluster; the executor turns it into an InputError that names the address and how to start a cluster."""
    import ray

    def no_cluster(address=None, **kwargs):
        raise ConnectionError(f"Could not find any running Ray instance at {address}.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", no_cluster)
    with pytest.raises(InputError, match=r"No Ray cluster answers at address 'auto'.*ray start --head"):
        run_on_ray(print, tmp_path, _config(), [], [], on_finished=print, address="auto", show_progress=False)


def test_cli_passes_executor_and_address_to_run_sweep(monkeypatch, tmp_path, capsys):
    import fdpo.sweep

    calls = []

    def fake_run_sweep(config, output_dir, **kwargs):
        calls.append(kwargs)
        raise SweepError("stopped by the test")

    monkeypatch.setattr(fdpo.sweep, "run_sweep", fake_run_sweep)
    output = str(tmp_path / "out")
    assert main(["demo", "--quick", "--output-dir", output, "--executor", "ray", "--address", "auto"]) == 2
    assert calls[-1]["executor"] == "ray" and calls[-1]["ray_address"] == "auto"
    assert main(["demo", "--quick", "--output-dir", output, "--no-progress"]) == 2
    assert calls[-1]["executor"] == "sequential" and calls[-1]["ray_address"] is None
    assert "stopped by the test" in capsys.readouterr().err


def test_cli_refuses_address_without_ray_and_names_the_ray_extra(
    monkeypatch, tmp_path, capsys, no_model_loading
):
    output = tmp_path / "out"
    assert main(["demo", "--quick", "--output-dir", str(output), "--address", "auto"]) == 2
    assert "--address auto needs --executor ray" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["demo", "--quick", "--output-dir", str(output), "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert 'pip install "fdpo[ray]"' in err and "Traceback" not in err
    assert not output.exists()


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A local Ray with two CPUs whose workers load the fault hook; yields the faults folder."""
    import ray

    faults = tmp_path_factory.mktemp("faults")
    tests_dir = Path(__file__).resolve().parents[1]  # so that workers import sweep._ray_faults
    pythonpath = os.pathsep.join(p for p in (str(tests_dir), os.environ.get("PYTHONPATH")) if p)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={
            "env_vars": {"PYTHONPATH": pythonpath, FAULTS_ENV: str(faults), "OMP_NUM_THREADS": "1"},
            "worker_process_setup_hook": "sweep._ray_faults.install",
        },
    )
    yield faults
    ray.shutdown()


@pytest.fixture(scope="module")
def sequential_sweep(tmp_path_factory):
    """The quick demo sweep run by the sequential executor on one thread, as the Ray workers run."""
    config = demo_config(quick=True, show_progress=False)
    output = tmp_path_factory.mktemp("sequential")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_sweep(config, output, show_progress=False, write_report_files=False)
    finally:
        torch.set_num_threads(threads)
    return config, output


def _table(path: Path) -> list[dict[str, str]]:
    """results.csv as written (strings, no float parsing), without the timing columns (train_seconds, eval_seconds and their summaries)."""
    return [
        {key: value for key, value in row.items() if "_seconds" not in key}
        for row in read_csv(path, parse_numbers=False)
    ]


def _attempts(faults: Path) -> list[str]:
    log = faults / "attempts.log"
    return sorted(log.read_text(encoding="utf-8").split()) if log.exists() else []


@pytest.mark.slow
def test_ray_executor_writes_the_sequential_results(ray_cluster, sequential_sweep, tmp_path):
    config, reference = sequential_sweep
    (ray_cluster / "attempts.log").unlink(missing_ok=True)
    output = tmp_path / "ray"
    rows = run_sweep(config, output, show_progress=False, write_report_files=False, executor="ray")
    runs = [run.run_id for run in config.runs()]
    assert len(runs) == 6  # the quick demo: three divergences × two seeds
    assert [row["run_id"] for row in rows] == ["sft", *runs]
    assert _attempts(ray_cluster) == sorted(runs)  # every run trained once, by a Ray worker
    assert _table(output / "results.csv") == _table(reference / "results.csv")
    assert _table(output / "summary.csv") == _table(reference / "summary.csv")


@pytest.mark.slow
def test_a_killed_worker_is_rerun_once_and_a_failing_run_stops_only_itself(
    ray_cluster, sequential_sweep, tmp_path
):
    """The sequential sweep with three runs removed, resumed on Ray: the first attempt of one ends its worker with
    os._exit(1) after the run directory was created; another raises. Then the sweep is rerun without faults."""
    config, reference = sequential_sweep
    (ray_cluster / "attempts.log").unlink(missing_ok=True)
    output = tmp_path / "resumed"
    shutil.copytree(reference, output)
    runs = [run.run_id for run in config.runs()]
    killed, failing, other = runs[1], runs[4], runs[-1]
    for run_id in (killed, failing, other):
        shutil.rmtree(output / "runs" / run_id)
    (ray_cluster / f"{killed}.kill").touch()
    (ray_cluster / f"{failing}.raise").touch()

    with pytest.raises(
        SweepError, match=f"1 of 3 runs failed on Ray: {failing}.*RuntimeError: injected failure"
    ):
        run_sweep(config, output, show_progress=False, write_report_files=False, executor="ray")
    assert not (ray_cluster / f"{killed}.kill").exists()  # the fault fired
    assert _attempts(ray_cluster) == sorted(
        [killed, killed, failing, other]
    )  # re-run once; finished runs untouched
    finished = [run_id for run_id in runs if run_id != failing]
    assert [row["run_id"] for row in read_csv(output / "results.csv")] == ["sft", *finished]  # one row each
    expected = [row for row in _table(reference / "results.csv") if row["run_id"] != failing]
    assert _table(output / "results.csv") == expected
    assert not list((output / "runs" / killed).glob(".*tmp"))

    (ray_cluster / f"{failing}.raise").unlink()
    (ray_cluster / "attempts.log").unlink()
    rows = run_sweep(config, output, show_progress=False, write_report_files=False, executor="ray")
    assert _attempts(ray_cluster) == [failing]  # only the failed run is redone
    assert [row["run_id"] for row in rows] == ["sft", *runs]
    assert _table(output / "results.csv") == _table(reference / "results.csv")
