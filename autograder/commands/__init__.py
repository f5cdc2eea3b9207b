"""Command modules of ``python -m autograder`` (each defines ``add_parser``), and the arguments
several of them share."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_assignment(parser: argparse.ArgumentParser) -> None:
    """The positional assignment id."""
    parser.add_argument("assignment", metavar="ID", help="assignment id, e.g. a2_transfer")


def add_source(parser: argparse.ArgumentParser) -> None:
    """``--source``: the notebook that edited read-only cells are restored from."""
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="notebook to restore read-only cells from (default: the release)",
    )


def start_sandbox(assignment: str) -> None:
    """Start the sandbox server of ``assignment`` now, before this process imports torch: both
    import it at once, on two cores, and a cold grade waits for whichever is last. An unknown
    id is left to the grader's own error message."""
    from autograder.sandbox.host import warm_up
    from autograder.spec import CHECKS_DIR

    if (CHECKS_DIR / f"{assignment}.py").is_file():
        warm_up(assignment)
