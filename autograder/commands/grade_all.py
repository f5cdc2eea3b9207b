"""``grade-all ID SUBMISSIONS --workers N --out DIR``: a batch, resumable, with gradebooks.

SUBMISSIONS holds one notebook or one folder per submission (nbgrader's ``submitted/`` folder
works as it is). DIR receives results/<name>.json, gradebook.csv (one row per student, late
penalty applied), canvas.csv (Canvas's gradebook import), problems.csv (collisions, unknown
students, missing submissions), history/ and regrade-<time>.csv. Only what changed is graded
again: the notebook, or the checks and references that grade it (--force grades all).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder.commands import add_assignment, add_source


def run(args: argparse.Namespace) -> int:
    from autograder.batch import grade_all
    from autograder.gradebook import LatePolicy, parse_time, read_roster

    try:
        if (args.late_per_day or args.late_cap is not None) and not args.due:
            raise ValueError("--late-per-day and --late-cap need --due")
        policy = LatePolicy(
            due=parse_time(args.due) if args.due else None,
            per_day=args.late_per_day or 0.0,
            cap=100.0 if args.late_cap is None else args.late_cap,
        )
        roster = read_roster(args.roster) if args.roster else None
    except (OSError, ValueError) as error:
        raise SystemExit(f"grade-all: {error}") from None
    summary = grade_all(
        args.assignment,
        args.submissions,
        args.out,
        workers=args.workers,
        source=args.source,
        show_progress=False if args.no_progress else None,
        force=args.force,
        roster=roster,
        policy=policy,
        canvas_column=args.canvas_column,
    )
    print(f"graded {summary.graded}, skipped {summary.skipped} (already graded)")
    for r in summary.regrades:
        print(
            f"regraded {r.student} ({r.submission}): {r.old_score:g} -> {r.new_score:g} "
            f"({r.new_score - r.old_score:+g}; {r.reason})"
        )
    for p in summary.problems:
        print(f"problem: {p.kind}: {p.student or '-'} [{p.submissions or '-'}] {p.detail}")
    print(f"gradebook: {summary.gradebook}")
    print(f"canvas import: {summary.canvas}")
    print(f"problems ({len(summary.problems)}): {summary.problems_file}")
    if summary.regrade_file:
        print(f"score changes: {summary.regrade_file}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "grade-all", help="grade a folder of submissions (resumable)", description=__doc__
    )
    add_assignment(parser)
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--workers", type=int, default=1, help="submissions graded at once")
    parser.add_argument("--force", action="store_true", help="grade every submission again")
    parser.add_argument(
        "--roster",
        type=Path,
        help="CSV with a student column and optionally file, name, email, section, canvas_id, "
        "sis_user_id, sis_login_id, submitted_at",
    )
    parser.add_argument(
        "--due", help="due time, ISO 8601 (2027-03-01T23:59, local time unless it has an offset)"
    )
    parser.add_argument(
        "--late-per-day", type=float, help="penalty in percent of the score per started day late"
    )
    parser.add_argument("--late-cap", type=float, help="largest late penalty in percent")
    parser.add_argument(
        "--canvas-column",
        help="assignment column of canvas.csv, e.g. 'A2 transfer (1234)' with Canvas's "
        "assignment id (default: ID)",
    )
    add_source(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser
