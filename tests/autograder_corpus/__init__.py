"""Test notebooks for the autograder, built from course_lib at test time (no reference copies).

``solution_notebook`` has the reference code of every graded function of an assignment in its
solution cell (grade id = function name), ``release_notebook`` the stubs nbgrader leaves, and
``submission`` a solution notebook with some cells replaced. Cells carry nbgrader metadata
(schema 3) with checksums as ``nbgrader generate_assignment`` writes them.
"""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path

import nbformat

from autograder.notebook import compute_checksum
from autograder.student_edition import graded_units

REPO = Path(__file__).resolve().parents[2]
BASE_IMPORTS = ["import numpy as np", "import torch", "from torch import nn"]
REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?", re.M | re.S)
STUB = "{0}# YOUR CODE HERE\n{0}raise NotImplementedError()\n"


@functools.cache
def units(assignment: str) -> tuple:
    """The graded functions of ``assignment`` in course_lib (one per solution cell)."""
    return tuple(u for u in graded_units(REPO / "course_lib") if u.assignment == assignment)


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


@functools.cache
def import_cell(assignment: str) -> str:
    """Imports that make the reference sources of ``assignment`` run in a notebook."""
    lines = list(BASE_IMPORTS)
    for unit in units(assignment):
        module = importlib.import_module(_module_name(unit.path))
        for name in sorted(set(re.findall(r"\b[A-Za-z_]\w*\b", unit.unit_source))):
            if name == unit.unit or name not in vars(module) or name.startswith("__"):
                continue
            value = vars(module)[name]
            if isinstance(value, type(re)):
                alias = "" if value.__name__ == name else f" as {name}"
                lines.append(f"import {value.__name__}{alias}")
            else:
                lines.append(f"from {module.__name__} import {name}")
    return "\n".join(dict.fromkeys(lines))


def stub(source: str) -> str:
    """A solution cell as nbgrader releases it."""
    return REGION.sub(lambda m: STUB.format(m.group(1)), source)


def _meta(grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _seal(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
    cell.metadata.nbgrader["cell_type"] = cell.cell_type
    return cell


def build_notebook(assignment: str, sources: dict[str, str]) -> nbformat.NotebookNode:
    """A notebook of ``assignment`` whose solution cells hold ``sources`` (by grade id)."""
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell(f"# {assignment}"),
        _seal(v4.new_code_cell(import_cell(assignment), metadata=_meta("imports", locked=True))),
    ]
    for unit in units(assignment):
        cells.append(v4.new_markdown_cell(f"## {unit.unit}"))
        release = v4.new_code_cell(stub(unit.unit_source), metadata=_meta(unit.unit, solution=True))
        _seal(release)  # checksums are those of the release, as nbgrader computes them
        release.source = sources.get(unit.unit, release.source)
        cells.append(release)
        test = v4.new_code_cell(
            f"assert callable({unit.unit})",
            metadata=_meta(f"test_{unit.unit}", grade=True, locked=True, points=1),
        )
        cells.append(_seal(test))
        cells.append(v4.new_code_cell(f"# try it\nprint({unit.unit})"))
    notebook = v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook


def solution_sources(assignment: str) -> dict[str, str]:
    return {unit.unit: unit.unit_source for unit in units(assignment)}


def solution_notebook(assignment: str) -> nbformat.NotebookNode:
    return build_notebook(assignment, solution_sources(assignment))


def release_notebook(assignment: str) -> nbformat.NotebookNode:
    return build_notebook(assignment, {})


def write(notebook: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path
