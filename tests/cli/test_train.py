"""``fdpo train`` takes what ``trl dpo`` takes: a local dataset (folder or file), conversational and implicit-prompt
data, PEFT flags, ``--config file.yaml``; plus fdpo's ``--pairs`` and ``--set``. Tiny models, one or two steps."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, DatasetDict
from transformers import AutoTokenizer

from fdpo._io import read_json, write_jsonl
from fdpo.cli import main

QUIET = ["--max_steps", "1", "--per_device_train_batch_size", "2", "--disable_tqdm", "true"]
CHAT_TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"


@pytest.fixture(scope="module")
def chat_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny GPT-2 with a chat template on its tokenizer (conversational data needs one)."""
    import shutil

    folder = tmp_path_factory.mktemp("tiny-chat")
    shutil.copytree(tiny_model_dir, folder, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_conversational_dataset_folder_with_a_config_file_and_lora(chat_model_dir, tmp_path, capsys):
    """A save_to_disk folder of chat messages, options from --config YAML (the line wins over it), LoRA flags: the
    adapter is saved, and the config's divergence and the line's β are what trained."""
    user = [{"role": "user", "content": "Review the movie."}]
    rows = [
        {
            "prompt": user,
            "chosen": [{"role": "assistant", "content": "A great and lovely film."}],
            "rejected": [{"role": "assistant", "content": "Dull, far too long."}],
        }
    ] * 4
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(tmp_path / "data")
    config = tmp_path / "train.yaml"
    config.write_text(
        f"divergence: alpha:0.3\nbeta: 0.5\nlearning_rate: 0.01\noutput_dir: {tmp_path / 'out'}\n"
    )
    argv = [
        "train",
        "--config",
        str(config),
        "--model",
        chat_model_dir,
        "--dataset_name",
        str(tmp_path / "data"),
    ]
    lora = ["--use_peft", "--lora_r", "4", "--lora_alpha", "8", "--lora_target_modules", "c_attn", "c_proj"]
    assert main([*argv, *lora, "--beta", "0.2", *QUIET]) == 0
    out = tmp_path / "out"
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4
    run = read_json(out / "train_log.json")["run"]
    assert run["divergence"] == "alpha:0.3" and run["beta"] == 0.2 and run["seed"] == 0
    assert "Trained alpha-0.3__sigmoid__beta0.2__seed0 on 4 pairs" in capsys.readouterr().out
    # One module name is a regular expression to TRL/PEFT (matching no full module path here): one paragraph.
    argv[argv.index(str(tmp_path / "data")) + 1 :] = []
    assert (
        main(
            [*argv, "--dataset_name", str(tmp_path / "data"), "--use_peft", "--lora_target_modules", "c_attn"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "Target modules c_attn not found" in err and "Traceback" not in err


def test_implicit_prompt_jsonl_dataset_and_the_fdpo_spellings(tiny_model_dir, tmp_path):
    """--dataset_name FILE.jsonl with chosen/rejected only (the prompt is their shared beginning); --model,
    --output-dir and --set KEY=VALUE as in fdpo's first version; the full model is saved with its tokenizer."""
    data = tmp_path / "implicit.jsonl"
    write_jsonl(
        data,
        [
            {"chosen": "This movie was great and lovely.", "rejected": "This movie was dull and long."},
            {"chosen": "The cast is superb.", "rejected": "The cast is awful."},
        ],
    )
    out = tmp_path / "policy"
    argv = ["train", "--model", tiny_model_dir, "--dataset_name", str(data), "--output-dir", str(out)]
    assert main([*argv, "--set", "learning_rate=1e-2", "--set", "gradient_checkpointing=false", *QUIET]) == 0
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    log = read_json(out / "train_log.json")
    assert log["run"]["divergence"] == "reverse_kl" and log["log_history"][-1]["train_loss"] > 0


def test_a_dataset_mixture_from_the_config_file(tiny_model_dir, tmp_path, capsys):
    """TRL's dataset mixture (``datasets:`` in --config) is a data source too: two JSONL files, one train split."""
    for name, chosen in (("a.jsonl", " great"), ("b.jsonl", " superb")):
        write_jsonl(tmp_path / name, [{"prompt": "The film was", "chosen": chosen, "rejected": " dull"}] * 2)
    config = tmp_path / "train.yaml"
    config.write_text(
        "datasets:\n"
        f"  - {{path: json, data_files: {tmp_path / 'a.jsonl'}, split: train}}\n"
        f"  - {{path: json, data_files: {tmp_path / 'b.jsonl'}, split: train}}\n"
    )
    out = tmp_path / "policy"
    assert (
        main(["train", "--config", str(config), "--model", tiny_model_dir, "--output-dir", str(out), *QUIET])
        == 0
    )
    assert "Trained reverse_kl__sigmoid__beta0.1__seed0 on 4 pairs" in capsys.readouterr().out
    assert (out / "model.safetensors").is_file()


def test_bad_train_options_are_one_paragraph(tiny_model_dir, tmp_path, capsys):
    """Unknown options get a suggestion; a refused FDPOConfig setting, a missing data source or output folder and
    a config file that is not a mapping each end with exit 2 and no traceback, before any model is loaded."""
    pairs = tmp_path / "pairs.jsonl"
    write_jsonl(pairs, [{"prompt": "a", "chosen": " b", "rejected": " c"}])
    base = ["train", "--model", tiny_model_dir, "--pairs", str(pairs), "--output-dir", str(tmp_path / "o")]
    cases = [
        ([*base, "--learnig_rate", "1"], "--learnig_rate (did you mean --learning_rate?)"),
        ([*base, "--beta", "nan"], "--beta=nan must be a finite number > 0"),
        ([*base, "--loss_type", "robust"], "loss_type='robust'"),
        (["train", "--model", tiny_model_dir, "--output-dir", str(tmp_path / "o")], "--pairs FILE.jsonl"),
        (["train", "--model", tiny_model_dir, "--pairs", str(pairs)], "--output-dir is required"),
        ([*base, "--num_train_epochs", "-1"], "--num_train_epochs=-1.0 trains no step"),
        ([*base, "--set", "learning_rate"], "must be KEY=VALUE"),
    ]
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    cases.append(([*base, "--config", str(tmp_path / "list.yaml")], "must hold a YAML mapping"))
    for argv, words in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, (argv, err)
        assert err.startswith("fdpo train: error: ")
    assert not (tmp_path / "o").exists()


def test_pairs_with_reference_columns_train_against_them(tiny_model_dir, tmp_path):
    """A pairs file with ref_chosen_logps/ref_rejected_logps (as a sweep's pairs_with_ref.jsonl) is trained against
    those values, not against a reference forward pass: the first step's implicit reward margin moves with them."""
    pairs = [{"prompt": "The film was", "chosen": " great", "rejected": " dull"}] * 2
    logs = {}
    for name, extra in (("plain", {}), ("with_ref", {"ref_chosen_logps": 0.0, "ref_rejected_logps": -500.0})):
        write_jsonl(tmp_path / f"{name}.jsonl", [pair | extra for pair in pairs])
        out = tmp_path / name
        argv = [
            "train",
            "--model",
            tiny_model_dir,
            "--pairs",
            str(tmp_path / f"{name}.jsonl"),
            "--output-dir",
            str(out),
        ]
        # One step, logged from its forward pass, before the (negligible) update: a learning rate of 0 is refused.
        assert main([*argv, "--logging_steps", "1", "--learning_rate", "1e-12", *QUIET]) == 0
        logs[name] = read_json(out / "train_log.json")["log_history"][0]
    # The reference is the starting policy: margin 0 without the columns. With them (reverse KL, beta 0.1):
    # 0.1 * ((log pi_c - 0) - (log pi_r + 500)).
    assert logs["plain"]["rewards/margins"] == pytest.approx(0.0, abs=1e-4)
    step = logs["with_ref"]
    expected = 0.1 * (step["logps/chosen"] - (step["logps/rejected"] + 500.0))
    assert step["rewards/margins"] == pytest.approx(expected, rel=1e-4)
