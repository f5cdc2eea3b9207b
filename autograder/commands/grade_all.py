"""``grade-all ID SUBMISSIONS --workers N --out DIR``: a batch, resumable, with a gradebook.

SUBMISSIONS holds one notebook or one folder per student. DIR receives results/<name>.json and
gradebook.csv. Submissions graded before (same notebook content) are skipped, so a run that
was killed can simply be started again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder.commands import add_assignment, add_source


def run(args: argparse.Namespace) -> int:
    from autograder.batch import grade_all

    summary = grade_all(
        args.assignment,
        args.submissions,
        args.out,
        workers=args.workers,
        source=args.source,
        show_progress=False if args.no_progress else None,
    )
    print(
        f"graded {summary.graded}, skipped {summary.skipped} (already graded); "
        f"gradebook: {summary.gradebook}"
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "grade-all", help="grade a folder of submissions (resumable)", description=__doc__
    )
    add_assignment(parser)
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--workers", type=int, default=1, help="submissions graded at once")
    add_source(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser
