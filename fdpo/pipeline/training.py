"""From scored samples to a trained policy: the preference pairs, their reference log-probs (computed once), and
the training of a copy of the SFT model.

torch, transformers and TRL are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time

from fdpo.pairs import COLUMNS, REFERENCE_COLUMNS, build_pairs
from fdpo.settings import PairSettings

__all__ = ["compute_reference_log_probs", "make_pairs", "train_policy"]

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


def train_policy(model, tokenizer, pairs, args, *, reuse_reference: bool = True):
    """Trains a copy of ``model`` with ``FDPOTrainer`` on ``pairs``.

    Args:
        model: the SFT model, kept unchanged (the policy starts from a deep copy, so the model is loaded once per
            sweep, not once per run).
        pairs: a ``datasets.Dataset``; with ``reuse_reference`` it must carry the reference columns of
            ``compute_reference_log_probs``.
        args: the run's ``FDPOConfig``.

    Returns:
        ``(policy, train_seconds, log_history)``: the trained model in eval mode, the seconds spent building the
        trainer and training (reference precompute or loading included when there is no reuse), TRL's log history.
    """
    from transformers import PrinterCallback

    from fdpo.trainer import FDPOTrainer, remove_fused_lm_head

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
    trainer.train()
    seconds = time.perf_counter() - started
    policy = trainer.model
    remove_fused_lm_head(
        policy
    )  # so that a copy of the policy (weight interpolation, ...) runs its own weights
    policy.eval()
    history = list(trainer.state.log_history)
    return policy, seconds, history
