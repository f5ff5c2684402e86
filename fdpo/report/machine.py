"""The machine a sweep ran on, recorded beside its results and printed in its report.

A study's numbers hold for the machine, the thread count and the library versions that produced them (another CPU
or another torch can rebuild another demo world and draw other samples). ``record_machine`` appends one record per
invocation of a sweep to machine.json in its output folder (a resumed sweep may have run on several machines);
``machine_lines`` is the report's paragraph.

Reads versions from the installed packages' metadata: nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from fdpo._io import write_json

__all__ = ["MACHINE_FILE", "PACKAGES", "machine_lines", "machine_record", "read_machine", "record_machine"]

#: The file in a sweep's output folder: a JSON list, one record per sweep invocation.
MACHINE_FILE = "machine.json"
#: The packages whose versions decide a study's numbers.
PACKAGES = ("fdpo", "torch", "transformers", "trl", "tokenizers", "numpy")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_record(threads: int | None = None, device: str | None = None) -> dict[str, Any]:
    """What decides a run's numbers besides its config: CPU model, cores, threads, device and package versions.

    Args:
        threads: the intra-op threads the run used (``torch.get_num_threads()``; the caller has torch loaded).
        device: the device the models ran on ("cpu", "cuda:0", ...).
    """
    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "device": device,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {package: _version(package) for package in PACKAGES},
    }


def read_machine(output_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of machine.json (an empty list when there is none, or when it is not a JSON list)."""
    path = Path(output_dir) / MACHINE_FILE
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [record for record in records if isinstance(record, dict)] if isinstance(records, list) else []


def record_machine(
    output_dir: str | os.PathLike, threads: int | None = None, device: str | None = None
) -> dict[str, Any]:
    """Appends this machine's record to OUTPUT_DIR/machine.json (written atomically) and returns it."""
    record = machine_record(threads, device)
    write_json(Path(output_dir) / MACHINE_FILE, [*read_machine(output_dir), record])
    return record


def _key(record: Mapping[str, Any]) -> tuple:
    versions = record.get("versions") or {}
    return (
        record.get("cpu"),
        record.get("cores"),
        record.get("threads"),
        record.get("device"),
        tuple(sorted(versions.items())),
    )


def machine_lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's "Machine" lines: one per distinct (CPU, cores, threads, device, versions), oldest first."""
    if not records:
        return ["Not recorded (the sweep predates machine.json)."]
    distinct = list({_key(record): record for record in reversed(records)}.values())[::-1]
    lines = []
    for record in distinct:
        versions = ", ".join(f"{name} {v}" for name, v in (record.get("versions") or {}).items() if v)
        lines.append(
            f"- {record.get('cpu')}, {record.get('cores')} cores, {record.get('threads')} threads, "
            f"device {record.get('device') or 'cpu'}; {versions} (from {record.get('time')})"
        )
    if len(distinct) > 1:
        lines.append("The sweep ran on more than one machine or setting: its runs are not all alike.")
    return lines
