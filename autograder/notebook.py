"""Reading notebooks safely and nbgrader's cell metadata (kinds of cells, checksums)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.safefs import FileTooLargeError, RefusedFileError, megabytes, read_regular

if TYPE_CHECKING:  # imported where a notebook is read: in-kernel checks never read one
    import nbformat

MAX_NOTEBOOK_BYTES = 50 * 2**20


class SubmissionError(ValueError):
    """A notebook that cannot be graded at all; the message is meant for the student."""


@dataclass(frozen=True)
class NotebookFile:
    """The bytes of a notebook file, read once: what is hashed is what is parsed."""

    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def read_notebook_file(path: Path | str) -> NotebookFile:
    """The bytes of ``path``, a regular file (never a link, FIFO or device) of at most 50 MB.

    SubmissionError says why a file is refused or cannot be read.
    """
    name = Path(path).name
    try:
        return NotebookFile(name, read_regular(path, max_bytes=MAX_NOTEBOOK_BYTES))
    except FileTooLargeError as error:
        raise SubmissionError(
            f"{name} is {megabytes(error.size)}; notebooks above {megabytes(error.limit)} "
            "are not graded (clear outputs)"
        ) from None
    except RefusedFileError as error:
        raise SubmissionError(str(error)) from None
    except OSError as error:
        raise SubmissionError(f"{name} cannot be read ({error.strerror})") from None


def read_notebook(
    notebook: Path | str | NotebookFile,
) -> tuple[nbformat.NotebookNode, str | None]:
    """A notebook and a note when it does not match the nbformat schema (grading goes on).

    ``notebook``: a path, or a file already read. SubmissionError says what is wrong with a
    file that cannot be read as a notebook at all.
    """
    file = notebook if isinstance(notebook, NotebookFile) else read_notebook_file(notebook)
    name, data = file.name, file.data
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SubmissionError(
            f"{name} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}): "
            "save the notebook again from Jupyter"
        ) from None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        raise SubmissionError(
            f"{name} is not a valid notebook: JSON error at line {error.lineno} column "
            f"{error.colno} ({error.msg}); the file may be truncated"
        ) from None
    except RecursionError:
        raise SubmissionError(f"{name} is not a valid notebook: JSON nested too deeply") from None
    if not isinstance(content, dict) or not isinstance(content.get("cells"), list):
        raise SubmissionError(f"{name} is not a notebook: no list of cells")
    import nbformat

    captured: dict = {}
    try:
        notebook = nbformat.reads(text, as_version=4, capture_validation_error=captured)
    except Exception as error:  # nbformat raises many types on malformed files
        raise SubmissionError(f"{name} is not a valid notebook ({type(error).__name__})") from None
    error = captured.get("ValidationError")
    note = None
    if error is not None:
        note = f"the notebook does not match the nbformat schema ({error.message[:200]})"
    return notebook, note


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def is_solution(cell: nbformat.NotebookNode) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_locked(cell: nbformat.NotebookNode) -> bool:
    """nbgrader's rule: grade cells and locked cells, unless they are solution cells."""
    meta = nbgrader_meta(cell)
    if meta.get("solution", False):
        return False
    return True if meta.get("grade", False) else meta.get("locked", False)


def compute_checksum(cell: nbformat.NotebookNode) -> str:
    """nbgrader's checksum of a cell (``nbgrader.utils.compute_checksum``, without its imports)."""
    meta = nbgrader_meta(cell)
    digest = hashlib.md5()
    for part in (
        cell.source,
        cell.cell_type,
        str(meta.get("grade", False)),
        str(meta.get("solution", False)),
        str(is_locked(cell)),
        meta["grade_id"],
    ):
        digest.update(part.encode("utf-8"))
    if meta.get("grade", False):
        digest.update(str(float(meta["points"])).encode("utf-8"))
    return digest.hexdigest()


def grade_id(cell: nbformat.NotebookNode, index: int) -> str:
    value = nbgrader_meta(cell).get("grade_id")
    return value if isinstance(value, str) and value else f"cell {index + 1}"
