"""Submissions on disk: finding the notebook, grading into a results file that always exists."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

from autograder.feedback import feedback_path, write_feedback
from autograder.grading import Report, TestResult, grade_notebook
from autograder.notebook import SubmissionError
from autograder.results import to_gradescope, write_json
from autograder.safefs import NotRegularFileError
from autograder.spec import grader_sha256, load_checks

logger = logging.getLogger(__name__)

MAX_DEPTH = 8  # folder levels searched for the notebook
MAX_ENTRIES = 10_000  # files and folders looked at in a folder submission


def find_notebook(submission: Path | str, assignment: str) -> Path:
    """``submission`` itself, or the notebook inside that folder (``<id>.ipynb`` preferred).

    Links are never followed; SubmissionError when the notebook is not a regular file.
    """
    submission = Path(submission)
    try:
        mode = submission.lstat().st_mode
    except OSError:
        raise SubmissionError(f"{submission} does not exist") from None
    if stat.S_ISREG(mode):
        return submission
    if not stat.S_ISDIR(mode):
        raise SubmissionError(str(NotRegularFileError(submission.name, mode)))
    notebooks = _notebooks_in(submission)
    named = [p for p in notebooks if p[0].name == f"{assignment}.ipynb"]
    if len(named) == 1 or len(notebooks) == 1:
        path, mode = (named or notebooks)[0]
        if not stat.S_ISREG(mode):
            raise SubmissionError(str(NotRegularFileError(path.name, mode)))
        return path
    if not notebooks:
        raise SubmissionError(f"no notebook (.ipynb) in the submission; upload {assignment}.ipynb")
    names = ", ".join(p.name for p, _ in notebooks[:5])
    raise SubmissionError(
        f"several notebooks in the submission ({names}); upload only {assignment}.ipynb"
    )


def _notebooks_in(folder: Path) -> list[tuple[Path, int]]:
    """Entries named ``*.ipynb`` under ``folder`` that are not folders, with their modes, sorted.

    Links are listed, never followed; checkpoints are left out; the walk stops at
    ``MAX_DEPTH`` levels and ``MAX_ENTRIES`` entries (SubmissionError beyond those).
    """
    found, pending, seen = [], [(folder, 0)], 0
    while pending:
        current, depth = pending.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    seen += 1
                    if seen > MAX_ENTRIES:
                        raise SubmissionError(
                            f"the submission holds more than {MAX_ENTRIES} files and folders; "
                            "upload only the notebook"
                        )
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != ".ipynb_checkpoints" and depth < MAX_DEPTH:
                            pending.append((Path(entry.path), depth + 1))
                    elif entry.name.endswith(".ipynb"):
                        mode = entry.stat(follow_symlinks=False).st_mode
                        found.append((Path(entry.path), mode))
        except OSError:  # unreadable or removed meanwhile: nothing to grade there
            continue
    return sorted(found)


def failed_report(assignment: str, name: str, message: str, *, hidden: bool = True) -> Report:
    """A report where every case failed for one reason (unreadable submission, grader error)."""
    try:
        checks = load_checks(assignment)
    except (ImportError, ValueError):
        return Report(assignment, name, [], notes=[message])
    tests = [
        TestResult(c.name, c.function, 0.0, c.points, False, c.hidden, f"Failed: {message}")
        for c in checks.select(hidden=hidden)
    ]
    return Report(assignment, name, tests, notes=[message], grader_sha256=grader_sha256(checks))


def grade_to_file(
    assignment: str,
    submission: Path | str,
    out: Path | str,
    *,
    name: str | None = None,
    source: Path | str | None = None,
    hidden: bool = True,
    references: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Grade ``submission`` and write Gradescope's results.json to ``out``; its content.

    ``extra`` is added to the results' ``extra_data`` (grade-all records when it graded).

    Whatever happens, a results file is written: a broken submission or a grader failure
    gives zero points with a message saying why. The feedback page for the student goes next
    to it (``feedback_path(out)``: ``alice.json`` -> ``alice.html``), written first, so a run
    killed in between leaves no new results file and a resumed batch grades it again.
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
    data["extra_data"].update(extra or {})
    page = feedback_path(out)
    try:
        write_feedback(data, page)
    except Exception:  # a page that cannot be written must not cost the grade
        logger.exception("writing the feedback page %s failed", page)
        page.unlink(missing_ok=True)  # never leave the page of an earlier grade
    write_json(data, out)
    return data
