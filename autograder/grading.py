"""Grading one notebook: extract its code, run the cases in the sandbox, compare, score.

Comparisons happen here, in the grading process, against references the sandbox never sees.
Feedback says what was checked and how far off the output is; expected values appear only in
the feedback of public cases.

The modules that import torch (asserts, plaindata, references) are imported where they are
used: a notebook is read, and its imports named to the sandbox server, before this process
spends a second importing torch.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.extract import extract
from autograder.notebook import SubmissionError, read_notebook_file
from autograder.sandbox.host import warm_up
from autograder.sandbox.limits import (
    MAX_MESSAGE,
    MAX_TRACEBACK,
    Limits,
    Outcome,
    error_text,
    error_type,
)
from autograder.sandbox.session import Job, run_cases
from autograder.sandbox.transfer import pack_job
from autograder.spec import (
    Case,
    Checks,
    Context,
    graded_functions,
    grader_sha256,
    load_checks,
    summary,
)

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
PINNED = Path(__file__).resolve().parent / "pinned"
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_jobs: dict[tuple[str, str], bytes] = {}
_jobs_lock = threading.Lock()


@dataclass
class TestResult:
    """The result of one case."""

    name: str
    function: str
    score: float
    max_score: float
    passed: bool
    hidden: bool
    output: str


@dataclass
class Report:
    """The grade of one submission."""

    assignment: str
    submission: str
    tests: list[TestResult]
    notes: list[str] = field(default_factory=list)
    execution_time: float = 0.0
    sandbox: str = ""
    sha256: str = ""
    grader_sha256: str = ""  # what graded it: see autograder.spec.grader_sha256

    @property
    def score(self) -> float:
        return sum(test.score for test in self.tests)

    @property
    def max_score(self) -> float:
        return sum(test.max_score for test in self.tests)


def default_source(assignment: str) -> Path | None:
    """The notebook read-only cells are restored from: the release, the source or a pinned copy."""
    for path in (
        REPO / "assignments" / assignment / f"{assignment}.ipynb",
        REPO / "solutions" / assignment / f"{assignment}.ipynb",
        PINNED / f"{assignment}.ipynb",
    ):
        if path.is_file():
            return path
    return None


def grade_notebook(
    assignment: str,
    notebook: Path | str,
    *,
    hidden: bool = True,
    source: Path | str | None = None,
    refs_file: Path | str | None = None,
    references: dict[str, Any] | None = None,
    limits: Limits | None = None,
) -> Report:
    """Grade ``notebook`` on all cases (or only the public ones with ``hidden=False``)."""
    start = time.monotonic()
    notebook = Path(notebook)
    warm_up(assignment, limits=limits)  # the sandbox server starts while the notebook is read
    sha256, problem = "", None
    try:
        submitted = read_notebook_file(notebook)  # read once: what is hashed is what is graded
        sha256 = submitted.sha256
        extraction = extract(
            submitted, graded_functions(assignment), source=source or default_source(assignment)
        )
    except SubmissionError as error:
        problem = error
    else:  # imported by the server while the checks and references load here
        warm_up(assignment, limits=limits, preload=extraction.preload)
    from autograder.references import references_for

    checks = load_checks(assignment)
    cases = checks.select(hidden=hidden)
    if references is None:
        references = references_for(checks, cases, refs_file=refs_file)
    report = Report(
        assignment, notebook.stem, [], sha256=sha256, grader_sha256=grader_sha256(checks)
    )
    if problem is not None:
        report.notes.append(str(problem))
        report.tests = [_result(case, False, f"not graded: {problem}") for case in cases]
        report.execution_time = time.monotonic() - start
        return report
    report.notes += extraction.notes
    # public cases first: nothing a hidden case's inputs show can reach a public case's feedback
    runnable = sorted(
        (case for case in cases if case.function in extraction.defined), key=lambda c: c.hidden
    )
    outcomes: dict[str, Outcome] = {}
    if runnable:
        session = run_cases(
            assignment,
            extraction.cells,
            [case_job(checks, case) for case in runnable],
            limits=limits,
            protected=[notebook.resolve().parent],
        )
        outcomes, report.sandbox = session.outcomes, session.description or session.mode
        report.notes += [clean(note) for note in session.notes]
    for case in cases:
        outcome = outcomes.get(case.name) or Outcome(
            "missing",
            error={
                "type": "NameError",
                "message": f"{case.function} is not defined in a solution cell",
            },
        )
        report.tests.append(judge(checks, case, outcome, references.get(case.name)))
    report.execution_time = time.monotonic() - start
    return report


def case_job(checks: Checks, case: Case) -> Job:
    """``case`` as the sandbox runs it: inputs built here, from the case's seeds, and pickled.

    Built once per process and case, like the references, under the same seeds.
    """
    from autograder.references import deterministic

    key = (checks.assignment, case.name)
    with _jobs_lock:
        if key not in _jobs:
            with tempfile.TemporaryDirectory(prefix="autograder-inputs-") as workdir:
                with deterministic():
                    inputs = case.inputs(Path(workdir))
                    _jobs[key] = pack_job(case.call, inputs, Path(workdir))
    return Job(case.name, case.function, case.timeout, _jobs[key])


def clean(text: str) -> str:
    """Text without what differs between runs (object addresses, scratch folders)."""
    text = ADDRESS.sub(" at 0x...", text)
    return re.sub(r"/(tmp|sandbox/work)/[^\s'\"]*", "<workdir>", text)


def _result(case: Case, passed: bool, output: str) -> TestResult:
    return TestResult(
        case.name,
        case.function,
        case.points if passed else 0.0,
        case.points,
        passed,
        case.hidden,
        output,
    )


def what_is_checked(case: Case) -> str:
    """The first paragraph of the comparison's docstring."""
    return summary(getattr(case.compare, "func", case.compare)).rstrip(".")


def judge(checks: Checks, case: Case, outcome: Outcome, expected: Any) -> TestResult:
    """Pass or fail ``case`` from the sandbox's ``outcome``, with feedback."""
    from autograder import asserts, plaindata

    checked = f"Checked: {what_is_checked(case)}."
    if outcome.status in {"error", "missing"}:
        error = outcome.error
        kind = error_type(error)
        message = f"{kind}: {clean(error_text(error, 'message', MAX_MESSAGE))}"
        if case.hidden and outcome.status == "error":
            message = f"{kind} raised (details of hidden cases are not shown)"
        elif error.get("traceback"):
            message += "\n" + clean(error_text(error, "traceback", MAX_TRACEBACK)).rstrip()
        return _result(case, False, f"{checked}\nFailed: {message}")
    if outcome.status != "ok":
        return _result(case, False, f"{checked}\nFailed: {outcome.message}")
    try:
        actual = plaindata.unpack(outcome.payload)
    except plaindata.PlainDataError as error:
        return _result(case, False, f"{checked}\nFailed: the output could not be read ({error})")
    except Exception as error:  # a decoder bug must cost this case only, never the submission
        logger.warning("%s: decoding raised %r", case.name, error)
        return _result(case, False, f"{checked}\nFailed: the output could not be read")
    with tempfile.TemporaryDirectory(prefix="autograder-check-") as workdir:
        try:
            case.compare(actual, expected, Context(case, Path(workdir)))
        except asserts.CheckFailure as failure:
            text = f"{checked}\nFailed: {failure.message}"
            if failure.detail and not case.hidden:
                text += f"\n{failure.detail}"
            return _result(case, False, text)
        except Exception as error:  # the output broke the comparison itself
            logger.warning("%s: comparison raised %r", case.name, error)
            return _result(
                case,
                False,
                f"{checked}\nFailed: the output could not be compared ({type(error).__name__}); "
                f"got {_described(actual)}",
            )
    return _result(case, True, f"{checked}\nPassed.")


def _described(actual: Any) -> str:
    from autograder import asserts

    try:
        return asserts.describe(actual)[:MAX_MESSAGE]
    except Exception:  # noqa: BLE001 (an output odd enough to break the comparison)
        return "an output that cannot be described"
