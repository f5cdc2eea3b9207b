"""The corpus of broken and hostile a2_transfer submissions, graded as one batch.

One ``grade-all`` run (2 workers, its own process) is shared by the tests of this module. Each
submission must get exactly the expected failed cases and score, with a message that says why,
within its time; hidden cases, expected values and references never reach the feedback; the
results stay small; the grader's files survive; nothing is left in the temporary folder and no
process of a submission outlives the batch; the innocent submissions graded after all the
attackers get full marks; grading again gives identical results. A batch that waits on a FIFO
is unblocked (and reported) once every other submission has its results.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from autograder_corpus import REPO, build_notebook, solution_sources, write
from autograder_corpus.batch import BATCH_LIMIT, grade_all_process, processes_named
from autograder_corpus.entries import ASSIGNMENT, INNOCENT, Entry, entries
from autograder_corpus.process import daemon_name

from autograder.sandbox.host import sandbox_mode
from autograder.spec import Case, load_checks
from autograder.submissions import grade_to_file

pytestmark = pytest.mark.slow

CHECKS_FILE = REPO / "autograder" / "checks" / "a2_transfer.py"
REGRADED = (
    "solution",
    "os_exit",
    "segfault",
    "forged_frames",
    "monkeypatch_comparisons",
    "not_utf8",
    "duplicated_grade_id",
    "lingering_thread",
    "exit_while_loading",
)
MAX_RESULTS_BYTES = 200_000
MAX_TEST_OUTPUT = 4_000  # characters of one case's feedback
MAX_OUTPUT = 20_000  # characters of the summary and notes
LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN", "HIDDEN TESTS")


@dataclass
class Batch:
    """A graded corpus: its entries, their results (None: no results file) and what it left."""

    entries: dict[str, Entry]
    results: dict[str, dict[str, Any] | None]
    submissions: Path
    canary: Path
    out: Path
    release: Path
    returncode: int | None  # None: killed after BATCH_LIMIT
    unblocked: list[str]  # submissions whose FIFO the batch waited on
    leftovers: list[str]  # what stayed in the batch's temporary folder
    survivors: list[int]  # processes of this run's daemon still alive
    log: Path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The corpus graded by one ``grade-all`` process (see :class:`Batch`)."""
    root = tmp_path_factory.mktemp("corpus")
    canary = root / "canary.txt"
    canary.write_text("the grader's own file\n")
    isolated = sandbox_mode() == "namespaces"
    chosen = {e.name: e for e in entries(canary) if isolated or not e.isolation}
    submissions = root / "submissions"
    for entry in chosen.values():
        path = submissions / f"{entry.name}.ipynb"
        if entry.writer is not None:
            entry.writer(path)
        else:
            write(build_notebook(ASSIGNMENT, {**solution_sources(ASSIGNMENT), **entry.cells}), path)
    checks_hash = hashlib.sha256(CHECKS_FILE.read_bytes()).hexdigest()
    release = write(build_notebook(ASSIGNMENT, {}), root / "release.ipynb")
    out, log = root / "out", root / "grade-all.log"
    pid, returncode, unblocked = grade_all_process(submissions, out, release, list(chosen), log)
    assert hashlib.sha256(CHECKS_FILE.read_bytes()).hexdigest() == checks_hash
    results = {}
    for name in chosen:
        try:
            results[name] = json.loads((out / "results" / f"{name}.json").read_text())
        except (OSError, ValueError):
            results[name] = None
    run = Path(tempfile.gettempdir()) / f"autograder-run-{pid}"
    leftovers = sorted(p.name for p in run.iterdir()) if run.is_dir() else []
    survivors = processes_named(daemon_name(canary))
    yield Batch(
        entries=chosen,
        results=results,
        submissions=submissions,
        canary=canary,
        out=out,
        release=release,
        returncode=returncode,
        unblocked=unblocked,
        leftovers=leftovers,
        survivors=survivors,
        log=log,
    )
    for survivor in survivors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(survivor, signal.SIGKILL)
    subprocess.run(["rm", "-rf", str(run)], check=False)  # trees too deep for shutil.rmtree


def expected_failures(fails: tuple[str, ...]) -> set[str]:
    cases = load_checks(ASSIGNMENT).cases
    return {c.name for c in cases if c.function in fails or c.name in fails}


def feedback(data: dict[str, Any]) -> str:
    """Everything a student reads in a results file besides the case names."""
    return data["output"] + "".join(t["output"] for t in data["tests"])


def _failure(test: dict[str, Any]) -> str:
    """A failed case's name and the line of its feedback that says why (shortened)."""
    lines = [line for line in test["output"].splitlines() if line.startswith("Failed:")]
    return f"{test['name']}: {(lines or [''])[0][:200]}"


def test_corpus_is_large_enough(corpus):
    assert len(corpus.entries) >= 60


def test_batch_finishes_without_waiting_on_any_submission(corpus):
    log = corpus.log.read_text(errors="replace")[-3000:]
    assert corpus.returncode is not None, f"grade-all still ran after {BATCH_LIMIT:g} s:\n{log}"
    assert corpus.returncode == 0, log
    assert not corpus.unblocked, f"the batch waited on the FIFOs of {corpus.unblocked}"


def test_every_submission_gets_exactly_the_expected_result(corpus):
    checks = load_checks(ASSIGNMENT)
    problems = []
    for name, entry in corpus.entries.items():
        data = corpus.results[name]
        if data is None:
            problems.append(f"{name}: no results file")
            continue
        failed = {t["name"] for t in data["tests"] if t["status"] == "failed"}
        want = expected_failures(entry.fails)
        if failed != want:
            why = "".join(
                f"\n    {_failure(t)}" for t in data["tests"] if t["name"] in failed - want
            )
            problems.append(
                f"{name}: unexpected failures {sorted(failed - want)}, "
                f"unexpected passes {sorted(want - failed)}{why}"
            )
        lost = sum(c.points for c in checks.cases if c.name in want)
        if data["score"] != checks.max_score - lost:
            problems.append(f"{name}: score {data['score']}, expected {checks.max_score - lost}")
        text = feedback(data)
        messages = (entry.message,) if isinstance(entry.message, str) else entry.message
        if any(messages) and not any(message in text for message in messages):
            problems.append(f"{name}: no {entry.message!r} in the feedback:\n{text[:1500]}")
        if entry.seconds is not None and data["execution_time"] > entry.seconds:
            problems.append(f"{name}: took {data['execution_time']} s, at most {entry.seconds:g}")
    assert not problems, "\n".join(problems)


def test_hidden_expected_values_never_leak(corpus):
    for data in filter(None, corpus.results.values()):
        for test in data["tests"]:
            if test["visibility"] == "visible":
                continue
            for line in test["output"].splitlines():
                assert not line.startswith(("expected ", "first at index", "missing [")), line


def _parameters(case: Case) -> str | None:
    """How a dump of ``case`` shows its input options (a ``partial``'s keywords), if any."""
    keywords = getattr(case.inputs, "keywords", None)
    return repr(keywords) if keywords else None


def test_hidden_cases_and_references_never_reach_the_feedback(corpus):
    cases = load_checks(ASSIGNMENT).cases
    hidden = {_parameters(c) for c in cases if c.hidden}
    public = {_parameters(c) for c in cases if not c.hidden}
    secrets = {c.title for c in cases if c.hidden} | set(LEAK_MARKERS) | (hidden - public - {None})
    leaks = [
        f"{name}: {secret!r}"
        for name, data in corpus.results.items()
        if data is not None
        for secret in sorted(secrets)
        if secret in feedback(data)
    ]
    assert not leaks, "\n".join(leaks)


def test_results_stay_small_and_student_text_is_capped(corpus):
    problems = []
    for name in corpus.entries:
        path = corpus.out / "results" / f"{name}.json"
        if not path.exists():
            continue
        size, data = path.stat().st_size, corpus.results[name]
        if size > MAX_RESULTS_BYTES:
            problems.append(f"{name}: results file of {size} bytes")
        if len(data["output"]) > MAX_OUTPUT:
            problems.append(f"{name}: summary and notes of {len(data['output'])} characters")
        longest = max(data["tests"], key=lambda t: len(t["output"]))
        if len(longest["output"]) > MAX_TEST_OUTPUT:
            problems.append(f"{name}: feedback of {len(longest['output'])} characters")
    assert not problems, "\n".join(problems)


def test_grader_files_survive(corpus):
    assert corpus.canary.read_text() == "the grader's own file\n"


def test_nothing_is_left_behind(corpus):
    assert corpus.leftovers == [], f"left in the batch's temporary folder: {corpus.leftovers}"
    assert corpus.survivors == [], f"processes of a submission still alive: {corpus.survivors}"


def test_innocent_submissions_after_every_attacker_get_full_marks(corpus):
    names = sorted(corpus.entries)
    assert names[-len(INNOCENT) :] == list(INNOCENT)
    max_score = load_checks(ASSIGNMENT).max_score
    scores = {name: (corpus.results[name] or {}).get("score") for name in INNOCENT}
    assert scores == dict.fromkeys(INNOCENT, max_score)


def test_gradebook_has_a_row_per_submission(corpus):
    with open(corpus.out / "gradebook.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["submission"] for row in rows) == sorted(corpus.entries)
    assert all(row["final_score"] == row["raw_score"] for row in rows)  # no due date given


def timeless(results: dict) -> dict:
    """Results without when and how long they were graded (grade-all records the time)."""
    extra = {k: v for k, v in results["extra_data"].items() if k != "graded_at"}
    return {**{k: v for k, v in results.items() if k != "execution_time"}, "extra_data": extra}


def test_grading_twice_gives_identical_results(corpus, tmp_path):
    for name in REGRADED:
        if name not in corpus.entries:
            continue
        again = grade_to_file(
            ASSIGNMENT,
            corpus.submissions / f"{name}.ipynb",
            tmp_path / f"{name}.json",
            source=corpus.release,
        )
        first, second = timeless(corpus.results[name]), timeless(again)
        assert first == second, name
