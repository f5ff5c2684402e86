"""``fdpo report``: redraw the trade-off plot and the markdown table of a sweep directory."""

from __future__ import annotations

import argparse

HELP = "Write tradeoff.png and report.md for a sweep directory."
DESCRIPTION = (
    "Write the reward-vs-diversity plot (tradeoff.png) and a markdown table (report.md) from a "
    "sweep directory's summary.csv (or results.csv), and print the table."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fdpo.settings import DIVERSITY_MEASURES, REWARD_MEASURES

    parser.add_argument("sweep_dir", help="A directory written by 'fdpo sweep' or 'fdpo demo'.")
    parser.add_argument(
        "--diversity",
        choices=DIVERSITY_MEASURES,
        help="Diversity measure on the y axis (default: the sweep's report.diversity, else predictive_entropy).",
    )
    parser.add_argument(
        "--reward",
        choices=REWARD_MEASURES,
        help="Reward on the x axis (default: the sweep's report.reward, else reward_logit).",
    )
    parser.add_argument("--title", help="Plot and report title (default: the sweep's name).")
    parser.add_argument(
        "--html",
        action="store_true",
        help='Also write tradeoff.html, the interactive plot (needs plotly: pip install "fdpo[html]").',
    )


def run(args: argparse.Namespace) -> int:
    import importlib.util
    from pathlib import Path

    from fdpo.cli.failures import about
    from fdpo.errors import InputError
    from fdpo.report import markdown_table, write_report

    if args.html and importlib.util.find_spec("plotly") is None:
        raise InputError('--html needs plotly: pip install "fdpo[html]" (or leave out --html).')
    folder = Path(args.sweep_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(
            f"{args.sweep_dir!r} is a file; give the folder written by 'fdpo sweep' or 'fdpo demo'."
        )
    # Unset options take the sweep's own settings (sweep.json), so that a redraw matches what the sweep drew.
    config: dict = {}
    sweep_json = folder / "sweep.json"
    if sweep_json.is_file():
        from fdpo._io import read_json

        with about(str(sweep_json), also=(ValueError,)):
            data = read_json(sweep_json)
        config = data.get("config", {}) if isinstance(data, dict) else {}
    _check_results(folder / "results.csv")
    settings = config.get("report", {})
    with about(f"sweep folder {args.sweep_dir!r}"):
        paths = write_report(
            args.sweep_dir,
            diversity=args.diversity or settings.get("diversity", "predictive_entropy"),
            reward=args.reward or settings.get("reward", "reward_logit"),
            title=args.title or config.get("name"),
            html=args.html,
        )
    print(markdown_table(paths["summary"]))
    print("\n".join(paths["verdict"]) + "\n")
    print(f"Plot:   {paths['plot']}")
    if "html" in paths:
        print(f"HTML:   {paths['html']}")
    print(f"Report: {paths['markdown']}")
    return 0


def _check_results(path) -> None:
    """A results.csv with no run (a header only) or with a row cut short is refused, naming the file and the fix."""
    from fdpo._io import read_csv
    from fdpo.cli.failures import about
    from fdpo.errors import InputError

    if not path.is_file():
        return
    with about(str(path), also=(ValueError,)):
        rows = read_csv(path, parse_numbers=False)
    rerun = "Rerun the same 'fdpo sweep' command into the folder: finished runs are kept and results.csv is written again."
    if not rows:
        raise InputError(
            f"{path} holds no runs (it is empty or has only its header line), so there is nothing to report. {rerun}"
        )
    for line, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            raise InputError(
                f"{path}, line {line}: the row has {'more' if None in row else 'fewer'} cells than the header, so the "
                f"file was probably cut short by an interrupted write. {rerun}"
            )
