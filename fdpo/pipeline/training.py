"""From scored samples to a trained policy: the preference pairs, their reference log-probs (computed once), and
the training of a copy of the SFT model.

torch, transformers and TRL are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import copy
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from fdpo.errors import InputError
from fdpo.pairs import COLUMNS, REFERENCE_COLUMNS, build_pairs
from fdpo.settings import PairSettings

__all__ = ["CheckpointCallback", "compute_reference_log_probs", "make_pairs", "train_policy"]

# Columns of a pairs dataset the trainer reads.
_PAIR_COLUMNS = COLUMNS[:3]


def make_pairs(samples, rewards, settings: PairSettings | None = None, *, model=None, tokenizer=None):
    """Preference pairs from scored samples (``fdpo.pairs.build_pairs`` on the queries the model saw).

    Samples whose completion is empty (the model ended the text at once) are left out: there is nothing to prefer.
    DivPO pairs with the ``logprob`` criterion rank the samples by their mean token log-prob under ``model`` (the
    SFT model that drew them, with its ``tokenizer``), scored on the sampled token ids.
    """
    settings = settings or PairSettings()
    keep = [index for index, completion in enumerate(samples.completions) if completion.strip()]
    if not keep:
        raise ValueError(
            f"All {len(samples)} completions are empty; sample with a minimum length (generation.min_new_tokens)."
        )
    logprobs = None
    if settings.strategy == "divpo" and settings.diversity == "logprob":
        if model is None or tokenizer is None:
            raise ValueError(
                "DivPO pairs with diversity 'logprob' need the SFT model and its tokenizer (model=, tokenizer=) to "
                "score the samples; or use diversity 'ngram'."
            )
        from fdpo.metrics import mean_token_logprobs

        logprobs = mean_token_logprobs(
            model, tokenizer, [samples.queries[i] for i in keep], [samples.completion_ids[i] for i in keep]
        )
    return build_pairs(
        [samples.queries[i] for i in keep],
        [samples.completions[i] for i in keep],
        [float(rewards[i]) for i in keep],
        strategy=settings.strategy,
        high=settings.high,
        low=settings.low,
        margin=settings.margin,
        num_pairs=settings.num_pairs,
        seed=settings.seed,
        diversity=settings.diversity,
        logprobs=logprobs,
        quantile=settings.quantile,
        ngram=settings.ngram,
    )


def compute_reference_log_probs(model, tokenizer, pairs, args, *, show_progress: bool = True):
    """The pairs as the trainer prepares them, with TRL's ``ref_chosen_logps``/``ref_rejected_logps`` columns.

    Runs TRL's own precompute once (``precompute_ref_log_probs=True``) on a copy of ``model`` (the reference), so the
    tokenization, end-of-sequence handling, collation and ``max_length`` truncation are exactly those of training.

    Args:
        model: the reference model (the SFT model); it is copied, not modified.
        pairs: a ``datasets.Dataset`` with prompt, chosen and rejected columns.
        args: an ``FDPOConfig`` with the sweep's training arguments (``precompute_ref_log_probs`` is forced on).
        show_progress: TRL's progress bar over the batches (it reads only the ``TQDM_DISABLE`` variable, which is
            set for the call when False).

    Returns:
        a ``datasets.Dataset`` with columns prompt, chosen, rejected, ref_chosen_logps, ref_rejected_logps; rows that
        TRL drops (a prompt that alone fills ``max_length``) are not in it.
    """
    from fdpo.trainer import FDPOTrainer

    args = copy.copy(args)
    args.precompute_ref_log_probs = True
    quiet = contextlib.nullcontext() if show_progress else _environment(TQDM_DISABLE="1")
    with _datasets_progress_bars_off(), quiet:
        trainer = FDPOTrainer(
            model=copy.deepcopy(model), args=args, train_dataset=pairs, processing_class=tokenizer
        )
    return trainer.train_dataset.select_columns(list(_PAIR_COLUMNS + REFERENCE_COLUMNS))


@contextlib.contextmanager
def _environment(**values: str):
    """Sets environment variables for the duration of the block, then restores them."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _datasets_progress_bars_off():
    from datasets.utils import logging as datasets_logging

    enabled = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            datasets_logging.enable_progress_bar()


def train_policy(
    model,
    tokenizer,
    pairs,
    args,
    *,
    reuse_reference: bool = True,
    checkpoints: Sequence[int] = (),
    on_checkpoint: Callable[[int, Any], None] | None = None,
):
    """Trains a copy of ``model`` with ``FDPOTrainer`` on ``pairs``.

    Args:
        model: the SFT model, kept unchanged (the policy starts from a deep copy, so the model is loaded once per
            sweep, not once per run).
        pairs: a ``datasets.Dataset``; with ``reuse_reference`` it must carry the reference columns of
            ``compute_reference_log_probs``.
        args: the run's ``FDPOConfig``.
        checkpoints: global steps (optimizer steps) after which ``on_checkpoint(step, policy)`` is called with the
            policy being trained, in eval mode (see ``CheckpointCallback``: training goes on exactly as without it).
            A step beyond the run's last step is refused when training starts, before the first step.
        on_checkpoint: what to do with the policy at each checkpoint, typically evaluate it; its time is not counted
            in ``train_seconds``.

    Returns:
        ``(policy, train_seconds, log_history)``: the trained model in eval mode, the seconds spent building the
        trainer and training (reference precompute or loading included when there is no reuse, checkpoint
        evaluations excluded), TRL's log history (its last entry carries the final ``step``).

    Raises:
        fdpo.errors.InputError: a checkpoint lies beyond the run's last step (the message gives the step count and
            how it came about; a ``ValueError``).
        ValueError: checkpoints without ``on_checkpoint``.
    """
    from transformers import PrinterCallback

    from fdpo.trainer import FDPOTrainer, remove_fused_lm_head

    if checkpoints and on_checkpoint is None:
        raise ValueError("train_policy got checkpoints but no on_checkpoint to call at them.")

    started = time.perf_counter()
    if reuse_reference:
        missing = [c for c in REFERENCE_COLUMNS if c not in pairs.column_names]
        if missing:
            raise ValueError(
                f"reuse_reference=True needs the pairs' reference log-probs, but columns {missing} are missing. "
                "Compute them with compute_reference_log_probs, or pass reuse_reference=False."
            )
        args = copy.copy(args)
        args.precompute_ref_log_probs = True  # FDPOTrainer keeps the columns that are there
    else:
        pairs = pairs.remove_columns([c for c in REFERENCE_COLUMNS if c in pairs.column_names])
    with _datasets_progress_bars_off():  # TRL's per-run dataset preparation bars would bury the sweep's own
        trainer = FDPOTrainer(
            model=copy.deepcopy(model), args=args, train_dataset=pairs, processing_class=tokenizer
        )
    # With disable_tqdm, transformers prints every log dict to stdout; the sweep keeps them in log_history instead.
    trainer.remove_callback(PrinterCallback)
    callback = None
    if checkpoints:
        callback = CheckpointCallback(checkpoints, on_checkpoint, num_pairs=len(trainer.train_dataset))
        trainer.add_callback(callback.create())
    trainer.train()
    seconds = time.perf_counter() - started - (callback.seconds if callback is not None else 0.0)
    policy = trainer.model
    remove_fused_lm_head(
        policy
    )  # so that a copy of the policy (weight interpolation, ...) runs its own weights
    policy.eval()
    history = list(trainer.state.log_history)
    return policy, seconds, history


class CheckpointCallback:
    """A ``transformers.TrainerCallback`` (``CheckpointCallback.create``) that calls ``on_checkpoint(step, model)``
    after the optimizer steps listed in ``steps``, as if training had stopped there, then lets training go on
    exactly as it would have without the call.

    The model is handed over in eval mode (no dropout) with gradients off, and put back in train mode afterwards; the
    random states (Python, numpy, torch on the CPU and on every CUDA device) are saved before the call and restored
    after it. So what the call draws (sampling) changes nothing in the rest of training: the final policy is the one
    a run without checkpoints trains, and a checkpoint at the last step is the final policy. (With a learning-rate
    schedule that depends on the total step count, such as the default linear decay, a checkpoint at step k is the
    policy after k steps of *this* run, not the final policy of a run trained for k steps.)

    Attributes:
        seconds: time spent in the calls (``train_policy`` leaves it out of the training time).
        steps: the checkpoint steps, sorted.
    """

    def __init__(self, steps: Sequence[int], on_checkpoint: Callable[[int, Any], None], *, num_pairs: int):
        self.steps = sorted({int(step) for step in steps})
        self.on_checkpoint = on_checkpoint
        self.num_pairs = num_pairs
        self.seconds = 0.0

    def create(self):
        """The ``TrainerCallback`` to add to a trainer (transformers is imported here, not with this module)."""
        from transformers import TrainerCallback

        owner = self

        class _Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                owner.check_steps(args, state.max_steps)

            def on_step_end(self, args, state, control, model=None, **kwargs):
                if state.global_step in owner.steps:
                    owner.call(state.global_step, model)

        return _Callback()

    def check_steps(self, args, max_steps: int) -> None:
        """Refuses checkpoints beyond the run's last step (called when training starts, before its first step)."""
        beyond = [step for step in self.steps if step > max_steps]
        if not beyond:
            return
        if args.max_steps is not None and args.max_steps > 0:
            how = f"max_steps={args.max_steps}"
        else:
            per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
            how = (
                f"{self.num_pairs} pairs, {args.num_train_epochs:g} epoch(s), {per_step} pairs per step: batch size "
                f"{args.per_device_train_batch_size} × {args.gradient_accumulation_steps} accumulation step(s) × "
                f"{args.world_size} process(es)"
            )
        raise InputError(
            f"Checkpoint step(s) {beyond} lie beyond the run's last step, {max_steps} ({how}). List checkpoints "
            f"from 1 to {max_steps} (evaluation.checkpoints in a sweep), or train longer."
        )

    def call(self, step: int, model) -> None:
        """``on_checkpoint(step, model)`` with the model in eval mode, no gradients and the random states restored."""
        import numpy as np
        import torch

        started = time.perf_counter()
        was_training = model.training
        python_state, numpy_state = random.getstate(), np.random.get_state()
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            model.eval()
            try:
                self.on_checkpoint(step, model)
            finally:
                model.train(was_training)
                random.setstate(python_state)
                np.random.set_state(numpy_state)
        self.seconds += time.perf_counter() - started
