"""Run all cases of one submission: one sandbox process, restarted after a fatal case.

A case that times out, crashes the process, sends garbage or leaves threads behind fails (or
passes) on its own; the cases after it run in a fresh process, so a killed case never lets
later cases pass by default and later cases never inherit a broken process. A cell that kills
or hangs the process while its definitions load is left out, and the notebook is loaded again
without it.

Wall-time bound: a submission's sandboxes run for at most the sum of its cases' time limits
plus ``Limits.startup_seconds`` (120 s by default), starts, cell loading and restarts
included; cases left when that budget is spent fail as not run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from autograder.sandbox.host import Sandbox, sandbox_mode
from autograder.sandbox.limits import (
    MAX_MESSAGE,
    CellLoadError,
    Limits,
    Outcome,
    SandboxError,
    error_text,
    error_type,
)

FATAL = {"timeout", "crashed", "protocol", "quota"}


@dataclass(frozen=True)
class Job:
    """One case as the sandbox gets it: no title, only the function and pickled inputs.

    ``name`` stays in the grading process (outcomes are keyed by it); ``payload`` is made by
    :func:`autograder.sandbox.transfer.pack_job`.
    """

    name: str
    function: str
    timeout: float
    payload: bytes


@dataclass
class SessionResult:
    """Outcomes by case name, notes on cells (errors, cells left out) and the sandbox mode."""

    outcomes: dict[str, Outcome]
    notes: list[str] = field(default_factory=list)
    mode: str = ""
    description: str = ""  # the mode and its kind of limits, once a sandbox started
    starts: int = 0


def run_cases(
    assignment: str,
    cells: list[dict[str, str]],
    jobs: Sequence[Job],
    *,
    limits: Limits | None = None,
    mode: str | None = None,
    protected: Sequence[Path] = (),
) -> SessionResult:
    """Run ``jobs`` in order against ``cells`` (name, source) in a sandbox.

    ``protected``: folders student code must not read besides the grader's (the submissions).
    """
    limits = limits or Limits()
    result = SessionResult({}, mode=mode or sandbox_mode())
    pending, cells = list(jobs), list(cells)
    budget = sum(job.timeout for job in jobs) + limits.startup_seconds
    deadline = time.monotonic() + budget
    first_load = True
    retried: set[str] = set()
    while pending:
        if time.monotonic() > deadline:
            message = f"not run: the submission used up its {budget:g} s time budget"
            result.outcomes.update(
                {job.name: Outcome("not_run", message=message) for job in pending}
            )
            break
        box = Sandbox(assignment, limits=limits, mode=result.mode, protected=protected)
        result.starts += 1
        try:
            errors = box.start(cells, deadline=deadline)
            result.description = box.description
            if first_load:
                result.notes += [_error_note(error) for error in errors]
                first_load = False
            _run_until_fatal(box, pending, result.outcomes, deadline, retried)
        except CellLoadError as error:
            name = cells.pop(error.index)["name"]
            result.notes.append(
                f"cell {name!r} {error.reason} while its definitions were loaded; it was left out"
            )
        except SandboxError as error:
            result.outcomes.update(
                {job.name: Outcome("not_run", message=f"not run: {error}") for job in pending}
            )
            pending.clear()
        finally:
            box.close()
    return result


def _run_until_fatal(
    box: Sandbox,
    pending: list[Job],
    outcomes: dict[str, Outcome],
    deadline: float,
    retried: set[str],
) -> None:
    while pending and time.monotonic() < deadline:
        job = pending.pop(0)
        timeout = min(job.timeout, deadline - time.monotonic())
        outcome = box.run(job.function, job.payload, timeout)
        if outcome.status == "unready" and job.name not in retried:
            retried.add(job.name)  # its folder was spoilt by earlier cases: once more, fresh
            pending.insert(0, job)
            return
        overused = box.scratch_overused() if outcome.status not in FATAL else None
        if overused is not None:
            outcome = Outcome("quota", message=overused)
        outcomes[job.name] = outcome
        if outcome.status in FATAL or outcome.restart:
            return


def _error_note(error: dict[str, str]) -> str:
    return (
        f"cell {error['cell']!r} raised {error_type(error)} while its definitions were "
        f"loaded: {error_text(error, 'message', MAX_MESSAGE)}"
    )
