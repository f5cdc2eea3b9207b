"""Run all cases of one submission: one sandbox process, restarted after a fatal case.

A case that times out, crashes the process, sends garbage or leaves threads behind fails (or
passes) on its own; the cases after it run in a fresh process, so a killed case never lets
later cases pass by default and later cases never inherit a broken process. A cell that kills
or hangs the process while its definitions load is left out, and the notebook is loaded again
without it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from autograder.sandbox.host import Sandbox, sandbox_mode
from autograder.sandbox.limits import CellLoadError, Limits, Outcome, SandboxError

FATAL = {"timeout", "crashed", "protocol"}
#: Extra wall time allowed per submission beyond the cases' own limits.
START_ALLOWANCE = 120.0


@dataclass
class SessionResult:
    """Outcomes by case name, notes on cells (errors, cells left out) and the sandbox mode."""

    outcomes: dict[str, Outcome]
    notes: list[str] = field(default_factory=list)
    mode: str = ""
    starts: int = 0


def run_cases(
    assignment: str,
    cells: list[dict[str, str]],
    cases: Sequence[tuple[str, float]],
    *,
    limits: Limits | None = None,
    mode: str | None = None,
    preload: list[str] | None = None,
) -> SessionResult:
    """Run ``cases`` (name, timeout) against ``cells`` (name, source) in a sandbox.

    ``preload``: modules worth importing once for all sandboxes (trusted names only).
    """
    limits = limits or Limits()
    result = SessionResult({}, mode=mode or sandbox_mode())
    pending, cells = list(cases), list(cells)
    budget = sum(timeout for _, timeout in cases) + START_ALLOWANCE
    deadline = time.monotonic() + budget
    first_load = True
    while pending:
        if time.monotonic() > deadline:
            message = f"not run: the submission used up its {budget:g} s time budget"
            result.outcomes.update(
                {name: Outcome("not_run", message=message) for name, _ in pending}
            )
            break
        box = Sandbox(assignment, limits=limits, mode=result.mode, preload=preload)
        result.starts += 1
        try:
            errors = box.start(cells)
            if first_load:
                result.notes += [_error_note(error) for error in errors]
                first_load = False
            _run_until_fatal(box, pending, result.outcomes)
        except CellLoadError as error:
            name = cells.pop(error.index)["name"]
            result.notes.append(
                f"cell {name!r} {error.reason} while its definitions were loaded; it was left out"
            )
        except SandboxError as error:
            result.outcomes.update(
                {name: Outcome("not_run", message=f"not run: {error}") for name, _ in pending}
            )
            pending.clear()
        finally:
            box.close()
    return result


def _run_until_fatal(box: Sandbox, pending: list, outcomes: dict[str, Outcome]) -> None:
    while pending:
        name, timeout = pending.pop(0)
        outcome = box.run(name, timeout)
        outcomes[name] = outcome
        if outcome.status in FATAL or outcome.restart:
            return


def _error_note(error: dict[str, str]) -> str:
    return (
        f"cell {error.get('cell')!r} raised {error.get('type')} while its definitions were "
        f"loaded: {error.get('message', '')}"
    )
