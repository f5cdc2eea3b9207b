"""Grading a folder of submissions in parallel, resumably, into results files and a gradebook.

Layout of ``out``: ``results/<submission>.json`` (Gradescope format, one per submission) and
``gradebook.csv``. A submission whose results file exists and records the same notebook hash is
skipped, so a killed run picks up where it stopped. Submissions are graded by worker threads:
the work happens in sandbox processes, so threads are enough to keep N of them busy.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from autograder.notebook import SubmissionError, read_notebook_file
from autograder.references import references_for
from autograder.results import write_gradebook
from autograder.sandbox.host import warm_up
from autograder.spec import load_checks
from autograder.submissions import find_notebook, grade_to_file
from course_lib.utils import progress

logger = logging.getLogger(__name__)


@dataclass
class BatchSummary:
    graded: int
    skipped: int
    gradebook: Path


def discover(folder: Path | str) -> dict[str, Path]:
    """Submissions by name: each ``*.ipynb`` and each sub-folder of ``folder``.

    Links are never followed. A link or special file (FIFO, device, socket) is a submission
    too, whatever its name, so that its results file says why it got nothing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder {folder} does not exist")
    found = {}
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                found[entry.name] = Path(entry.path)
            elif entry.name.endswith(".ipynb") or not entry.is_file(follow_symlinks=False):
                found[entry.name.removesuffix(".ipynb")] = Path(entry.path)
    return found


def _sha256(submission: Path, assignment: str) -> str | None:
    try:
        return read_notebook_file(find_notebook(submission, assignment)).sha256
    except SubmissionError:
        return None


def up_to_date(result: Path, submission: Path, assignment: str) -> bool:
    """Whether ``result`` exists and was made from the current content of ``submission``."""
    try:
        data = json.loads(result.read_text(encoding="utf-8"))
        recorded = data["extra_data"]["submission_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(recorded) and recorded == _sha256(submission, assignment)


def grade_all(
    assignment: str,
    submissions: Path | str,
    out: Path | str,
    *,
    workers: int = 1,
    source: Path | str | None = None,
    show_progress: bool | None = None,
) -> BatchSummary:
    """Grade every submission under ``submissions`` not graded yet; write the gradebook."""
    out = Path(out)
    results = out / "results"
    found = discover(submissions)
    todo = {
        name: path
        for name, path in found.items()
        if not up_to_date(results / f"{name}.json", path, assignment)
    }
    logger.info(
        "%d submissions, %d to grade, %d already graded",
        len(found),
        len(todo),
        len(found) - len(todo),
    )
    if todo:
        checks = load_checks(assignment)
        warm_up(assignment)  # the sandbox server starts while references are made
        references = references_for(checks, checks.cases)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [
                pool.submit(
                    grade_to_file,
                    assignment,
                    path,
                    results / f"{name}.json",
                    name=name,
                    source=source,
                    references=references,
                )
                for name, path in todo.items()
            ]
            for future in progress(
                as_completed(futures),
                desc=f"grading {assignment}",
                enabled=show_progress,
                total=len(futures),
            ):
                future.result()  # grade_to_file never raises for a bad submission
    contents = []
    for name in found:
        try:
            contents.append(json.loads((results / f"{name}.json").read_text(encoding="utf-8")))
        except (OSError, ValueError):
            logger.warning("no readable results for %s", name)
    gradebook = write_gradebook(contents, out / "gradebook.csv")
    return BatchSummary(len(todo), len(found) - len(todo), gradebook)
