"""What every command line of the package shares: one-line errors for bad input."""

from __future__ import annotations

import argparse
import sys

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
