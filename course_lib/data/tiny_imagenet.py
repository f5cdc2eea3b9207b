"""Tiny ImageNet in its original layout, read without moving a file.

    root/wnids.txt                        one wnid per line (the 200 classes)
    root/words.txt                        "wnid<TAB>description" for all of ImageNet
    root/train/<wnid>/images/*.JPEG       500 images per class
    root/train/<wnid>/<wnid>_boxes.txt    "file<TAB>x0<TAB>y0<TAB>x1<TAB>y1"
    root/val/images/*.JPEG                all validation images in one folder
    root/val/val_annotations.txt          "file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1"

``ImageFolder("root/val")`` would label every validation image 0 (a single folder); here the
labels come from ``val_annotations.txt``. Class indices follow the sorted wnids, which is the
order ``ImageFolder`` gives on ``train/``. Some JPEGs are grayscale: every image is returned RGB.

The graded helpers (``class_name_maps``, ``load_val_labels``, ``pick_per_class``) are the
course's exercises; the reader below uses its own parsers so it works in every student edition.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset

logger = logging.getLogger(__name__)

SPLITS = ("train", "val")
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, inclusive


def class_name_maps(
    wnids: list[str], words: dict[str, str]
) -> tuple[dict[int, str], dict[str, int]]:
    """Index -> full description, and first name of the description -> index.

    Class ``i`` is ``wnids[i]``; ``wnids`` comes sorted, as ``read_wnids`` returns it.
    """
    ### BEGIN SOLUTION a1_data
    idx_to_description = {idx: words[wnid] for idx, wnid in enumerate(wnids)}
    name_to_idx = {text.split(",")[0]: idx for idx, text in idx_to_description.items()}
    return idx_to_description, name_to_idx
    ### END SOLUTION


def load_val_labels(
    annotations_path: str | os.PathLike, class_to_idx: dict[str, int]
) -> list[tuple[str, int]]:
    """(file name, label) for each line of ``val_annotations.txt``, in file order.

    A wnid missing from ``class_to_idx`` raises ``KeyError`` with a message that names the file
    and the line: its number (counted from 1) or its text.
    """
    ### BEGIN SOLUTION a1_data
    labels = []
    with open(annotations_path) as file:
        for line_number, line in enumerate(file, start=1):
            file_name, wnid = line.split("\t")[:2]
            if wnid not in class_to_idx:
                raise KeyError(f"{annotations_path}:{line_number}: unknown wnid {wnid!r}")
            labels.append((file_name, class_to_idx[wnid]))
    return labels
    ### END SOLUTION


def pick_per_class(labels: Sequence[int], n_per_class: int) -> list[int]:
    """Indices of the first ``n_per_class`` samples of each class, classes in ascending order.

    ``labels`` is a list or a 1-D tensor; the result is a list of Python ints. A class with
    fewer samples gives all of them.
    """
    ### BEGIN SOLUTION a1_data
    labels = [int(label) for label in labels]
    picked = []
    for cls in sorted(set(labels)):
        picked += [i for i, label in enumerate(labels) if label == cls][:n_per_class]
    return picked
    ### END SOLUTION


def read_wnids(path: str | os.PathLike) -> list[str]:
    """The wnids listed in ``wnids.txt``, sorted (ImageFolder's class order)."""
    lines = _read_lines(path, "wnids.txt with one WordNet id (like n01443537) per line")
    wnids = [line.strip() for line in lines if line.strip()]
    if not wnids:
        raise ValueError(f"{path} is empty: expected one WordNet id per line")
    duplicates = sorted({w for w in wnids if wnids.count(w) > 1})
    if duplicates:
        raise ValueError(f"{path} lists {duplicates} more than once: expected each class once")
    return sorted(wnids)


def read_words(path: str | os.PathLike) -> dict[str, str]:
    """wnid -> description from ``words.txt`` (lines "wnid<TAB>description")."""
    words = {}
    for number, line in enumerate(_read_lines(path, "words.txt"), start=1):
        if not line.strip():
            continue
        wnid, sep, description = line.rstrip("\n").partition("\t")
        if not sep:
            raise ValueError(f"{path}:{number}: expected 'wnid<TAB>description', got {line!r}")
        words[wnid] = description
    return words


@dataclass(frozen=True)
class ClassMaps:
    """Index <-> wnid <-> description <-> first name, in both directions."""

    wnids: tuple[str, ...]  # index -> wnid, sorted
    descriptions: tuple[str, ...]  # index -> full description ("goldfish, Carassius auratus")

    @property
    def names(self) -> tuple[str, ...]:
        """Index -> first name of the description ("goldfish")."""
        return tuple(text.split(",")[0].strip() for text in self.descriptions)

    @cached_property
    def wnid_to_idx(self) -> dict[str, int]:
        return {wnid: idx for idx, wnid in enumerate(self.wnids)}

    @cached_property
    def name_to_idx(self) -> dict[str, int]:
        return {name: idx for idx, name in enumerate(self.names)}


def read_class_maps(root: str | os.PathLike) -> ClassMaps:
    """Class maps of a dataset root from its ``wnids.txt`` and ``words.txt``."""
    root = existing_dir(root)
    wnids = read_wnids(root / "wnids.txt")
    words = read_words(root / "words.txt")
    missing = [wnid for wnid in wnids if wnid not in words]
    if missing:
        raise KeyError(
            f"{root / 'words.txt'} has no description for {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}: expected a line for every wnid in wnids.txt"
        )
    return ClassMaps(wnids=tuple(wnids), descriptions=tuple(words[w] for w in wnids))


@dataclass(frozen=True)
class ValAnnotation:
    file_name: str
    wnid: str
    box: Box


def read_val_annotations(path: str | os.PathLike) -> list[ValAnnotation]:
    """The lines of ``val_annotations.txt`` in file order."""
    annotations = []
    for number, line in enumerate(_read_lines(path, "val/val_annotations.txt"), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise ValueError(
                f"{path}:{number}: expected 'file wnid x0 y0 x1 y1' (6 fields), got {line!r}"
            )
        annotations.append(ValAnnotation(fields[0], fields[1], _box(fields[2:], path, number)))
    return annotations


def read_train_boxes(path: str | os.PathLike) -> dict[str, Box]:
    """File name -> box from a ``train/<wnid>/<wnid>_boxes.txt`` file."""
    boxes = {}
    for number, line in enumerate(_read_lines(path, "a <wnid>_boxes.txt file"), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise ValueError(f"{path}:{number}: expected 'file x0 y0 x1 y1', got {line!r}")
        boxes[fields[0]] = _box(fields[1:], path, number)
    return boxes


def _box(fields: Sequence[str], path: str | os.PathLike, number: int) -> Box:
    try:
        x0, y0, x1, y1 = (int(value) for value in fields)
    except ValueError:
        raise ValueError(f"{path}:{number}: box {fields} is not four integers") from None
    return x0, y0, x1, y1


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image fully decoded and converted to RGB (grayscale JPEGs included)."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: image file not found") from None
    except OSError as err:  # corrupt, truncated or not an image at all
        raise ValueError(
            f"{path}: cannot decode the image ({err}); expected a complete JPEG. Restore the "
            "file, or pass skip_corrupt=True to leave unreadable images out"
        ) from err


def list_images(folder: Path) -> list[Path]:
    """Image files of a folder in ImageFolder's order (sorted names)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def existing_dir(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: dataset folder not found (expected a directory)")
    return path


def _read_lines(path: str | os.PathLike, expected: str) -> list[str]:
    try:
        with open(path) as file:
            return file.readlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found: expected {expected}") from None


class TinyImageNet(Dataset):
    """Tiny ImageNet ``train`` or ``val`` split: ``(RGB image or transform(image), label)``.

    With ``skip_corrupt`` every image is decoded once up front; unreadable ones are left out
    and listed in a warning (and in ``.skipped``). Otherwise a bad file raises when loaded.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        transform: Callable | None = None,
        *,
        skip_corrupt: bool = False,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: expected one of {SPLITS}")
        self.root = existing_dir(root)
        self.split = split
        self.transform = transform
        self.class_maps = read_class_maps(self.root)
        self.classes = list(self.class_maps.wnids)
        self.class_to_idx = dict(self.class_maps.wnid_to_idx)
        self.class_names = list(self.class_maps.names)
        self.descriptions = list(self.class_maps.descriptions)
        samples = self._train_samples() if split == "train" else self._val_samples()
        self.skipped: list[str] = []
        if skip_corrupt:
            samples, self.skipped = _drop_unreadable(samples)
        self.samples = samples
        self.targets = [label for _, label in samples]

    def _train_samples(self) -> list[tuple[str, int]]:
        train = existing_dir(self.root / "train")
        extra = sorted({p.name for p in train.iterdir() if p.is_dir()} - set(self.classes))
        if extra:
            raise ValueError(
                f"{train} has class folders not listed in wnids.txt: {extra[:5]}; "
                "labels would not match ImageFolder's. Add them to wnids.txt or remove them"
            )
        samples = []
        for label, wnid in enumerate(self.classes):
            folder = self.root / "train" / wnid / "images"
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} not found: expected the images of {wnid}")
            files = list_images(folder)
            if not files:
                raise ValueError(f"{folder} is empty: expected the JPEG images of class {wnid}")
            samples += [(str(path), label) for path in files]
        return samples

    def _val_samples(self) -> list[tuple[str, int]]:
        annotations_path = self.root / "val" / "val_annotations.txt"
        samples = []
        for number, note in enumerate(read_val_annotations(annotations_path), start=1):
            if note.wnid not in self.class_to_idx:
                raise KeyError(
                    f"{annotations_path}:{number}: wnid {note.wnid!r} is not in wnids.txt"
                )
            path = self.root / "val" / "images" / note.file_name
            if not path.is_file():
                raise FileNotFoundError(f"{path} not found: listed in {annotations_path}")
            samples.append((str(path), self.class_to_idx[note.wnid]))
        return samples

    def boxes(self) -> list[Box]:
        """The object box of every sample, aligned with ``.samples``."""
        if self.split == "val":
            notes = read_val_annotations(self.root / "val" / "val_annotations.txt")
            by_name = {note.file_name: note.box for note in notes}
        else:
            by_name = {}
            for wnid in self.classes:
                by_name.update(read_train_boxes(self.root / "train" / wnid / f"{wnid}_boxes.txt"))
        return [by_name[Path(path).name] for path, _ in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        image = load_rgb(path)
        if self.transform is not None:
            image = self.transform(image)
        return image, label


def _drop_unreadable(samples: list[tuple[str, int]]) -> tuple[list[tuple[str, int]], list[str]]:
    kept, skipped = [], []
    for path, label in samples:
        try:
            load_rgb(path)
        except ValueError:
            skipped.append(path)
            continue
        kept.append((path, label))
    if skipped:
        logger.warning("left out %d unreadable images: %s", len(skipped), ", ".join(skipped))
    return kept, skipped
