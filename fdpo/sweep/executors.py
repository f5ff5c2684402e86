"""Where the grid cells of a sweep run: one after another in this process (``sequential``), or one Ray task per
run on a Ray cluster (``ray``, ``pip install "fdpo[ray]"``).

With Ray, the sweep's shared stages (samples, scores, pairs, reference log-probs) and the SFT baseline run once in
this process, before the fan-out; then every unfinished run becomes a task that loads the models from their paths,
reads the pairs from the sweep folder and writes its run directory through ``RunStore``, exactly as the sequential
loop does. So the output folder (and the model paths) must be on a file system every node of the cluster sees.

A worker that dies (out of memory, a lost node) gets its task re-run by Ray (``max_retries``): the retry's
``RunStore.begin`` clears what the dead attempt left, and a run whose metrics.json was written before its worker
died is not trained again. results.csv is rebuilt from the run directories, so a retried run has one row.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fdpo._optional import require
from fdpo.errors import InputError, SweepError

if TYPE_CHECKING:
    from fdpo.sweep.config import RunSpec, SweepConfig

__all__ = ["EXECUTORS", "check_executor", "check_ray_address", "ray_task_resources", "run_on_ray"]

#: The executors ``run_sweep`` (and ``fdpo sweep --executor``) accepts.
EXECUTORS = ("sequential", "ray")
_RAY_PURPOSE = "The Ray executor (--executor ray)"
#: How many times Ray re-runs the task of a run whose worker died (not for an exception raised by the run).
DEFAULT_MAX_RETRIES = 2


def check_executor(executor: str) -> None:
    """Refuses an unknown executor, and ``ray`` when Ray is not installed, before any model is loaded.

    Raises:
        InputError: naming the executors, or the command that installs Ray.
    """
    if executor not in EXECUTORS:
        raise InputError(f"Unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}.")
    if executor == "ray":
        require("ray", "ray", _RAY_PURPOSE)


#: Seconds a Ray address gets to accept a connection before the sweep is refused.
RAY_CONNECT_TIMEOUT = 5.0


def check_ray_address(address: str | None, *, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """Refuses, within ``timeout`` seconds, a Ray address (``HOST:PORT`` or ``ray://HOST:PORT``) where nothing
    accepts a connection: ``ray.init`` would retry it for minutes, after the sweep's shared stages have run.

    ``None``, ``auto`` and ``local`` are left to ``ray.init``, which answers those at once.

    Raises:
        InputError: naming the address, what failed and the fix.
    """
    import socket

    if not address or address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(
            f"Ray address {address!r} is not HOST:PORT or ray://HOST:PORT (e.g. 10.0.0.2:6379, ray://10.0.0.2:10001) "
            "nor auto; fix it, or leave --address out to start a local Ray."
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise InputError(
            f"No Ray cluster answers at address {address!r}: a connection to {host}:{port} failed within "
            f"{timeout:g} s ({error.strerror or error}). Start one with `ray start --head` (then --address auto), "
            "check the address and that its port is reachable from here, or leave --address out to start a local "
            "Ray."
        ) from None


def ray_task_resources(config: SweepConfig, cluster_has_gpus: bool) -> dict[str, float]:
    """The resources one run asks Ray for: a GPU (and a CPU) when the sweep's device is CUDA, or when the device is
    left to auto-detection and the cluster has GPUs; one CPU otherwise."""
    device = config.device or ("cuda" if cluster_has_gpus else "cpu")
    if str(device).startswith("cuda"):
        return {"num_cpus": 1, "num_gpus": 1}
    return {"num_cpus": 1}


def run_on_ray(
    cell: Callable[[str, SweepConfig, RunSpec, Mapping[int, Sequence[str]]], Any],
    root: str | os.PathLike,
    config: SweepConfig,
    runs: Sequence[RunSpec],
    eval_prompts: Mapping[int, Sequence[str]],
    *,
    on_finished: Callable[[RunSpec], None],
    address: str | None = None,
    resources: Mapping[str, Any] | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    show_progress: bool = True,
) -> None:
    """Runs ``runs`` as Ray tasks, ``cell(root, config, run, eval_prompts)`` each (``run_sweep`` passes
    ``fdpo.sweep.runner.run_cell``, and the evaluation prompts of each seed), calling ``on_finished`` as each one
    finishes.

    Uses the Ray instance this process is already connected to, if any; otherwise connects to ``address``
    (``"auto"``: the cluster started on this machine with ``ray start``; ``"ray://host:10001"``: a remote one) or,
    without an address (and no ``RAY_ADDRESS``), starts a local Ray with this machine's CPUs and GPUs, shut down at
    the end.

    Args:
        resources: Ray's per-task resource options (``num_cpus``, ``num_gpus``, ``memory``, ``resources``);
            default ``ray_task_resources``.
        max_retries: how many times a run whose worker process died is re-run.

    Raises:
        InputError: Ray is missing, or no cluster answers at ``address``.
        SweepError: some runs raised; the others finished and are kept, and rerunning the sweep redoes the failed
            ones.
    """
    from tqdm.auto import tqdm

    ray = require("ray", "ray", _RAY_PURPOSE)
    started_here = not ray.is_initialized()
    if started_here:
        check_ray_address(address)
        try:
            ray.init(address=address, include_dashboard=False, logging_level="WARNING")
        except ConnectionError as error:
            raise InputError(
                f"No Ray cluster answers at address {address!r} ({error}). Start one with `ray start --head` "
                "(then --address auto), check the address, or leave --address out to start a local Ray."
            ) from None
    try:
        if resources is None:
            resources = ray_task_resources(config, ray.cluster_resources().get("GPU", 0) > 0)
        task = ray.remote(cell).options(max_retries=max_retries, **dict(resources))
        config_ref, prompts_ref = (
            ray.put(config),
            ray.put({int(k): list(v) for k, v in dict(eval_prompts).items()}),
        )
        pending = {task.remote(str(os.path.abspath(root)), config_ref, run, prompts_ref): run for run in runs}
        failures: list[tuple[RunSpec, BaseException]] = []
        bar = tqdm(total=len(pending), desc="f-DPO runs (Ray)", unit="run", disable=not show_progress)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                run = pending.pop(done[0])
                try:
                    ray.get(done[0])
                except ray.exceptions.RayError as error:
                    failures.append((run, getattr(error, "cause", None) or error))
                else:
                    on_finished(run)
                bar.set_postfix_str(run.run_id)
                bar.update(1)
        except BaseException:  # KeyboardInterrupt included: no task of this sweep keeps running
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            bar.close()
    finally:
        if started_here:
            ray.shutdown()
    if failures:
        run, error = failures[0]
        raise SweepError(
            f"{len(failures)} of {len(runs)} runs failed on Ray: {', '.join(r.run_id for r, _ in failures)}. "
            f"The first, {run.run_id}, raised {type(error).__name__}: {str(error).rstrip('.')}. The finished runs "
            "are kept; rerun the same command to redo the failed ones."
        ) from error
