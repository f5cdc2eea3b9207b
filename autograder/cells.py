"""The checks behind the test cells of the notebooks.

A test cell calls ``check(topk_accuracy)``: every public case of the assignment's check
specification (``autograder/checks/<id>.py``) runs on the function defined in the notebook, a
short table is printed, and the points earned are the cell's value, which nbgrader reads as
partial credit. Hidden test cells call ``check(topk_accuracy, hidden=True)`` between nbgrader's
hidden-test markers; they print which hidden cases passed, never expected values.

This runs in the notebook's own kernel, so it is a convenience for students and nbgrader; the
standalone grader (``python -m autograder grade``) runs the same cases in a sandbox.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autograder import asserts, plaindata
from autograder.spec import CHECKS_DIR, Case, Checks, Context, load_checks

MAX_MESSAGE = 300


@dataclass(frozen=True)
class Outcome:
    """The result of one case."""

    case: Case
    passed: bool
    message: str = ""

    @property
    def points(self) -> float:
        return self.case.points if self.passed else 0.0


def find_assignment(name: str) -> str:
    """The assignment whose checks grade the function ``name``."""
    found = [
        path.stem
        for path in sorted(CHECKS_DIR.glob("a*_*.py"))
        if name in load_checks(path.stem).functions
    ]
    if len(found) != 1:
        where = f"several assignments ({', '.join(found)})" if found else "no assignment"
        raise KeyError(f"{name!r} is graded in {where}; pass assignment= explicitly")
    return found[0]


@contextmanager
def kept_state() -> Iterator[None]:
    """Leave the notebook's random generators and thread count as they were."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        torch.set_num_threads(threads)


def _seed() -> None:
    """The state every case starts from, as in the sandbox."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def _call(case: Case, function: Callable) -> Any:
    """``case``'s output of ``function`` as plain data, computed in a fresh working folder."""
    _seed()
    workdir = Path(tempfile.mkdtemp(prefix="case-"))
    try:
        return plaindata.roundtrip(case.call(function, case.inputs(workdir)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def run_case(checks: Checks, case: Case, function: Callable) -> Outcome:
    """Run one case on ``function`` and compare it with the reference of the full course_lib."""
    try:
        actual = _call(case, function)
    except Exception as error:  # the student's code may raise anything
        return Outcome(case, False, _short(error))
    try:
        expected = _call(case, checks.reference(case.function)) if case.reference else None
    except NotImplementedError:
        return Outcome(case, False, "no reference here: the grader's course_lib is needed")
    workdir = Path(tempfile.mkdtemp(prefix="case-"))
    try:
        case.compare(actual, expected, Context(case, workdir))
    except asserts.CheckFailure as failure:
        detail = f" ({failure.detail})" if failure.detail and not case.hidden else ""
        return Outcome(case, False, failure.message + detail)
    except Exception as error:
        return Outcome(case, False, _short(error))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return Outcome(case, True)


def report(name: str, outcomes: list[Outcome], *, hidden: bool) -> str:
    """A short table: one line per case, then the points."""
    kind = "hidden" if hidden else "public"
    lines = [f"{name}: {len(outcomes)} {kind} checks"]
    for outcome in outcomes:
        mark = "ok  " if outcome.passed else "FAIL"
        points = f"{outcome.points:g}/{outcome.case.points:g}"
        lines.append(f"  {mark} {points:>7}  {outcome.case.title}")
        if outcome.message:
            lines.append(f"{'':16}{outcome.message}")
    earned = sum(o.points for o in outcomes)
    total = sum(o.case.points for o in outcomes)
    lines.append(f"{earned:g} of {total:g} points")
    return "\n".join(lines)


def check(function: Callable, *, hidden: bool = False, assignment: str | None = None) -> float:
    """Run the public (or hidden) cases of ``function``; print them and return the points."""
    name = getattr(function, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"check() takes the graded function itself, got {function!r}")
    checks = load_checks(assignment or find_assignment(name))
    cases = [c for c in checks.cases if c.function == name and c.hidden == hidden]
    if not cases and not hidden:
        raise KeyError(f"{checks.assignment} has no public checks of {name!r}")
    with kept_state():
        outcomes = [run_case(checks, case, function) for case in cases]
    print(report(name, outcomes, hidden=hidden))
    return float(sum(outcome.points for outcome in outcomes))
