"""Learning curves: loss and accuracy per epoch (article 003's two plots, side by side)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

History = Sequence[dict[str, Any]] | pd.DataFrame | str | os.PathLike


def history_frame(history: History) -> pd.DataFrame:
    """The history as a DataFrame: from rows of dicts, a DataFrame or a ``history.csv`` path."""
    if isinstance(history, str | os.PathLike):
        path = Path(history)
        if not path.is_file():
            raise FileNotFoundError(f"history file {path} does not exist")
        frame = pd.read_csv(path)
    else:
        frame = pd.DataFrame(list(history) if not isinstance(history, pd.DataFrame) else history)
    if frame.empty or "epoch" not in frame:
        raise ValueError("the history has no rows with an 'epoch' column; train at least one epoch")
    return frame


def plot_history(history: History, *, title: str = "") -> Figure:
    """Loss (left) and top-k accuracy (right) per epoch, training and validation.

    Plots every ``train_*`` / ``val_*`` column present (loss; top1, top5, ...). Where the
    ``stage`` column changes (two-stage training), a dashed line marks the new stage.
    """
    frame = history_frame(history)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = frame["epoch"]
    styles = {"train": "-", "val": "--"}
    for split, style in styles.items():
        if f"{split}_loss" in frame:
            loss_ax.plot(epochs, frame[f"{split}_loss"], style, marker="o", label=f"{split} loss")
        for column in sorted(c for c in frame if re.fullmatch(rf"{split}_top\d+", c)):
            k = column.removeprefix(f"{split}_top")
            acc_ax.plot(epochs, frame[column], style, marker="o", label=f"{split} top-{k}")
    loss_ax.set(title="Loss", xlabel="epoch", ylabel="loss (mean per image)")
    acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    for ax in (loss_ax, acc_ax):
        _mark_stages(ax, frame)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    return fig


def _mark_stages(ax: Any, frame: pd.DataFrame) -> None:
    if "stage" not in frame:
        return
    stages = frame["stage"].tolist()
    for i in range(1, len(stages)):
        if stages[i] != stages[i - 1]:
            x = (frame["epoch"].iloc[i - 1] + frame["epoch"].iloc[i]) / 2
            ax.axvline(x, color="gray", linestyle=":", linewidth=1)
            ax.annotate(
                str(stages[i]),
                (x, 1),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=8,
                color="gray",
            )
