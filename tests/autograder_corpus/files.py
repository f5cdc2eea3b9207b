"""Submissions that are not regular notebook files: links, FIFOs, devices, huge files.

A folder submission is written at the entry's path without ``.ipynb``; what its links point to
lies in ``elsewhere/``, outside the submissions folder.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from autograder_corpus import release_notebook, solution_notebook, write
from autograder_corpus.entry import ALL, ASSIGNMENT, Entry

NOT_REGULAR = "is not a regular file"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


def _elsewhere(path: Path) -> Path:
    """A folder beside the submissions folder, for ``path``'s entry."""
    submissions = next(p for p in path.parents if p.name == "submissions")
    name = path.relative_to(submissions).parts[0].removesuffix(".ipynb")
    return submissions.parent / "elsewhere" / name


def _in_folder(make: Callable[[Path], None]) -> Callable[[Path], None]:
    """A folder submission whose notebook is made by ``make``."""

    def writer(path: Path) -> None:
        folder = path.with_suffix("")
        folder.mkdir(parents=True)
        make(folder / NOTEBOOK)

    return writer


def _link_to_full_marks(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(write(solution_notebook(ASSIGNMENT), _elsewhere(path) / NOTEBOOK))


def _fifo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)


def _device(path: Path) -> None:
    """A character device with /dev/null's numbers (root only); elsewhere a link to it."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 3))
    except PermissionError:
        path.symlink_to(os.devnull)


def _sparse_60_mb(path: Path) -> None:
    write(solution_notebook(ASSIGNMENT), path)
    with open(path, "r+b") as handle:
        handle.truncate(60 * 2**20)


def _with_linked_folder(path: Path) -> None:
    """A full-marks folder with a link to a folder holding a zero-marks notebook."""
    folder = path.with_suffix("")
    write(solution_notebook(ASSIGNMENT), folder / NOTEBOOK)
    other = _elsewhere(path)
    write(release_notebook(ASSIGNMENT), other / NOTEBOOK)
    (folder / "more").symlink_to(other, target_is_directory=True)


def file_entries() -> list[Entry]:
    return [
        Entry(
            "symlink_in_folder",
            fails=ALL,
            message=NOT_REGULAR,
            writer=_in_folder(_link_to_full_marks),
        ),
        Entry("symlink_submission", fails=ALL, message=NOT_REGULAR, writer=_link_to_full_marks),
        Entry("fifo_in_folder", fails=ALL, message=NOT_REGULAR, writer=_in_folder(_fifo)),
        Entry("fifo_submission", fails=ALL, message=NOT_REGULAR, writer=_fifo),
        Entry("device_in_folder", fails=ALL, message=NOT_REGULAR, writer=_in_folder(_device)),
        Entry("sparse_60_mb", fails=ALL, message="60 MB", writer=_sparse_60_mb),
        Entry("folder_with_linked_folder", writer=_with_linked_folder),
    ]
