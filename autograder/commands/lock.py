"""``lock [--check]``: the Gradescope lock file from the tested environment.

Writes requirements/gradescope.txt: exact versions (``==``) of the grader's runtime dependencies
and everything they need, as installed in the environment this runs in (run it in the tested
``.venv``), torch and torchvision as CPU wheels. ``--check`` writes nothing and exits 1 when the
file differs from what this environment gives. The Gradescope bundle's requirements.txt is a
copy of this file.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from autograder.lock import LOCK, lock_differences, write_lock

    path = args.out or LOCK
    if args.check:
        differences = lock_differences(path)
        if differences:
            print(f"{path} differs from this environment (- file, + environment):")
            print("\n".join(differences))
            print("Regenerate it with `python -m autograder lock` in the tested environment.")
            return 1
        print(f"{path} matches this environment")
        return 0
    print(f"Gradescope lock -> {write_lock(path)}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "lock", help="write the Gradescope lock file of pinned versions", description=__doc__
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="lock file (default: requirements/gradescope.txt)"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the file differs; write nothing"
    )
    parser.set_defaults(func=run)
    return parser
