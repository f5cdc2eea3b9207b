"""Checking a Tiny ImageNet folder before use: counts, missing, corrupt and grayscale files."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from PIL import Image

from course_lib.data.tiny_imagenet import (
    existing_dir,
    list_images,
    read_class_maps,
    read_val_annotations,
)
from course_lib.utils import progress

logger = logging.getLogger(__name__)


@dataclass
class VerifyReport:
    """What :func:`verify_tiny_imagenet` found; each problem names its file."""

    root: Path
    counts: dict[str, dict[str, int]]  # split -> wnid -> number of images
    grayscale: list[str]
    corrupt: list[str]  # files that cannot be decoded
    problems: list[str]  # everything else: missing, empty, unknown wnid, wrong size or mode

    @property
    def ok(self) -> bool:
        return not self.problems and not self.corrupt

    def summary(self) -> str:
        lines = [f"Tiny ImageNet at {self.root}"]
        for split, counts in self.counts.items():
            per_class = sorted(set(counts.values()))
            lines.append(
                f"  {split}: {sum(counts.values())} images in {len(counts)} classes "
                f"({per_class[0] if len(per_class) == 1 else per_class} per class)"
            )
        lines.append(f"  grayscale images: {len(self.grayscale)} (converted to RGB when loaded)")
        lines.append(f"  corrupt images: {len(self.corrupt)}")
        lines += [f"    {path}" for path in self.corrupt]
        lines.append(f"  other problems: {len(self.problems)}")
        lines += [f"    {problem}" for problem in self.problems]
        return "\n".join(lines)


def verify_tiny_imagenet(
    root: str | os.PathLike, *, decode: bool = True, show_progress: bool | None = None
) -> VerifyReport:
    """Count images per class and split; find missing, corrupt, odd-sized and grayscale files.

    Missing ``wnids.txt``/``words.txt`` raise (nothing can be checked without them); every
    other issue is collected in ``problems``. With ``decode`` every image is fully decoded.
    Images are checked folder by folder as they are listed, never collected: memory stays flat
    at any dataset size.
    """
    root = existing_dir(root)
    maps = read_class_maps(root)
    report = VerifyReport(root, {"train": {}, "val": dict.fromkeys(maps.wnids, 0)}, [], [], [])
    files = chain(
        _train_images(root, maps.wnids, report),
        _val_images(root, report),
        _test_images(root),
    )
    for path in progress(files, desc="verifying images", enabled=show_progress):
        if decode:
            _check_image(path, report)
    return report


def _train_images(root: Path, wnids: Iterable[str], report: VerifyReport) -> Iterator[Path]:
    """The train images, class by class, counted in ``report`` as they come."""
    for wnid in wnids:
        folder = root / "train" / wnid / "images"
        images = list_images(folder) if folder.is_dir() else []
        if not images:
            report.problems.append(f"{folder}: missing or empty, expected the images of {wnid}")
        report.counts["train"][wnid] = len(images)
        yield from images


def _val_images(root: Path, report: VerifyReport) -> Iterator[Path]:
    """The val images listed in ``val_annotations.txt``, counted in ``report``."""
    annotations_path = root / "val" / "val_annotations.txt"
    notes = read_val_annotations(annotations_path) if annotations_path.is_file() else []
    if not notes:
        report.problems.append(f"{annotations_path}: missing or empty, expected val labels")
    counts = report.counts["val"]
    for number, note in enumerate(notes, start=1):
        path = root / "val" / "images" / note.file_name
        if note.wnid not in counts:
            report.problems.append(f"{annotations_path}:{number}: unknown wnid {note.wnid!r}")
        elif not path.is_file():
            report.problems.append(f"{path}: missing, listed in {annotations_path.name}")
        else:
            counts[note.wnid] += 1
            yield path


def _test_images(root: Path) -> Iterator[Path]:
    folder = root / "test" / "images"
    yield from list_images(folder) if folder.is_dir() else []


def _check_image(path: Path, report: VerifyReport, size: tuple[int, int] = (64, 64)) -> None:
    try:
        with Image.open(path) as image:
            image.load()
            mode, image_size = image.mode, image.size
    except OSError as err:
        logger.debug("%s: %s", path, err)
        report.corrupt.append(str(path))
        return
    if mode == "L":
        report.grayscale.append(str(path))
    elif mode != "RGB":
        report.problems.append(f"{path}: mode {mode}, expected RGB or grayscale (L)")
    if image_size != size:
        report.problems.append(f"{path}: {image_size[0]}x{image_size[1]}, expected 64x64")
