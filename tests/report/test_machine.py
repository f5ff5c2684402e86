"""machine.json: one record per sweep invocation, and the report's Machine section."""

from __future__ import annotations

import json
from importlib import metadata

from fdpo._io import write_csv
from fdpo.report import write_report
from fdpo.report.machine import MACHINE_FILE, machine_lines, read_machine, record_machine


def test_records_accumulate_and_carry_the_versions(tmp_path):
    first = record_machine(tmp_path, threads=1, device="cpu")
    record_machine(tmp_path, threads=2, device="cpu")
    records = json.loads((tmp_path / MACHINE_FILE).read_text())
    assert [r["threads"] for r in records] == [1, 2] and records[0] == first
    assert first["versions"]["numpy"] == metadata.version("numpy")
    assert first["cores"] >= 1 and first["cpu"]
    lines = machine_lines(records)
    assert len(lines) == 3 and "1 threads" in lines[0] and "2 threads" in lines[1]
    assert "more than one machine" in lines[2]
    # the same machine and setting twice is one line
    assert len(machine_lines([records[0], {**records[0], "time": "later"}])) == 1


def test_unreadable_or_missing_file_is_no_record(tmp_path):
    assert read_machine(tmp_path) == [] and machine_lines([])[0].startswith("Not recorded")
    (tmp_path / MACHINE_FILE).write_text("{not json")
    assert read_machine(tmp_path) == []
    (tmp_path / MACHINE_FILE).write_text('{"a": 1}')
    assert read_machine(tmp_path) == []


def test_the_report_names_the_machine(tmp_path):
    rows = [
        dict(run_id=f"{d}{s}", divergence=d, loss_type="sigmoid", beta=0.1, seed=s, reward_logit_mean=r + s,
             predictive_entropy=1.0 + s)
        for d, r in (("reverse_kl", 2.0), ("forward_kl", 1.0)) for s in (0, 1)
    ]  # fmt: skip
    write_csv(tmp_path / "results.csv", rows)
    write_report(tmp_path)
    assert "## Machine" not in (tmp_path / "report.md").read_text()
    record = record_machine(tmp_path, threads=3, device="cpu")
    write_report(tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "## Machine" in text and f"{record['cpu']}, {record['cores']} cores, 3 threads" in text
