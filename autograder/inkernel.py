"""The checks inside a notebook's kernel: what the notebooks' ``check()`` runs.

:func:`run_checks` runs the cases of one graded function on the function defined in the
calling process (no sandbox, as always with nbgrader), from the same seeds as the sandbox, and
judges them with the standalone grader's comparisons against the same references. Feedback of
hidden cases never contains expected values. :mod:`autograder.cells` prints the results.
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
