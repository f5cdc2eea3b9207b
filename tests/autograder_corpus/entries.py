"""The corpus of broken and hostile a2_transfer submissions (see :mod:`entry`)."""

from __future__ import annotations

from pathlib import Path

from autograder_corpus.broken import broken_entries
from autograder_corpus.entry import ASSIGNMENT, Entry
from autograder_corpus.files import file_entries
from autograder_corpus.garbage import garbage_entries
from autograder_corpus.hostile import hostile_entries
from autograder_corpus.leaks import leak_entries
from autograder_corpus.process import process_entries
from autograder_corpus.scratch import scratch_entries

__all__ = ["ASSIGNMENT", "INNOCENT", "Entry", "entries"]

#: Names of full-marks submissions that sort after every other entry, so a batch grades them
#: after all the attackers.
INNOCENT = tuple(f"zz_innocent_{index}" for index in range(1, 6))


def entries(canary: Path) -> list[Entry]:
    """Every entry; ``canary`` is a file of the grading machine no submission may touch."""
    return [
        *broken_entries(),
        *hostile_entries(canary),
        *file_entries(),
        *scratch_entries(),
        *leak_entries(),
        *garbage_entries(),
        *process_entries(canary),
        *(Entry(name) for name in INNOCENT),
    ]
