"""``gradescope ID --out bundle.zip``: an autograder bundle for Gradescope.

The zip holds setup.sh, run_autograder, requirements.txt (the lock file
requirements/gradescope.txt: exact versions, CPU torch), the autograder with the assignment's
checks, the full course_lib and the release notebook. setup.sh installs the lock into
/autograder/venv; run_autograder grades /autograder/submission into
/autograder/results/results.json with it. Set AUTOGRADER_ROOT (and AUTOGRADER_PYTHON) to try it
on another folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder.commands import add_assignment


def run(args: argparse.Namespace) -> int:
    from autograder.bundle import build_gradescope_bundle

    path = build_gradescope_bundle(args.assignment, args.out)
    print(f"Gradescope bundle of {args.assignment} -> {path}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "gradescope", help="build the Gradescope autograder zip", description=__doc__
    )
    add_assignment(parser)
    parser.add_argument("--out", type=Path, required=True, help="zip file to write")
    parser.set_defaults(func=run)
    return parser
