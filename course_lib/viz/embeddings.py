"""2-D maps of feature vectors: scatter by label (article 003), text labels (article 000) and
the thumbnail canvas of article 002."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor

from course_lib.features import canvas_positions
from course_lib.viz.similarity import ImageLike, as_rgb_image

log = logging.getLogger(__name__)


def scatter_by_label(
    coords: np.ndarray,
    labels: Sequence[int] | np.ndarray | Tensor,
    *,
    class_names: Sequence[str] | None = None,
    title: str = "",
    axis_name: str = "component",
    max_legend: int = 30,
) -> Figure:
    """Points ``(N, 2)`` coloured by label, with class names in the legend.

    ``class_names[label]`` names a label (default: the label number). With more than
    ``max_legend`` classes the legend is left out, as it would hide the plot.
    """
    coords = np.asarray(coords)
    labels = np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(labels):
        raise ValueError(
            f"expected coords (N, 2) and N labels, got {coords.shape} and {len(labels)} labels"
        )
    classes = np.unique(labels)
    cmap = _colormap(len(classes))
    fig = Figure(figsize=(9, 7), layout="constrained")
    ax = fig.subplots()
    for i, label in enumerate(classes):
        name = class_names[label] if class_names is not None else str(label)
        points = coords[labels == label]
        ax.scatter(points[:, 0], points[:, 1], s=18, alpha=0.7, color=cmap(i), label=name)
    ax.set(title=title, xlabel=f"{axis_name} 1", ylabel=f"{axis_name} 2")
    ax.grid(True, alpha=0.3)
    if len(classes) <= max_legend:
        ax.legend(title="class", fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        log.info("legend left out: %d classes is more than max_legend=%d", len(classes), max_legend)
    return fig


def plot_text_map(
    coords: np.ndarray,
    texts: Sequence[str],
    *,
    groups: Sequence[int] | None = None,
    title: str = "",
) -> Figure:
    """Points ``(N, 2)`` marked with an x and labelled with their text (article 000's plot).

    ``groups`` (e.g. K-Means clusters, numbered from 0) colour points and labels.
    """
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(texts):
        raise ValueError(f"expected coords (N, 2) and N texts, got {coords.shape}, {len(texts)}")
    if groups is not None and len(groups) != len(texts):
        raise ValueError(f"got {len(groups)} groups for {len(texts)} texts")
    groups = list(groups) if groups is not None else [0] * len(texts)
    cmap = _colormap(max(groups) + 1) if max(groups) > 0 else (lambda _: "black")
    fig = Figure(figsize=(12, 8), layout="constrained")
    ax = fig.subplots()
    for (x, y), text, group in zip(coords, texts, groups, strict=True):
        colour = cmap(group)
        ax.scatter([x], [y], marker="x", s=12, color=colour)
        ax.annotate(
            text, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=8, color=colour
        )
    ax.set(title=title, xticks=[], yticks=[])
    ax.margins(0.08)  # room for the labels of the outermost points
    return fig


def thumbnail_canvas(
    images: Sequence[ImageLike],
    coords: np.ndarray,
    *,
    canvas_size: tuple[int, int] = (1000, 1000),
    thumb_size: tuple[int, int] = (50, 50),
    background: tuple[int, int, int] = (255, 255, 255),
    positions: Callable[..., list[tuple[int, int]]] = canvas_positions,
) -> Image.Image:
    """A PIL canvas with each image, resized to ``thumb_size``, pasted at its 2-D position.

    ``positions`` (default :func:`course_lib.features.canvas_positions`) keeps every
    thumbnail fully inside the canvas. Later images are pasted over earlier ones.
    """
    if len(images) != len(coords):
        raise ValueError(f"got {len(images)} images for {len(coords)} coordinates")
    canvas = Image.new("RGB", tuple(canvas_size), background)
    places = positions(coords, canvas_size=canvas_size, thumb_size=thumb_size)
    for image, place in zip(images, places, strict=True):
        thumb = as_rgb_image(image).resize(tuple(thumb_size), Image.Resampling.BILINEAR)
        canvas.paste(thumb, tuple(place))
    return canvas


def _colormap(n: int) -> Callable[[int], tuple]:
    """Distinct colours: tab10 or tab20 when they suffice, else evenly spaced hues."""
    from matplotlib import colormaps

    if n <= 10:
        return colormaps["tab10"]
    if n <= 20:
        return colormaps["tab20"]
    hsv = colormaps["hsv"]
    return lambda i: hsv(i / n)
