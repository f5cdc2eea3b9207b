"""Similarity search figures: a query image next to its most similar images (article 002)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor

#: What the figures accept as an image: PIL, a (C, H, W) tensor or an (H, W[, C]) array.
ImageLike = Any


def as_rgb_image(image: ImageLike) -> Image.Image:
    """A PIL RGB image from a PIL image, a ``(C, H, W)`` tensor or an ``(H, W[, C])`` array.

    uint8 values are taken as they are; floats in 0..1 are scaled to 0..255, and floats
    outside 0..1 (a normalised tensor) are first stretched from their min..max to 0..1.
    """
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, Tensor):
        image = image.detach().cpu()
        image = image.permute(1, 2, 0) if image.ndim == 3 else image  # (H, W, C)
        image = image.numpy()
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3):
        raise ValueError(f"expected one image (H, W[, C]), got shape {array.shape}")
    if array.dtype != np.uint8:
        array = array.astype(np.float64)
        low, high = array.min(), array.max()
        if low < 0 or high > 1:
            array = (array - low) / max(high - low, 1e-12)
        array = np.rint(array * 255).astype(np.uint8)
    return Image.fromarray(array).convert("RGB")


def plot_similar(
    query: ImageLike,
    similar: Sequence[ImageLike],
    scores: Sequence[float],
    *,
    query_title: str = "query",
    names: Sequence[str] | None = None,
    size: float = 2.2,
) -> Figure:
    """One row: the query, then its most similar images titled with their similarity.

    ``names`` (one per similar image, e.g. class names) are added under the scores.
    """
    if len(similar) != len(scores):
        raise ValueError(f"got {len(similar)} similar images for {len(scores)} scores")
    if names is not None and len(names) != len(similar):
        raise ValueError(f"got {len(names)} names for {len(similar)} similar images")
    fig = Figure(figsize=(size * (len(similar) + 1), size * 1.25), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(similar) + 1))
    titles = [f"{score:.3f}" for score in scores]
    if names is not None:
        titles = [f"{title}\n{name}" for title, name in zip(titles, names, strict=True)]
    for ax, image, title in zip(axes, [query, *similar], [query_title, *titles], strict=True):
        ax.imshow(as_rgb_image(image))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    for spine in axes[0].spines.values():  # frame the query so it stands out
        spine.set(visible=True, color="tab:red", linewidth=2)
    axes[0].axis("on")
    axes[0].set(xticks=[], yticks=[])
    return fig
