"""Command-line tools over ``course_lib.data``: ``python -m data_tools COMMAND ...``.

Each command module (``tiny_imagenet``, ``synth``, ``cacd``) has ``add_parser(subparsers)``,
which registers the command and sets ``func`` to a handler returning an exit code.
"""

from __future__ import annotations

import argparse
import sys

from course_lib.utils import setup_logging


def run_command(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    """Parse ``argv`` and run the handler; a bad input is reported in one line, exit code 2."""
    args = parser.parse_args(argv)
    setup_logging()
    try:
        return args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2
