"""Grading a folder of submissions in parallel, resumably, keeping the results regrades replace.

Layout of ``out``:

- ``results/<submission>.json``: Gradescope's format; ``extra_data`` records ``graded_at``, the
  sha256 of the notebook graded and ``grader_sha256`` (:func:`autograder.spec.grader_sha256`);
- ``history/<submission>/<graded_at>.json``: earlier results that a regrade replaced;
- ``regrade-<time>.csv``: student, submission, old and new score of each submission re-graded;
- ``gradebook.csv``, ``canvas.csv`` and ``problems.csv`` (see :mod:`autograder.gradebook`).

A submission is graded when it has no results or when the notebook or the grader hash differs
from what its results record; ``force`` grades all. A killed run picks up where it stopped.
Submissions are graded by worker threads: the work happens in sandbox processes, so threads are
enough to keep N of them busy.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autograder import gradebook
from autograder.gradebook import LatePolicy, Owner, Problem, Roster, unique_path
from autograder.notebook import SubmissionError, read_notebook_file
from autograder.sandbox.host import warm_up
from autograder.spec import grader_sha256, load_checks
from autograder.submissions import find_notebook, grade_to_file
from course_lib.files import write_text

logger = logging.getLogger(__name__)
STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Regrade:
    """A submission graded again, and why: checks changed, submission changed, forced."""

    student: str
    submission: str
    old_score: float
    new_score: float
    reason: str


@dataclass
class BatchSummary:
    graded: int
    skipped: int
    gradebook: Path
    canvas: Path
    problems_file: Path
    problems: list[Problem]
    regrades: list[Regrade]
    regrade_file: Path | None


def discover(folder: Path | str) -> dict[str, Path]:
    """Submissions by name: each ``*.ipynb`` (its stem) and each sub-folder of ``folder``.

    Links are never followed. A link or special file (FIFO, device, socket) is a submission
    too, whatever its name, so that its results file says why it got nothing. A notebook whose
    stem names a folder beside it keeps its full name: both are graded, neither hides the other.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder {folder} does not exist")
    found: dict[str, Path] = {}
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                found[entry.name] = Path(entry.path)
            elif entry.name.endswith(".ipynb") or not entry.is_file(follow_symlinks=False):
                name = entry.name.removesuffix(".ipynb")
                found[entry.name if name in found else name] = Path(entry.path)
    return found


def graded_path(path: Path, assignment: str) -> Path:
    """What is graded: nbgrader's ``<student>/<assignment>/`` folder where there is one."""
    inner = path / assignment
    if path.is_dir() and not path.is_symlink() and inner.is_dir() and not inner.is_symlink():
        return inner
    return path


def _sha256(submission: Path, assignment: str) -> str | None:
    try:
        return read_notebook_file(find_notebook(submission, assignment)).sha256
    except SubmissionError:
        return None


def _load(result: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(result.read_text(encoding="utf-8"))
        float(data["score"]), data["extra_data"]["submission"], list(data["tests"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data


def regrade_reason(
    previous: dict[str, Any] | None, submission_sha: str | None, grader: str, *, force: bool
) -> str | None:
    """Why the submission must be graded (again), or None when its results are up to date."""
    if previous is None:
        return "new"
    extra = previous["extra_data"]
    reasons = ["forced"] if force else []
    if (extra.get("submission_sha256") or None) != submission_sha:
        reasons.append("submission changed")
    if extra.get("grader_sha256") != grader:
        reasons.append("checks changed")
    return ", ".join(reasons) or None


def _archive(result: Path, history: Path) -> None:
    """Move ``result`` to ``history/<graded_at>.json``."""
    graded_at = (_load(result) or {}).get("extra_data", {}).get("graded_at")
    try:
        when = datetime.fromisoformat(graded_at)
    except (TypeError, ValueError):
        when = datetime.fromtimestamp(result.stat().st_mtime, timezone.utc)
    history.mkdir(parents=True, exist_ok=True)
    os.replace(result, unique_path(history / f"{when.astimezone(timezone.utc):{STAMP}}.json"))


def _grade_one(assignment: str, name: str, path: Path, out: Path, **options: Any) -> dict[str, Any]:
    """Grade one submission, its previous results moved to the history first; record when."""
    result = out / "results" / f"{name}.json"
    if result.exists():
        _archive(result, out / "history" / name)
    graded_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return grade_to_file(
        assignment,
        graded_path(path, assignment),
        result,
        name=name,
        extra={"graded_at": graded_at},
        **options,
    )


def _write_regrades(regrades: list[Regrade], out: Path, started: datetime) -> Path | None:
    if not regrades:
        return None
    header = ["student", "submission", "old_score", "new_score", "change", "reason"]
    rows = [
        [r.student, r.submission, r.old_score, r.new_score, r.new_score - r.old_score, r.reason]
        for r in regrades
    ]
    path = unique_path(out / f"regrade-{started:{STAMP}}.csv")
    return write_text(path, gradebook.csv_text(header, rows))


def grade_all(
    assignment: str,
    submissions: Path | str,
    out: Path | str,
    *,
    workers: int = 1,
    source: Path | str | None = None,
    show_progress: bool | None = None,
    force: bool = False,
    roster: Roster | None = None,
    policy: LatePolicy | None = None,
    canvas_column: str | None = None,
) -> BatchSummary:
    """Grade what changed under ``submissions`` (all with ``force``); write the gradebooks."""
    # both import torch: after the sandbox server has started
    from autograder.references import references_for
    from course_lib.utils import progress

    warm_up(assignment)  # the sandbox server imports torch while this process does
    started, out = datetime.now(timezone.utc), Path(out)
    found = discover(submissions)
    owners: dict[str, Owner] = {
        name: gradebook.identify(name, path, assignment, roster) for name, path in found.items()
    }
    checks = load_checks(assignment)
    grader = grader_sha256(checks)
    previous = {name: _load(out / "results" / f"{name}.json") for name in found}
    reasons = {
        name: regrade_reason(
            previous[name], _sha256(graded_path(path, assignment), assignment), grader, force=force
        )
        for name, path in found.items()
    }
    todo = {name: found[name] for name, reason in reasons.items() if reason}
    logger.info(
        "%d submissions, %d to grade, %d up to date", len(found), len(todo), len(found) - len(todo)
    )
    graded: dict[str, dict[str, Any]] = {}
    if todo:
        references = references_for(checks, checks.cases)
        options = {"source": source, "references": references}
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = {
                pool.submit(_grade_one, assignment, name, path, out, **options): name
                for name, path in todo.items()
            }
            for future in progress(
                as_completed(futures),
                desc=f"grading {assignment}",
                enabled=show_progress,
                total=len(futures),
            ):
                graded[futures[future]] = future.result()  # never raises for a bad submission
    regrades = [
        Regrade(
            "; ".join(s.student for s in owners[name].students),
            name,
            float(previous[name]["score"]),
            float(data["score"]),
            reasons[name],
        )
        for name, data in sorted(graded.items())
        if previous[name] is not None
    ]
    results = {name: graded.get(name) or _load(out / "results" / f"{name}.json") for name in found}
    book = gradebook.build(results, owners, policy or LatePolicy(), roster)
    column = canvas_column or assignment
    return BatchSummary(
        graded=len(todo),
        skipped=len(found) - len(todo),
        gradebook=gradebook.write_gradebook(book, out / "gradebook.csv"),
        canvas=gradebook.write_canvas(
            book, out / "canvas.csv", column=column, points=float(checks.max_score)
        ),
        problems_file=gradebook.write_problems(book.problems, out / "problems.csv"),
        problems=book.problems,
        regrades=regrades,
        regrade_file=_write_regrades(regrades, out, started),
    )
