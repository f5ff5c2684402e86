"""Trains FDPOTrainer and TRL's DPOTrainer side by side under a multi-process launcher; used by tests/test_trainer.py.

    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no \
        --dynamo_backend no tests/_multiprocess_train.py MODEL_DIR OUTPUT_JSON

(``accelerate launch --cpu`` alone starts a single process unless MPI is set up; ``--multi_gpu`` starts the processes
through torchrun, and ``ACCELERATE_USE_CPU`` makes them join a gloo process group on the CPU.) Both trainers use the
Jensen-Shannon divergence (TRL: ``f_divergence_type="js_divergence"``) on the same data and weights; rank 0 writes
both log histories and the world size to OUTPUT_JSON.
"""

from __future__ import annotations

import json
import os
import sys

import torch
from _common import training_settings
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer

from fdpo.config import FDPOConfig
from fdpo.trainer import FDPOTrainer

PROMPTS = ["This movie was", "The cast is", "I loved", "The worst film", "A fine film", "The dialogue is"]
CHOSEN = [
    " great and fun.",
    " superb.",
    " every minute.",
    " ever made.",
    " with a score.",
    " sharp and funny.",
]
REJECTED = [" terrible.", " awful and cheap.", " nothing at all", " I have seen", " too long.", " dull."]


def _policy(model_dir: str):
    """The saved model with its weights moved a little, so that policy and reference differ from the first step."""
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return model


def main(model_dir: str, output_json: str) -> None:
    # 10 pairs over 2 processes x 2 per device: the last step holds 2 pairs, padded by accelerate with duplicates.
    dataset = Dataset.from_dict(
        {"prompt": PROMPTS + PROMPTS[:4], "chosen": CHOSEN + CHOSEN[:4], "rejected": REJECTED + REJECTED[:4]}
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    common = training_settings(
        os.path.join(os.path.dirname(output_json), "runs"), per_device_train_batch_size=2, max_steps=3
    )
    histories = {}
    for name, trainer_class, config in [
        ("trl", DPOTrainer, DPOConfig(**common, f_divergence_type="js_divergence")),
        ("fdpo", FDPOTrainer, FDPOConfig(**common, divergence="jensen_shannon")),
    ]:
        trainer = trainer_class(
            model=_policy(model_dir),
            ref_model=AutoModelForCausalLM.from_pretrained(model_dir),
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
        )
        trainer.train()
        histories[name] = trainer.state.log_history
        world_size = trainer.accelerator.num_processes
    if int(os.environ.get("RANK", "0")) == 0:
        tmp = output_json + ".tmp"
        with open(tmp, "w") as handle:
            json.dump({"world_size": world_size, **histories}, handle)
        os.replace(tmp, output_json)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
