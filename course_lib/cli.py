"""What every command line of the package shares: one-line errors for bad input, run options."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from course_lib.utils import setup_logging

#: Errors that mean "the input is wrong": reported in one line with exit code 2, no traceback.
INPUT_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, ValueError, KeyError)


def run_command(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    """Parse ``argv`` and run the handler set as ``func``; bad input gives exit code 2."""
    args = parser.parse_args(argv)
    setup_logging()
    try:
        return args.func(args)
    except INPUT_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--overwrite``, the options of every command that writes a run."""
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--overwrite", action="store_true", help="write over an existing folder")


def add_checkpoint_options(parser: argparse.ArgumentParser, *, data_help: str) -> None:
    """``--checkpoint``, ``--data`` and ``--out``: the options of every command that works on a
    trained model's checkpoint."""
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help=data_help)
    parser.add_argument("--out", type=Path, required=True)


def print_summary(summary: dict) -> int:
    """Print a pipeline's summary as JSON; the command's exit code."""
    print(json.dumps(summary, indent=2, default=str))
    return 0
