"""The data pipeline of the course: verify -> split -> grid figure -> cache."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from course_lib.cli import print_summary
from course_lib.data.cache import build_cache
from course_lib.data.splits import random_split_indices
from course_lib.data.tiny_imagenet import TinyImageNet
from course_lib.data.verify import verify_tiny_imagenet
from course_lib.files import write_text
from course_lib.viz.grids import save_class_grid

logger = logging.getLogger(__name__)

#: The held-out split of train (article 001's 95/5).
FRACTIONS = (0.95, 0.05)
#: The class grid shows this many images of each of the first GRID_CLASSES classes.
GRID_PER_CLASS, GRID_CLASSES = 5, 10


def run_data_pipeline(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    seed: int = 42,
    skip_corrupt: bool = False,
) -> dict:
    """Check a Tiny ImageNet folder, split its train set, draw the class grid, cache both splits.

    Writes ``splits.json`` (95/5, seeded), ``class_grid.png`` and ``cache/{train,val}/`` under
    ``out_dir`` and returns their paths with the counts. Verification problems raise, except
    unreadable images when ``skip_corrupt`` (they are then left out).
    """
    out_dir = Path(out_dir)
    report = verify_tiny_imagenet(root)
    logger.info("%s", report.summary())
    if report.problems or (report.corrupt and not skip_corrupt):
        raise ValueError(f"{root} failed verification:\n{report.summary()}")

    train = TinyImageNet(root, "train", skip_corrupt=skip_corrupt)
    val = TinyImageNet(root, "val", skip_corrupt=skip_corrupt)
    parts = random_split_indices(len(train), FRACTIONS, seed=seed)
    splits_path = out_dir / "splits.json"
    write_text(
        splits_path, json.dumps({"fractions": list(FRACTIONS), "seed": seed, "parts": parts})
    )
    grid_path = save_class_grid(
        train, out_dir / "class_grid.png", n_per_class=GRID_PER_CLASS, max_classes=GRID_CLASSES
    )
    caches = {
        name: build_cache(dataset, out_dir / "cache" / name, skip_corrupt=skip_corrupt)
        for name, dataset in (("train", train), ("val", val))
    }
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


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """``python -m course_lib data``."""
    text = "verify a Tiny ImageNet folder, split, draw the grid, cache"
    parser = subparsers.add_parser("data", help=text, description=text)
    parser.add_argument("root", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-corrupt", action="store_true", help="leave unreadable images out")
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    summary = run_data_pipeline(args.root, args.out, seed=args.seed, skip_corrupt=args.skip_corrupt)
    return print_summary(summary)
