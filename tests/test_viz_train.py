"""Learning-curve and confusion-heatmap figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.history import write_csv
from course_lib.metrics import confusion_matrix, normalize_per_class
from course_lib.viz.curves import plot_history
from course_lib.viz.heatmaps import plot_confusion

HISTORY = [
    {
        "epoch": e,
        "stage": "head" if e <= 2 else "finetune",
        "lr": 1e-4,
        "train_loss": 2.0 / e,
        "train_top1": 0.1 * e,
        "val_loss": 2.2 / e,
        "val_top1": 0.08 * e,
        "val_top5": 0.2 * e,
        "seconds": 1.0,
    }
    for e in range(1, 5)
]


def test_curves_from_rows_and_csv(tmp_path):
    path = write_csv(HISTORY, tmp_path / "history.csv")
    for source in (HISTORY, path):
        fig = plot_history(source, title="run")
        loss_ax, acc_ax = fig.axes
        assert [line.get_label() for line in loss_ax.get_lines() if line.get_marker() == "o"] == [
            "train loss",
            "val loss",
        ]
        labels = [line.get_label() for line in acc_ax.get_lines() if line.get_marker() == "o"]
        assert labels == ["train top-1", "val top-1", "val top-5"]
        np.testing.assert_allclose(acc_ax.get_lines()[2].get_ydata(), [0.2, 0.4, 0.6, 0.8])
        dashed = [line for line in loss_ax.get_lines() if line.get_linestyle() == ":"]
        assert len(dashed) == 1 and dashed[0].get_xdata()[0] == 2.5  # between the two stages
    fig.savefig(tmp_path / "curves.png")
    assert Image.open(tmp_path / "curves.png").size[0] > 500


def test_curves_reject_empty_history(tmp_path):
    with pytest.raises(ValueError, match="train at least one epoch"):
        plot_history([])
    with pytest.raises(FileNotFoundError, match="nothing.csv"):
        plot_history(tmp_path / "nothing.csv")


def test_heatmap_rows_actual_with_class_names(tmp_path):
    names = ["10s", "20s", "30s"]
    preds, actual = torch.tensor([0, 1, 1, 2, 2, 2, 0]), torch.tensor([0, 0, 1, 2, 2, 2, 2])
    normalized = normalize_per_class(confusion_matrix(preds, actual, 3))
    fig = plot_confusion(normalized, names, title="age groups")
    (ax, colorbar) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == (
        "predicted",
        "actual",
        "age groups",
    )
    cells = np.asarray(ax.collections[0].get_array()).reshape(3, 3)
    np.testing.assert_allclose(cells, [[0.5, 0.5, 0], [0, 1, 0], [0.25, 0, 0.75]])
    assert [t.get_text() for t in ax.texts][:3] == ["0.50", "0.50", "0.00"]
    assert colorbar.get_ylabel() == "fraction of the actual class"
    fig.savefig(tmp_path / "heatmap.png")


def test_heatmap_counts_many_classes_and_bad_shapes():
    counts = confusion_matrix(torch.arange(50) % 45, torch.arange(50) % 45, 45)
    fig = plot_confusion(counts, [f"class {i}" for i in range(45)], normalized=False)
    assert fig.axes[0].get_xticklabels() == [] and not fig.axes[0].texts
    with pytest.raises(ValueError, match=r"expected a \(2, 2\) matrix"):
        plot_confusion(np.zeros((3, 3)), ["a", "b"])
