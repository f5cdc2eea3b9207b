"""Image grids: N images per class, one row per class, each image titled by its class name."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from course_lib.data.tiny_imagenet import pick_per_class
from course_lib.files import atomic_write


def to_display(image) -> np.ndarray:
    """PIL image, uint8 tensor (3, H, W) or float tensor in [0, 1] -> (H, W, 3) array for imshow."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.is_floating_point():
            image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
        return image.permute(1, 2, 0).numpy()
    return np.asarray(image)


def plot_class_grid(
    images: Sequence, labels: Sequence[int], class_names: Sequence[str], *, ncols: int
) -> Figure:
    """One row per class (in the order given), ``ncols`` images each, titled by class name."""
    rows: dict[int, list] = {}
    for image, label in zip(images, labels, strict=True):
        rows.setdefault(int(label), []).append(image)
    nrows = max(len(rows), 1)
    figure = Figure(figsize=(1.6 * ncols, 1.75 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False)
    for row, (label, row_images) in zip(axes, rows.items(), strict=False):
        for ax, image in zip(row, row_images[:ncols], strict=False):
            ax.imshow(to_display(image))
            ax.set_title(class_names[label], fontsize=8)
    for ax in axes.flat:
        ax.set_axis_off()
    return figure


def save_class_grid(
    dataset,
    path: str | os.PathLike,
    *,
    n_per_class: int = 5,
    max_classes: int | None = 10,
    pick: Callable[[Sequence[int], int], list[int]] = pick_per_class,
    dpi: int = 100,
) -> Path:
    """Draw ``n_per_class`` images of the first ``max_classes`` classes of ``dataset`` to a PNG.

    ``dataset`` yields ``(image, label)`` without normalisation and has ``.targets`` and
    ``.class_names`` (like :class:`~course_lib.data.tiny_imagenet.TinyImageNet`). ``pick``
    chooses the indices (the graded ``pick_per_class`` by default).
    """
    labels = list(dataset.targets)
    chosen = [
        i for i in pick(labels, n_per_class) if max_classes is None or labels[i] < max_classes
    ]
    samples = [dataset[i] for i in chosen]
    figure = plot_class_grid(
        [image for image, _ in samples],
        [label for _, label in samples],
        dataset.class_names,
        ncols=n_per_class,
    )
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi))
