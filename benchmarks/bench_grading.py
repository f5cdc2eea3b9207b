"""Grading speed: the standalone grader against ``nbgrader autograde`` on the same notebook.

For each assignment with a source notebook (``solutions/<id>/<id>.ipynb``), the submission is
that solution notebook:

* ours, cold: ``python -m autograder grade <id> NOTEBOOK --out results.json`` in a fresh process
  (interpreter, imports, fork server, sandbox, all cases), with the grader's store of
  references filled beforehand by ``python -m autograder refs <id> --store``, as the Gradescope
  image does (every submission on Gradescope is such a cold grade); the goal is at most 5 s.
  ``sandbox`` is the mode it ran in: in ``namespaces`` mode the sandbox server imports torch
  while the grading process reads the notebook; in ``rlimits`` mode (Docker without
  namespaces) the sandbox starts after it, so a cold grade adds its imports (about a second);
* ours, cold, empty store: the same with no store (the first grade after the checks or
  course_lib changed: the references are computed, then stored), once;
* ours, warm: grading the same notebook again in a process that has graded once (the cost of one
  more submission in a batch);
* baseline: ``nbgrader autograde`` of the same notebook in a temporary course (kernel start and
  every cell of the notebook executed, as nbgrader does), with the repository's configuration.

Then batch throughput: ``grade-all`` of N copies of the first assignment's solution with 1 and
with 2 workers (after one warm-up), in submissions per second, and the ratio.

    python -m benchmarks.bench_grading [--assignments a2_transfer ...] [--repeats 3]
        [--batch 8] [--no-nbgrader]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from autograder.batch import grade_all
from autograder.grading import grade_notebook
from autograder.student_edition import ASSIGNMENTS
from benchmarks.timing import wall_seconds

ROOT = Path(__file__).resolve().parent.parent


def solution(assignment: str) -> Path | None:
    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    return path if path.is_file() else None


COLD_GOAL_S = 5.0


def cold_seconds(assignment: str, notebook: Path, work: Path, store: Path) -> float:
    """One ``python -m autograder grade`` in a new process, with the references in ``store``."""
    command = [
        sys.executable,
        "-m",
        "autograder",
        "grade",
        assignment,
        str(notebook),
        "--out",
        str(work / "results.json"),
    ]
    env = {**os.environ, "AUTOGRADER_STORE": str(store)}
    return wall_seconds(
        lambda: subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    )


def fill_store(assignment: str, store: Path) -> None:
    """``python -m autograder refs <id> --store`` into ``store`` (untimed)."""
    command = [sys.executable, "-m", "autograder", "refs", assignment, "--store"]
    env = {**os.environ, "AUTOGRADER_STORE": str(store)}
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)


def nbgrader_seconds(assignment: str, notebook: Path, work: Path) -> float:
    """``nbgrader autograde`` of ``notebook`` as one student's submission (generation untimed)."""
    from autograder.release import make_course, run_nbgrader

    course = make_course(work / "course", [assignment], root=ROOT)
    run_nbgrader(["generate_assignment", assignment, "--force"], course=course)
    submitted = course / "submitted" / "student" / assignment
    submitted.mkdir(parents=True)
    shutil.copy(notebook, submitted / notebook.name)
    return wall_seconds(
        lambda: run_nbgrader(
            ["autograde", assignment, "--student", "student", "--force"], course=course
        )
    )


def batch_rate(assignment: str, notebook: Path, work: Path, *, count: int, workers: int) -> float:
    """Submissions per second of ``grade-all`` over ``count`` copies of ``notebook``."""
    folder = work / f"submissions-{workers}"
    folder.mkdir()
    for index in range(count):
        shutil.copy(notebook, folder / f"student{index:03d}.ipynb")
    out = work / f"out-{workers}"
    seconds = wall_seconds(
        lambda: grade_all(assignment, folder, out, workers=workers, show_progress=False)
    )
    return count / seconds


def run(
    *,
    assignments: tuple[str, ...] = ASSIGNMENTS,
    repeats: int = 3,
    batch: int = 8,
    nbgrader: bool = True,
) -> list[dict]:
    """One row per assignment (cold, warm, nbgrader seconds) and one batch row."""
    rows = []
    available = [a for a in assignments if solution(a) is not None]
    for assignment in available:
        notebook = solution(assignment)
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as folder:
            work = Path(folder)
            first = cold_seconds(assignment, notebook, work, work / "empty-store")
            fill_store(assignment, work / "store")
            cold = statistics.median(
                cold_seconds(assignment, notebook, work, work / "store") for _ in range(repeats)
            )
            results = json.loads((work / "results.json").read_text(encoding="utf-8"))
            report = grade_notebook(assignment, notebook)  # warm-up: fork server, references
            warm = statistics.median(
                wall_seconds(partial(grade_notebook, assignment, notebook)) for _ in range(repeats)
            )
            baseline = nbgrader_seconds(assignment, notebook, work) if nbgrader else None
        rows.append(
            {
                "benchmark": "grading",
                "assignment": assignment,
                "score": f"{report.score:g}/{report.max_score:g}",
                "sandbox": results["extra_data"]["sandbox"],
                "ours_cold_s": cold,
                "cold_within_5_s": cold <= COLD_GOAL_S,
                "ours_cold_empty_store_s": first,
                "ours_warm_s": warm,
                "nbgrader_s": baseline,
                "speedup": baseline / cold if baseline else None,
            }
        )
    if available:
        assignment = available[0]
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as folder:
            work = Path(folder)
            grade_notebook(assignment, solution(assignment))  # warm-up
            one = batch_rate(assignment, solution(assignment), work, count=batch, workers=1)
            two = batch_rate(assignment, solution(assignment), work, count=batch, workers=2)
        rows.append(
            {
                "benchmark": "grading_batch",
                "assignment": assignment,
                "submissions": batch,
                "workers_1_per_s": one,
                "workers_2_per_s": two,
                "scaling": two / one,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_grading",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--assignments", nargs="+", default=list(ASSIGNMENTS), metavar="ID")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="submissions in the batch runs")
    parser.add_argument("--no-nbgrader", action="store_true", help="skip the nbgrader baseline")
    args = parser.parse_args(argv)
    missing = [a for a in args.assignments if solution(a) is None]
    if missing:
        print(f"no source notebook yet for {', '.join(missing)}: skipped")
    rows = run(
        assignments=tuple(args.assignments),
        repeats=args.repeats,
        batch=args.batch,
        nbgrader=not args.no_nbgrader,
    )
    print(f"grading one solution notebook, median of {args.repeats}")
    for row in rows:
        if row["benchmark"] == "grading":
            baseline = (
                f"nbgrader autograde {row['nbgrader_s']:.1f} s, speedup {row['speedup']:.1f}x"
                if row["nbgrader_s"]
                else "nbgrader skipped"
            )
            print(
                f"  {row['assignment']:<20} {row['score']:>6}  ours {row['ours_cold_s']:.1f} s "
                f"cold ({row['ours_cold_empty_store_s']:.1f} s with an empty store), "
                f"{row['ours_warm_s']:.2f} s warm; {baseline}"
            )
        else:
            print(
                f"batch of {row['submissions']} ({row['assignment']}): "
                f"{row['workers_1_per_s']:.2f}/s with 1 worker, "
                f"{row['workers_2_per_s']:.2f}/s with 2 workers, scaling {row['scaling']:.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
