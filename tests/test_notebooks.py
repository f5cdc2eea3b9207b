"""The five source notebooks: structure, graded cells, and a real top-to-bottom execution.

Execution comes from the session's nbgrader course run (``notebook_runs``): nbgrader executes
each notebook with a real kernel through nbclient, and the run is shared with the nbgrader tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from notebook_runs import available, course_run

from autograder.student_edition import ASSIGNMENTS, graded_units

ROOT = Path(__file__).resolve().parent.parent
#: Seconds one notebook may take, top to bottom, on a 2-core CPU (default settings).
BUDGET = 180
#: Lines of a code cell that is not a graded function (those come from course_lib as they are),
#: and of the first cell, which holds all the imports.
MAX_LINES = 25
MAX_SETUP_LINES = 45


def notebook(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)


def nbgrader(cell: nbformat.NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


@pytest.fixture(params=ASSIGNMENTS)
def assignment(request) -> str:
    if request.param not in available():
        pytest.fail(f"solutions/{request.param}/{request.param}.ipynb does not exist")
    return request.param


def test_outputs_are_stripped(assignment: str) -> None:
    for cell in code_cells(notebook(assignment)):
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
        assert "execution" not in cell.metadata


def test_first_cell_imports_seeds_and_picks_the_device(assignment: str) -> None:
    first = code_cells(notebook(assignment))[0].source
    tree = ast.parse(TransformerManager().transform_cell(first))  # %magics become calls
    imported = {
        a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
    }
    assert {"seed_everything", "get_device"} <= imported
    assert "seed_everything(" in first and "get_device(" in first


def test_one_marked_cell_switches_to_real_data(assignment: str) -> None:
    cells = [c for c in code_cells(notebook(assignment)) if "USE_REAL_DATA = False" in c.source]
    assert len(cells) == 1, "exactly one cell sets USE_REAL_DATA = False"


def test_every_graded_function_has_solution_public_and_hidden_cells(assignment: str) -> None:
    nb = notebook(assignment)
    cells = {nbgrader(c)["grade_id"]: c for c in nb.cells if nbgrader(c)}
    for unit in graded_units(ROOT / "course_lib"):
        if unit.assignment != assignment:
            continue
        solution = cells[unit.unit]
        assert nbgrader(solution)["solution"] and not nbgrader(solution)["grade"]
        public = cells[f"test_{unit.unit}"]
        assert nbgrader(public)["grade"] and nbgrader(public)["locked"]
        assert public.source == f"check({unit.unit})"
    grade_cells = [c for c in nb.cells if nbgrader(c).get("grade")]
    assert len(grade_cells) >= 4, "several graded cells, so that credit is partial"
    assert any("### BEGIN HIDDEN TESTS" in c.source for c in grade_cells)
    for cell in nb.cells:
        if nbgrader(cell):
            assert nbgrader(cell)["schema_version"] == 3
        if nbgrader(cell).get("grade"):
            assert nbgrader(cell)["points"] > 0


def test_cells_are_short_and_explained(assignment: str) -> None:
    nb = notebook(assignment)
    setup, *others = code_cells(nb)
    assert len(setup.source.splitlines()) <= MAX_SETUP_LINES
    for cell in others:
        if not nbgrader(cell).get("solution"):
            assert len(cell.source.splitlines()) <= MAX_LINES, cell.source[:80]
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(markdown) >= len(code_cells(nb)) // 3
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.slow
def test_solutions_run_top_to_bottom_within_budget(assignment: str, tmp_path_factory) -> None:
    run = course_run(tmp_path_factory)
    nb = run.autograded("solution", assignment)
    errors = [
        (c.source[:60], o.ename, o.evalue)
        for c in code_cells(nb)
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert errors == []
    assert all(c.execution_count for c in code_cells(nb)), "every cell ran"
    seconds = run.seconds["solution", assignment]
    print(f"{assignment}: nbgrader autograde of the solution took {seconds:.0f} s")
    assert seconds < BUDGET, f"{assignment} took {seconds:.0f} s (budget {BUDGET} s)"
    figures = [o for c in code_cells(nb) for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 2, f"{assignment} shows {len(figures)} figures"
