"""Submissions on disk: finding the notebook, grading into a results file that always exists."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from autograder.grading import Report, TestResult, grade_notebook
from autograder.notebook import SubmissionError
from autograder.results import to_gradescope, write_json
from autograder.spec import load_checks

logger = logging.getLogger(__name__)


def find_notebook(submission: Path | str, assignment: str) -> Path:
    """``submission`` itself, or the notebook inside that folder (``<id>.ipynb`` preferred)."""
    submission = Path(submission)
    if submission.is_file():
        return submission
    if not submission.is_dir():
        raise SubmissionError(f"{submission} does not exist")
    notebooks = sorted(
        p for p in submission.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    )
    named = [p for p in notebooks if p.name == f"{assignment}.ipynb"]
    if len(named) == 1 or len(notebooks) == 1:
        return (named or notebooks)[0]
    if not notebooks:
        raise SubmissionError(f"no notebook (.ipynb) in the submission; upload {assignment}.ipynb")
    names = ", ".join(p.name for p in notebooks[:5])
    raise SubmissionError(
        f"several notebooks in the submission ({names}); upload only {assignment}.ipynb"
    )


def failed_report(assignment: str, name: str, message: str, *, hidden: bool = True) -> Report:
    """A report where every case failed for one reason (unreadable submission, grader error)."""
    try:
        cases = load_checks(assignment).select(hidden=hidden)
    except (ImportError, ValueError):
        cases = ()
    tests = [
        TestResult(c.name, c.function, 0.0, c.points, False, c.hidden, f"Failed: {message}")
        for c in cases
    ]
    return Report(assignment, name, tests, notes=[message])


def grade_to_file(
    assignment: str,
    submission: Path | str,
    out: Path | str,
    *,
    name: str | None = None,
    source: Path | str | None = None,
    hidden: bool = True,
    references: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Grade ``submission`` and write Gradescope's results.json to ``out``; its content.

    Whatever happens, a results file is written: a broken submission or a grader failure
    gives zero points with a message saying why.
    """
    name = name or Path(submission).stem
    try:
        notebook = find_notebook(submission, assignment)
        report = grade_notebook(
            assignment, notebook, hidden=hidden, source=source, references=references
        )
        report.submission = name
    except SubmissionError as error:
        report = failed_report(assignment, name, f"not graded: {error}", hidden=hidden)
    except Exception as error:
        logger.exception("grading %s failed", submission)
        report = failed_report(
            assignment,
            name,
            f"not graded: internal grader error ({type(error).__name__}); please tell the staff",
            hidden=hidden,
        )
    data = to_gradescope(report)
    write_json(data, out)
    return data
