"""The fast path: decode a split once into a memory-mapped uint8 array, then batch from it.

A cache is a folder with three files, written in this order:

* ``images.npy``: uint8 array (N, 3, H, W), opened memory-mapped, so only the pages a batch
  touches are read;
* ``labels.npy``: int64 array (N,);
* ``meta.json``: class names, source and count, written last. A cache without it is
  incomplete (an interrupted build) and is rebuilt, never read.

:class:`CachedLoader` then yields normalised batches, applying the training augmentation to
whole batches at once (``course_lib.data.transforms.augment_batch``) on the CPU or a GPU.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from course_lib.data.tiny_imagenet import load_rgb
from course_lib.data.transforms import AugmentConfig, augment_batch, normalize_batch
from course_lib.files import atomic_output
from course_lib.utils import progress

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
_FILES = ("images.npy", "labels.npy", "meta.json")


@dataclass(frozen=True)
class ImageCache:
    """A decoded split: images (N, 3, H, W) uint8, labels (N,) int64, class names."""

    path: Path
    images: Tensor
    labels: Tensor
    classes: list[str]
    meta: dict

    def __len__(self) -> int:
        return len(self.labels)


def build_cache(
    dataset,
    out_dir: str | os.PathLike,
    *,
    skip_corrupt: bool = False,
    overwrite: bool = False,
    show_progress: bool | None = None,
) -> Path:
    """Decode every image of ``dataset`` (with ``.samples`` and ``.classes``) into ``out_dir``.

    A complete cache of the same source and size is reused unless ``overwrite``. Unreadable
    images raise, naming the file, or with ``skip_corrupt`` are left out and listed in a warning.
    """
    out_dir = Path(out_dir)
    samples = list(dataset.samples)
    if not samples:
        raise ValueError(f"{type(dataset).__name__} has no samples: nothing to cache")
    source = {
        "root": str(Path(getattr(dataset, "root", Path(samples[0][0]).parent)).resolve()),
        "split": getattr(dataset, "split", None),
        "samples": len(samples),
        "classes": list(dataset.classes),
    }
    if not overwrite and _is_reusable(out_dir, source):
        logger.info("reusing the complete cache in %s", out_dir)
        return out_dir
    (out_dir / "meta.json").unlink(missing_ok=True)  # from now on the old cache is not trusted
    images, labels, skipped = _decode_all(samples, out_dir, skip_corrupt, show_progress)
    with atomic_output(out_dir / "labels.npy") as tmp, open(tmp, "wb") as file:
        np.save(file, np.asarray(labels, dtype=np.int64))
    meta = {
        "format": CACHE_FORMAT,
        "count": len(labels),
        "shape": list(images),
        "classes": list(dataset.classes),
        "class_names": list(getattr(dataset, "class_names", dataset.classes)),
        "source": source,
        "skipped": skipped,
    }
    with atomic_output(out_dir / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    logger.info("cached %d images (%d skipped) in %s", len(labels), len(skipped), out_dir)
    return out_dir


def _decode_all(
    samples: Sequence[tuple[str, int]], out_dir: Path, skip_corrupt: bool, show: bool | None
) -> tuple[tuple[int, ...], list[int], list[str]]:
    """Write images.npy row by row; return its shape, the labels kept and the files skipped.

    Rows are appended to the file with ``write`` (not through a writable memory map, whose
    dirty pages would count in the process's memory until the end): memory stays flat at any
    dataset size.
    """
    first = np.asarray(load_rgb(samples[0][0]))  # (H, W, 3) uint8
    height, width = first.shape[:2]
    labels: list[int] = []
    skipped: list[str] = []
    with atomic_output(out_dir / "images.npy") as tmp:
        with open(tmp, "wb") as file:
            header = {
                "descr": "|u1",
                "fortran_order": False,
                "shape": (len(samples), 3, height, width),
            }
            np.lib.format.write_array_header_1_0(file, header)
            for path, label in progress(samples, desc="decoding", enabled=show):
                try:
                    pixels = np.asarray(load_rgb(path))
                except ValueError:
                    if not skip_corrupt:
                        raise
                    skipped.append(str(path))
                    continue
                if pixels.shape != first.shape:
                    raise ValueError(
                        f"{path}: image is {pixels.shape[1]}x{pixels.shape[0]}, expected "
                        f"{width}x{height} like the first image; resize the dataset before caching"
                    )
                file.write(np.ascontiguousarray(pixels.transpose(2, 0, 1)))  # (3, H, W)
                labels.append(label)
        if skipped:
            _truncate_rows(tmp, len(labels))
            logger.warning("left out %d unreadable images: %s", len(skipped), ", ".join(skipped))
    return (len(labels), 3, height, width), labels, skipped


def _truncate_rows(path: Path, count: int) -> None:
    """Keep only the first ``count`` rows of an .npy file (after skipped images), in place.

    The header is rewritten with the new shape at its old length (numpy pads headers so the
    first dimension can change in place) and the file is cut: no row is read or copied.
    """
    with open(path, "r+b") as file:
        version = np.lib.format.read_magic(file)
        if version != (1, 0):
            raise ValueError(
                f"{path}: .npy format {version}, expected 1.0 (written by build_cache)"
            )
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(file)
        offset = file.tell()
        header = io.BytesIO()
        new = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": fortran_order,
            "shape": (count, *shape[1:]),
        }
        np.lib.format.write_array_header_1_0(header, new)
        if len(header.getvalue()) != offset:
            raise ValueError(f"{path}: cannot shrink the header in place ({offset} bytes)")
        file.seek(0)
        file.write(header.getvalue())
        file.truncate(offset + count * int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)


def _is_reusable(out_dir: Path, source: dict) -> bool:
    """A complete cache (meta.json present) of the same format and source."""
    meta_path = out_dir / "meta.json"
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    return (
        meta.get("format") == CACHE_FORMAT
        and meta.get("source") == source
        and all((out_dir / name).is_file() for name in _FILES)
    )


def load_cache(path: str | os.PathLike, *, mmap: bool = True) -> ImageCache:
    """Open a cache written by :func:`build_cache`; images stay on disk when ``mmap``."""
    path = Path(path)
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{meta_path} not found: {path} is not a complete cache (build it with build_cache "
            "or `python -m data_tools tiny-imagenet cache`)"
        )
    meta = json.loads(meta_path.read_text())
    # "c" (copy-on-write) gives a writable view for torch without ever changing the file.
    images = np.load(path / "images.npy", mmap_mode="c" if mmap else None)
    labels = np.load(path / "labels.npy")
    if list(images.shape) != meta["shape"] or len(labels) != meta["count"]:
        raise ValueError(
            f"{path}: images {images.shape} and labels ({len(labels)}) do not match meta.json "
            f"{meta['shape']}; delete the folder and build the cache again"
        )
    return ImageCache(
        path=path,
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels),
        classes=list(meta["classes"]),
        meta=meta,
    )


class CachedLoader:
    """Batches ``(images, labels)`` from an :class:`ImageCache`, like a DataLoader.

    Images come out normalised float32 (B, 3, H, W) on ``device`` (default: the CPU), augmented
    batch-wise with ``augment`` (an :class:`AugmentConfig`) or only normalised when it is None.
    ``indices`` restricts the loader to a subset (a split) without copying anything.
    """

    def __init__(
        self,
        cache: ImageCache,
        *,
        batch_size: int = 64,
        indices: Sequence[int] | None = None,
        shuffle: bool = False,
        augment: AugmentConfig | None = None,
        device: torch.device | str | None = None,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.cache = cache
        self.batch_size = batch_size
        self.indices = torch.as_tensor(
            range(len(cache)) if indices is None else indices, dtype=torch.long
        )
        self.shuffle = shuffle
        self.augment = augment
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.generator = torch.Generator().manual_seed(seed)
        self.drop_last = drop_last

    def __len__(self) -> int:
        full, rest = divmod(len(self.indices), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = self.indices
        if self.shuffle:
            order = order[torch.randperm(len(order), generator=self.generator)]
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            batch = order[start : start + self.batch_size]
            # index_select copies whole rows; images[batch] goes element by element (20x slower)
            images = self.cache.images.index_select(0, batch)  # (B, 3, H, W) uint8
            images = images.to(self.device, non_blocking=True)
            labels = self.cache.labels.index_select(0, batch).to(self.device, non_blocking=True)
            if self.augment is None:
                yield normalize_batch(images), labels
            else:
                yield augment_batch(images, config=self.augment, generator=self.generator), labels
