"""Broken submissions: damaged notebooks, wrong outputs, missing or misplaced code."""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder_corpus import build_notebook, solution_sources, write
from autograder_corpus.entry import (
    ALL,
    ASSIGNMENT,
    Entry,
    edited,
    rewritten,
    topk_returning,
)


def _cell(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


def _edit_locked(notebook: nbformat.NotebookNode) -> None:
    _cell(notebook, "imports").source += (
        "\nimport torch\ntorch.allclose = lambda *a, **k: True\n"
        "from course_lib.metrics import topk_accuracy as reference_topk\n"
    )


def _duplicate(notebook: nbformat.NotebookNode) -> None:
    cell = _cell(notebook, "topk_accuracy")
    wrong = nbformat.from_dict(dict(cell))
    wrong["id"] = "duplicate"
    wrong.source = topk_returning("[0.0 for _ in topk]")
    notebook.cells.insert(notebook.cells.index(cell), wrong)


def _remove(notebook: nbformat.NotebookNode) -> None:
    notebook.cells.remove(_cell(notebook, "topk_accuracy"))


def _strip_metadata(notebook: nbformat.NotebookNode) -> None:
    cell = _cell(notebook, "topk_accuracy")
    cell.metadata = {}


def _release(path: Path) -> None:
    write(build_notebook(ASSIGNMENT, {}), path)


def broken_entries() -> list[Entry]:
    return [
        Entry("solution"),
        Entry("release", fails=ALL, message="NotImplementedError", writer=_release),
        Entry(
            "edited_locked_cell",
            message="read-only cell 'imports' was edited",
            writer=edited(_edit_locked),
        ),
        Entry("duplicated_grade_id", message="appears in cells", writer=edited(_duplicate)),
        Entry(
            "missing_function",
            fails=("topk_accuracy",),
            message="missing from the notebook",
            writer=edited(_remove),
        ),
        Entry(
            "metadata_stripped",
            message="not its solution cell",
            writer=edited(_strip_metadata),
        ),
        Entry(
            "syntax_error",
            fails=("topk_accuracy",),
            message="syntax error at line 2",
            cells={
                "topk_accuracy": "def topk_accuracy(output, target, topk=(1,)):\n"
                "    return [k for k in topk\n"
            },
        ),
        Entry(
            "wrong_type",
            fails=("topk_accuracy",),
            message="got torch.Tensor",
            cells={
                "topk_accuracy": topk_returning("torch.tensor([0.5 for _ in topk])", "import torch")
            },
        ),
        Entry(
            "scalar_tensors",
            fails=("topk_accuracy",),
            message=".item()",
            cells={
                "topk_accuracy": topk_returning("[torch.tensor(0.5) for _ in topk]", "import torch")
            },
        ),
        Entry(
            "wrong_shape",
            fails=("build_vgg16_head",),
            message="expected shape",
            cells={
                "build_vgg16_head": solution_sources(ASSIGNMENT)["build_vgg16_head"].replace(
                    "nn.Linear(hidden, num_classes)", "nn.Linear(hidden, num_classes + 1)"
                )
            },
        ),
        Entry(
            "nan_outputs",
            fails=("topk_accuracy",),
            message="NaN",
            cells={"topk_accuracy": topk_returning("[float('nan') for _ in topk]")},
        ),
        Entry(
            "import_reference",
            fails=("topk_accuracy",),
            message="NotImplementedError",
            cells={
                "topk_accuracy": topk_returning(
                    "reference(output, target, topk)",
                    "from course_lib.metrics import topk_accuracy as reference",
                )
            },
        ),
        Entry(
            "malformed_json",
            fails=ALL,
            message="JSON error",
            writer=rewritten(lambda data: b'{"cells": [{"cell_type": "code",, }'),
        ),
        Entry(
            "truncated_notebook",
            fails=ALL,
            message="may be truncated",
            writer=rewritten(lambda data: data[: len(data) // 2]),
        ),
        Entry(
            "not_utf8",
            fails=ALL,
            message="not UTF-8",
            writer=rewritten(lambda data: data.replace(b"# a2_transfer", b"# caf\xe9")),
        ),
        Entry(
            "not_a_notebook",
            fails=ALL,
            message="not a notebook",
            writer=rewritten(lambda data: b"[1, 2, 3]"),
        ),
        Entry(
            "magics_and_top_level_code",
            message="not run by the grader",
            cells={
                "topk_accuracy": "%matplotlib inline\n!ls /\n"
                + solution_sources(ASSIGNMENT)["topk_accuracy"]
                + "\nimport torch\nprint(topk_accuracy(torch.randn(4, 3), "
                "torch.tensor([0, 1, 2, 0]), (1, 2)))\nwhile True:\n    pass\n"
            },
        ),
    ]
