"""Grad-CAM pipeline (article 004, first half): why did the model predict what it predicted?

``run_explain`` predicts the first ``max_scan`` images of a dataset, computes the Grad-CAM of
the predicted class at ``target_layer`` for each, scores the maps against the object boxes
(pointing game, CAM mass inside the box) when the dataset has them, and draws
``[image | cam | overlay]`` panels of chosen images -- by default some correct and some wrong
predictions, as the article shows a goldfish, a Persian cat and a cat taken for a tabby.

Output folder: ``cams.png`` (the panels with predicted and true names), ``panels/<i>.png``
(one enlarged panel per chosen image), ``localisation.csv`` (one row per scanned image) and
``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from course_lib.checkpoint import model_from_checkpoint
from course_lib.cli import add_checkpoint_options, add_run_options, print_summary
from course_lib.data.tiny_imagenet import TinyImageNet
from course_lib.data.transforms import val_transform
from course_lib.explain import (
    cam_mass_in_box,
    default_cam_layer,
    eval_mode,
    gradcam,
    pointing_game,
)
from course_lib.files import atomic_write, prepare_out_dir, save_figure, write_text
from course_lib.history import write_csv
from course_lib.models import uses_log_probs
from course_lib.pipelines.training import pipeline_device
from course_lib.utils import get_device
from course_lib.viz.cams import cam_panel, cam_title, plot_cam_panels

log = logging.getLogger(__name__)

#: Images per forward pass when predicting and computing CAMs.
BATCH_SIZE = 64


def run_explain(
    model: nn.Module,
    dataset: Dataset,
    out_dir: str | os.PathLike,
    *,
    target_layer: str | nn.Module | None = None,
    indices: Sequence[int] | None = None,
    num_correct: int = 2,
    num_wrong: int = 2,
    max_scan: int = 256,
    device: torch.device | str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Grad-CAM panels and localisation scores of ``dataset`` (``(image, label)`` items).

    ``indices`` chooses the images to draw; otherwise the first ``num_correct`` correct and
    ``num_wrong`` wrong predictions among the first ``max_scan`` images. The maps are scored
    against ``dataset.boxes()`` (inclusive ``x0 y0 x1 y1`` per item) when it exists.
    ``target_layer`` defaults to the last non-pooling layer of ``model.features``, ``device``
    to the model's.
    """
    out_dir = prepare_out_dir(out_dir, overwrite=overwrite)
    model = model.to(pipeline_device(device, model))
    layer = target_layer if target_layer is not None else default_cam_layer(model)
    scanned = list(indices) if indices is not None else list(range(min(len(dataset), max_scan)))
    if not scanned:
        raise ValueError("no images to explain: the dataset is empty or indices is empty")
    images, labels = _load(dataset, scanned)  # (N, 3, H, W), (N,)
    rows, cams = explain_images(model, layer, images, labels, scanned)
    boxes = _boxes_for(dataset, scanned)
    box_scores = _score_boxes(rows, cams, boxes) if boxes is not None else {}
    chosen = (
        list(range(len(scanned))) if indices is not None else _pick(rows, num_correct, num_wrong)
    )
    result = _draw(out_dir, images, cams, rows, chosen, getattr(dataset, "class_names", None))
    write_csv(rows, out_dir / "localisation.csv")
    result.update(
        target_layer=layer if isinstance(layer, str) else type(layer).__name__,
        scanned=len(rows),
        top1=sum(row["correct"] for row in rows) / len(rows),
        localisation="localisation.csv",
        **box_scores,
    )
    write_text(out_dir / "summary.json", json.dumps(result, indent=2))
    log.info("Grad-CAM at %s on %d images: %s", result["target_layer"], len(rows), result)
    return result


def explain_images(
    model: nn.Module,
    layer: str | nn.Module,
    images: Tensor,
    labels: Tensor,
    indices: Sequence[int],
) -> tuple[list[dict[str, Any]], Tensor]:
    """Predict ``images`` and take the Grad-CAM of each predicted class at ``layer``.

    Returns one row per image (``index``, ``label``, ``pred``, ``prob``, ``correct``) and the
    CAMs (N, H, W) on the CPU.
    """
    probs = predict_probabilities(model, images, batch_size=BATCH_SIZE)  # (N, C)
    preds = probs.argmax(dim=1)
    device = next(model.parameters()).device
    cams = []  # the CAM of the predicted class of each image
    for batch, targets in zip(images.split(BATCH_SIZE), preds.split(BATCH_SIZE), strict=True):
        cams.append(gradcam(model, layer, batch.to(device), targets=targets).cpu())
    rows = [
        {
            "index": i,
            "label": int(y),
            "pred": int(p),
            "prob": round(float(probs[k, p]), 4),
            "correct": bool(y == p),
        }
        for k, (i, y, p) in enumerate(zip(indices, labels, preds, strict=True))
    ]
    return rows, torch.cat(cams)


def predict_probabilities(model: nn.Module, images: Tensor, *, batch_size: int = 64) -> Tensor:
    """Class probabilities (N, C) on the CPU; log-probability and logit outputs both work."""
    device = next(model.parameters()).device
    with eval_mode(model), torch.no_grad():
        outputs = torch.cat([model(batch.to(device)).cpu() for batch in images.split(batch_size)])
    return outputs.exp() if uses_log_probs(model) else outputs.softmax(dim=1)


def save_png(array, path: Path) -> Path:
    """Write an (H, W, 3) uint8 array as a PNG, atomically."""
    return atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def _load(dataset: Dataset, indices: list[int]) -> tuple[Tensor, Tensor]:
    loader = DataLoader(Subset(dataset, indices), batch_size=BATCH_SIZE, shuffle=False)
    images, labels = zip(*loader, strict=True)
    return torch.cat(images), torch.cat([torch.as_tensor(y) for y in labels])


def _boxes_for(dataset: Dataset, scanned: list[int]) -> Tensor | None:
    """The boxes of the scanned images, or None when the dataset has none."""
    boxes = dataset.boxes() if callable(getattr(dataset, "boxes", None)) else None
    return None if boxes is None else torch.as_tensor(boxes).reshape(-1, 4)[scanned]


def _score_boxes(rows: list[dict[str, Any]], cams: Tensor, boxes: Tensor) -> dict[str, float]:
    """Add each image's pointing-game hit and CAM mass in its box to its row; return the
    means."""
    hits, mass = pointing_game(cams, boxes), cam_mass_in_box(cams, boxes)
    for row, hit, inside in zip(rows, hits.tolist(), mass.tolist(), strict=True):
        row.update(pointing_hit=hit, mass_in_box=round(inside, 4))
    return {
        "pointing_game": sum(row["pointing_hit"] for row in rows) / len(rows),
        "mass_in_box": sum(row["mass_in_box"] for row in rows) / len(rows),
    }


def _pick(rows: list[dict[str, Any]], num_correct: int, num_wrong: int) -> list[int]:
    """Positions of the first correct and the first wrong predictions (fewer if missing)."""
    correct = [k for k, row in enumerate(rows) if row["correct"]][:num_correct]
    wrong = [k for k, row in enumerate(rows) if not row["correct"]][:num_wrong]
    if not wrong or not correct:
        log.warning("found %d correct and %d wrong predictions", len(correct), len(wrong))
    return correct + wrong


def _draw(
    out_dir: Path,
    images: Tensor,
    cams: Tensor,
    rows: list[dict[str, Any]],
    chosen: list[int],
    names: Sequence[str] | None,
) -> dict[str, Any]:
    """Save one panel per chosen image and the titled figure of all of them."""
    panels, titles, files = [], [], []
    for k in chosen:
        row = rows[k]
        panel = cam_panel(images[k], cams[k])
        files.append(str(save_png(panel, out_dir / "panels" / f"{row['index']}.png")))
        predicted = names[row["pred"]] if names else str(row["pred"])
        true = names[row["label"]] if names else str(row["label"])
        panels.append(panel)
        titles.append(
            f"#{row['index']} "
            + cam_title(predicted, true, correct=row["correct"], probability=row["prob"])
        )
    result: dict[str, Any] = {"panels": files, "chosen": [rows[k]["index"] for k in chosen]}
    if panels:
        figure = plot_cam_panels(panels, titles)
        save_figure(figure, out_dir / "cams.png")
        result["figure"] = str(out_dir / "cams.png")
    return result


def run_explain_checkpoint(
    checkpoint: str | os.PathLike,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    indices: Sequence[int] | None = None,
    target_layer: str | None = None,
    max_scan: int = 256,
    device: torch.device | str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """``run_explain`` on a training checkpoint and the val split of its Tiny ImageNet folder."""
    model, _ = model_from_checkpoint(checkpoint, device=device)
    dataset = TinyImageNet(data_root, "val", transform=val_transform())
    return run_explain(
        model,
        dataset,
        out_dir,
        target_layer=target_layer,
        indices=indices,
        max_scan=max_scan,
        device=device,
        overwrite=overwrite,
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """``python -m course_lib explain``."""
    text = "Grad-CAM panels of a trained model"
    parser = subparsers.add_parser("explain", help=text, description=text)
    add_checkpoint_options(parser, data_help="Tiny ImageNet root (val)")
    parser.add_argument("--indices", type=int, nargs="+", help="val images to draw")
    parser.add_argument("--layer", help="target layer (default: last conv block)")
    add_run_options(parser)
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    summary = run_explain_checkpoint(
        args.checkpoint,
        args.data,
        args.out,
        indices=args.indices,
        target_layer=args.layer,
        device=get_device(args.device),
        overwrite=args.overwrite,
    )
    return print_summary(summary)
