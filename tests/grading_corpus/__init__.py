"""Student implementations written from the notebook text alone, and the result each must get.

One module per assignment, ``grading_corpus.<assignment>``, defines ``ALTERNATIVES`` (correct
code in another idiom than course_lib's: full marks) and ``MISTAKES`` (typical wrong code: the
named case fails and its feedback names the cause). Each source is a whole solution cell,
imports included, written from the student bundle (notebook, docstrings) without reading the
reference solution.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from autograder.student_edition import ASSIGNMENTS

__all__ = ["ASSIGNMENTS", "Alternative", "Mistake", "corpus"]


@dataclass(frozen=True)
class Alternative:
    """A correct implementation of ``function`` (its solution cell's grade id)."""

    function: str
    name: str
    source: str


@dataclass(frozen=True)
class Mistake:
    """A wrong implementation: case ``case`` of ``function`` fails, its feedback holds ``hint``."""

    function: str
    name: str
    source: str
    case: str  # a case title (the part after "<function>: ")
    hint: str = ""  # text the feedback of that case must contain


def corpus(assignment: str) -> tuple[list[Alternative], list[Mistake]]:
    """The alternatives and mistakes written for ``assignment``."""
    module = importlib.import_module(f"grading_corpus.{assignment}")
    return list(module.ALTERNATIVES), list(module.MISTAKES)
