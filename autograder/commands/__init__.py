"""Command modules of ``python -m autograder`` (each defines ``add_parser``), and the arguments
several of them share."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_assignment(parser: argparse.ArgumentParser) -> None:
    """The positional assignment id (one with checks)."""
    parser.add_argument(
        "assignment", metavar="ID", type=_assignment, help="assignment id, e.g. a2_transfer"
    )


def _assignment(text: str) -> str:
    from autograder.spec import checks_file

    try:
        checks_file(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_source(parser: argparse.ArgumentParser) -> None:
    """``--source``: the notebook that edited read-only cells are restored from."""
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="notebook to restore read-only cells from (default: the release)",
    )
