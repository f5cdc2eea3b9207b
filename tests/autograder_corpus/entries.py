"""The corpus of broken and hostile a2_transfer submissions (see :mod:`entry`)."""

from __future__ import annotations

from pathlib import Path

from autograder_corpus.broken import broken_entries
from autograder_corpus.entry import ASSIGNMENT, Entry
from autograder_corpus.hostile import hostile_entries

__all__ = ["ASSIGNMENT", "Entry", "entries"]


def entries(canary: Path) -> list[Entry]:
    """Every entry; ``canary`` is a file of the grading machine no submission may touch."""
    return [*broken_entries(), *hostile_entries(canary)]
