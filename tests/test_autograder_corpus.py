"""The corpus of broken and hostile a2_transfer submissions, graded as one batch.

One ``grade-all`` run (2 workers) is shared by the tests of this module. Each submission must get
exactly the expected failed cases and score, with a message that says why; hidden expected
values never appear; the grader's files survive; grading again gives identical results.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from autograder_corpus import build_notebook, solution_sources, write
from autograder_corpus.entries import ASSIGNMENT, entries

from autograder.__main__ import main
from autograder.sandbox.host import sandbox_mode
from autograder.spec import load_checks
from autograder.submissions import grade_to_file

pytestmark = pytest.mark.slow

CHECKS_FILE = Path(__file__).resolve().parent.parent / "autograder" / "checks" / "a2_transfer.py"
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


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(entries by name, results by name, submissions folder, canary file, its content)."""
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
    out = root / "out"
    assert (
        main(
            [
                "grade-all",
                ASSIGNMENT,
                str(submissions),
                "--workers",
                "2",
                "--out",
                str(out),
                "--source",
                str(release),
                "--no-progress",
            ]
        )
        == 0
    )
    assert hashlib.sha256(CHECKS_FILE.read_bytes()).hexdigest() == checks_hash
    results = {name: json.loads((out / "results" / f"{name}.json").read_text()) for name in chosen}
    return chosen, results, submissions, canary, out, release


def expected_failures(fails: tuple[str, ...]) -> set[str]:
    cases = load_checks(ASSIGNMENT).cases
    return {c.name for c in cases if c.function in fails or c.name in fails}


def test_corpus_is_large_enough(corpus):
    chosen = corpus[0]
    assert len(chosen) >= 25


def test_every_submission_gets_exactly_the_expected_result(corpus):
    chosen, results = corpus[0], corpus[1]
    checks = load_checks(ASSIGNMENT)
    problems = []
    for name, entry in chosen.items():
        data = results[name]
        failed = {t["name"] for t in data["tests"] if t["status"] == "failed"}
        want = expected_failures(entry.fails)
        if failed != want:
            problems.append(
                f"{name}: unexpected failures {sorted(failed - want)}, "
                f"unexpected passes {sorted(want - failed)}"
            )
        lost = sum(c.points for c in checks.cases if c.name in want)
        if data["score"] != checks.max_score - lost:
            problems.append(f"{name}: score {data['score']}, expected {checks.max_score - lost}")
        text = data["output"] + "".join(t["output"] for t in data["tests"])
        if entry.message and entry.message not in text:
            problems.append(f"{name}: no {entry.message!r} in the feedback:\n{text}")
    assert not problems, "\n".join(problems)


def test_hidden_expected_values_never_leak(corpus):
    results = corpus[1]
    for data in results.values():
        for test in data["tests"]:
            if test["visibility"] == "visible":
                continue
            for line in test["output"].splitlines():
                assert not line.startswith(("expected ", "first at index", "missing [")), line


def test_grader_files_survive(corpus):
    canary = corpus[3]
    assert canary.read_text() == "the grader's own file\n"


def test_gradebook_has_a_row_per_submission(corpus):
    chosen, out = corpus[0], corpus[4]
    lines = (out / "gradebook.csv").read_text().splitlines()
    assert lines[0].startswith("submission,score,max_score")
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(chosen)


def test_grading_twice_gives_identical_results(corpus, tmp_path):
    chosen, results, submissions, release = corpus[0], corpus[1], corpus[2], corpus[5]
    for name in REGRADED:
        if name not in chosen:
            continue
        again = grade_to_file(
            ASSIGNMENT, submissions / f"{name}.ipynb", tmp_path / f"{name}.json", source=release
        )
        first = {k: v for k, v in results[name].items() if k != "execution_time"}
        second = {k: v for k, v in again.items() if k != "execution_time"}
        assert first == second, name
