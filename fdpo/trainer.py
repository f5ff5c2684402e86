"""``FDPOTrainer``: TRL's ``DPOTrainer`` with the f-DPO loss behind one overridable method, ``dpo_loss``.

TRL 1.x computes the DPO loss and logs its metrics inline in the private ``DPOTrainer._compute_loss``, with no
public loss hook. ``FDPOTrainer`` replaces ``_compute_loss`` (its signature and behaviour are pinned by
``tests/test_trainer.py``): the policy log-probs come from the same fused LM head TRL uses, the reference log-probs
from the precomputed dataset columns or from TRL's own ``compute_ref_log_probs`` (which handles a separate reference
model, a PEFT policy whose adapter is switched off, and TR-DPO's synced reference), and the loss from
``self.dpo_loss``, which by default calls ``fdpo.losses.fdpo_loss``. Everything else (data preparation, reference
precomputation, PEFT, gradient accumulation, evaluation, multi-process training) is TRL's, unchanged, except that a
dataset that already carries ``ref_chosen_logps``/``ref_rejected_logps`` columns keeps them (TRL 1.16 would compute
them again and then fail on the duplicated columns): reference log-probs computed once serve every run of a sweep.

The logged metrics carry TRL's keys; ``rewards/*`` are the implicit rewards β·f′(u) that ``dpo_loss`` returns, where
TRL logs β·log u whatever its ``f_divergence_type``.
"""

from __future__ import annotations

import inspect
import os
import textwrap
import warnings
from pathlib import Path

import torch
import trl
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from trl import DPOTrainer

from fdpo._io import write_text
from fdpo.checks import check_preference_dataset, check_tokenizer
from fdpo.config import FDPOConfig
from fdpo.divergences import FDivergence
from fdpo.errors import FDPOError, InputError
from fdpo.losses import fdpo_loss
from fdpo.model_card import add_fdpo_settings
from fdpo.pairs import REFERENCE_COLUMNS

#: The TRL releases whose private ``DPOTrainer._compute_loss`` FDPOTrainer replaces (as pinned in pyproject.toml).
TRL_REQUIREMENT = ">=1.16,<1.17"


class NonFiniteTrainingError(FDPOError, FloatingPointError):
    """Training met a NaN or infinite loss, gradient or weight; the message names the step, the settings and the fix."""


class IncompatibleTRLError(FDPOError, ImportError):
    """The installed TRL is not one whose private DPO internals FDPOTrainer was written against."""


def _check_trl_version(installed: str) -> None:
    if not SpecifierSet(TRL_REQUIREMENT).contains(Version(installed), prereleases=True):
        raise IncompatibleTRLError(
            f"fdpo needs TRL {TRL_REQUIREMENT}, but TRL {installed} is installed. FDPOTrainer computes the f-DPO loss "
            "by replacing DPOTrainer._compute_loss, a private method of TRL 1.16 (TRL has no public hook for the DPO "
            "loss), and a private method may change in any release, so another TRL version is refused rather than "
            f'trained with silently. Install a matching one: pip install "trl{TRL_REQUIREMENT}".'
        )


# Before anything of TRL's but its public DPOTrainer is touched (get_config_model_id is imported where it is used).
_check_trl_version(trl.__version__)

__all__ = [
    "TRL_REQUIREMENT",
    "FDPOTrainer",
    "IncompatibleTRLError",
    "NonFiniteTrainingError",
    "remove_fused_lm_head",
]

# Collated batch entries that are not model inputs.
_NON_MODEL_KEYS = frozenset({"completion_mask", *REFERENCE_COLUMNS})


class FDPOTrainer(DPOTrainer):
    """Direct preference optimization under an f-divergence constraint (f-DPO, Wang et al., ICLR 2024).

    Takes the same arguments as ``trl.DPOTrainer``; ``args`` must be an ``FDPOConfig``, whose ``divergence`` picks
    f. The loss of a batch is ``self.dpo_loss(...)`` averaged over the pairs; override ``dpo_loss`` to change it
    (it sees the summed log-probs of each completion under the policy and the reference).

    Attributes:
        divergence: the ``FDivergence`` resolved from ``args.divergence``; ``dpo_loss`` applies its f′.
        loss_type: ``"sigmoid"``, ``"hinge"`` or ``"ipo"``, from ``args.loss_type``.

    Example:

    ```python
    >>> from fdpo.config import FDPOConfig
    >>> from fdpo.trainer import FDPOTrainer
    >>> args = FDPOConfig("out", divergence="alpha", alpha=0.3, beta=0.01)
    >>> trainer = FDPOTrainer(model="path/to/sft-model", args=args, train_dataset=pairs)  # prompt/chosen/rejected
    >>> trainer.train()
    ```
    """

    _tag_names = ["trl", "dpo", "f-dpo"]
    _name = "f-DPO"
    _paper = {
        "title": "Beyond Reverse KL: Generalizing Direct Preference Optimization with Diverse Divergence Constraints",
        "id": "2309.16240",
        "citation": textwrap.dedent("""\
            @inproceedings{wang2024beyond,
                title     = {{Beyond Reverse KL: Generalizing Direct Preference Optimization with Diverse Divergence Constraints}},
                author    = {Chaoqi Wang and Yibo Jiang and Chenghao Yang and Han Liu and Yuxin Chen},
                year      = 2024,
                booktitle = {The Twelfth International Conference on Learning Representations, {ICLR} 2024},
            }"""),
    }

    def __init__(
        self, model, ref_model=None, args: FDPOConfig | None = None, *trainer_args, **trainer_kwargs
    ):
        if args is None:
            from trl.trainer.utils import get_config_model_id

            model_name = model if isinstance(model, str) else get_config_model_id(model.config)
            args = FDPOConfig(f"{model_name.split('/')[-1]}-FDPO")
        elif not isinstance(args, FDPOConfig):
            raise TypeError(
                f"FDPOTrainer needs an FDPOConfig as `args`, got {type(args).__name__}. Build "
                "fdpo.config.FDPOConfig(...) with the same arguments plus `divergence=`; a plain DPOConfig would leave "
                "the divergence unspecified."
            )
        # The config may have been changed since it was built: check it again before anything is loaded.
        args.validate()
        self._check_datasets(model, ref_model, args, *trainer_args, **trainer_kwargs)
        self.divergence: FDivergence = args.get_divergence()
        self.loss_type: str = args.loss_type[0]
        super().__init__(model, ref_model, args, *trainer_args, **trainer_kwargs)
        self._check_tokenizer_and_reference()

    def _check_tokenizer_and_reference(self) -> None:
        """Refuses, before any step, an empty tokenizer (a model folder without tokenizer files: TRL would train on
        a handful of tokens with log-probs of 0) and a reference model whose vocabulary differs from the policy's
        (the log-ratios would compare different tokens)."""
        from trl.trainer.utils import get_config_model_id

        model = self.accelerator.unwrap_model(self.model)
        name = repr(get_config_model_id(model.config))
        embeddings = model.get_input_embeddings()
        size = getattr(embeddings, "num_embeddings", None)
        tokenizer = getattr(self, "_tokenizer", None) or getattr(self.processing_class, "tokenizer", None)
        check_tokenizer(f"the policy {name}", tokenizer or self.processing_class, vocab_size=size)
        self._check_context_length(model)
        if self.ref_model is None:
            return
        reference = self.accelerator.unwrap_model(self.ref_model)
        reference_embeddings = reference.get_input_embeddings()
        reference_size = getattr(reference_embeddings, "num_embeddings", None)
        if size is not None and reference_size is not None and size != reference_size:
            raise InputError(
                f"The policy {name} has {size} token embeddings and the reference "
                f"{get_config_model_id(reference.config)!r} has {reference_size}: their vocabularies differ, so the "
                "log-ratios log π(y|x) − log π_ref(y|x) would compare different tokens. Use as the reference the model "
                "the policy starts from (leave ref_model unset), or one with the same tokenizer."
            )

    def _check_context_length(self, model) -> None:
        """Refuses pairs longer than the model's position embeddings (after truncation to ``max_length``): the
        forward pass would index past them (an ``IndexError`` deep in torch)."""
        from datasets import Dataset

        config = model.config
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        if not isinstance(limit, int) or (self.args.max_length is not None and self.args.max_length <= limit):
            return
        datasets = {"train_dataset": self.train_dataset}
        if isinstance(self.eval_dataset, dict):
            datasets.update({f"eval_dataset[{key!r}]": value for key, value in self.eval_dataset.items()})
        else:
            datasets["eval_dataset"] = self.eval_dataset
        for name, dataset in datasets.items():
            columns = ("prompt_ids", "chosen_ids", "rejected_ids")
            if not isinstance(dataset, Dataset) or not set(columns) <= set(dataset.column_names):
                continue
            prompts, chosen, rejected = (dataset[column] for column in columns)
            lengths = [
                len(p) + max(len(c), len(r)) for p, c, r in zip(prompts, chosen, rejected, strict=True)
            ]
            if self.args.max_length is not None:
                lengths = [min(length, self.args.max_length) for length in lengths]
            longest = max(range(len(lengths)), key=lengths.__getitem__, default=None)
            if longest is not None and lengths[longest] > limit:
                raise InputError(
                    f"{name}, pair {longest + 1}: prompt and completion make {lengths[longest]} tokens, more than the "
                    f"model's {limit} positions (max_length={self.args.max_length}), so the forward pass would fail. "
                    f"Set max_length to at most {limit} (--max_length {limit}; longer pairs are truncated), or drop "
                    "the long pairs."
                )

    def training_step(self, model, inputs, num_items_in_batch=None):
        """``Trainer.training_step``, stopped with ``NonFiniteTrainingError`` at the first non-finite loss."""
        loss = super().training_step(model, inputs, num_items_in_batch)
        if not torch.isfinite(loss.detach()).all():
            raise NonFiniteTrainingError(
                self._non_finite_message(f"the loss is {loss.detach().float().item()}")
            )
        return loss

    def create_optimizer(self, *args, **kwargs):
        """``Trainer.create_optimizer``, with a check before each optimizer step that every gradient is finite, so
        that no step writes NaN or inf into the weights."""
        optimizer = super().create_optimizer(*args, **kwargs)
        if not getattr(optimizer, "_fdpo_finite_hook", False):
            optimizer.register_step_pre_hook(self._check_gradients)
            optimizer._fdpo_finite_hook = True
        return optimizer

    def _check_gradients(self, optimizer, args, kwargs) -> None:
        gradients = [
            p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None
        ]
        if not gradients:
            return
        finite = torch.stack([torch.isfinite(g).all() for g in gradients]).all()
        if not finite:
            raise NonFiniteTrainingError(self._non_finite_message("a gradient is NaN or infinite"))

    def _non_finite_message(self, what: str) -> str:
        return (
            f"Training stopped at step {self.state.global_step + 1}: {what}, so the next optimizer step would write "
            f"NaN or inf into the weights (divergence {self.divergence.name}, beta={self.beta:g}, learning rate "
            f"{self.args.learning_rate:g}, loss {self.loss_type}). Nothing non-finite was saved. Lower beta or the "
            "learning rate, train in float32 or bfloat16 rather than float16, and check the pairs (a pair longer "
            "than max_length, or reference log-probs that are NaN)."
        )

    @staticmethod
    def _check_datasets(*dpo_trainer_args, **dpo_trainer_kwargs) -> None:
        """Checks ``train_dataset`` and ``eval_dataset`` before the model is loaded or anything tokenized.

        ``InputError`` for an empty dataset, missing ``chosen``/``rejected`` columns or a value that is not a string
        or a list of messages; a warning for pairs with chosen == rejected (see
        ``fdpo.checks.check_preference_dataset``).
        """
        try:
            bound = inspect.signature(DPOTrainer.__init__).bind(None, *dpo_trainer_args, **dpo_trainer_kwargs)
        except TypeError:
            return  # DPOTrainer.__init__ reports wrong arguments itself
        for name in ("train_dataset", "eval_dataset"):
            if bound.arguments.get(name) is not None:
                check_preference_dataset(bound.arguments[name], name)

    def create_model_card(
        self,
        model_name: str | None = None,
        dataset_name: str | None = None,
        tags: str | list[str] | None = None,
    ):
        """TRL's model card (``README.md`` in ``args.output_dir``), plus the f-DPO settings it was trained with.

        The settings go into the card's metadata (key ``fdpo``: divergence spec, α, TRL's equivalent settings, β,
        loss type) and into an "f-DPO settings" section of its text; the divergence is also a tag. Called by
        ``save_model``, by checkpoint saves and by ``push_to_hub``.
        """
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        tags.append(f"f-divergence:{self.divergence.name}")
        super().create_model_card(model_name=model_name, dataset_name=dataset_name, tags=tags)
        if self.is_world_process_zero():
            from trl.trainer.utils import get_config_model_id

            base_model = get_config_model_id(self.accelerator.unwrap_model(self.model).config)
            add_fdpo_settings(
                os.path.join(self.args.output_dir, "README.md"), self.args, base_model=base_model
            )

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Saves the model (or the PEFT adapter) as ``Trainer.save_model`` does, with a model card next to it.

        TRL writes its card only with checkpoints and on ``push_to_hub``; here a call from user code also writes one
        (``README.md``, see ``create_model_card``) into ``output_dir``.
        """
        self._check_weights_finite(output_dir or self.args.output_dir)
        super().save_model(output_dir, _internal_call=_internal_call)
        if _internal_call or not self.is_world_process_zero():
            return
        output_dir = output_dir or self.args.output_dir
        model_name = (
            Path(output_dir).name if self.args.hub_model_id is None else self.args.hub_model_id.split("/")[-1]
        )
        self.create_model_card(model_name=model_name)
        card = Path(self.args.output_dir) / "README.md"
        if card.is_file() and Path(output_dir).resolve() != card.parent.resolve():
            write_text(Path(output_dir) / "README.md", card.read_text(encoding="utf-8"))

    def _check_weights_finite(self, output_dir: str) -> None:
        """Refuses to save a model with a NaN or infinite weight (``NonFiniteTrainingError``)."""
        for name, parameter in self.accelerator.unwrap_model(self.model).named_parameters():
            if not torch.isfinite(parameter.detach()).all():
                raise NonFiniteTrainingError(
                    f"Not saving to {output_dir!r}: the weight {name} holds NaN or infinite values, so the model "
                    f"is broken (divergence {self.divergence.name}, beta={self.beta:g}, learning rate "
                    f"{self.args.learning_rate:g}). Lower beta or the learning rate and train again."
                )

    def dpo_loss(
        self,
        policy_chosen_logps: torch.Tensor,
        policy_rejected_logps: torch.Tensor,
        ref_chosen_logps: torch.Tensor,
        ref_rejected_logps: torch.Tensor,
        chosen_lengths: torch.Tensor | None = None,
        rejected_lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The per-pair loss and implicit rewards of a batch; the override point of ``FDPOTrainer``.

        Args:
            policy_chosen_logps: log π(y_w|x), summed over the completion tokens. Shape: (batch_size,).
            policy_rejected_logps: log π(y_l|x). Shape: (batch_size,).
            ref_chosen_logps: log π_ref(y_w|x), no gradient. Shape: (batch_size,).
            ref_rejected_logps: log π_ref(y_l|x), no gradient. Shape: (batch_size,).
            chosen_lengths: number of completion tokens of y_w (IPO normalizes by it). Shape: (batch_size,).
            rejected_lengths: number of completion tokens of y_l. Shape: (batch_size,).

        Returns:
            ``(losses, chosen_rewards, rejected_rewards)``, each of shape (batch_size,): the unreduced loss (the
            trainer takes its mean) and the detached implicit rewards β·f′(u), which are logged as ``rewards/*``.
        """
        return fdpo_loss(
            policy_chosen_logps,
            policy_rejected_logps,
            ref_chosen_logps,
            ref_rejected_logps,
            divergence=self.divergence,
            beta=self.beta,
            loss_type=self.loss_type,
            chosen_lengths=chosen_lengths,
            rejected_lengths=rejected_lengths,
        )

    def _precompute_ref_logps(self, dataset, name, batch_size):
        """TRL's reference precompute, skipped for a dataset that already has both reference columns.

        With ``precompute_ref_log_probs=True`` and a dataset carrying ``ref_chosen_logps``/``ref_rejected_logps``
        (such as ``fdpo.pipeline.compute_reference_log_probs`` returns), the columns are used as they are: no reference
        model is loaded and no reference forward pass runs.
        """
        if all(column in dataset.column_names for column in REFERENCE_COLUMNS):
            return dataset
        return super()._precompute_ref_logps(dataset, name, batch_size)

    def _compute_loss(self, model, inputs, return_outputs):
        """Replaces ``DPOTrainer._compute_loss`` (TRL 1.16): the loss goes through ``dpo_loss``.

        The batch stacks the chosen sequences on top of the rejected ones: rows [0, B) are prompt + y_w, rows
        [B, 2B) prompt + y_l, with ``completion_mask`` marking the completion tokens.
        """
        mode = "train" if self.model.training else "eval"
        model_kwargs = {key: value for key, value in inputs.items() if key not in _NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        if self.aux_loss_enabled:
            model_kwargs["output_router_logits"] = True
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        # The fused LM head returns, at position t, log π(token t+1 | tokens ≤ t), zero where the label is -100:
        # `token_mask` marks the positions that score a completion token.
        outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
        token_mask = completion_mask[:, 1:]
        num_positions = token_mask.size(1)
        # Prompt-learning PEFT methods prepend virtual tokens; the real positions are the last `num_positions`.
        per_token_logps = outputs.log_probs[:, -num_positions:]
        policy_chosen_logps, policy_rejected_logps = per_token_logps.sum(dim=1).chunk(2, dim=0)

        if self.precompute_ref_logps:
            ref_chosen_logps, ref_rejected_logps = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            reference = self.ref_model if self.ref_model is not None else self.model
            ref_chosen_logps, ref_rejected_logps = self.compute_ref_log_probs(reference, inputs)

        chosen_lengths, rejected_lengths = completion_mask.sum(dim=1).chunk(2, dim=0)
        losses, chosen_rewards, rejected_rewards = self._checked_dpo_loss(
            policy_chosen_logps,
            policy_rejected_logps,
            ref_chosen_logps,
            ref_rejected_logps,
            chosen_lengths,
            rejected_lengths,
        )
        loss = losses.mean()

        if self.aux_loss_enabled:
            loss = loss + self.router_aux_loss_coef * outputs.aux_loss
            self._metrics[mode]["aux_loss"].append(
                self.accelerator.gather(outputs.aux_loss.detach()).mean().item()
            )

        self._record_metrics(
            mode,
            inputs,
            outputs,
            token_mask,
            policy_chosen_logps,
            policy_rejected_logps,
            chosen_rewards,
            rejected_rewards,
        )

        if not return_outputs:
            return loss
        # `compute_metrics` wants logits, which the fused head never builds: one more forward, as TRL does.
        warnings.warn(
            "return_outputs=True (used to pass logits to compute_metrics) costs an extra forward pass; TRL deprecates "
            "it and will remove it in v2.0.0.",
            FutureWarning,
            stacklevel=2,
        )
        with torch.no_grad():
            outputs = model(**model_kwargs)
        return loss, outputs

    def _checked_dpo_loss(self, *log_probs_and_lengths: torch.Tensor):
        result = self.dpo_loss(*log_probs_and_lengths)
        batch_size = log_probs_and_lengths[0].shape[0]
        if not (isinstance(result, (tuple, list)) and len(result) == 3):
            raise TypeError(
                f"{type(self).__name__}.dpo_loss must return (losses, chosen_rewards, rejected_rewards), got "
                f"{type(result).__name__}."
            )
        for name, tensor in zip(("losses", "chosen_rewards", "rejected_rewards"), result, strict=True):
            if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != (batch_size,):
                shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
                raise ValueError(
                    f"{type(self).__name__}.dpo_loss returned {name} of shape {shape}; expected ({batch_size},), one "
                    "value per preference pair (unreduced: the trainer takes the mean)."
                )
        return result

    def _record_metrics(
        self,
        mode: str,
        inputs: dict[str, torch.Tensor],
        outputs,
        token_mask: torch.Tensor,
        chosen_logps: torch.Tensor,
        rejected_logps: torch.Tensor,
        chosen_rewards: torch.Tensor,
        rejected_rewards: torch.Tensor,
    ) -> None:
        """Appends this batch's metrics to ``self._metrics[mode]`` under TRL's keys, reduced over all processes.

        Token-level metrics are ratios of sums over every process; pair-level metrics are means over the gathered
        pairs. One collective per kind and one device-to-host copy, instead of one per metric.
        """
        metrics = self._metrics[mode]
        num_positions = token_mask.size(1)
        token_mask = token_mask.detach()
        chosen_mask, rejected_mask = token_mask.chunk(2, dim=0)
        chosen_mean_logits, rejected_mean_logits = (
            outputs.mean_logits[:, -num_positions:].detach().chunk(2, dim=0)
        )
        chosen_is_top1, _ = outputs.is_top1[:, -num_positions:].chunk(2, dim=0)
        sums = torch.stack(
            [
                value.float()
                for value in (
                    (outputs.entropy[:, -num_positions:].detach() * token_mask).sum(),
                    token_mask.sum(),
                    (chosen_mean_logits * chosen_mask).sum(),
                    chosen_mask.sum(),
                    (rejected_mean_logits * rejected_mask).sum(),
                    rejected_mask.sum(),
                    (chosen_is_top1.bool() & chosen_mask.bool()).sum(),
                    inputs["attention_mask"].sum(),
                )
            ]
        )
        # Sums, so no de-duplication: `gather_for_metrics` would cut this (num_processes,) tensor to the number of
        # samples left in the last batch.
        (
            entropy_sum,
            num_completion_tokens,
            chosen_logits_sum,
            num_chosen_tokens,
            rejected_logits_sum,
            num_rejected_tokens,
            num_chosen_top1,
            num_tokens,
        ) = self.accelerator.gather(sums[None]).sum(dim=0).tolist()

        per_pair = torch.stack(
            [
                value.detach().float()
                for value in (
                    chosen_rewards,
                    rejected_rewards,
                    chosen_rewards > rejected_rewards,
                    chosen_rewards - rejected_rewards,
                    chosen_logps,
                    rejected_logps,
                )
            ],
            dim=1,
        )
        # Per pair, so the duplicates padding the last batch of a multi-process run are dropped.
        reward_chosen, reward_rejected, accuracy, margin, logp_chosen, logp_rejected = (
            self.accelerator.gather_for_metrics(per_pair).mean(dim=0).tolist()
        )

        def ratio(numerator: float, denominator: float) -> float:
            return numerator / denominator if denominator > 0 else 0.0

        metrics["entropy"].append(ratio(entropy_sum, num_completion_tokens))
        if mode == "train":
            self._total_train_tokens += int(num_tokens) // self._tp_size
        metrics["num_tokens"] = [self._total_train_tokens]
        metrics["logits/chosen"].append(ratio(chosen_logits_sum, num_chosen_tokens))
        metrics["logits/rejected"].append(ratio(rejected_logits_sum, num_rejected_tokens))
        metrics["mean_token_accuracy"].append(ratio(num_chosen_top1, num_chosen_tokens))
        metrics["rewards/chosen"].append(reward_chosen)
        metrics["rewards/rejected"].append(reward_rejected)
        metrics["rewards/accuracies"].append(accuracy)
        metrics["rewards/margins"].append(margin)
        metrics["logps/chosen"].append(logp_chosen)
        metrics["logps/rejected"].append(logp_rejected)


def remove_fused_lm_head(model: torch.nn.Module) -> int:
    """Gives ``model`` (and its submodules) back their class's ``forward`` where TRL's fused LM head replaced it.

    TRL 1.16's ``DPOTrainer`` sets ``model.forward`` to a function that, without ``fused_lm_head=True``, calls the
    model's *original* bound ``forward``. The trained model itself behaves as before, but ``copy.deepcopy`` of it
    copies the weights and keeps the closure: the copy would run the original's weights. Call this on a trained
    model before copying it (``fdpo.pipeline.train_policy`` does, for the policy it returns); the model can no longer
    compute TRL's fused log-probs afterwards, so do not train it further with the same trainer.

    Returns:
        the number of modules whose forward was restored (0 for a model TRL never patched).
    """
    restored = 0
    for module in model.modules():
        patched = module.__dict__.get("forward")
        function = getattr(patched, "__func__", None)
        if function is not None and getattr(function, "__wrapped__", None) is type(module).forward:
            # TRL wraps the class's forward with functools.wraps, so __wrapped__ names what it replaced.
            del module.__dict__["forward"]
            restored += 1
    return restored
