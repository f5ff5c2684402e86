"""Checks that look past the config's values at the machine it runs on: whether a model reference names a model
folder or a hub id (and, offline, a cached one), whether the hub has it, and whether the device exists here.

``SweepConfig.check(quick=True)`` runs the ones that need no network (``model_reference_problems``,
``device_problems``); ``SweepConfig.check`` adds ``hub_problems`` (one look-up with a timeout, no retries) and ``max_length_problems``
(the SFT model's tokenizer against ``training.max_length``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "classifier_label_problems",
    "device_problems",
    "hub_offline",
    "hub_problems",
    "in_hub_cache",
    "max_length_problems",
    "model_kind_problems",
    "model_reference_problems",
    "sample_memory_problems",
    "tokenizer_file_problems",
]


def model_reference_problems(name: str, value: Any) -> list[str]:
    """Problems of a model given as a local folder or a hub id (``gpt2``, ``org/name``), found without loading it.

    A value naming an existing path must be a folder with a config.json. Any other value must be a hub id by the
    hub's own rules (``huggingface_hub.utils.validate_repo_id``: ``name`` or ``namespace/name``, letters, digits,
    ``-``, ``_`` and ``.``, no ``--`` or ``..``, at most 96 characters); one that looks like a path (``./x``, ``/x``,
    ``~/x``, two or more ``/``) names a missing folder. With the hub offline (``HF_HUB_OFFLINE``), a hub id must be in
    the local cache. Whether an online hub has the id is ``hub_problems``'s question (it needs the network).
    """
    example = "lvwerra/distilbert-imdb" if "reward" in name else "gpt2 or lvwerra/gpt2-imdb"
    if not value or not isinstance(value, str):
        return [
            f"{name} is not set: give a local folder saved with save_pretrained or a hub id (e.g. {example})."
        ]
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            return [
                f"{name}={value!r} exists but is not a model directory (no config.json in it). Give the folder that "
                "save_pretrained wrote, or a hub id."
            ]
        kind = "classifier" if "reward" in name else "causal_lm"
        return model_kind_problems(name, value, kind) or tokenizer_file_problems(name, value)
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    looks_local = value.startswith((".", "/", "~")) or "\\" in value or value.count("/") > 1
    try:
        validate_repo_id(value)
    except HFValidationError as error:
        if looks_local:
            return [
                f"{name}={value!r} does not exist as a local folder. Check the path (relative paths start from the "
                f"current directory), or give a hub id such as {example}."
            ]
        return [
            f"{name}={value!r} is neither an existing local folder nor a valid hub id ({error}). Check the spelling, "
            f"give a hub id such as {example}, or the path of a local folder."
        ]
    if hub_offline() and not in_hub_cache(value):
        return [
            f"{name}={value!r} is not a local folder, and the hub is offline ({hub_offline()}=1) with no copy of "
            f"{value!r} in the local cache. Check the id for typos, pass a local folder saved with save_pretrained, "
            f"or unset {hub_offline()} on a connected machine so that the model is downloaded."
        ]
    return []


def _local_config(value: Any) -> dict | None:
    """The config.json of a local model folder as a dict, or None (not a local folder, or not readable JSON: loading
    the model says why)."""
    import json

    if not isinstance(value, str):
        return None
    path = Path(value).expanduser() / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def model_kind_problems(name: str, value: Any, kind: str) -> list[str]:
    """Whether the local model folder ``value`` holds the kind of model its role needs (``"causal_lm"`` for a policy
    or reference, ``"classifier"`` for a reward model), read from config.json's ``architectures`` (the classes it was
    saved from) and ``model_type``, without loading a weight. A hub id or a config that says nothing is not judged.
    """
    config = _local_config(value)
    if config is None:
        return []
    from transformers.models.auto import modeling_auto

    architectures = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    model_type = config.get("model_type")
    saved = f"architectures {', '.join(architectures)}" if architectures else f"model_type {model_type!r}"
    mapping, other_suffixes, problem = _MODEL_KINDS[kind]
    saved_as_other = architectures and all(a.endswith(other_suffixes) for a in architectures)
    if saved_as_other or (isinstance(model_type, str) and model_type not in getattr(modeling_auto, mapping)):
        return [f"{name}={value!r} is not {problem.format(saved=saved)}"]
    return []


# kind → (transformers' auto mapping of the model types that have it, class-name endings of the other kind, message)
_MODEL_KINDS = {
    "classifier": (
        "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
        ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration"),
        "a sequence classifier (its config.json says {saved}): a reward model must be one (e.g. a "
        "*ForSequenceClassification, such as lvwerra/distilbert-imdb), whose class logits score a text. A causal LM "
        "given here would be scored by a classification head initialized at random. Give the classifier's folder.",
    ),
    "causal_lm": (
        "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
        ("ForSequenceClassification",),
        "a causal language model (its config.json says {saved}): a policy or reference must generate text (e.g. a "
        "*ForCausalLM or *LMHeadModel, such as gpt2). Give the folder of the causal LM; a classifier belongs in the "
        "reward model's place.",
    ),
}


#: Files of which a saved tokenizer has at least one (fast tokenizers: tokenizer.json; slow ones: their vocabulary).
_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.json",
    "vocab.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.model",
    "tekken.json",
)


def tokenizer_file_problems(name: str, value: Any) -> list[str]:
    """A local model folder without any tokenizer file: ``transformers`` would build an empty tokenizer from it, and
    the model would generate empty text and train on nothing."""
    if not isinstance(value, str):
        return []
    path = Path(value).expanduser()
    if not path.is_dir() or any((path / file).is_file() for file in _TOKENIZER_FILES):
        return []
    return [
        f"{name}={value!r} has no tokenizer files (none of {', '.join(_TOKENIZER_FILES[:4])}, ...): transformers would "
        "build an empty tokenizer from it. Copy the tokenizer into the folder (tokenizer.save_pretrained(FOLDER)) or "
        "give the folder that save_pretrained wrote with it."
    ]


def classifier_label_problems(
    name: str, value: Any, positive_index: Any, option: str = "reward.positive_index"
) -> list[str]:
    """``positive_index`` against the number of classes of the local classifier ``value`` (config.json's
    ``id2label`` or ``num_labels``), without loading it."""
    config = _local_config(value)
    if config is None or isinstance(positive_index, bool) or not isinstance(positive_index, int):
        return []
    labels = config.get("id2label")
    count = len(labels) if isinstance(labels, dict) and labels else config.get("num_labels", 2)
    if not isinstance(count, int) or 0 <= positive_index < count:
        return []
    shown = f" ({', '.join(f'{k}: {v}' for k, v in labels.items())})" if isinstance(labels, dict) else ""
    return [
        f"{option}={positive_index}, but {name}={value!r} has {count} classes{shown}, numbered 0 to {count - 1}. Set "
        f"{option} to the class whose logit is the reward (e.g. the index of POSITIVE)."
    ]


def sample_memory_problems(
    samples_per_prompt: Any, num_prompts: int, max_new_tokens: Any, option: str = "pairs.samples_per_prompt"
) -> list[str]:
    """Whether the samples of one stage (``samples_per_prompt`` × ``num_prompts`` completions of ``max_new_tokens``)
    can fit in this machine's memory, estimated at 1 KiB per sample plus 64 bytes per token (the text, its token ids
    and the scores kept per sample), against the physical memory ``os.sysconf`` reports; a coarse bound that only
    catches absurd settings (``1e20`` samples), not tight ones."""
    if isinstance(samples_per_prompt, bool) or not isinstance(samples_per_prompt, (int, float)):
        return []
    tokens = max_new_tokens if isinstance(max_new_tokens, int) and max_new_tokens > 0 else 64
    total = float(samples_per_prompt) * max(num_prompts, 1)
    needed = total * (1024 + 64 * tokens)
    try:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return []
    if needed <= available:
        return []
    return [
        f"{option}={samples_per_prompt:g} with {num_prompts} prompt(s) means {total:.3g} samples, which need about "
        f"{needed / 2**30:.3g} GiB of memory, and this machine has {available / 2**30:.3g} GiB. Use far fewer samples "
        "per prompt (the paper uses 5)."
    ]


def hub_problems(name: str, value: Any, *, timeout: float = 10.0) -> list[str]:
    """Whether the hub has the model ``value``, asked once with a ``timeout`` (seconds), without retries.

    Nothing is asked (and nothing is found wrong) for a local folder, a model in the local cache, a value
    ``model_reference_problems`` refuses, or an offline hub. Otherwise a missing, private or gated model and a hub
    that does not answer are problems, each saying what to do, so a sweep fails in seconds instead of after the
    retries of a model download.
    """
    if not isinstance(value, str) or not value or Path(value).expanduser().exists() or hub_offline():
        return []
    if model_reference_problems(name, value) or in_hub_cache(value):
        return []
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().model_info(value, timeout=timeout)
    except GatedRepoError:
        return [
            f"{name}={value!r} is a gated model: accept its conditions on its hub page, log in (hf auth login), or "
            "pass a local folder."
        ]
    except RepositoryNotFoundError:
        return [
            f"{name}={value!r}: the hub has no model of that id (or it is private: log in with hf auth login). Check "
            "the id for typos, or pass a local folder saved with save_pretrained."
        ]
    except Exception as error:  # noqa: BLE001 -- any failure to reach the hub (DNS, refused, timeout, proxy, 5xx)
        return [
            f"{name}={value!r} is not in the local cache and the hub ({constants.ENDPOINT}) could not be reached "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no details'}; the check waits "
            f"at most {timeout:g} s). "
            "Check the network (or HF_ENDPOINT), check the id, pass a local folder, or, if the model is cached "
            "under another name or revision, set HF_HUB_OFFLINE=1."
        ]
    return []


def in_hub_cache(repo_id: str) -> bool:
    """Whether the hub model ``repo_id`` has a config.json in the local cache."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # noqa: BLE001 -- any failure to look means: not usable from the cache
        return False


def hub_offline() -> str | None:
    """The variable that makes the hub offline (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``), or None."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on"):
            return variable
    return None


def device_problems(device: Any) -> list[str]:
    """Problems of a ``device`` setting: not a torch device, or an accelerator this machine does not have."""
    if device is None:
        return []
    hint = "use cpu, cuda, cuda:N or mps, or leave device unset (cuda when available, else cpu)"
    if not isinstance(device, str) or not device.strip():
        return [f"device={device!r} is not a device name; {hint}."]
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as error:
        return [f"device={device!r} is not a torch device ({error}); {hint}."]
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return [
                f"device={device!r}, but no CUDA GPU is visible here (torch.cuda.is_available() is False). Leave "
                "device unset or set device=cpu to run on the CPU, or run on a machine with a GPU."
            ]
        if parsed.index is not None and parsed.index >= count:
            return [
                f"device={device!r}, but this machine has {count} CUDA GPU(s): cuda:0 to cuda:{count - 1}."
            ]
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        return [f"device={device!r}, but Apple's MPS backend is not available here; {hint}."]
    return []


def max_length_problems(
    sft_model: str,
    max_length: int | None,
    prompts: Sequence[str],
    template: str,
    generation: Mapping[str, Any] | None,
) -> list[str]:
    """``training.max_length`` against the longest prompt (written with ``template``), measured by the tokenizer of
    ``sft_model`` when it is a local folder or in the cache (no download for a check); ``generation``'s
    ``max_new_tokens``, if any, gives the length that keeps whole completions."""
    path = Path(sft_model).expanduser()
    if max_length is None or not prompts or not (path.is_dir() or in_hub_cache(sft_model)):
        return []
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(sft_model, local_files_only=bool(hub_offline()) or None)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return [f"sft_model={sft_model!r}: its tokenizer does not load ({first_line})."]
    queries = [template.format(prompt=prompt) for prompt in prompts]
    lengths = [len(tokenizer(query)["input_ids"]) for query in queries]
    longest = max(range(len(queries)), key=lengths.__getitem__)
    if lengths[longest] < max_length:
        return []
    new_tokens = (generation or {}).get("max_new_tokens")
    whole = ""
    if isinstance(new_tokens, int):
        whole = f"; {lengths[longest] + new_tokens} keeps whole completions of max_new_tokens={new_tokens}"
    return [
        f"training.max_length={max_length} is too short: the longest prompt ({queries[longest][:60]!r}) is "
        f"{lengths[longest]} tokens, and a pair whose prompt fills max_length is dropped by the trainer (no "
        f"completion token would be left). Use at least {lengths[longest] + 1}"
        f"{whole}, or leave max_length unset."
    ]
