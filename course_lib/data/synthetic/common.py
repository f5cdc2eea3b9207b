"""Helpers shared by the synthetic datasets: drawing primitives, JPEG output, atomic build."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

MARKER = ".synthetic.json"  # written last: a folder holding it is complete


def segment_distance(x: np.ndarray, y: np.ndarray, x0, y0, x1, y1) -> np.ndarray:
    """Distance of every point (x, y) to the segment from (x0, y0) to (x1, y1)."""
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy + 1e-9), 0, 1)
    return np.hypot(x - x0 - t * dx, y - y0 - t * dy)


def save_jpeg(image: np.ndarray, path: Path, *, gray: bool = False) -> None:
    """Save a uint8 (H, W, 3) array as a JPEG (quality 75 like the real data), or as mode L."""
    pil = Image.fromarray(image)
    (pil.convert("L") if gray else pil).save(path, format="JPEG", quality=75)


def gray_indices(rng: np.random.Generator, count: int) -> set[int]:
    """About 1% of ``count`` images, at least one: the real data has a few one-channel JPEGs."""
    if count == 0:
        return set()
    return set(rng.choice(count, size=max(1, round(0.01 * count)), replace=False).tolist())


def build_dataset(root: Path, params: dict, write: Callable[[Path], None]) -> Path:
    """Let ``write`` fill a hidden sibling folder, then rename it to ``root`` in one step.

    An interrupted run leaves only the hidden folder, which the next run replaces. A complete
    dataset made with the same ``params`` is kept as it is; anything else in ``root`` is an error.
    """
    root = Path(root)
    if (root / MARKER).is_file() and json.loads((root / MARKER).read_text()) == params:
        logger.info("%s already holds this synthetic dataset; nothing to do", root)
        return root
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(
            f"{root} exists and does not hold the synthetic dataset {params}; "
            "choose a new folder or remove it first"
        )
    partial = root.parent / f".{root.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # our own leftover from an interrupted run
    partial.mkdir(parents=True)
    write(partial)
    (partial / MARKER).write_text(json.dumps(params, sort_keys=True))
    if root.exists():
        root.rmdir()  # empty, checked above
    os.replace(partial, root)
    logger.info("wrote synthetic %s to %s", params.get("dataset"), root)
    return root
