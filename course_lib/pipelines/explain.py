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

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from course_lib.checkpoint import model_from_checkpoint
from course_lib.data.tiny_imagenet import TinyImageNet
from course_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD, val_transform
from course_lib.explain import (
    cam_mass_in_box,
    default_cam_layer,
    eval_mode,
    gradcam,
    pointing_game,
    scale_boxes,
)
from course_lib.files import atomic_write, prepare_out_dir, save_figure, write_text
from course_lib.history import write_csv
from course_lib.models import uses_log_probs
from course_lib.viz.cams import cam_panel, cam_title, plot_cam_panels

log = logging.getLogger(__name__)


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
    boxes: Sequence[Sequence[int]] | Tensor | None = None,
    box_image_size: tuple[int, int] | None = None,
    class_names: Sequence[str] | None = None,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    overwrite: bool = False,
    cam_fn: Callable[..., Tensor] = gradcam,
) -> dict[str, Any]:
    """Grad-CAM panels and localisation scores of ``dataset`` (``(image, label)`` items).

    ``indices`` chooses the images to draw; otherwise the first ``num_correct`` correct and
    ``num_wrong`` wrong predictions among the first ``max_scan`` images. ``boxes`` (one
    inclusive ``x0 y0 x1 y1`` per dataset item; default ``dataset.boxes()`` when it exists)
    refer to images of ``box_image_size`` (default: the model's input size). ``target_layer``
    defaults to the last non-pooling layer of ``model.features``. ``cam_fn`` replaces
    ``gradcam`` (e.g. by a student's version).
    """
    out_dir = prepare_out_dir(out_dir, overwrite=overwrite)
    if device is not None:
        model = model.to(device)
    layer = target_layer if target_layer is not None else default_cam_layer(model)
    scanned = list(indices) if indices is not None else list(range(min(len(dataset), max_scan)))
    if not scanned:
        raise ValueError("no images to explain: the dataset is empty or indices is empty")
    images, labels = _load(dataset, scanned, batch_size)  # (N, 3, H, W), (N,)
    probs = predict_probabilities(model, images, batch_size=batch_size)  # (N, C)
    preds = probs.argmax(dim=1)
    device = next(model.parameters()).device
    cams = []  # the CAM of the predicted class of each image
    for batch, targets in zip(images.split(batch_size), preds.split(batch_size), strict=True):
        cams.append(cam_fn(model, layer, batch.to(device), targets=targets).cpu())
    cams = torch.cat(cams)  # (N, H, W)
    rows = [
        {"index": i, "label": int(y), "pred": int(p), "prob": round(float(probs[k, p]), 4),
         "correct": bool(y == p)}
        for k, (i, y, p) in enumerate(zip(scanned, labels, preds, strict=True))
    ]  # fmt: skip
    box_tensor = _boxes_for(dataset, boxes, scanned, box_image_size, tuple(images.shape[-2:]))
    if box_tensor is not None:
        hits, mass = pointing_game(cams, box_tensor), cam_mass_in_box(cams, box_tensor)
        for row, hit, inside in zip(rows, hits.tolist(), mass.tolist(), strict=True):
            row.update(pointing_hit=hit, mass_in_box=round(inside, 4))
    chosen = (
        list(range(len(scanned))) if indices is not None else _pick(rows, num_correct, num_wrong)
    )
    names = class_names or getattr(dataset, "class_names", None)
    result = _draw(out_dir, images, cams, rows, chosen, names, mean=mean, std=std)
    write_csv(rows, out_dir / "localisation.csv")
    result.update(
        target_layer=layer if isinstance(layer, str) else type(layer).__name__,
        scanned=len(rows),
        top1=sum(row["correct"] for row in rows) / len(rows),
        localisation="localisation.csv",
    )
    if box_tensor is not None:
        result["pointing_game"] = sum(row["pointing_hit"] for row in rows) / len(rows)
        result["mass_in_box"] = sum(row["mass_in_box"] for row in rows) / len(rows)
    text = json.dumps(result, indent=2)
    write_text(out_dir / "summary.json", text)
    log.info("Grad-CAM at %s on %d images: %s", result["target_layer"], len(rows), result)
    return result


def predict_probabilities(model: nn.Module, images: Tensor, *, batch_size: int = 64) -> Tensor:
    """Class probabilities (N, C) on the CPU; log-probability and logit outputs both work."""
    device = next(model.parameters()).device
    with eval_mode(model), torch.no_grad():
        outputs = torch.cat([model(batch.to(device)).cpu() for batch in images.split(batch_size)])
    return outputs.exp() if uses_log_probs(model) else outputs.softmax(dim=1)


def save_png(array, path: Path) -> Path:
    """Write an (H, W, 3) uint8 array as a PNG, atomically."""
    return atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def _load(dataset: Dataset, indices: list[int], batch_size: int) -> tuple[Tensor, Tensor]:
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False)
    images, labels = zip(*loader, strict=True)
    return torch.cat(images), torch.cat([torch.as_tensor(y) for y in labels])


def _boxes_for(
    dataset: Dataset,
    boxes: Sequence[Sequence[int]] | Tensor | None,
    scanned: list[int],
    box_image_size: tuple[int, int] | None,
    image_size: tuple[int, int],
) -> Tensor | None:
    """The boxes of the scanned images in CAM pixels, or None when there are none."""
    if boxes is None and callable(getattr(dataset, "boxes", None)):
        boxes = dataset.boxes()
    if boxes is None:
        return None
    boxes = torch.as_tensor(boxes).reshape(-1, 4)[scanned]
    if box_image_size is not None and tuple(box_image_size) != image_size:
        boxes = scale_boxes(boxes, tuple(box_image_size), image_size)
    return boxes


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
    *,
    mean: Sequence[float],
    std: Sequence[float],
) -> dict[str, Any]:
    """Save one panel per chosen image and the titled figure of all of them."""
    panels, titles, files = [], [], []
    for k in chosen:
        row = rows[k]
        panel = cam_panel(images[k], cams[k], mean=mean, std=std)
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
    split: str = "val",
    device: torch.device | str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """``run_explain`` on a training checkpoint and a split of its Tiny ImageNet folder."""
    model, _ = model_from_checkpoint(checkpoint, device=device)
    dataset = TinyImageNet(data_root, split, transform=val_transform())
    return run_explain(model, dataset, out_dir, device=device, **options)
