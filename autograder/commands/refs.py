"""``refs ID [--out FILE | --store]``: the references of an assignment.

Needs the full course_lib. By default, or with ``--out FILE``, the public references, for
students' self-checks: plain data (no pickle) and the hashes of the public checks and of the
data; ``check`` refuses a file that does not match the checks it runs. With ``--store``, the
references of every case, hidden ones included, into the grader's store (``autograder/store/``
or ``$AUTOGRADER_STORE``), so that no grading process computes them again: run it where the
grader runs (the Gradescope setup.sh does), never give the file to students.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder.commands import add_assignment


def run(args: argparse.Namespace) -> int:
    from autograder.references import default_refs_path, fill_store, write_refs
    from autograder.spec import load_checks

    checks = load_checks(args.assignment)
    if args.store:
        path = fill_store(checks)
        print(f"references of every case of {args.assignment} -> {path}")
    else:
        path = write_refs(checks, args.out or default_refs_path(args.assignment))
        print(f"public references of {args.assignment} -> {path}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "refs", help="write the public references, or store all of them", description=__doc__
    )
    add_assignment(parser)
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--out", type=Path, default=None, help="file to write (default: autograder/refs/<ID>.zip)"
    )
    target.add_argument(
        "--store", action="store_true", help="store the references of every case for grading"
    )
    parser.set_defaults(func=run)
    return parser
