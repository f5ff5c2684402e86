"""The bad-input corpus of the ``fdpo`` command: every input below must end with exit code 2, one paragraph that
names the input and the problem (the expected words), no traceback, and no file a corrected rerun would trip over.

Each case is a row of ``CASES``: the command line (``{tmp}`` is the test's folder, ``{lm}``/``{clf}`` a tiny causal LM
and classifier, ``{a:NAME}`` a prepared file of ``ASSETS``), files to write first, the words the message must contain,
the paths that must not exist afterwards, an optional patch (a fault the file system would give: a full disk, a
read-only folder) and, for a case whose fix lives in another part of fdpo still in progress, the reason it is an
expected failure. The counts of docs/cli.md ("Reliability") come from this table.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fdpo._io import write_jsonl
from fdpo.cli import main


@dataclass
class Case:
    id: str
    argv: str  # split on spaces after formatting; use {tmp}, {lm}, {clf}, {a:NAME}
    words: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)  # written under {tmp} first
    absent: tuple[str, ...] = ()  # paths under {tmp} that must not exist afterwards
    code: int = 2
    patch: str | None = None  # a key of PATCHES
    prepare: str | None = None  # a key of PREPARE: makes a FIFO, a symlink, a device node
    then: str | None = None  # a key of THEN: checks what the command left behind
    needs: str | None = None  # the branch whose work makes it pass (an expected failure until merged)


SAMPLE = {"prompt": "x", "query": "x", "completion": " good", "text": "x good", "completion_ids": [1]}
PAIR = {"prompt": "x", "chosen": " good", "rejected": " bad"}
SWEEP = "sft_model: {lm}\nreward_model: {clf}\nprompts: {{texts: [Good]}}\n"
GEN = "--prompt Good --gen max_new_tokens=2 --no-progress"
TRAIN = "train --model {lm} --pairs {a:pairs.jsonl} --output-dir {tmp}/policy"
SWEEP_RUN = "sweep {a:sweep.yaml} --output-dir {tmp}/out --dry-run"

# A case with code=0 expects a warning (its words) and a finished run.
# fmt: off
CASES = [
    # -- generate: prompts, settings, models, devices, outputs
    Case("gen-prompts-file-missing", "generate --model {lm} --prompts-file {tmp}/none.txt --output {tmp}/s.jsonl",
         ("--prompts-file", "none.txt", "does not exist"), absent=("s.jsonl",)),
    Case("gen-prompts-file-empty", "generate --model {lm} --prompts-file {tmp}/p.txt --output {tmp}/s.jsonl",
         ("p.txt", "holds no prompts"), files={"p.txt": ""}, absent=("s.jsonl",)),
    Case("gen-prompts-file-blank", "generate --model {lm} --prompts-file {tmp}/p.txt --output {tmp}/s.jsonl",
         ("p.txt", "holds no prompts"), files={"p.txt": "  \n\n \t\n"}),
    Case("gen-prompts-file-not-utf8", "generate --model {lm} --prompts-file {tmp}/p.txt --output {tmp}/s.jsonl",
         ("p.txt", "not UTF-8", "0xff"), files={"p.txt": b"Good\n\xff\xfe review\n"}),
    Case("gen-prompts-file-is-folder", "generate --model {lm} --prompts-file {tmp} --output {tmp}/s.jsonl",
         ("--prompts-file", "is a folder")),
    Case("gen-no-prompts", "generate --model {lm} --output {tmp}/s.jsonl", ("No prompts", "--prompt TEXT")),
    Case("gen-template", "generate --model {lm} --prompt x --template Review: --output {tmp}/s.jsonl",
         ("--template", "{prompt}")),
    Case("gen-unknown-gen-key", "generate --model {lm} --prompt x --gen max_new_token=3 --output {tmp}/s.jsonl",
         ("--gen.max_new_token", "max_new_tokens")),
    Case("gen-samples-zero", "generate --model {lm} --prompt x --samples-per-prompt 0 --output {tmp}/s.jsonl",
         ("--samples-per-prompt", "positive integer")),
    Case("gen-model-missing", "generate --model {tmp}/nomodel --prompt x --output {tmp}/s.jsonl",
         ("--model", "nomodel", "does not exist")),
    Case("gen-model-not-model-folder", "generate --model {tmp} --prompt x --output {tmp}/s.jsonl",
         ("--model", "not a model directory", "config.json")),
    Case("gen-model-corrupt-config", "generate --model {a:badconfig} --prompt x --output {tmp}/s.jsonl",
         ("--model", "badconfig", "not a valid JSON file", "save it again")),
    Case("gen-model-truncated-weights", "generate --model {a:truncated} --prompt x --output {tmp}/s.jsonl",
         ("--model", "truncated", "safetensors", "cut short")),
    Case("gen-hub-offline", "generate --model someorg/somemodel --prompt x --output {tmp}/s.jsonl",
         ("someorg/somemodel", "offline", "local")),
    Case("gen-bare-hub-id", "generate --model gpt2 --prompt x --output {tmp}/s.jsonl",
         ("'gpt2'", "offline")),
    Case("gen-device-unknown", "generate --model {lm} --prompt x --device gpu0 --output {tmp}/s.jsonl",
         ("--device", "gpu0", "not a device")),
    Case("gen-device-no-cuda", "generate --model {lm} --prompt x --device cuda --output {tmp}/s.jsonl",
         ("--device", "no CUDA GPU")),
    Case("gen-output-under-a-file", "generate --model {lm} " + GEN + " --output {tmp}/f.txt/s.jsonl",
         ("f.txt", "is a file"), files={"f.txt": "x"}),
    Case("gen-read-only-folder", "generate --model {lm} " + GEN + " --output {tmp}/ro/s.jsonl",
         ("Permission denied", "ro/s.jsonl"), patch="read-only", absent=("ro",)),
    Case("gen-output-is-folder", "generate --model {lm} " + GEN + " --output {tmp}/d",
         ("--output", "is a folder", "path of a file"), files={"d/keep": "x"}),
    Case("gen-output-fifo-no-reader", "generate --model {lm} " + GEN + " --output {tmp}/fifo",
         ("fifo", "named pipe", "no process is reading"), prepare="fifo"),
    Case("gen-output-symlink-kept", "generate --model {lm} " + GEN + " --output {tmp}/link.jsonl", (), code=0,
         prepare="symlink", then="symlink-kept"),
    Case("gen-output-char-device", "generate --model {lm} " + GEN + " --output {tmp}/null", (), code=0,
         prepare="char-device", then="still-a-device"),
    Case("gen-model-no-tokenizer", "generate --model {a:notokenizer} " + GEN + " --output {tmp}/s.jsonl",
         ("--model", "notokenizer", "no tokenizer files", "save_pretrained"), absent=("s.jsonl",)),
    Case("gen-model-is-classifier", "generate --model {clf} " + GEN + " --output {tmp}/s.jsonl",
         ("--model", "is not a causal language model", "DistilBertForSequenceClassification"), absent=("s.jsonl",)),
    Case("gen-temperature-zero", "generate --model {lm} --prompt x --gen temperature=0 --output {tmp}/s.jsonl",
         ("--gen.temperature=0", "above 0", "do_sample=false"), absent=("s.jsonl",)),
    Case("gen-top-p-abc", "generate --model {lm} --prompt x --gen top_p=abc --output {tmp}/s.jsonl",
         ("--gen.top_p='abc'", "(0, 1]"), absent=("s.jsonl",)),
    Case("gen-samples-absurd", "generate --model {lm} " + GEN + " --samples-per-prompt 100000000000000000000 "
         "--output {tmp}/s.jsonl", ("--samples-per-prompt=1e+20", "GiB of memory"), absent=("s.jsonl",)),
    Case("gen-prompts-file-bom", "generate --model {lm} --prompts-file {tmp}/p.txt --gen max_new_tokens=2 --no-progress "
         "--output {tmp}/s.jsonl", (), code=0, files={"p.txt": "\ufeffGood\n".encode()}, then="bom-stripped"),
    Case("gen-model-pickled-weights", "generate --model {a:pickled} " + GEN + " --output {tmp}/s.jsonl",
         ("--model", "pytorch_model.bin", "safetensors"), absent=("s.jsonl",)),
    Case("gen-disk-full", "generate --model {lm} " + GEN + " --output {tmp}/out/s.jsonl",
         ("No space left", "--output", "s.jsonl"), patch="disk-full", absent=("out/s.jsonl",)),
    # -- pairs: the samples file, the pairing, the reward model
    Case("pairs-samples-missing", "pairs --samples {tmp}/none.jsonl --reward-model {clf} --output {tmp}/p.jsonl",
         ("--samples", "none.jsonl", "does not exist"), absent=("p.jsonl",)),
    Case("pairs-samples-is-pairs", "pairs --samples {a:pairs.jsonl} --reward-model {clf} --output {tmp}/p.jsonl",
         ("--samples", "pairs.jsonl", "completion")),
    Case("pairs-samples-truncated", "pairs --samples {tmp}/s.jsonl --reward-model {clf} --output {tmp}/p.jsonl",
         ("s.jsonl:2", "Samples record"),
         files={"s.jsonl": json.dumps(SAMPLE) + '\n{"prompt": "x", "que'}),
    Case("pairs-samples-null-text", "pairs --samples {tmp}/s.jsonl --reward-model {clf} --output {tmp}/p.jsonl",
         ("s.jsonl", "record 1", "'completion' is None"),
         files={"s.jsonl": '{"prompt": "x", "query": "x", "completion": null, "text": "x", "completion_ids": []}\n'}),
    Case("pairs-samples-not-utf8", "pairs --samples {tmp}/s.jsonl --reward-model {clf} --output {tmp}/p.jsonl",
         ("s.jsonl", "UTF-8"), files={"s.jsonl": b'{"prompt": "\xff"}\n'}),
    Case("pairs-samples-empty", "pairs --samples {tmp}/s.jsonl --reward-model {clf} --output {tmp}/p.jsonl",
         ("s.jsonl", "holds no samples"), files={"s.jsonl": ""}),
    Case("pairs-impossible-threshold",
         "pairs --samples {a:samples.jsonl} --reward-model {clf} --high 100 --low 99 --output {tmp}/p.jsonl",
         ("--strategy threshold", "100"), absent=("p.jsonl",)),
    Case("pairs-low-above-high", "pairs --samples {a:samples.jsonl} --reward-model {clf} --low 3 --output {tmp}/p.jsonl",
         ("--low=3.0", "must be below", "--high=2.0")),
    Case("pairs-unknown-strategy",
         "pairs --samples {a:samples.jsonl} --reward-model {clf} --strategy best --output {tmp}/p.jsonl",
         ("--strategy", "invalid choice", "best_vs_worst")),
    Case("pairs-reward-batch-zero",
         "pairs --samples {a:samples.jsonl} --reward-model {clf} --reward-batch-size 0 --output {tmp}/p.jsonl",
         ("--reward-batch-size", "positive integer")),
    Case("pairs-reward-model-is-causal-lm",
         "pairs --samples {a:samples.jsonl} --reward-model {lm} --output {tmp}/p.jsonl",
         ("--reward-model", "is not a sequence classifier", "GPT2LMHeadModel"), absent=("p.jsonl",)),
    Case("pairs-positive-index-beyond-labels",
         "pairs --samples {a:samples.jsonl} --reward-model {clf} --positive-index 5 --output {tmp}/p.jsonl",
         ("--positive-index=5", "2 classes", "0 to 1"), absent=("p.jsonl",)),
    # -- train: data, settings, outputs
    Case("train-samples-as-pairs", TRAIN.replace("{a:pairs.jsonl}", "{a:samples.jsonl}"),
         ("samples.jsonl", "not a pairs file", "'chosen'", "fdpo pairs --samples"), absent=("policy",)),
    Case("train-pairs-truncated", TRAIN.replace("{a:pairs.jsonl}", "{tmp}/t.jsonl"),
         ("t.jsonl", "line 2", "cut short"), files={"t.jsonl": '{"prompt": "x", "chosen": "a", "rejected": "b"}\n{"pro'},
         absent=("policy",)),
    Case("train-pairs-missing-column", TRAIN.replace("{a:pairs.jsonl}", "{tmp}/t.jsonl"),
         ("t.jsonl", "record 2", "'rejected'"),
         files={"t.jsonl": '{"prompt": "x", "chosen": "a", "rejected": "b"}\n{"prompt": "x", "chosen": "a"}\n'}),
    Case("train-pairs-null", TRAIN.replace("{a:pairs.jsonl}", "{tmp}/t.jsonl"),
         ("t.jsonl", "record 1", "'chosen' is null"), files={"t.jsonl": '{"prompt": "x", "chosen": null, "rejected": "b"}\n'}),
    Case("train-pairs-number", TRAIN.replace("{a:pairs.jsonl}", "{tmp}/t.jsonl"),
         ("t.jsonl", "record 1", "'rejected' is 3"), files={"t.jsonl": '{"prompt": "x", "chosen": "a", "rejected": 3}\n'}),
    Case("train-pairs-empty", TRAIN.replace("{a:pairs.jsonl}", "{tmp}/t.jsonl"),
         ("t.jsonl", "holds no pairs"), files={"t.jsonl": "\n"}),
    Case("train-pairs-not-utf8", TRAIN.replace("{a:pairs.jsonl}", "{tmp}/t.jsonl"),
         ("t.jsonl", "UTF-8"), files={"t.jsonl": b'{"prompt": "\xe9"}\n'}),
    Case("train-pairs-missing", TRAIN.replace("{a:pairs.jsonl}", "{tmp}/none.jsonl"),
         ("--pairs", "none.jsonl", "does not exist")),
    Case("train-pairs-is-folder", TRAIN.replace("{a:pairs.jsonl}", "{tmp}"), ("--pairs", "is a folder")),
    Case("train-pairs-identical", TRAIN.replace("{a:pairs.jsonl}", "{tmp}/t.jsonl") + " --max_steps 1",
         ("every pair has chosen == rejected",), code=0, files={"t.jsonl": json.dumps(PAIR | {"rejected": " good"})}),
    Case("train-divergence-two-alphas", TRAIN + " --divergence alpha:0.3,0.7", ("alpha:0.3,0.7",)),
    Case("train-divergence-repeated-param", TRAIN + " --divergence alpha:alpha=0.2,alpha=0.4", ("alpha=0.2,alpha=0.4",)),
    Case("train-divergence-empty-param", TRAIN + " --divergence alpha:", ("'alpha:'",)),
    Case("train-divergence-typo", TRAIN + " --divergence alpah", ("alpah", "reverse_kl")),
    Case("train-beta-nan", TRAIN + " --beta nan", ("beta", "nan", "> 0")),
    Case("train-epochs-negative", TRAIN + " --num_train_epochs -1",
         ("--num_train_epochs=-1.0", "trains no step")),
    Case("train-batch-zero", TRAIN + " --per_device_train_batch_size 0", ("--per_device_train_batch_size", "positive")),
    Case("train-loss-type", TRAIN + " --loss_type robust", ("loss_type='robust'", "sigmoid")),
    Case("train-unknown-option", TRAIN + " --learnig_rate 1e-5", ("--learnig_rate", "did you mean --learning_rate")),
    Case("train-output-dir-is-file", TRAIN.replace("{tmp}/policy", "{tmp}/f.txt"), ("--output-dir", "f.txt", "is a file"),
         files={"f.txt": "x"}),
    Case("train-beta-overflows", TRAIN + " --beta 1e308 --max_steps 1", ("beta=1e+308", "at most 1000", "overflow"),
         absent=("policy",)),
    Case("train-model-no-tokenizer", TRAIN.replace("{lm}", "{a:notokenizer}") + " --max_steps 1",
         ("--model", "no tokenizer files"), absent=("policy",)),
    Case("train-output-dir-is-model", "train --model {lm} --pairs {a:pairs.jsonl} --output-dir {lm} --max_steps 1",
         ("--output-dir", "is --model", "overwrite", "a folder of its own")),
    Case("train-output-dir-inside-model", "train --model {lm} --pairs {a:pairs.jsonl} --output-dir {lm}/pol --max_steps 1",
         ("--output-dir", "lies inside --model", "a folder of its own")),
    Case("train-pairs-mixed-formats", TRAIN.replace("{a:pairs.jsonl}", "{tmp}/t.jsonl") + " --max_steps 1",
         ("t.jsonl", "record 2", "'prompt' is a list of chat messages", "one format"),
         files={"t.jsonl": json.dumps(PAIR) + "\n" + json.dumps({
             "prompt": [{"role": "user", "content": "x"}], "chosen": [{"role": "assistant", "content": "a"}],
             "rejected": [{"role": "assistant", "content": "b"}]}) + "\n"}, absent=("policy",)),
    Case("train-pairs-ref-logps-string", TRAIN.replace("{a:pairs.jsonl}", "{tmp}/t.jsonl") + " --max_steps 1",
         ("t.jsonl", "record 1", "'ref_chosen_logps' is 'abc'", "a number"),
         files={"t.jsonl": json.dumps(PAIR | {"ref_chosen_logps": "abc", "ref_rejected_logps": -1.0}) + "\n"},
         absent=("policy",)),
    Case("train-pair-longer-than-context", TRAIN.replace("{a:pairs.jsonl}", "{tmp}/t.jsonl") + " --max_steps 1",
         ("pair 1", "more than the model's 128 positions", "--max_length 128"),
         files={"t.jsonl": json.dumps(PAIR | {"chosen": " good" * 200}) + "\n"}, absent=("policy",)),
    Case("train-use-peft-without-peft", TRAIN + " --use_peft --max_steps 1",
         ("--use_peft", "pip install 'fdpo[peft]'"), patch="no-peft", absent=("policy",)),
    Case("train-learning-rate-zero", TRAIN + " --learning_rate 0", ("--learning_rate=0.0", "> 0"), absent=("policy",)),
    Case("train-config-missing", TRAIN + " --config {tmp}/none.yaml", ("--config", "none.yaml", "does not exist")),
    Case("train-config-not-utf8", TRAIN + " --config {tmp}/c.yaml", ("--config", "c.yaml", "UTF-8"),
         files={"c.yaml": b"beta: 0.1 \xff\n"}),
    Case("train-config-not-yaml", TRAIN + " --config {tmp}/c.yaml", ("--config", "c.yaml", "line 2", "YAML syntax"),
         files={"c.yaml": "beta: [0.1\n"}),
    Case("train-config-unknown-key", TRAIN + " --config {tmp}/c.yaml", ("--betta", "did you mean --beta"),
         files={"c.yaml": "betta: 0.1\n"}),
    Case("train-model-corrupt-config", TRAIN.replace("{lm}", "{a:badconfig}"), ("badconfig", "not a valid JSON file")),
    Case("train-no-data", "train --model {lm} --output-dir {tmp}/policy", ("--pairs FILE.jsonl", "--dataset_name")),
    Case("train-dataset-missing-split", "train --model {lm} --dataset_name {a:pairs.jsonl} --dataset_train_split dev "
         "--output-dir {tmp}/policy", ("no split 'dev'", "train")),
    # -- evaluate
    Case("eval-reward-model-is-causal-lm", "evaluate --model {lm} --reward-model {lm} " + GEN + " --output {tmp}/m.json",
         ("--reward-model", "is not a sequence classifier", "GPT2LMHeadModel"), absent=("m.json",)),
    Case("eval-kl-without-reference", "evaluate --model {lm} --reward-model {clf} --prompt x --metrics kl_to_ref "
         "--output {tmp}/m.json", ("kl_to_ref needs --reference",)),
    Case("eval-unknown-metric", "evaluate --model {lm} --reward-model {clf} --prompt x --metrics entropy "
         "--output {tmp}/m.json", ("--metrics", "invalid choice")),
    Case("eval-batch-zero", "evaluate --model {lm} --reward-model {clf} --prompt x --batch-size 0 --output {tmp}/m.json",
         ("--batch-size", "positive integer")),
    Case("eval-reference-other-vocabulary", "evaluate --model {lm} --reference {a:othervocab} --reward-model {clf} "
         + GEN + " --metrics kl_to_ref --output {tmp}/m.json",
         ("--model", "--reference", "othervocab", "different vocabularies", "(300 and"), absent=("m.json",)),
    Case("eval-positive-index-beyond-labels", "evaluate --model {lm} --reward-model {clf} --positive-index 2 " + GEN
         + " --output {tmp}/m.json", ("--positive-index=2", "2 classes"), absent=("m.json",)),
    # -- sweep: the config file and its validation (dry run: no model is loaded)
    Case("sweep-config-missing", "sweep {tmp}/none.yaml --output-dir {tmp}/out", ("none.yaml", "does not exist"),
         absent=("out",)),
    Case("sweep-config-empty", "sweep {tmp}/c.yaml --output-dir {tmp}/out", ("c.yaml", "sft_model is not set"), files={"c.yaml": ""},
         absent=("out",)),
    Case("sweep-config-blank", "sweep {tmp}/c.yaml --output-dir {tmp}/out", ("c.yaml", "sft_model is not set"),
         files={"c.yaml": "\n  \n# nothing\n"}, absent=("out",)),
    Case("sweep-config-not-utf8", "sweep {tmp}/c.yaml --output-dir {tmp}/out", ("c.yaml", "UTF-8"),
         files={"c.yaml": b"name: \xff\n"}, absent=("out",)),
    Case("sweep-config-syntax", "sweep {tmp}/c.yaml --output-dir {tmp}/out", ("c.yaml:3", "line 2"),
         files={"c.yaml": "name: x\ngrid: {seeds: [0\n"}, absent=("out",)),
    Case("sweep-config-list", "sweep {tmp}/c.yaml --output-dir {tmp}/out", ("c.yaml", "mapping"),
         files={"c.yaml": "- a\n- b\n"}),
    Case("sweep-config-unknown-key", SWEEP_RUN + " gird.seeds=[1]", ("gird", "grid")),
    Case("sweep-prompts-file-empty", SWEEP_RUN + " prompts.file={tmp}/p.txt", ("prompts.file", "p.txt"),
         files={"p.txt": "\n"}),
    Case("sweep-prompts-file-not-utf8", SWEEP_RUN + " prompts.file={tmp}/p.txt", ("p.txt", "UTF-8"),
         files={"p.txt": b"\xffGood\n"}),
    Case("sweep-seeds-empty", SWEEP_RUN + " grid.seeds=[]", ("grid.seeds is empty",)),
    Case("sweep-model-missing", SWEEP_RUN + " sft_model=./nothing/here", ("sft_model", "does not exist")),
    Case("sweep-hub-offline", "sweep {a:sweep.yaml} --output-dir {tmp}/out reward_model=someorg/somemodel",
         ("someorg/somemodel", "offline"), absent=("out",)),
    Case("sweep-override-without-equals", SWEEP_RUN + " grid.seeds", ("grid.seeds", "KEY=VALUE")),
    Case("sweep-output-dir-is-file", "sweep {a:sweep.yaml} --output-dir {tmp}/f.txt", ("--output-dir", "is a file"),
         files={"f.txt": "x"}),
    Case("sweep-divergence-two-alphas", SWEEP_RUN + " grid.divergences=['alpha:0.3,0.7']", ("alpha:0.3,0.7",)),
    Case("sweep-beta-collision", SWEEP_RUN + " grid.beta_per_divergence.reverse_kl=[0.1,0.1000001]",
         ("beta_per_divergence", "0.1000001")),
    Case("sweep-beta-duplicate", SWEEP_RUN + " grid.beta_per_divergence.reverse_kl=[0.1,0.1]",
         ("beta_per_divergence", "0.1")),
    Case("sweep-epochs-negative", SWEEP_RUN + " training.num_train_epochs=-1", ("num_train_epochs",)),
    Case("sweep-learning-rate-abc", SWEEP_RUN + " training.learning_rate=abc", ("learning_rate", "abc")),
    Case("sweep-epochs-abc", SWEEP_RUN + " training.num_train_epochs=abc", ("num_train_epochs", "abc")),
    Case("sweep-batch-zero", SWEEP_RUN + " training.per_device_train_batch_size=0", ("per_device_train_batch_size",)),
    Case("sweep-max-length-2", SWEEP_RUN + " training.max_length=2", ("max_length",)),
    Case("sweep-seed-negative", SWEEP_RUN + " grid.seeds=[-1]", ("grid.seeds", "-1")),
    Case("sweep-seed-huge", SWEEP_RUN + " grid.seeds=[99999999999999999999]", ("grid.seeds", "99999999999999999999")),
    Case("sweep-eval-prompts-numbers", SWEEP_RUN + " evaluation.prompts=[1,2]", ("evaluation.prompts",)),
    Case("sweep-beta-overflows", SWEEP_RUN + " grid.betas=[1e308]", ("1e+308", "at most 1000")),
    Case("sweep-top-k-ten", SWEEP_RUN + " generation.top_k=ten", ("generation.top_k='ten'", "whole number")),
    Case("sweep-max-new-tokens-negative", SWEEP_RUN + " generation.max_new_tokens=-4",
         ("generation.max_new_tokens=-4", "at least 1")),
    Case("sweep-reward-model-is-causal-lm", SWEEP_RUN + " reward_model={lm}",
         ("reward_model", "is not a sequence classifier")),
    Case("sweep-sft-model-is-classifier", SWEEP_RUN + " sft_model={clf}", ("sft_model", "is not a causal language model")),
    Case("sweep-model-no-tokenizer", SWEEP_RUN + " sft_model={a:notokenizer}", ("sft_model", "no tokenizer files")),
    Case("sweep-positive-index-beyond-labels", SWEEP_RUN + " reward.positive_index=5",
         ("reward.positive_index=5", "2 classes")),
    Case("sweep-samples-absurd", SWEEP_RUN + " pairs.samples_per_prompt=100000000000000000000",
         ("pairs.samples_per_prompt", "GiB of memory")),
    Case("sweep-output-dir-is-model", "sweep {a:sweep.yaml} --output-dir {lm}", ("--output-dir", "is sft_model")),
    Case("frontier-quick-with-config", "frontier --quick --config {a:sweep.yaml} --output-dir {tmp}/out --dry-run",
         ("--quick", "--config", "cannot be combined"), absent=("out",)),
    Case("sweep-ray-unreachable", "sweep {a:sweep.yaml} --output-dir {tmp}/out --executor ray --address 127.0.0.1:1",
         ("127.0.0.1:1", "No Ray cluster answers", "ray start --head"), absent=("out",), patch="ray"),
    Case("sweep-ray-address-malformed", "sweep {a:sweep.yaml} --output-dir {tmp}/out --executor ray --address nowhere",
         ("'nowhere'", "HOST:PORT"), absent=("out",), patch="ray"),
    Case("frontier-section-not-mapping", "frontier --config {tmp}/c.yaml --output-dir {tmp}/out --dry-run",
         ("c.yaml", "frontier must be a mapping", "got 3"), files={"c.yaml": SWEEP + "frontier: 3\n"}, absent=("out",)),
    Case("sweep-device-cuda", SWEEP_RUN + " device=cuda", ("device", "cuda")),
    Case("sweep-duplicate-yaml-key", "sweep {tmp}/c.yaml --output-dir {tmp}/out --dry-run", ("grid", "twice"),
         files={"c.yaml": SWEEP + "grid: {{seeds: [0]}}\ngrid: {{seeds: [1]}}\n"}),
    # The folder keeps sweep.json and the samples on purpose: the corrected rerun reuses them and is not refused
    # as "a different config" (tests/sweep/test_runner.py::test_no_pairs_then_the_corrected_pair_settings_...).
    Case("sweep-no-pairs-says-so", "sweep {a:sweep.yaml} --output-dir {tmp}/out --no-progress pairs.high=100 "
         "pairs.low=99 generation.max_new_tokens=2 pairs.samples_per_prompt=2", ("threshold", "100")),
    # -- report, demo, the command itself
    Case("report-folder-missing", "report {tmp}/nothing", ("nothing",)),
    Case("report-path-is-file", "report {tmp}/f.txt", ("f.txt", "is a file"), files={"f.txt": "x"}),
    Case("report-sweep-json-truncated", "report {tmp}/sw", ("sweep.json", "line 1", "cut short"),
         files={"sw/sweep.json": '{"config": {"na'}),
    Case("report-folder-without-results", "report {tmp}/sw", ("sw", "exists but holds no results", "fdpo sweep"),
         files={"sw/notes.txt": "x"}),
    Case("report-results-header-only", "report {tmp}/sw", ("results.csv", "holds no runs", "only its header"),
         files={"sw/results.csv": "run_id,divergence,beta\n"}),
    Case("report-results-truncated", "report {tmp}/sw", ("results.csv", "line 3", "cut short"),
         files={"sw/results.csv": "run_id,divergence,beta\na,reverse_kl,0.1\nb,rev"}),
    Case("report-unknown-diversity", "report {tmp} --diversity entropy", ("--diversity", "invalid choice")),
    Case("demo-no-output-dir", "demo --quick", ("--output-dir",)),
    Case("demo-output-dir-is-file", "demo --quick --output-dir {tmp}/f.txt", ("--output-dir", "is a file"),
         files={"f.txt": "x"}),
    Case("unknown-command", "trian --model x", ("invalid choice", "'trian'")),
]
# fmt: on


@pytest.fixture(scope="module")
def assets(tiny_model_dir, tmp_path_factory):
    """Files several cases read (never written by a case): valid samples and pairs files, a sweep config, and
    model folders broken the ways a copy or a download breaks them."""
    folder = tmp_path_factory.mktemp("assets")
    write_jsonl(folder / "samples.jsonl", [SAMPLE | {"completion": c, "text": "x" + c} for c in (" a", " b")])
    write_jsonl(folder / "pairs.jsonl", [PAIR, PAIR | {"chosen": " fine"}])
    bad = folder / "badconfig"
    shutil.copytree(tiny_model_dir, bad)
    (bad / "config.json").write_text('{"model_type": "gpt2", "n_embd": ')
    truncated = folder / "truncated"
    shutil.copytree(tiny_model_dir, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:64])
    pickled = folder / "pickled"  # weights saved as a pickle torch.load(weights_only=True) refuses
    shutil.copytree(tiny_model_dir, pickled)
    (pickled / "model.safetensors").unlink()
    import pickle

    (pickled / "pytorch_model.bin").write_bytes(pickle.dumps({"not": "tensors"}))
    no_tokenizer = folder / "notokenizer"  # what `cp -r $LM nt; rm nt/tokenizer*` leaves
    shutil.copytree(tiny_model_dir, no_tokenizer)
    for file in no_tokenizer.glob("tokenizer*"):
        file.unlink()
    from fdpo.demo.models import build_causal_lm, save_pretrained, train_tokenizer

    other = train_tokenizer(["the movie was good, a b c d e f g"] * 20, vocab_size=280)
    save_pretrained(
        build_causal_lm(other, n_layer=1, n_embd=16, n_head=2, n_positions=64), other, folder / "othervocab"
    )
    return folder


def _patch(name: str | None, monkeypatch) -> None:
    import fdpo._io

    if name == "disk-full":

        def full(descriptor):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(fdpo._io.os, "fsync", full)
    elif name == "ray":  # the Ray executor's cases need Ray installed
        pytest.importorskip("ray")
    elif name == "no-peft":  # an install without the peft extra
        import importlib.util

        find_spec = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda module, *a: None if module == "peft" else find_spec(module, *a),
        )
    elif name == "read-only":  # what writing into a read-only folder gives (chmod does not stop root)

        def refused(*args, dir=None, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(Path(dir) / "x.tmp"))

        monkeypatch.setattr(fdpo._io.tempfile, "mkstemp", refused)


def _fifo(tmp: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    os.mkfifo(tmp / "fifo")


def _symlink(tmp: Path) -> None:
    (tmp / "real").mkdir()
    (tmp / "real" / "s.jsonl").write_text("old\n")
    (tmp / "link.jsonl").symlink_to(tmp / "real" / "s.jsonl")


def _char_device(tmp: Path) -> None:
    import stat

    try:  # the device /dev/null is (1, 3); making one needs root
        os.mknod(tmp / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, AttributeError, OSError) as error:
        pytest.skip(f"cannot make a device node here: {error}")


def _symlink_kept(tmp: Path) -> None:
    assert (tmp / "link.jsonl").is_symlink(), "the symlink was replaced by a file"
    assert (tmp / "real" / "s.jsonl").read_text().startswith("{"), "the link's target was not written"


def _still_a_device(tmp: Path) -> None:
    import stat

    assert stat.S_ISCHR((tmp / "null").stat().st_mode), "the device node was replaced by a regular file"


def _bom_stripped(tmp: Path) -> None:
    first = json.loads((tmp / "s.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["prompt"] == "Good", first["prompt"]


PREPARE = {"fifo": _fifo, "symlink": _symlink, "char-device": _char_device}
THEN = {"symlink-kept": _symlink_kept, "still-a-device": _still_a_device, "bom-stripped": _bom_stripped}


def run_case(case: Case, tmp: Path, models: dict[str, str], assets: Path, monkeypatch, capsys):
    """Runs one case; returns (exit code, stdout + stderr)."""
    for name, content in case.files.items():
        if isinstance(content, str) and "{lm}" in content:
            content = content.format(**models)
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.prepare:
        PREPARE[case.prepare](tmp)
    if "{a:sweep.yaml}" in case.argv:
        (tmp / "sweep.yaml").write_text(SWEEP.format(**models))
    argv = case.argv.replace("{a:sweep.yaml}", str(tmp / "sweep.yaml"))
    for name in (
        "samples.jsonl",
        "pairs.jsonl",
        "badconfig",
        "truncated",
        "notokenizer",
        "othervocab",
        "pickled",
    ):
        argv = argv.replace("{a:" + name + "}", str(assets / name))
    argv = argv.format(tmp=tmp, **models)
    _patch(case.patch, monkeypatch)
    capsys.readouterr()
    escaped = ""
    with warnings.catch_warnings(record=True) as caught:  # the console script prints them to stderr
        warnings.simplefilter("always")
        try:
            code = main(argv.split(" "))
        except SystemExit as exit_:  # argparse's own errors
            code = exit_.code
        except Exception:  # what the console script would show: a traceback, exit code 1
            code, escaped = 1, traceback.format_exc()
    out = capsys.readouterr()
    shown = "".join(
        f"{w.category.__name__}: {w.message}\n" for w in caught if issubclass(w.category, UserWarning)
    )
    return code, out.out + shown + out.err + escaped


def _log(case: Case, code: int, output: str, tmp: Path) -> None:
    """With FDPO_BAD_INPUT_LOG=FILE, appends the outcome of the case to FILE (JSONL), to count the outcomes of a
    version of fdpo (clear error / traceback / silently wrong) for the reliability table of docs/cli.md."""
    log = os.environ.get("FDPO_BAD_INPUT_LOG")
    if not log:
        return
    record = {
        "id": case.id,
        "expected": case.code,
        "code": code,
        "traceback": "Traceback" in output,
        "words": all(word in output for word in case.words),
        "left_behind": [name for name in case.absent if (tmp / name).exists()],
        "last_line": (output.strip().splitlines() or [""])[-1][:500],
    }
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.needs)] if case.needs else []
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", _params())
def test_bad_input(case, tmp_path, tiny_model_dir, tiny_classifier_dir, assets, monkeypatch, capsys):
    models = {"lm": tiny_model_dir, "clf": tiny_classifier_dir}
    monkeypatch.chdir(tmp_path)
    code, output = run_case(case, tmp_path, models, assets, monkeypatch, capsys)
    _log(case, code, output, tmp_path)
    assert "Traceback" not in output, output
    assert code == case.code, output
    missing = [word for word in case.words if word not in output]
    assert not missing, (missing, output)
    for name in case.absent:
        assert not (tmp_path / name).exists(), name
    if case.then:
        THEN[case.then](tmp_path)
    assert not list(tmp_path.rglob(".*.tmp")), "a temporary file was left behind"
