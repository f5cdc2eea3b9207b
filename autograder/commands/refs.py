"""``refs ID --out FILE``: the public references of an assignment, for students' self-checks.

Needs the full course_lib. The file holds plain data (no pickle) and the hashes of the public
checks and of the data; ``check`` refuses a file that does not match the checks it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder.commands import add_assignment


def run(args: argparse.Namespace) -> int:
    from autograder.references import default_refs_path, write_refs
    from autograder.spec import load_checks

    path = write_refs(load_checks(args.assignment), args.out or default_refs_path(args.assignment))
    print(f"public references of {args.assignment} -> {path}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "refs", help="write the public references of an assignment", description=__doc__
    )
    add_assignment(parser)
    parser.add_argument(
        "--out", type=Path, default=None, help="file to write (default: autograder/refs/<ID>.zip)"
    )
    parser.set_defaults(func=run)
    return parser
