"""``course DIR [--assignments ID ...] [--force]``: an nbgrader course for a term, outside the
repository.

DIR receives nbgrader_config.py, a .gitignore for student data, source/<id>/ (the solution
notebooks) and release/<id>/ (nbgrader's release, registered in gradebook.db, with the student
edition of course_lib and the public checks next to each notebook). Autograding in DIR runs only
the imports, solution and test cells of each notebook. --force rewrites those files in a course
that exists, never its submissions, grades or feedback.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder.student_edition import ASSIGNMENTS


def run(args: argparse.Namespace) -> int:
    from autograder.release import lay_out_course

    course = lay_out_course(args.course, args.assignments, force=args.force)
    print(f"nbgrader course of {', '.join(args.assignments)} written to {course}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "course", help="lay out an nbgrader course outside the repository", description=__doc__
    )
    parser.add_argument("course", type=Path, metavar="DIR", help="new folder for the course")
    parser.add_argument(
        "--assignments",
        nargs="+",
        choices=ASSIGNMENTS,
        default=list(ASSIGNMENTS),
        metavar="ID",
        help=f"assignments of the course (default: all of {', '.join(ASSIGNMENTS)})",
    )
    parser.add_argument(
        "--force", action="store_true", help="rewrite the course's files in a non-empty folder"
    )
    parser.set_defaults(func=run)
    return parser
