"""Predicted-vs-actual heatmap (article 003), drawn with seaborn.

Rows are the actual classes and columns the predicted ones, as in
``course_lib.metrics.confusion_matrix``; pass the matrix normalised per actual class
(``normalize_per_class``) so each row shows where the images of one class went. Article 003
drew the same information transposed (actual on the x axis, normalised per column).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from torch import Tensor


def plot_confusion(
    matrix: Tensor | np.ndarray,
    class_names: Sequence[str],
    *,
    title: str = "",
    normalized: bool = True,
    annotate: bool | None = None,
    max_label: int = 22,
) -> Figure:
    """Heatmap of a (C, C) confusion matrix with class names on both axes.

    ``normalized`` fixes the colour scale to 0..1 and shows two decimals; counts show as
    integers. ``annotate`` writes the values in the cells (default: up to 15 classes). Names
    are shortened to ``max_label`` characters; with more than 40 classes ticks are left out.
    """
    values = np.asarray(matrix.detach().cpu() if isinstance(matrix, Tensor) else matrix)
    size = len(class_names)
    if values.ndim != 2 or values.shape != (size, size):
        raise ValueError(
            f"expected a ({size}, {size}) matrix for {size} classes, got {values.shape}"
        )
    annotate = size <= 15 if annotate is None else annotate
    labels = [_shorten(str(name), max_label) for name in class_names] if size <= 40 else False
    side = min(4 + 0.45 * size, 16)
    fig = Figure(figsize=(side + 1.5, side), layout="constrained")
    ax = fig.subplots()
    sns.heatmap(
        values,
        ax=ax,
        annot=annotate,
        fmt=".2f" if normalized else "d",
        vmin=0,
        vmax=1 if normalized else None,
        cmap="Blues",
        square=True,
        xticklabels=labels,
        yticklabels=labels,
        cbar_kws={"label": "fraction of the actual class" if normalized else "images"},
        annot_kws={"fontsize": 8},
    )
    ax.set(xlabel="predicted", ylabel="actual", title=title)
    ax.tick_params(axis="x", labelrotation=90)
    ax.tick_params(axis="y", labelrotation=0)
    return fig


def _shorten(name: str, limit: int) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
