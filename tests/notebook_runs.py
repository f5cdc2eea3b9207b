"""One real nbgrader course run per test session, shared by the notebook and nbgrader tests.

Executing notebooks is the slow part of the suite, so it happens once: a temporary course with
the repository's ``nbgrader_config.py`` and ``solutions/``; nbgrader's generate_assignment for
every assignment; then autograde and generate_feedback of two submissions per assignment (the
execution time of each notebook is read from nbclient's cell metadata):

- ``solution``: the source notebook, whose graded functions also emit a real torch warning on
  stderr every time they are called (nbgrader alone would zero such grade cells);
- ``release``: the released notebook, untouched.

A second run grades the same submissions in a course laid out by ``python -m autograder course``
(autograde runs imports, solution and test cells only); its submissions are whole release
folders, as nbgrader's fetch and submit copy them, student edition of course_lib included.

Test modules get the run through :func:`course_run`, which executes it on first use only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.__main__ import main
from autograder.release import make_course, nbgrader_env
from autograder.student_edition import ASSIGNMENTS
from benchmarks.bench_notebooks import execution_seconds

# Kernels share the CPU cores with this process: idle OpenMP threads sleep instead of spinning,
# which otherwise multiplies the CPU time of small models on a busy machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent
STUDENTS = ("solution", "release")
#: A real torch warning (copy-constructing a tensor), on stderr at every call.
WARNING_LINE = "torch.tensor(torch.tensor(0.0))  # emits a torch UserWarning on stderr"


def available() -> tuple[str, ...]:
    """Assignments with a source notebook."""
    return tuple(a for a in ASSIGNMENTS if (ROOT / "solutions" / a / f"{a}.ipynb").is_file())


def with_warnings(notebook: Path, target: Path) -> None:
    """Copy a solution notebook whose graded functions warn on stderr whenever they run."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell.source = re.sub(
                r"^([ \t]*)### BEGIN SOLUTION\n",
                rf"\g<0>\1{WARNING_LINE}\n",
                cell.source,
                flags=re.MULTILINE,
            )
    always = nbformat.v4.new_code_cell("import warnings\n\nwarnings.simplefilter('always')")
    always.id = "warn-always"
    nb.cells.insert(0, always)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


@dataclass
class CourseRun:
    """Where a course run left its files, with scores and execution times."""

    course: Path
    assignments: tuple[str, ...]
    scores: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    #: Wall-clock seconds of each nbgrader step, by (step, assignment, student).
    step_seconds: dict[tuple[str, str, str], float] = field(default_factory=dict)
    log: str = ""
    release_directory: str = "assignments"

    @property
    def released(self) -> Path:
        return self.course / self.release_directory

    def autograded(self, student: str, assignment: str) -> nbformat.NotebookNode:
        path = self.course / "autograded" / student / assignment / f"{assignment}.ipynb"
        return nbformat.read(path, as_version=4)

    def feedback(self, student: str, assignment: str) -> str:
        path = self.course / "feedback" / student / assignment / f"{assignment}.html"
        return path.read_text(encoding="utf-8")


#: Runs nbgrader's own converters (what its command line runs) for a list of steps, in one
#: process: nbgrader starts once instead of once per step.
NBGRADER_STEPS = """
import json, sys, time
from nbgrader.apps import NbGraderAPI
from traitlets.config.loader import PyFileConfigLoader

course, steps = sys.argv[1], json.loads(sys.argv[2])
config = PyFileConfigLoader("nbgrader_config.py", path=course).load_config()
config.CourseDirectory.root = course
api = NbGraderAPI(config=config)
for step, *args in steps:
    start = time.perf_counter()
    result = getattr(api, step)(*args)
    if not result["success"]:
        sys.exit(f"nbgrader {step} {args} failed:\\n{result.get('log')}\\n{result.get('error')}")
    print(json.dumps([step, *args, time.perf_counter() - start]), flush=True)
    print(result.get("log") or "", file=sys.stderr)
"""


def run_steps(course: Path, steps: list[list[str]]) -> tuple[dict[tuple[str, ...], float], str]:
    """Run nbgrader ``steps`` (``[api_method, *args]``) in the course folder ``course``: the
    seconds of each step and nbgrader's log."""
    done = subprocess.run(
        [sys.executable, "-c", NBGRADER_STEPS, str(course), json.dumps(steps)],
        cwd=course,
        env=nbgrader_env(ROOT),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader failed in {course}:\n{done.stderr[-5000:]}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")]
    return {tuple(row[:-1]): row[-1] for row in rows}, done.stderr


def _run(course: Path, assignments: tuple[str, ...]) -> CourseRun:
    make_course(course, assignments, root=ROOT)
    run_steps(course, [["generate_assignment", a] for a in assignments])
    for assignment in assignments:
        name = f"{assignment}.ipynb"
        submitted = course / "submitted"
        with_warnings(
            course / "solutions" / assignment / name, submitted / "solution" / assignment / name
        )
        (submitted / "release" / assignment).mkdir(parents=True)
        shutil.copy(
            course / "assignments" / assignment / name, submitted / "release" / assignment / name
        )
    return _grade(CourseRun(course, assignments))


def _grade(run: CourseRun) -> CourseRun:
    """Autograde and generate feedback for every student and assignment of ``run``."""
    from nbgrader.api import Gradebook

    steps = [
        [step, a, student]
        for a in run.assignments
        for student in STUDENTS
        for step in ("autograde", "generate_feedback")
    ]
    run.step_seconds, run.log = run_steps(run.course, steps)
    course, assignments = run.course, run.assignments
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for assignment in assignments:
            for student in STUDENTS:
                submission = gradebook.find_submission(assignment, student)
                run.scores[student, assignment] = (submission.score, submission.max_score)
                run.seconds[student, assignment] = execution_seconds(
                    run.autograded(student, assignment)
                )
    return run


def _graded_cells_run(course: Path, assignments: tuple[str, ...]) -> CourseRun:
    assert main(["course", str(course), "--assignments", *assignments]) == 0
    for assignment in assignments:
        name = f"{assignment}.ipynb"
        for student in STUDENTS:
            shutil.copytree(
                course / "release" / assignment, course / "submitted" / student / assignment
            )
        with_warnings(
            course / "source" / assignment / name,
            course / "submitted" / "solution" / assignment / name,
        )
    return _grade(CourseRun(course, assignments, release_directory="release"))


_runs: dict[str, CourseRun] = {}
_bundles: dict[str, Path] = {}


def course_run(tmp_path_factory) -> CourseRun:
    """The session's course run (executed on the first call)."""
    if "course" not in _runs:
        _runs["course"] = _run(tmp_path_factory.mktemp("course"), available())
    return _runs["course"]


def graded_cells_run(tmp_path_factory) -> CourseRun:
    """The session's run in a course laid out by ``python -m autograder course``."""
    if "graded_cells" not in _runs:
        course = tmp_path_factory.mktemp("graded-cells") / "course"
        _runs["graded_cells"] = _graded_cells_run(course, available())
    return _runs["graded_cells"]


def bundle(tmp_path_factory, assignment: str) -> Path:
    """The session's student bundle of ``assignment`` (built on the first call, as an
    instructor does: ``python -m autograder release ID --out DIR``)."""
    if assignment not in _bundles:
        folder = tmp_path_factory.mktemp(f"bundle-{assignment}") / assignment
        assert main(["release", assignment, "--out", str(folder)]) == 0
        _bundles[assignment] = folder
    return _bundles[assignment]
