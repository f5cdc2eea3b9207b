"""Reports as Gradescope ``results.json`` and a readable table (gradebooks: ``gradebook.py``).

Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/): top-level
``score``, ``execution_time``, ``output``, ``tests``; each test ``name``, ``score``,
``max_score``, ``status`` ("passed"/"failed"), ``visibility`` and ``output``. Public cases are
``visible``; hidden ones ``after_published`` (seen once grades are published) by default.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from autograder.grading import Report
from autograder.sandbox.host import guarantees
from course_lib.files import write_text

HIDDEN_VISIBILITY = "after_published"  # or "hidden": never shown to students


def summary(report: Report) -> str:
    passed = sum(test.passed for test in report.tests)
    return (
        f"{report.assignment}: {report.score:g} / {report.max_score:g} points, "
        f"{passed} of {len(report.tests)} tests passed."
    )


def to_gradescope(report: Report, *, hidden_visibility: str = HIDDEN_VISIBILITY) -> dict[str, Any]:
    """``results.json`` content; identical for identical submissions apart from the time."""
    notes = "".join(f"\n- {note}" for note in report.notes)
    return {
        "score": float(report.score),
        "execution_time": int(round(report.execution_time)),
        "output": summary(report)
        + (f"\nSandbox: {report.sandbox}." if report.sandbox else "")
        + (f"\nNotes:{notes}" if notes else ""),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": test.name,
                "score": float(test.score),
                "max_score": float(test.max_score),
                "status": "passed" if test.passed else "failed",
                "visibility": hidden_visibility if test.hidden else "visible",
                "output": test.output,
            }
            for test in report.tests
        ],
        "extra_data": {
            "assignment": report.assignment,
            "submission": report.submission,
            "submission_sha256": report.sha256,
            "grader_sha256": report.grader_sha256,
            "max_score": float(report.max_score),
            "sandbox": report.sandbox,
            "sandbox_guarantees": guarantees(report.sandbox) if report.sandbox else "",
        },
    }


def write_json(data: dict[str, Any], path: Path | str) -> Path:
    """Write ``data`` atomically (a temporary name in the same folder, then a rename)."""
    return write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def table(report: Report, *, width: int = 100) -> str:
    """The report as a readable table: one line per test, feedback of failures indented."""
    lines = [summary(report)]
    lines += [f"note: {note}" for note in report.notes]
    lines.append("")
    for test in report.tests:
        mark = "PASS" if test.passed else "FAIL"
        lines.append(f"{mark}  {test.score:>5g}/{test.max_score:<5g} {test.name}")
        if not test.passed:
            for part in test.output.splitlines()[1:]:
                lines += textwrap.wrap(
                    part, width - 8, initial_indent=" " * 8, subsequent_indent=" " * 10
                ) or [""]
    return "\n".join(lines)
