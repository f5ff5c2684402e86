"""Start-up time of the ``fdpo`` command: ``fdpo --help`` against ``python -c "import torch"``.

    python benchmarks/bench_cli_startup.py [--rounds 7]

Each round runs both commands once, in alternating order, as fresh processes with the same interpreter and
environment (OMP_NUM_THREADS pinned, printed); prints the median and the range of each, and their ratio. Target:
``fdpo --help`` under 1 s, i.e. no torch, transformers or TRL at import time (importing torch alone is the
yardstick of what an eager import would cost).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "fdpo --help": [sys.executable, "-m", "fdpo", "--help"],
    "import torch": [sys.executable, "-c", "import torch"],
}


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="Rounds; each runs both commands once.")
    parser.add_argument("--threads", default="1", help="OMP_NUM_THREADS of the timed processes.")
    args = parser.parse_args()

    env = {**os.environ, "OMP_NUM_THREADS": args.threads, "MKL_NUM_THREADS": args.threads}
    print(f"python {sys.version.split()[0]}, OMP_NUM_THREADS={args.threads}, {os.cpu_count()} CPUs visible")
    names = list(COMMANDS)
    for name in names:  # warm-up: file caches, .pyc files
        timed(COMMANDS[name], env)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(timed(COMMANDS[name], env))
    print(f"| command | median (s) | min (s) | max (s) |  ({args.rounds} alternating rounds)")
    print("|---|---:|---:|---:|")
    for name in names:
        values = times[name]
        print(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} | {max(values):.3f} |")
    ratio = statistics.median(times["fdpo --help"]) / statistics.median(times["import torch"])
    print(f"fdpo --help takes {ratio:.2f}x the time of importing torch")


if __name__ == "__main__":
    main()
