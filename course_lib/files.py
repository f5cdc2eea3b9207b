"""Writing outputs safely: every file through a temporary name, every output folder checked.

A file is written under a hidden temporary name in its own folder and renamed into place, so an
interrupted run never leaves a half-written file that a re-run would trust. An output folder that
already holds files is only written into when the caller asks to overwrite.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    The temporary name is hidden, unique, contains ``.tmp`` and keeps the real suffix (writers
    such as ``savefig`` read the format from it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_folder(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a path next to ``dest`` to build a folder at (not created yet); if the block
    succeeds the folder replaces ``dest`` (a previous ``dest`` is removed), else it is dropped.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        tree = staging / "new"
        yield tree
        if dest.exists():
            os.replace(dest, staging / "old")
        os.replace(tree, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it to ``path``."""
    with atomic_output(path) as tmp:
        write(tmp)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_figure(figure: Any, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Save a matplotlib Figure atomically (format from the suffix)."""
    return atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=dpi))


def prepare_out_dir(out_dir: str | os.PathLike, *, overwrite: bool) -> Path:
    """Create ``out_dir``; an existing non-empty folder needs ``overwrite``."""
    out_dir = Path(out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(
            f"output folder {out_dir} already has files; choose a new folder or pass "
            "overwrite=True (--overwrite) to write over them"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir
