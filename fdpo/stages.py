"""The stages of the study, each usable alone from Python: load, sample, score, pair, reference log-probs, train.

    prompts = load_prompts(["Good Review:"])
    model, tokenizer = load_causal_lm("lvwerra/gpt2-imdb")
    samples = generate_samples(model, tokenizer, prompts, samples_per_prompt=8)
    rewards = score_samples(load_reward_model("lvwerra/distilbert-imdb"), samples.texts)
    pairs = make_pairs(samples, rewards, PairSettings(strategy="best_vs_worst"))
    with_ref = compute_reference_log_probs(model, tokenizer, pairs, args)     # once, for every run
    policy, seconds, history = train_policy(model, tokenizer, with_ref, args)

``fdpo.evaluation.evaluate_policy`` measures the result; ``fdpo.sweep.run_sweep`` chains all of them over a grid.
Heavy libraries are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fdpo.data import COLUMNS, REFERENCE_COLUMNS

if TYPE_CHECKING:
    from fdpo.sweep.settings import PairSettings, RewardSettings

__all__ = [
    "compute_reference_log_probs",
    "generate_samples",
    "load_causal_lm",
    "load_prompts",
    "load_reward_model",
    "make_pairs",
    "reward_logits_and_probabilities",
    "score_samples",
    "train_policy",
]

# Columns of a pairs dataset the trainer reads.
_PAIR_COLUMNS = COLUMNS[:3]


def load_prompts(texts: Sequence[str] | None = None, file: str | os.PathLike | None = None) -> list[str]:
    """Prompts from a list and/or a file with one prompt per line (blank lines skipped)."""
    prompts = list(texts or [])
    if file is not None:
        lines = Path(file).expanduser().read_text(encoding="utf-8").splitlines()
        prompts += [line.rstrip("\n") for line in lines if line.strip()]
    return prompts


def load_causal_lm(path: str, device: str | None = None):
    """Loads a causal LM and its tokenizer (left padding, pad token set) in eval mode on ``device``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer


def load_reward_model(path: str, settings: RewardSettings | None = None, device: str | None = None):
    """``fdpo.reward.RewardModel.from_pretrained`` with a sweep's reward settings."""
    from fdpo.reward import RewardModel
    from fdpo.sweep.settings import RewardSettings

    settings = settings or RewardSettings()
    return RewardModel.from_pretrained(
        path,
        positive_index=settings.positive_index,
        batch_size=settings.batch_size,
        max_length=settings.max_length,
        device=device,
    )


def generate_samples(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    samples_per_prompt: int = 1,
    batch_size: int = 32,
    seed: int | None = 0,
    prompt_template: str = "{prompt}",
    generation: Mapping[str, Any] | None = None,
    show_progress: bool = True,
):
    """``fdpo.generation.sample`` with a sweep's settings; returns ``Samples``."""
    from fdpo.generation import sample

    return sample(
        model,
        tokenizer,
        list(prompts),
        num_samples_per_prompt=samples_per_prompt,
        batch_size=batch_size,
        seed=seed,
        prompt_template=prompt_template,
        show_progress=show_progress,
        **dict(generation or {}),
    )


def score_samples(reward_model, texts: Sequence[str], kind: str = "logit"):
    """Rewards of ``texts`` (a ``RewardModel`` or a callable ``list[str] -> list[float]``) as a numpy array."""
    import numpy as np

    from fdpo.reward import score_texts

    return np.asarray(score_texts(reward_model, list(texts), kind=kind), dtype=np.float64)


def reward_logits_and_probabilities(reward_model, texts: Sequence[str]):
    """Both rewards of ``texts``: a ``RewardModel``'s from one pass of the classifier; a callable's own numbers
    (what ``score_samples`` gives for either kind) from one call."""
    from fdpo.reward import RewardModel

    if isinstance(reward_model, RewardModel):
        both = reward_model.scores(list(texts))
        return both["logit"], both["probability"]
    rewards = score_samples(reward_model, texts)
    return rewards, rewards


def make_pairs(samples, rewards, settings: PairSettings | None = None, *, model=None, tokenizer=None):
    """Preference pairs from scored samples (``fdpo.data.build_pairs`` on the queries the model saw).

    Samples whose completion is empty (the model ended the text at once) are left out: there is nothing to prefer.
    DivPO pairs with the ``logprob`` criterion rank the samples by their mean token log-prob under ``model`` (the
    SFT model that drew them, with its ``tokenizer``), scored on the sampled token ids.
    """
    from fdpo.data import build_pairs
    from fdpo.sweep.settings import PairSettings

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
        from fdpo.data import mean_token_logprobs

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
