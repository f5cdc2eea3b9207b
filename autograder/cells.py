"""The checks behind the test cells of the notebooks.

A test cell calls ``check(topk_accuracy)``: every public case of the assignment's check
specification (``autograder/checks/<id>.py``) runs on the function defined in the notebook, a
short table is printed, and the points earned are the cell's value, which nbgrader reads as
partial credit. Hidden test cells call ``check(topk_accuracy, hidden=True)`` between nbgrader's
hidden-test markers; their table numbers the cases instead of naming them and never shows
expected values.

Cases run in the notebook's own kernel (:func:`autograder.inkernel.run_checks`), from the same
seeds as in the sandbox, and are judged by the standalone grader's own comparisons against the
same references: computed with the full course_lib, or read from the public reference file
shipped with a student bundle. ``python -m autograder grade`` remains the grade of record: it
runs the student's code in a sandbox.
"""

from __future__ import annotations

from collections.abc import Callable

from autograder.grading import TestResult
from autograder.inkernel import run_checks
from autograder.references import ReferenceUnavailable
from autograder.spec import CHECKS_DIR, load_checks


def find_assignment(name: str) -> str:
    """The assignment whose checks grade the function or class ``name``."""
    found = [
        path.stem
        for path in sorted(CHECKS_DIR.glob("a*_*.py"))
        if name in load_checks(path.stem).functions
    ]
    if len(found) != 1:
        where = f"several assignments ({', '.join(found)})" if found else "no assignment"
        raise KeyError(f"{name!r} is graded in {where}; pass assignment= explicitly")
    return found[0]


def check_table(name: str, results: list[TestResult], *, hidden: bool) -> str:
    """One line per case (and its feedback when it failed), then the points."""
    kind = "hidden" if hidden else "public"
    lines = [f"{name}: {len(results)} {kind} checks"]
    for number, result in enumerate(results, start=1):
        mark = "ok  " if result.passed else "FAIL"
        title = f"hidden check {number}" if hidden else result.name.split(": ", 1)[-1]
        lines.append(f"  {mark} {result.score:g}/{result.max_score:g}  {title}")
        if not result.passed:
            # public cases keep their "Checked: ..." sentence; hidden ones are only numbered
            feedback = result.output.split("\n", 1)[-1] if hidden else result.output
            lines += [f"         {line}" for line in feedback.splitlines()]
    earned = sum(r.score for r in results)
    total = sum(r.max_score for r in results)
    lines.append(f"{earned:g} of {total:g} points")
    return "\n".join(lines)


def check(function: Callable, *, hidden: bool = False, assignment: str | None = None) -> float:
    """Run the public (or hidden) cases of ``function``; print them and return the points."""
    name = getattr(function, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"check() takes the graded function itself, got {function!r}")
    assignment = assignment or find_assignment(name)
    if hidden and not any(c.hidden and c.function == name for c in load_checks(assignment).cases):
        print(f"{name}: the hidden checks run when the notebook is graded (not shipped here)")
        return 0.0
    try:
        results = run_checks(assignment, name, function, which="hidden" if hidden else "public")
    except ReferenceUnavailable as error:
        print(f"{name}: the checks cannot run here: {error}")
        return 0.0
    print(check_table(name, results, hidden=hidden))
    return float(sum(result.score for result in results))
