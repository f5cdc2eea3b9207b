"""The data pipeline of the course: verify -> split -> grid figure -> cache."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from course_lib.data.cache import build_cache
from course_lib.data.splits import random_split_indices
from course_lib.data.tiny_imagenet import TinyImageNet, pick_per_class
from course_lib.data.verify import verify_tiny_imagenet
from course_lib.files import write_text
from course_lib.viz.grids import save_class_grid

logger = logging.getLogger(__name__)


def run_data_pipeline(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    fractions: Sequence[float] = (0.95, 0.05),
    seed: int = 42,
    n_per_class: int = 5,
    max_grid_classes: int = 10,
    skip_corrupt: bool = False,
    split_indices: Callable[..., list[list[int]]] = random_split_indices,
    pick: Callable[[Sequence[int], int], list[int]] = pick_per_class,
    show_progress: bool | None = None,
) -> dict:
    """Check a Tiny ImageNet folder, split its train set, draw the class grid, cache both splits.

    Writes ``splits.json``, ``class_grid.png`` and ``cache/{train,val}/`` under ``out_dir``
    and returns their paths with the counts. Verification problems raise, except unreadable
    images when ``skip_corrupt`` (they are then left out). ``split_indices`` and ``pick`` are
    the graded functions, replaceable by a student's version.
    """
    out_dir = Path(out_dir)
    report = verify_tiny_imagenet(root, show_progress=show_progress)
    logger.info("%s", report.summary())
    if report.problems or (report.corrupt and not skip_corrupt):
        raise ValueError(f"{root} failed verification:\n{report.summary()}")

    train = TinyImageNet(root, "train", skip_corrupt=skip_corrupt)
    val = TinyImageNet(root, "val", skip_corrupt=skip_corrupt)
    parts = split_indices(len(train), fractions, seed=seed)
    splits_path = out_dir / "splits.json"
    split_record = {"fractions": list(fractions), "seed": seed, "parts": parts}
    write_text(splits_path, json.dumps(split_record))

    grid_path = save_class_grid(
        train, out_dir / "class_grid.png", n_per_class=n_per_class,
        max_classes=max_grid_classes, pick=pick,
    )  # fmt: skip
    caches = {
        name: build_cache(dataset, out_dir / "cache" / name, skip_corrupt=skip_corrupt,
                          show_progress=show_progress)
        for name, dataset in (("train", train), ("val", val))
    }  # fmt: skip
    return {
        "num_classes": len(train.classes),
        "train_images": len(train),
        "val_images": len(val),
        "split_sizes": [len(part) for part in parts],
        "grayscale_images": len(report.grayscale),
        "skipped_images": len(train.skipped) + len(val.skipped),
        "splits": str(splits_path),
        "grid": str(grid_path),
        "train_cache": str(caches["train"]),
        "val_cache": str(caches["val"]),
    }
