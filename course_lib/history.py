"""The run folder: per-epoch history and prediction CSVs, written atomically.

A run folder holds ``config.yaml``, ``history.csv`` (one row per epoch: loss, top-1, top-k,
learning rate, seconds), ``predictions.csv`` (``epoch, pred, actual`` for every validation
image of every epoch), ``checkpoints/`` and the figures. Every file is written under a temporary
name and renamed, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from torch import Tensor

from course_lib.files import write_text

#: Files and folders a run writes; ``prepare_run_dir(..., overwrite=True)`` removes only these.
RUN_FILES = (
    "config.yaml",
    "history.csv",
    "predictions.csv",
    "curves.png",
    "confusion.png",
    "confusion.csv",
    "pca.png",
    "tsne.png",
    "summary.json",
)
CHECKPOINT_DIR = "checkpoints"


def prepare_run_dir(
    path: str | os.PathLike, *, overwrite: bool = False, resume: bool = False
) -> Path:
    """Create the run folder. An existing non-empty folder is an error unless ``resume``
    (keep everything) or ``overwrite`` (delete the files a run writes, nothing else)."""
    path = Path(path)
    if path.is_dir() and any(path.iterdir()) and not resume:
        if not overwrite:
            raise FileExistsError(
                f"run folder {path} already exists and is not empty; choose another folder, "
                "pass overwrite=True (--overwrite) to replace its run files, or resume the run"
            )
        for name in RUN_FILES:
            (path / name).unlink(missing_ok=True)
        for checkpoint in (path / CHECKPOINT_DIR).glob("*.pt"):
            checkpoint.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_csv(rows: Sequence[dict[str, object]], path: str | os.PathLike) -> Path:
    """Rows of dicts to CSV (columns: the keys of all rows, in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buffer.getvalue())


def read_csv(path: str | os.PathLike) -> list[dict[str, object]]:
    """Rows of a CSV written by :func:`write_csv`, numbers converted back (int, then float)."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(f)]


def prediction_rows(epoch: int, preds: Tensor, targets: Tensor) -> list[dict[str, int]]:
    """``{"epoch", "pred", "actual"}`` rows for one epoch's validation predictions."""
    return [
        {"epoch": epoch, "pred": int(p), "actual": int(a)}
        for p, a in zip(preds.tolist(), targets.tolist(), strict=True)
    ]


def column(rows: Iterable[dict[str, object]], key: str) -> list[object]:
    """The values of one column (rows without it are skipped)."""
    return [row[key] for row in rows if key in row]


def _number(value: str) -> object:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value
