"""``fdpo train``: train one f-DPO policy, with the arguments ``trl dpo`` takes (see ``fdpo.cli.train_args``)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HELP = "Train one f-DPO policy on a pairs file or a dataset (takes what 'trl dpo' takes)."
DESCRIPTION = (
    "Train one policy with FDPOTrainer. Its options are TRL's (DPOConfig, ModelConfig, ScriptArguments) plus "
    "--pairs: run 'fdpo train --help' for the list."
)
#: Parsed by trl.TrlParser in run(), so that importing TRL waits until the command runs; --help goes there too.
PASSTHROUGH = True


def outputs(args: argparse.Namespace) -> list[str]:
    items = list(args.arguments)
    for index, item in enumerate(items):
        if item in ("--output_dir", "--output-dir") and index + 1 < len(items):
            return [items[index + 1]]
        if item.startswith(("--output_dir=", "--output-dir=")):
            return [item.partition("=")[2]]
    return []


def check_records(records: Sequence[dict[str, Any]], source: str) -> None:
    """Refuses JSONL records that are not preference pairs, naming the record and the expected format.

    (A samples file of ``fdpo generate`` passed as pairs is recognized and the command to turn it into pairs named.)
    What is left, on the dataset built from the records, is ``check_preference_dataset``'s.
    """
    from fdpo.checks import PREFERENCE_FORMATS
    from fdpo.errors import InputError
    from fdpo.pairs import REFERENCE_COLUMNS

    if not records:
        raise InputError(
            f"{source} holds no pairs. A pairs file has one JSON object per line: {PREFERENCE_FORMATS}."
        )
    keys = set(records[0])
    if not {"chosen", "rejected"} <= keys:
        hint = ""
        if {"completion", "text"} <= keys or {"completions", "texts"} <= keys:
            hint = (
                " It looks like a samples file of 'fdpo generate': build pairs from it with 'fdpo pairs --samples "
                "FILE --reward-model MODEL --output pairs.jsonl'."
            )
        raise InputError(
            f"{source} is not a pairs file: its records have the keys {', '.join(sorted(keys))}, and no 'chosen' and "
            f"'rejected'. A pairs file (written by 'fdpo pairs') has one JSON object per line: {PREFERENCE_FORMATS}."
            + hint
        )
    names = [name for name in ("prompt", "chosen", "rejected") if name in keys]
    for number, record in enumerate(records, start=1):
        for name in names:
            value = record.get(name)
            if not isinstance(value, (str, list)):
                what = "missing" if name not in record else "null" if value is None else repr(value)[:60]
                raise InputError(
                    f"{source}, record {number}: {name!r} is {what}, where text (or a list of chat messages) is "
                    "expected. Fix or drop that record."
                )
            first = records[0].get(name)
            if isinstance(value, list) != isinstance(first, list):
                kinds = {True: "a list of chat messages (conversational)", False: "text (standard)"}
                raise InputError(
                    f"{source}, record {number}: {name!r} is {kinds[isinstance(value, list)]}, but in record 1 it is "
                    f"{kinds[isinstance(first, list)]}. A pairs file holds one format: write every record as text, "
                    'or every record as chat messages ([{"role": ..., "content": ...}]).'
                )
        for name in (column for column in REFERENCE_COLUMNS if column in record):
            value = record[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise InputError(
                    f"{source}, record {number}: {name!r} is {value!r:.60}, where a number (the reference model's "
                    "summed log-probability, as 'fdpo sweep' writes it) is expected. Fix the record, or drop the "
                    "ref_chosen_logps/ref_rejected_logps columns to have the reference computed."
                )


def _load_pairs(path: str):
    from datasets import Dataset

    from fdpo._io import read_jsonl
    from fdpo.cli.failures import about

    source = f"--pairs {path!r}"
    with about(source, also=(ValueError,)):
        records = read_jsonl(path)
    check_records(records, source)
    return Dataset.from_list(records)


def _load_dataset(script, mixture) -> tuple[Any, Any, str]:
    """(train, test, how to name it) of TRL's dataset mixture (``datasets:`` in ``--config``) or of
    ``--dataset_name``: a hub id, a folder of ``save_to_disk`` or of data files, a .jsonl/.json/.csv/.parquet file."""
    import datasets

    from fdpo.cli.failures import about
    from fdpo.errors import InputError

    if mixture.datasets:
        from trl import get_dataset

        source = "the dataset mixture ('datasets' of --config)"
        with about(source, also=(ValueError,)):
            loaded = get_dataset(mixture)
    else:
        name = script.dataset_name
        source = f"--dataset_name {name!r}"
        path = Path(name).expanduser()
        builders = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
        with about(source, also=(ValueError,)):
            if path.is_dir() and any((path / f).is_file() for f in ("dataset_dict.json", "state.json")):
                loaded = datasets.load_from_disk(str(path))
            elif path.is_file():
                if path.suffix not in builders:
                    raise InputError(
                        f"{source} is a {path.suffix or 'suffix-less'} file; give a {', '.join(builders)} file, a "
                        "dataset folder or a hub dataset id."
                    )
                loaded = datasets.load_dataset(builders[path.suffix], data_files=str(path))
            else:
                loaded = datasets.load_dataset(
                    name, name=script.dataset_config, streaming=script.dataset_streaming
                )
    if not isinstance(loaded, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        return loaded, None, source
    if script.dataset_train_split not in loaded:
        raise InputError(
            f"{source} has no split {script.dataset_train_split!r} (it has {', '.join(loaded)}); choose one with "
            "--dataset_train_split."
        )
    return loaded[script.dataset_train_split], loaded.get(script.dataset_test_split), source


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from fdpo.checks import check_preference_dataset
    from fdpo.cli.options import check_model, check_output_dir, check_output_not_input, refuse
    from fdpo.cli.train_args import parse
    from fdpo.errors import InputError

    script, config, model_args, mixture = parse(args.arguments)
    problems = []
    if bool(script.pairs) + bool(script.dataset_name or mixture.datasets) != 1:
        problems.append(
            "give the training data as --pairs FILE.jsonl (written by 'fdpo pairs') or as --dataset_name NAME (a "
            "hub dataset, a local dataset folder or data file) or a 'datasets' mixture in --config, one of them."
        )
    if not model_args.model_name_or_path:
        problems.append("--model (or --model_name_or_path) is required: the model to start from.")
    if not outputs(args) and config.output_dir in (None, "trainer_output"):
        problems.append("--output-dir is required: the folder the trained model is saved to.")
    refuse(problems)
    if model_args.use_peft and importlib.util.find_spec("peft") is None:
        raise InputError(
            "--use_peft trains a LoRA adapter, which needs the Python package 'peft', not installed here. Install "
            "fdpo's peft extra: pip install 'fdpo[peft]' (or leave out --use_peft to train every weight)."
        )
    check_output_dir("--output-dir", config.output_dir)
    check_model("--model", model_args.model_name_or_path)
    # The reference is the --model itself (TRL loads it again from that path).
    check_output_not_input("--output-dir", config.output_dir, {"--model": model_args.model_name_or_path})
    if script.pairs:
        train, test, source = _load_pairs(script.pairs), None, f"--pairs {script.pairs!r}"
    else:
        train, test, source = _load_dataset(script, mixture)
    check_preference_dataset(train, source)
    if config.eval_strategy != "no" and test is None:
        raise InputError(
            f"--eval_strategy {config.eval_strategy} needs a test split ({source} has none named "
            f"{script.dataset_test_split!r}); set --dataset_test_split or --eval_strategy no."
        )
    return _train(config, model_args, train, test if config.eval_strategy != "no" else None)


def _train(config, model_args, train, test) -> int:
    from trl import get_peft_config, get_quantization_config

    from fdpo._io import write_json
    from fdpo.cli.failures import about
    from fdpo.pairs import REFERENCE_COLUMNS
    from fdpo.sweep import RunSpec
    from fdpo.trainer import FDPOTrainer

    # As trl/scripts/dpo.py: the model is built by the trainer from these keywords.
    config.model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": config.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(config.model_init_kwargs or {}),
    }
    if set(REFERENCE_COLUMNS) <= set(train.column_names or []):
        config.precompute_ref_log_probs = True  # FDPOTrainer keeps the reference columns already there
    started = time.perf_counter()
    # Loading the model and applying PEFT: TRL and PEFT raise ValueError for options that do not fit the model
    # (e.g. --lora_target_modules naming no module of it).
    with about(f"--model {model_args.model_name_or_path!r}", also=(ValueError,)):
        trainer = FDPOTrainer(
            model=model_args.model_name_or_path,
            args=config,
            train_dataset=train,
            eval_dataset=test,
            peft_config=get_peft_config(model_args),
            quantization_config=get_quantization_config(model_args),
        )
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    seconds = time.perf_counter() - started
    output_dir = Path(config.output_dir)
    with about(f"--output-dir {config.output_dir!r}"):
        trainer.save_model(str(output_dir))
        run = RunSpec(
            divergence=config.divergence, loss_type=config.loss_type[0], beta=config.beta, seed=config.seed
        )
        write_json(
            output_dir / "train_log.json",
            {"run": run.to_dict(), "train_seconds": seconds, "log_history": trainer.state.log_history},
        )
    print(f"Trained {run.run_id} on {len(train)} pairs in {seconds:.1f} s; saved to {output_dir}")
    return 0
