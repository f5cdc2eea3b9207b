"""``grade ID SUBMISSION --out results.json``: all cases, Gradescope's results.json.

SUBMISSION is a notebook or a folder holding one (Gradescope's /autograder/submission). A
results.json is written even when the grader itself fails, so the failure is visible there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder.commands import add_assignment, add_source


def run(args: argparse.Namespace) -> int:
    from autograder.submissions import grade_to_file

    report = grade_to_file(
        args.assignment, args.submission, args.out, source=args.source, hidden=not args.public_only
    )
    print(f"{report['output'].splitlines()[0]} -> {args.out}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "grade", help="grade one submission into a Gradescope results.json", description=__doc__
    )
    add_assignment(parser)
    parser.add_argument(
        "submission", type=Path, metavar="SUBMISSION", help="a notebook, or a folder holding one"
    )
    parser.add_argument("--out", type=Path, required=True, help="results.json to write")
    add_source(parser)
    parser.add_argument("--public-only", action="store_true", help="skip the hidden cases")
    parser.set_defaults(func=run)
    return parser
