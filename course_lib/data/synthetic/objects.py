"""Synthetic Tiny ImageNet: one object per class on a cluttered background, exact boxes.

Every class is one object (shape x colour x texture) drawn at a random place, scale and tilt;
its box is the exact extent of the drawn object, so accuracy, confusion and Grad-CAM
localisation mean something. Every image has its own random stream derived from the seed, so two
runs write byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from course_lib.data.synthetic.common import (
    build_dataset,
    gray_indices,
    save_jpeg,
)
from course_lib.utils import progress

SIZE = 64  # Tiny ImageNet images are 64 x 64

_Y, _X = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5  # pixel centres, (H, W) each

# name: (synonym, inside test on object coordinates u, v, about [-1, 1])
SHAPES: dict[str, tuple[str, Callable]] = {
    "disk": ("circle", lambda u, v: u**2 + v**2 <= 1),
    "square": ("box", lambda u, v: np.maximum(abs(u), abs(v)) <= 0.8),
    "triangle": ("trigon", lambda u, v: (v <= 0.75) & (v >= 1.75 * abs(u) - 1)),
    "diamond": ("rhombus", lambda u, v: abs(u) + abs(v) <= 1),
    "cross": (
        "plus sign",
        lambda u, v: (np.minimum(abs(u), abs(v)) <= 0.3) & (abs(u) <= 1) & (abs(v) <= 1),
    ),
    "ring": ("annulus", lambda u, v: (u**2 + v**2 <= 1) & (u**2 + v**2 >= 0.45)),
    "star": (
        "asterisk",
        lambda u, v: np.hypot(u, v) <= 0.55 + 0.45 * np.cos(5 * np.arctan2(u, -v)),
    ),
    "hexagon": ("sexangle", lambda u, v: np.maximum(0.866 * abs(u) + 0.5 * abs(v), abs(v)) <= 0.9),
    "oval": ("ellipse", lambda u, v: u**2 + (v / 0.55) ** 2 <= 1),
    "crescent": ("half moon", lambda u, v: (u**2 + v**2 <= 1) & ((u - 0.5) ** 2 + v**2 >= 0.64)),
}
COLOURS: dict[str, tuple[str, tuple[int, int, int]]] = {
    "red": ("scarlet", (215, 35, 35)),
    "orange": ("amber", (240, 135, 20)),
    "yellow": ("lemon", (235, 215, 35)),
    "green": ("emerald", (35, 165, 60)),
    "cyan": ("turquoise", (35, 195, 205)),
    "blue": ("azure", (40, 70, 215)),
    "purple": ("violet", (135, 45, 190)),
    "pink": ("rose", (245, 115, 185)),
    "white": ("ivory", (245, 245, 240)),
    "black": ("ebony", (20, 20, 25)),
}
TEXTURES = {"plain": "", "striped": "banded", "spotted": "dotted"}
MAX_CLASSES = len(SHAPES) * len(COLOURS) * len(TEXTURES)

# Unrelated WordNet entries, as the real words.txt describes 82115 synsets, not only the classes.
_EXTRA_WORDS = {
    "n00001740": "entity",
    "n00001930": "physical entity",
    "n00002137": "abstraction, abstract entity",
    "n00002452": "thing",
    "n00002684": "object, physical object",
    "n00003553": "whole, unit",
    "n00004258": "living thing, animate thing",
    "n00004475": "organism, being",
    "n00021939": "artifact, artefact",
    "n00027807": "shape, form",
    "n00556992": "figure",
    "n03032811": "circle, round",
    "n04956594": "color, colour, coloring, colouring",
    "n09444100": "star",
    "n13731021": "square, second power",
}


def class_spec(index: int) -> tuple[str, str, str]:
    """(shape, colour, texture) of class ``index``; the first ten have ten shapes, and pairs of
    them share a colour (disk/ring, square/star, ...) so shape matters too."""
    if not 0 <= index < MAX_CLASSES:
        raise ValueError(f"class index must be in [0, {MAX_CLASSES}), got {index}")
    texture, j = divmod(index, len(SHAPES) * len(COLOURS))
    shape = j % len(SHAPES)
    colour = (2 * (shape % 5) + j // len(SHAPES)) % len(COLOURS)
    return list(SHAPES)[shape], list(COLOURS)[colour], list(TEXTURES)[texture]


def class_description(index: int) -> str:
    """The words.txt description: "red disk, scarlet circle" (first name unique per class)."""
    shape, colour, texture = class_spec(index)
    first = f"{colour} {shape}" if texture == "plain" else f"{texture} {colour} {shape}"
    second = f"{TEXTURES[texture]} {COLOURS[colour][0]} {SHAPES[shape][0]}".strip()
    return f"{first}, {second}"


def _background(rng: np.random.Generator) -> np.ndarray:
    """Muted colour blotches crossed by a few random strokes, float32 (H, W, 3)."""
    coarse = rng.uniform(50, 200, size=(3, 3, 3))
    coarse = 0.5 * coarse + 0.5 * coarse.mean(axis=2, keepdims=True)  # less vivid than objects
    image = Image.fromarray(coarse.astype(np.uint8)).resize((SIZE, SIZE), Image.BILINEAR)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 6)):
        end_points = tuple(rng.uniform(0, SIZE, size=4).tolist())
        colour = tuple(rng.integers(30, 220, size=3).tolist())
        draw.line(end_points, fill=colour, width=int(rng.integers(1, 4)))
    return np.asarray(image, np.float32)


def draw_object(
    index: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """One image of class ``index``: (uint8 (H, W, 3) image, bool (H, W) object mask, box).

    The box ``(x0, y0, x1, y1)`` holds inclusive pixel coordinates, as in Tiny ImageNet.
    """
    shape, colour, texture = class_spec(index)
    radius = float(rng.uniform(0.16, 0.36)) * SIZE
    cx, cy = rng.uniform(0.8 * radius, SIZE - 0.8 * radius, size=2).tolist()  # may touch edges
    angle = np.deg2rad(float(rng.uniform(-20, 20)))  # small tilt: a square never becomes a diamond
    du, dv = (_X - cx) / radius, (_Y - cy) / radius
    u = du * np.cos(angle) + dv * np.sin(angle)
    v = -du * np.sin(angle) + dv * np.cos(angle)
    mask = SHAPES[shape][1](u, v)
    marks = np.zeros_like(mask)
    if texture == "striped":
        marks = np.sin(9 * u) <= 0
    elif texture == "spotted":
        marks = (3.5 * u % 1 - 0.5) ** 2 + (3.5 * v % 1 - 0.5) ** 2 < 0.08
    rgb = np.asarray(COLOURS[colour][1], np.float32) + rng.uniform(-15, 15, size=3)
    accent = rgb * 0.4 if rgb.mean() > 80 else rgb + 0.6 * (255 - rgb)  # marks stand out
    shade = 1 + 0.15 * (-u - v) / 2  # light from the top left
    body = np.where(marks[..., None], accent, rgb) * shade[..., None]
    image = np.where(mask[..., None], body, _background(rng))
    image = image + 5 * rng.standard_normal(image.shape, dtype=np.float32)
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
    return np.clip(image, 0, 255).astype(np.uint8), mask, box


def _draw_split(
    root: Path, split: int, labels: list[int], names: list[str], seed: int, desc: str
) -> list[tuple[int, int, int, int]]:
    """Draw and save one image per label; return the boxes in the same order."""
    gray = gray_indices(np.random.default_rng([seed, split, 1]), len(labels))
    boxes = []
    for i, label in progress(enumerate(labels), desc=desc, total=len(labels)):
        image, _, box = draw_object(label, np.random.default_rng([seed, split, 2, i]))
        save_jpeg(image, root / names[i], gray=i in gray)
        boxes.append(box)
    return boxes


def _make_wnids(rng: np.random.Generator, count: int) -> list[str]:
    """Realistic WordNet ids ("n" and 8 digits), distinct from the extra words.txt entries."""
    wnids: list[str] = []
    while len(wnids) < count:
        wnid = f"n0{rng.integers(1_000_000, 5_000_000):07d}"
        if wnid not in _EXTRA_WORDS and wnid not in wnids:
            wnids.append(wnid)
    return wnids


def _box_line(name: str, box: tuple[int, ...], *fields: str) -> str:
    return "\t".join([name, *fields, *map(str, box)]) + "\n"


def make_tiny_imagenet(
    root: str | Path,
    *,
    num_classes: int = 10,
    train_per_class: int = 100,
    val_per_class: int = 50,
    test_images: int | None = None,
    seed: int = 0,
) -> Path:
    """Write a synthetic Tiny ImageNet in the real layout under ``root`` and return ``root``.

    ``test_images`` defaults to as many as val (unlabelled, like the real test split).
    """
    if not 1 <= num_classes <= MAX_CLASSES:
        raise ValueError(f"num_classes must be in [1, {MAX_CLASSES}], got {num_classes}")
    if min(train_per_class, val_per_class, test_images or 0) < 0:
        raise ValueError("image counts must not be negative")
    test_images = num_classes * val_per_class if test_images is None else test_images
    params = {
        "dataset": "tiny-imagenet",
        "num_classes": num_classes,
        "seed": seed,
        "train_per_class": train_per_class,
        "val_per_class": val_per_class,
        "test_images": test_images,
        "version": 1,
    }

    def write(out: Path) -> None:
        rng = np.random.default_rng([seed, 0])
        wnids = _make_wnids(rng, num_classes)  # class i is drawn as class_spec(i)
        words = {**_EXTRA_WORDS, **{w: class_description(i) for i, w in enumerate(wnids)}}
        (out / "wnids.txt").write_text("".join(f"{w}\n" for w in wnids))
        (out / "words.txt").write_text("\n".join(f"{w}\t{words[w]}" for w in sorted(words)))
        for label, wnid in enumerate(wnids):
            (out / "train" / wnid / "images").mkdir(parents=True)
            names = [f"{wnid}/images/{wnid}_{i}.JPEG" for i in range(train_per_class)]
            split = 10 + label  # one random stream per class
            boxes = _draw_split(out / "train", split, [label] * train_per_class, names, seed, wnid)
            lines = [_box_line(Path(n).name, b) for n, b in zip(names, boxes, strict=True)]
            (out / "train" / wnid / f"{wnid}_boxes.txt").write_text("".join(lines))
        labels = rng.permutation(np.repeat(np.arange(num_classes), val_per_class)).tolist()
        names = [f"val_{i}.JPEG" for i in range(len(labels))]
        (out / "val" / "images").mkdir(parents=True)
        boxes = _draw_split(out / "val" / "images", 1, labels, names, seed, "val")
        lines = [_box_line(n, b, wnids[y]) for n, b, y in zip(names, boxes, labels, strict=True)]
        (out / "val" / "val_annotations.txt").write_text("".join(lines))
        (out / "test" / "images").mkdir(parents=True)
        labels = rng.integers(0, num_classes, size=test_images).tolist()
        names = [f"test_{i}.JPEG" for i in range(test_images)]
        _draw_split(out / "test" / "images", 2, labels, names, seed, "test")

    return build_dataset(Path(root), params, write)
