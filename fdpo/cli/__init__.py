"""The ``fdpo`` command: each stage of the study as a subcommand that reads and writes files, plus sweeps and the demo.

    fdpo generate  --model M --prompt "Good Review:" --samples-per-prompt 100 --output samples.jsonl
    fdpo pairs     --samples samples.jsonl --reward-model R --output pairs.jsonl --high 2 --low 0
    fdpo train     --model M --pairs pairs.jsonl --divergence alpha:0.3 --beta 0.01 --output-dir policy/
    fdpo train     --model M --dataset_name DATASET --use_peft --config train.yaml   # what `trl dpo` takes
    fdpo evaluate  --model policy/ --reference M --reward-model R --prompt "Good Review:" --output metrics.json
    fdpo sweep     examples/sweep_imdb.yaml --output-dir sweeps/imdb training.learning_rate=1e-5
    fdpo report    sweeps/imdb --diversity token_entropy
    fdpo demo      --output-dir demo-output [--quick]
    fdpo frontier  --output-dir frontier-output [--config SWEEP.yaml] [frontier.temperatures=[0.8]]

One module per subcommand (``generate``, ``pairs``, ``train``, ``evaluate``, ``sweep``, ``report``, ``demo``), the
registry and entry point in ``app``, the shared options in ``options``, the error path in ``failures``. Heavy
libraries (torch, transformers, TRL) are imported inside the subcommands, so ``--help`` is instant and a bad input is
reported before any model is loaded.
"""

from fdpo.cli.app import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
