"""``check ID NOTEBOOK``: the public cases, as a table; exit status 1 when any fails."""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder.commands import add_assignment, add_source


def run(args: argparse.Namespace) -> int:
    from autograder.grading import grade_notebook
    from autograder.results import table

    report = grade_notebook(
        args.assignment, args.notebook, hidden=False, source=args.source, refs_file=args.refs
    )
    print(table(report))
    return 0 if all(test.passed for test in report.tests) else 1


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "check", help="check a notebook on the public cases (for students)", description=__doc__
    )
    add_assignment(parser)
    parser.add_argument("notebook", type=Path, metavar="NOTEBOOK")
    parser.add_argument(
        "--refs",
        type=Path,
        default=None,
        help="public reference file (default: the one shipped with the checks)",
    )
    add_source(parser)
    parser.set_defaults(func=run)
    return parser
