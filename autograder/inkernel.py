"""The checks inside a notebook's kernel, for nbgrader test cells and quick self-tests.

A test cell of an assignment calls, for example::

    from autograder.inkernel import assert_checks
    assert_checks("a2_transfer", "topk_accuracy", topk_accuracy)               # public cases
    ### BEGIN HIDDEN TESTS
    assert_checks("a2_transfer", "topk_accuracy", topk_accuracy, which="hidden")
    ### END HIDDEN TESTS

The cases and comparisons are those of the standalone grader, but the function runs in the
calling process: no sandbox, as always with nbgrader. Feedback of hidden cases never contains
expected values.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from autograder import plaindata
from autograder.grading import TestResult, judge
from autograder.references import deterministic, references_for
from autograder.sandbox.limits import Outcome
from autograder.sandbox.runner import describe_error
from autograder.spec import load_checks

WHICH = {"public": (False,), "hidden": (True,), "all": (False, True)}


def run_checks(
    assignment: str,
    name: str,
    function: Callable,
    *,
    which: str = "public",
    refs_file: Path | str | None = None,
) -> list[TestResult]:
    """Results of the ``which`` cases (public, hidden or all) of graded function ``name``."""
    if which not in WHICH:
        raise ValueError(f"which={which!r}: expected one of {', '.join(WHICH)}")
    checks = load_checks(assignment)
    cases = [c for c in checks.cases if c.function == name and c.hidden in WHICH[which]]
    if not cases:
        raise KeyError(f"{assignment} has no {which} cases for {name!r}")
    references = references_for(checks, cases, refs_file=refs_file)
    results = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="autograder-") as workdir, deterministic():
            try:
                output = case.call(function, case.inputs(Path(workdir)))
                outcome = Outcome("ok", payload=plaindata.pack(output))
            except Exception as error:
                outcome = Outcome("error", error=describe_error(error))
        results.append(judge(checks, case, outcome, references.get(case.name)))
    return results


def assert_checks(assignment: str, name: str, function: Callable, *, which: str = "public") -> None:
    """Raise AssertionError with the feedback of every failed case; print a line per case."""
    results = run_checks(assignment, name, function, which=which)
    for result in results:
        print(f"{'PASS' if result.passed else 'FAIL'}  {result.name}")
    failed = [r for r in results if not r.passed]
    if failed:
        details = "\n\n".join(f"{r.name}\n{r.output}" for r in failed)
        raise AssertionError(f"{len(failed)} of {len(results)} checks failed:\n\n{details}")
