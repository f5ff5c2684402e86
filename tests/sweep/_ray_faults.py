"""A Ray worker setup hook for tests/sweep/test_executors.py: kills a worker in the middle of a chosen run.

Ray runs ``install`` in every worker process it starts (``runtime_env["worker_process_setup_hook"]``). When the
environment names a faults folder (``FDPO_TEST_FAULTS``), it wraps ``fdpo.sweep.runner.train_policy`` so that each
call appends the run id to ``attempts.log`` there; a call for a run that has a ``<run_id>.kill`` file deletes the
file and ends the worker process with ``os._exit(1)``, as a crash or an out-of-memory kill would (the first attempt
dies after the run directory was created, and the retry trains normally); a call for a run that has a
``<run_id>.raise`` file raises ``RuntimeError``, as a bug in a run would.
"""

from __future__ import annotations

import os
from pathlib import Path

FAULTS_ENV = "FDPO_TEST_FAULTS"


def install() -> None:
    folder = os.environ.get(FAULTS_ENV)
    if not folder:
        return
    import fdpo.sweep.runner as runner

    real_train_policy = runner.train_policy

    def train_policy(model, tokenizer, pairs, args, **kwargs):
        run_id = Path(args.output_dir).parent.name  # runs/<run_id>/trainer
        with open(Path(folder) / "attempts.log", "a", encoding="utf-8") as log:
            log.write(f"{run_id}\n")
        if (Path(folder) / f"{run_id}.raise").exists():
            raise RuntimeError(f"injected failure in {run_id}")
        try:
            (Path(folder) / f"{run_id}.kill").unlink()
        except FileNotFoundError:
            return real_train_policy(model, tokenizer, pairs, args, **kwargs)
        os._exit(1)

    runner.train_policy = train_policy
