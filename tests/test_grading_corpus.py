"""Fair grading: student code written from the notebook alone, graded by the real grader.

Every graded function has at least one correct implementation in another idiom (full marks)
and at least two typical mistakes (each fails a named case whose feedback names the cause).
One ``grade-all`` run per assignment grades all of its corpus notebooks.
"""

from __future__ import annotations

import json

import pytest
from autograder_corpus import build_notebook, solution_sources, units, write
from grading_corpus import ASSIGNMENTS, corpus

from autograder.__main__ import main
from autograder.inkernel import run_checks
from autograder.spec import load_checks

pytestmark = pytest.mark.slow


def _entries(assignment: str) -> dict[str, tuple[str, str]]:
    """Submission name -> (graded function, its cell source)."""
    alternatives, mistakes = corpus(assignment)
    named = {f"alt-{e.function}-{e.name}": (e.function, e.source) for e in alternatives}
    named.update({f"bug-{e.function}-{e.name}": (e.function, e.source) for e in mistakes})
    return named


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, tmp_path_factory) -> tuple[str, dict[str, dict]]:
    """(assignment, results.json content by submission name)."""
    assignment = request.param
    root = tmp_path_factory.mktemp(assignment)
    entries = _entries(assignment)
    if not entries:
        pytest.fail(f"no corpus for {assignment}")
    solutions = solution_sources(assignment)
    for name, (function, source) in entries.items():
        notebook = build_notebook(assignment, {**solutions, function: source})
        write(notebook, root / "submissions" / f"{name}.ipynb")
    release = write(build_notebook(assignment, {}), root / "release.ipynb")
    out = root / "out"
    argv = ["grade-all", assignment, str(root / "submissions"), "--workers", "2"]
    assert main([*argv, "--out", str(out), "--source", str(release), "--no-progress"]) == 0
    results = {n: json.loads((out / "results" / f"{n}.json").read_text()) for n in entries}
    return assignment, results


def _function_tests(data: dict, function: str) -> list[dict]:
    return [t for t in data["tests"] if t["name"].startswith(f"{function}: ")]


def test_every_graded_function_has_an_alternative_and_two_mistakes():
    problems = []
    for assignment in ASSIGNMENTS:
        alternatives, mistakes = corpus(assignment)
        for unit in units(assignment):
            alts = sum(e.function == unit.unit for e in alternatives)
            bugs = sum(e.function == unit.unit for e in mistakes)
            if alts < 1 or bugs < 2:
                problems.append(f"{assignment}.{unit.unit}: {alts} alternatives, {bugs} mistakes")
    assert not problems, "\n".join(problems)


def test_corpus_names_known_cases():
    problems = []
    for assignment in ASSIGNMENTS:
        names = {case.name for case in load_checks(assignment).cases}
        for mistake in corpus(assignment)[1]:
            if f"{mistake.function}: {mistake.case}" not in names:
                problems.append(f"{assignment}: {mistake.name} names no case {mistake.case!r}")
    assert not problems, "\n".join(problems)


def test_alternatives_get_full_marks(graded):
    assignment, results = graded
    alternatives = corpus(assignment)[0]
    problems = []
    for entry in alternatives:
        data = results[f"alt-{entry.function}-{entry.name}"]
        for test in data["tests"]:
            if test["status"] != "passed":
                problems.append(f"{entry.name}: {test['name']} failed:\n{test['output']}")
    assert not problems, "\n\n".join(problems)


def test_mistakes_fail_their_case_with_a_hint(graded):
    assignment, results = graded
    mistakes = corpus(assignment)[1]
    problems = []
    for entry in mistakes:
        data = results[f"bug-{entry.function}-{entry.name}"]
        tests = {t["name"]: t for t in _function_tests(data, entry.function)}
        test = tests.get(f"{entry.function}: {entry.case}")
        if test is None or test["status"] != "failed":
            problems.append(f"{entry.name}: case {entry.case!r} did not fail")
        elif entry.hint not in test["output"]:
            problems.append(f"{entry.name}: no {entry.hint!r} in:\n{test['output']}")
        lost = sum(t["max_score"] - t["score"] for t in tests.values())
        if lost <= 0:
            problems.append(f"{entry.name}: {entry.function} lost no points")
    assert not problems, "\n\n".join(problems)


def test_a_one_line_bug_keeps_more_than_an_empty_function(graded):
    """Partial credit by property: wrong values with the right shape beat NotImplementedError."""
    assignment, results = graded
    scored = {}
    for entry in corpus(assignment)[1]:
        data = results[f"bug-{entry.function}-{entry.name}"]
        score = sum(t["score"] for t in _function_tests(data, entry.function))
        scored[entry.function] = max(scored.get(entry.function, 0.0), score)
    empty = [function for function, score in scored.items() if score == 0]
    assert len(empty) < len(scored) / 2, f"no partial credit for any mistake of {empty}"


def test_corpus_sources_stay_outside_course_lib():
    """The corpus is independent code: no cell imports the reference it is graded against."""
    for assignment in ASSIGNMENTS:
        alternatives, mistakes = corpus(assignment)
        for entry in [*alternatives, *mistakes]:
            assert f"import {entry.function}" not in entry.source, entry.name
            assert entry.source.strip(), entry.name


#: Mistakes that only the sandbox's memory limit catches (a notebook kernel has none): they
#: build a 4 GB matrix, which would also be allocated in this test process.
MEMORY_BOUND = {"dense-matrix"}


def test_the_notebook_checks_agree_with_the_grader(graded):
    """check() in the notebook (nbgrader's test cells) gives every case the grader's result.

    Each corpus cell runs here in-process, as in a notebook's kernel, on all cases of its
    function; nbgrader scores a test cell by what check() returns.
    """
    assignment, results = graded
    alternatives, mistakes = corpus(assignment)
    problems = []
    for prefix, entry in [*(("alt", e) for e in alternatives), *(("bug", e) for e in mistakes)]:
        if entry.name in MEMORY_BOUND:
            continue
        namespace: dict = {}
        exec(compile(entry.source, f"<{entry.name}>", "exec"), namespace)  # noqa: S102
        in_kernel = run_checks(assignment, entry.function, namespace[entry.function], which="all")
        graded_tests = _function_tests(
            results[f"{prefix}-{entry.function}-{entry.name}"], entry.function
        )
        standalone = {t["name"]: t["score"] for t in graded_tests}
        for result in in_kernel:
            if standalone.get(result.name) != result.score:
                problems.append(
                    f"{entry.name}: {result.name}: notebook {result.score}, "
                    f"grader {standalone.get(result.name)}"
                )
    assert not problems, "\n".join(problems)
