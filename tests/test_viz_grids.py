"""The per-class image grid: rows by class, titles by class name, a PNG written atomically."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.data.tiny_imagenet import TinyImageNet
from course_lib.viz.grids import plot_class_grid, save_class_grid, to_display


def _titles(figure) -> list[list[str]]:
    """Titles of the axes that show an image, row by row."""
    axes = figure.axes
    ncols = axes[0].get_gridspec().ncols
    rows = [axes[i : i + ncols] for i in range(0, len(axes), ncols)]
    return [[ax.get_title() for ax in row if ax.images] for row in rows]


def test_plot_class_grid_one_row_per_class_titled_by_name():
    images = [torch.full((3, 8, 8), v, dtype=torch.uint8) for v in range(5)]
    labels = [2, 0, 2, 0, 0]
    figure = plot_class_grid(images, labels, ["cat", "dog", "bus"], ncols=2)
    assert _titles(figure) == [["bus", "bus"], ["cat", "cat"]]  # rows in order of appearance


def test_to_display_accepts_pil_and_tensors():
    pil = Image.new("L", (4, 3), 200)
    assert to_display(pil).shape == (3, 4, 3)
    as_uint8 = to_display(torch.full((3, 2, 5), 7, dtype=torch.uint8))
    assert as_uint8.shape == (2, 5, 3) and as_uint8.dtype == np.uint8
    assert to_display(torch.ones(3, 2, 2))[0, 0].tolist() == [255, 255, 255]


def test_save_class_grid_writes_a_png_of_the_picked_images(tiny_imagenet, tmp_path):
    dataset = TinyImageNet(tiny_imagenet, "train")
    picked = []

    def pick(labels, n):
        picked.append(n)
        return [i for i in range(len(labels)) if labels[i] < 3 and i % 12 < n]

    path = save_class_grid(dataset, tmp_path / "grid.png", n_per_class=2, max_classes=2, pick=pick)
    assert picked == [2]
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (320, 350)  # 2 rows of 2 at 100 dpi
    assert not list(tmp_path.glob(".*.tmp"))


def test_default_grid_shows_first_classes_by_name(tiny_imagenet, tmp_path, monkeypatch):
    dataset = TinyImageNet(tiny_imagenet, "train")
    figures = []
    import course_lib.viz.grids as grids

    def recording(*args, **kwargs):
        figures.append(plot_class_grid(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(grids, "plot_class_grid", recording)
    save_class_grid(dataset, tmp_path / "grid.png", n_per_class=3, max_classes=3)
    assert _titles(figures[0]) == [[name] * 3 for name in dataset.class_names[:3]]


@pytest.mark.parametrize("n_per_class", [1, 4])
def test_grid_size_follows_n_per_class(tiny_imagenet, tmp_path, n_per_class):
    dataset = TinyImageNet(tiny_imagenet, "train")
    path = save_class_grid(dataset, tmp_path / "g.png", n_per_class=n_per_class, max_classes=2)
    with Image.open(path) as image:
        assert abs(image.width - 160 * n_per_class) <= 2
