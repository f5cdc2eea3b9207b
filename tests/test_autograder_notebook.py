"""Reading submitted notebooks and taking out the code to grade."""

from __future__ import annotations

import json

import nbformat
import pytest
from autograder_corpus import build_notebook, release_notebook, solution_notebook, write

from autograder.extract import extract
from autograder.notebook import SubmissionError, compute_checksum, read_notebook

ASSIGNMENT = "a2_transfer"


def test_checksums_are_nbgraders(tmp_path):
    from nbgrader.utils import compute_checksum as nbgrader_checksum

    notebook = solution_notebook(ASSIGNMENT)
    graded = [c for c in notebook.cells if c.metadata.get("nbgrader")]
    assert len(graded) > 4
    for cell in graded:
        assert compute_checksum(cell) == nbgrader_checksum(cell)
    cell = graded[0]
    cell.source += "\n# edited"
    assert compute_checksum(cell) == nbgrader_checksum(cell)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe{}", "is not UTF-8 text (byte 0xff at offset 0)"),
        (b'{"cells": [', "JSON error at line 1 column 12"),
        (b"[1, 2]", "not a notebook: no list of cells"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_unreadable_files_say_why(tmp_path, content, message):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(SubmissionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_notebook(path)


def test_schema_problems_are_notes_not_failures(tmp_path):
    notebook = solution_notebook(ASSIGNMENT)
    notebook.cells[0]["unexpected"] = 1
    path = tmp_path / "odd.ipynb"
    path.write_text(json.dumps(notebook))
    _, note = read_notebook(path)
    assert note is not None and "nbformat schema" in note


def test_only_definitions_are_taken(tmp_path):
    source = (
        "%matplotlib inline\nimport math\nSCALE = 2.0\nmodel = train_for_hours()\n"
        "plt.plot([1, 2])\n\ndef topk_accuracy(output, target, topk=(1,)):\n"
        "    return [SCALE * math.pi for _ in topk]\n"
    )
    path = write(build_notebook(ASSIGNMENT, {"topk_accuracy": source}), tmp_path / "s.ipynb")
    result = extract(path, ["topk_accuracy"])
    cell = next(c for c in result.cells if c["name"] == "topk_accuracy")
    assert "train_for_hours" not in cell["source"] and "plt.plot" not in cell["source"]
    assert "SCALE = 2.0" in cell["source"] and "def topk_accuracy" in cell["source"]
    lines = cell["source"].splitlines()
    assert lines[6].startswith("def topk_accuracy")  # line numbers kept for tracebacks
    assert any("line(s) 1, 4, 5 is not run" in note for note in result.notes)
    assert {"topk_accuracy", "SCALE", "math"} <= result.defined


def test_imports_come_from_the_source_notebook(tmp_path):
    submission = solution_notebook(ASSIGNMENT)
    imports = next(
        c for c in submission.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "imports"
    )
    imports.source += "\nimport antigravity\nprint('side effect')"
    path = write(submission, tmp_path / "s.ipynb")
    source = write(release_notebook(ASSIGNMENT), tmp_path / "release.ipynb")
    result = extract(path, ["topk_accuracy"], source=source)
    setup = result.cells[0]
    assert setup["name"] == "imports" and "antigravity" not in setup["source"]
    assert "import torch" in setup["source"] and "print" not in setup["source"]
    assert "read-only cell 'imports' was edited; the original is used" in result.notes
    without_source = extract(path, ["topk_accuracy"])
    assert "read-only cell 'imports' was edited; it is ignored" in without_source.notes
    assert all("antigravity" not in c["source"] for c in without_source.cells)


def test_syntax_errors_cost_only_their_cell(tmp_path):
    path = write(
        build_notebook(ASSIGNMENT, {"topk_accuracy": "def topk_accuracy(:\n"}), tmp_path / "s.ipynb"
    )
    result = extract(path, ["topk_accuracy", "set_trainable"])
    assert "set_trainable" in result.defined and "topk_accuracy" not in result.defined
    assert any("cell 'topk_accuracy': syntax error at line 1" in n for n in result.notes)


def test_duplicated_and_missing_cells_are_reported(tmp_path):
    notebook = solution_notebook(ASSIGNMENT)
    cells = notebook.cells
    index = next(
        i
        for i, c in enumerate(cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == "set_trainable"
    )
    copy = nbformat.from_dict(dict(cells[index]))
    copy["id"] = "copy"
    cells.insert(index, copy)
    del cells[
        next(
            i
            for i, c in enumerate(cells)
            if c.metadata.get("nbgrader", {}).get("grade_id") == "topk_accuracy"
        )
    ]
    path = write(notebook, tmp_path / "s.ipynb")
    source = write(release_notebook(ASSIGNMENT), tmp_path / "release.ipynb")
    result = extract(path, ["topk_accuracy", "set_trainable"], source=source)
    assert any(n.startswith("grade id 'set_trainable' appears in cells") for n in result.notes)
    assert "cell 'topk_accuracy' of the assignment is missing from the notebook" in result.notes
    assert [c["name"] for c in result.cells].count("set_trainable") == 2


def test_function_outside_its_solution_cell_is_found(tmp_path):
    notebook = release_notebook(ASSIGNMENT)
    notebook.cells = [
        c
        for c in notebook.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") != "topk_accuracy"
    ]
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "def topk_accuracy(output, target, topk=(1,)):\n    return [1.0]\nrun_it_now()"
        )
    )
    path = write(notebook, tmp_path / "s.ipynb")
    result = extract(path, ["topk_accuracy"])
    found = result.cells[-1]
    assert found["name"].startswith("cell ") and "run_it_now" not in found["source"]
    assert any("not its solution cell" in note for note in result.notes)
