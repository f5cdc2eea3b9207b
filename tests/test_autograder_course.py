"""``python -m autograder course``: the nbgrader course of a term, and its fast autograde path."""

from __future__ import annotations

import builtins
import symtable
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, OverwriteCells
from notebook_runs import available, course_run, graded_cells_run
from traitlets.config.loader import PyFileConfigLoader

from autograder.__main__ import main
from autograder.nbgrader_ext import (
    SETUP_TAG,
    SKIPPED_NOTE,
    ExecuteGradedCells,
    RestoreHiddenTests,
    StderrAsStdout,
    imports_of,
    runs_when_graded,
)
from autograder.student_edition import ASSIGNMENTS

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "a2_transfer"
#: Seconds nbgrader may take to autograde one notebook in the course (2 CPU cores).
AUTOGRADE_BUDGET = 30
STUDENT_DATA = ("submitted/", "autograded/", "feedback/", "exchange/", "gradebook.db")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("term") / "course"
    assert main(["course", str(folder), "--assignments", ASSIGNMENT]) == 0
    return folder


def test_course_holds_config_source_release_and_gitignore(course: Path) -> None:
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    assert "source_directory" not in config.CourseDirectory  # nbgrader's defaults
    steps = config.Autograde.autograde_preprocessors
    assert Execute not in steps
    assert steps[steps.index(ExecuteGradedCells) + 1] is StderrAsStdout
    assert RestoreHiddenTests in config.Autograde.sanitize_preprocessors
    assert OverwriteCells not in config.Autograde.sanitize_preprocessors
    name = f"{ASSIGNMENT}.ipynb"
    source = course / "source" / ASSIGNMENT / name
    assert source.read_bytes() == (ROOT / "solutions" / ASSIGNMENT / name).read_bytes()
    released = nbformat.read(course / "release" / ASSIGNMENT / name, as_version=4)
    expected = nbformat.read(ROOT / "assignments" / ASSIGNMENT / name, as_version=4)
    assert [c.source for c in released.cells] == [c.source for c in expected.cells]
    ignored = (course / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert set(STUDENT_DATA) <= set(ignored)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert gradebook.find_assignment(ASSIGNMENT).max_score > 0


def test_release_carries_student_course_lib_and_public_checks(course: Path) -> None:
    release = course / "release" / ASSIGNMENT
    metrics = (release / "course_lib" / "metrics.py").read_text(encoding="utf-8")
    assert "NotImplementedError" in metrics  # topk_accuracy is graded in a2
    checks = (release / "autograder" / "checks" / f"{ASSIGNMENT}.py").read_text(encoding="utf-8")
    assert "hidden=True" not in checks
    assert (release / "autograder" / "refs" / f"{ASSIGNMENT}.zip").is_file()
    assert (release / "autograder" / "pinned" / f"{ASSIGNMENT}.ipynb").is_file()
    assert not (release / "autograder" / "nbgrader_ext.py").exists()
    assert f"python -m autograder check {ASSIGNMENT}" in (release / "README.md").read_text()


def test_a_non_empty_folder_needs_force_which_keeps_student_data(course: Path) -> None:
    submission = course / "submitted" / "ada" / ASSIGNMENT / "note.txt"
    submission.parent.mkdir(parents=True)
    submission.write_text("kept", encoding="utf-8")
    (course / "source" / ASSIGNMENT / "stale.txt").write_text("old", encoding="utf-8")
    with pytest.raises(FileExistsError, match="not an empty folder.*--force"):
        main(["course", str(course), "--assignments", ASSIGNMENT])
    assert main(["course", str(course), "--assignments", ASSIGNMENT, "--force"]) == 0
    assert submission.read_text(encoding="utf-8") == "kept"
    assert not (course / "source" / ASSIGNMENT / "stale.txt").exists()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert gradebook.find_assignment(ASSIGNMENT)


def test_never_inside_the_repository() -> None:
    inside = ROOT / "docs" / "term-course"
    with pytest.raises(ValueError, match="inside the repository"):
        main(["course", str(inside), "--assignments", ASSIGNMENT])
    assert not inside.exists()


def code(source: str, **metadata) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata.update(metadata)
    return cell


@pytest.mark.parametrize(
    ("cell", "runs"),
    [
        (code("x = train()"), False),
        (code("import torch"), False),
        (code("x = train()", tags=[SETUP_TAG]), True),
        (code("def f():\n    return 1", nbgrader={"solution": True, "grade": False}), True),
        (code("check(f)", nbgrader={"solution": False, "grade": True}), True),
        (code("x = 1", nbgrader={"solution": False, "grade": False, "locked": True}), False),
        (nbformat.v4.new_markdown_cell("x = 1", metadata={"tags": [SETUP_TAG]}), False),
    ],
)
def test_which_cells_run_whole_when_graded(cell: nbformat.NotebookNode, runs: bool) -> None:
    assert runs_when_graded(cell) is runs


@pytest.mark.parametrize(
    ("source", "imports"),
    [
        (
            "%matplotlib inline\nimport torch\nfrom pathlib import Path\nx = torch.zeros(1)",
            "import torch\nfrom pathlib import Path",
        ),
        ("if True:\n    import os\nx = 1", ""),
        ("x = (", ""),
        ("", ""),
    ],
)
def test_other_cells_run_only_their_top_level_imports(source: str, imports: str) -> None:
    assert imports_of(source) == imports


def global_names(source: str) -> tuple[set[str], set[str]]:
    """Names a cell defines at top level, and names it reads from the notebook's globals."""
    table = symtable.symtable(TransformerManager().transform_cell(source), "cell", "exec")
    defined = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    used = {s.get_name() for s in table.get_symbols() if s.is_referenced()} - defined
    tables = list(table.get_children())
    while tables:
        child = tables.pop()
        used |= {s.get_name() for s in child.get_symbols() if s.is_global()}
        tables += child.get_children()
    return defined, used - defined


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_cells_run_when_graded_need_no_skipped_cell(assignment: str) -> None:
    if assignment not in available():
        pytest.fail(f"solutions/{assignment}/{assignment}.ipynb does not exist")
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    defined = set(dir(builtins)) | {"get_ipython", "display"}
    for cell in nb.cells:
        if cell.cell_type == "code":
            ran = cell.source if runs_when_graded(cell) else imports_of(cell.source)
            names, used = global_names(ran)
            missing = used - defined
            assert not missing, f"{assignment}: {cell.source[:60]!r} needs {sorted(missing)}"
            defined |= names


@pytest.mark.slow
def test_graded_cells_give_the_full_runs_scores_within_budget(tmp_path_factory) -> None:
    full = course_run(tmp_path_factory)
    fast = graded_cells_run(tmp_path_factory)
    for assignment in fast.assignments:
        for student in ("solution", "release"):
            before = full.step_seconds["autograde", assignment, student]
            after = fast.step_seconds["autograde", assignment, student]
            print(f"{assignment} {student}: autograde {before:.0f} s -> {after:.0f} s")
            assert fast.scores[student, assignment] == full.scores[student, assignment]
            assert after < AUTOGRADE_BUDGET, f"{assignment} {student} took {after:.0f} s"
        score, max_score = fast.scores["solution", assignment]
        assert score == max_score > 0 and fast.scores["release", assignment][0] == 0


@pytest.mark.slow
def test_graded_cells_run_skips_the_rest_and_logs_no_spurious_warning(tmp_path_factory) -> None:
    run = graded_cells_run(tmp_path_factory)
    assert "checksum" not in run.log and "SAWarning" not in run.log
    for assignment in run.assignments:
        cells = [c for c in run.autograded("solution", assignment).cells if c.cell_type == "code"]
        skipped = [c for c in cells if [o.get("text") for o in c.outputs] == [SKIPPED_NOTE]]
        assert all(c.execution_count for c in cells if runs_when_graded(c))
        assert skipped and len(skipped) < len(cells)
        errors = [o.ename for c in cells for o in c.outputs if o.output_type == "error"]
        assert errors == [], assignment
        assert "HIDDEN TESTS" not in run.feedback("release", assignment)
