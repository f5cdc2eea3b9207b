"""Corpus entries: what a submission is made of and the result it must get.

Each entry starts from the solution notebook (built from course_lib at test time) and replaces
solution cells or rewrites the file. Most hostile code sits in ``topk_accuracy``; cells made by
``topk_with`` misbehave only on the first public topk case and are correct otherwise, which
checks that one killed case never costs (or gives) the others anything. ``fails`` names the
cases that must fail: a graded function (all its cases) or one case name; all others pass.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder_corpus import solution_notebook, solution_sources, write

ASSIGNMENT = "a2_transfer"
FIRST_TOPK = "topk_accuracy: top-1 and top-5 on random logits"
ALL = ("build_vgg16_head", "set_trainable", "train_one_epoch", "topk_accuracy")


@dataclass(frozen=True)
class Entry:
    name: str
    fails: tuple[str, ...] = ()  # function names or case names
    # must appear in the feedback of a failed case or in the notes (a tuple: one of them)
    message: str | tuple[str, ...] = ""
    cells: dict[str, str] = field(default_factory=dict)  # grade id -> new source
    writer: Callable[[Path], None] | None = None  # writes the submission at that path itself
    isolation: bool = False  # meaningful (and safe) only with namespaces
    seconds: float | None = None  # most wall time its grading may take (results' execution_time)


def topk_with(hostile: str, *, always: bool = False) -> str:
    """A topk_accuracy cell that runs ``hostile`` (on the first public case, or always)."""
    reference = solution_sources(ASSIGNMENT)["topk_accuracy"]
    correct = re.sub(r"\bdef topk_accuracy\(", "def _correct_topk(", reference)
    condition = "True" if always else "tuple(output.shape) == (64, 10)"
    body = textwrap.indent(textwrap.dedent(hostile).strip(), " " * 8)
    return (
        f"{correct}\n\ndef topk_accuracy(output, target, topk=(1,)):\n"
        f"    if {condition}:\n{body}\n    return _correct_topk(output, target, topk)\n"
    )


def topk_returning(expression: str, prelude: str = "") -> str:
    """A wrong topk_accuracy that returns ``expression`` (after ``prelude``)."""
    prelude = textwrap.indent(textwrap.dedent(prelude).strip(), " " * 4)
    return f"def topk_accuracy(output, target, topk=(1,)):\n{prelude}\n    return {expression}\n"


def topk_then(definitions: str) -> str:
    """The correct topk_accuracy cell followed by ``definitions`` (run when the cell loads)."""
    reference = solution_sources(ASSIGNMENT)["topk_accuracy"]
    return f"{reference}\n\n{textwrap.dedent(definitions).strip()}\n"


def rewritten(transform: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """A writer of the solution notebook's bytes passed through ``transform``."""

    def writer(path: Path) -> None:
        write(solution_notebook(ASSIGNMENT), path)
        path.write_bytes(transform(path.read_bytes()))

    return writer


def edited(edit: Callable[[nbformat.NotebookNode], None]) -> Callable[[Path], None]:
    """A writer of the solution notebook changed in place by ``edit``."""

    def writer(path: Path) -> None:
        notebook = solution_notebook(ASSIGNMENT)
        edit(notebook)
        write(notebook, path)

    return writer
