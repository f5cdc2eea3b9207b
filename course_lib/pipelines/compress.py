"""Compression pipeline (article 004, second half): TT layers in the head, then recovery.

``run_compress`` evaluates the model, replaces the Linear layers of its classifier by TT layers
(``compress_model``; VGG16's first layer is decomposed on its pooled inputs when the pooling
enlarges the feature maps, as at 64x64), evaluates again, fine-tunes the head for
``finetune_epochs`` with the training recipe's head stage (article 004: one epoch of stage 1
again) and compares Grad-CAMs of the original and the compressed model on the same images.

Output folder: ``summary.csv``/``summary.md`` (parameters, classifier parameters, state_dict
size and top-1 before, after compression, after fine-tuning), ``layers.csv`` (modes, ranks,
parameters, relative error per layer), ``cams.csv``/``cams.png`` (CAMs of the true class from
the original, compressed and fine-tuned models: correlation with the original's, pointing
game, mass in the box), ``compressed.pt`` (the fine-tuned state dict) and ``summary.json``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from course_lib.checkpoint import model_from_checkpoint
from course_lib.compress import (
    PooledInput,
    compress_model,
    count_parameters,
    state_dict_bytes,
    tt_matrix_forward,
    tt_svd,
)
from course_lib.configs import StageConfig, TrainConfig
from course_lib.data.tiny_imagenet import TinyImageNet
from course_lib.explain import (
    cam_correlation,
    cam_mass_in_box,
    default_cam_layer,
    eval_mode,
    gradcam,
    pointing_game,
)
from course_lib.files import atomic_write, prepare_out_dir, save_figure, write_text
from course_lib.history import write_csv
from course_lib.metrics import topk_accuracy
from course_lib.models import set_trainable
from course_lib.pipelines.transfer import tiny_imagenet_per_sample
from course_lib.stages import train_stage
from course_lib.train import evaluate, loader_generators, train_one_epoch
from course_lib.utils import seed_everything
from course_lib.viz.cams import cam_panel, plot_cam_panels

log = logging.getLogger(__name__)

#: Article 001's head stage (Adam, CyclicLR 1e-4..6e-4 per batch), used when no config is given.
HEAD_STAGE = StageConfig(
    "finetune_tt", 1, ("classifier",), lr=1e-4, scheduler="cyclic", max_lr=6e-4, step_size_up=1404
)


def run_compress(
    model: nn.Module | str | os.PathLike,
    loaders: Mapping[str, Iterable[tuple[Tensor, Tensor]]],
    out_dir: str | os.PathLike,
    *,
    layers: Sequence[str] | None = None,
    ranks: int | Sequence[int] | Mapping | None = None,
    max_rank: int | Mapping[str, int] | None = None,
    eps: float | Mapping[str, float] | None = None,
    fold_pooling: bool = True,
    finetune_epochs: int = 1,
    stage: StageConfig | None = None,
    control: bool = False,
    seed: int | None = 0,
    cam_layer: str | None = None,
    cam_images: int = 16,
    boxes: Sequence[Sequence[int]] | Tensor | None = None,
    device: torch.device | str | None = None,
    overwrite: bool = False,
    decompose: Callable[..., list[Tensor]] = tt_svd,
    contract: Callable[..., Tensor] = tt_matrix_forward,
    cam_fn: Callable[..., Tensor] = gradcam,
    train_step: Callable[..., dict[str, float]] = train_one_epoch,
    metric: Callable[..., list[float]] = topk_accuracy,
    freeze: Callable[..., int] = set_trainable,
) -> dict[str, Any]:
    """Compress ``model`` (or the model of a checkpoint path), fine-tune, compare; write out_dir.

    ``loaders["train"]`` fine-tunes, ``loaders["val"]`` gives top-1 and the CAM images (its
    first ``cam_images``; ``boxes`` are theirs, in loader order). ``layers`` defaults to every
    Linear of ``model.classifier``; ``ranks``/``max_rank``/``eps`` as in ``compress_model``.
    ``stage`` defaults to the checkpoint config's head stage, else ``HEAD_STAGE``, with
    ``finetune_epochs`` epochs (0 skips fine-tuning); ``control`` also fine-tunes a copy of the
    uncompressed model the same way (same ``seed``: same batches and dropout masks), to show how
    much the fine-tuning alone moves top-1. The graded steps can be swapped through the last
    keywords.
    """
    out_dir = prepare_out_dir(out_dir, overwrite=overwrite)
    config = None
    if isinstance(model, str | os.PathLike):
        model, config = model_from_checkpoint(model)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device)
    images, labels = _first_images(loaders["val"], cam_images)
    layers = list(layers) if layers is not None else classifier_linears(model)
    pooled = find_pooled_input(model, images.to(device)) if fold_pooling else {}
    options = {"ranks": ranks, "max_rank": max_rank, "eps": eps, "pooled": pooled}
    compressed, report = compress_model(
        model, layers, **options, decompose=decompose, contract=contract
    )

    def top1(net: nn.Module) -> float:
        return evaluate(net, loaders["val"], device=device, metric=metric, topk=(1,))["top1"]

    layer = cam_layer if cam_layer is not None else default_cam_layer(model)

    def cams_of(net: nn.Module) -> Tensor:  # CAMs of the true class, (N, H, W)
        return cam_fn(net, layer, images.to(device), targets=labels).cpu()

    rows = [_row("original", model, top1(model))]
    rows.append(_row("TT-compressed", compressed, top1(compressed)))
    cams = {"original": cams_of(model), "compressed": cams_of(compressed)}
    history, steps = [], (seed, train_step, metric, freeze)
    if finetune_epochs > 0:
        stage = _finetune_stage(stage, config, finetune_epochs)
        history = _finetune(compressed, loaders, stage, device, *steps)
        name = f"TT + head fine-tuned ({finetune_epochs} ep.)"
        rows.append(_row(name, compressed, history[-1]["val_top1"]))
        cams["finetuned"] = cams_of(compressed)
    final = rows[-1]
    if control and finetune_epochs > 0:  # how much the fine-tuning alone moves top-1
        reference = copy.deepcopy(model)
        top1_control = _finetune(reference, loaders, stage, device, *steps)[-1]["val_top1"]
        rows.append(_row("original + head fine-tuned (control)", reference, top1_control))
    cam_rows = compare_cams(cams, labels, boxes=boxes)
    result = _write_outputs(out_dir, rows, report, cams, cam_rows, images, compressed)
    result.update(
        cam_layer=layer,
        layers=layers,
        pooled={name: vars(inputs) for name, inputs in pooled.items()},
        finetune_history=history,
        classifier_reduction=rows[0]["classifier_parameters"] / final["classifier_parameters"],
        top1_drop=rows[0]["top1"] - final["top1"],
    )
    text = json.dumps(result, indent=2, default=str)
    write_text(out_dir / "summary.json", text)
    log.info("compression: %s", rows)
    return result


def classifier_linears(model: nn.Module) -> list[str]:
    """Dotted names of the Linear layers under ``model.classifier`` (else of the whole model)."""
    root = "classifier" if isinstance(getattr(model, "classifier", None), nn.Module) else ""
    scope = model.get_submodule(root) if root else model
    names = [
        f"{root}.{name}" if root else name
        for name, module in scope.named_modules()
        if isinstance(module, nn.Linear)
    ]
    if not names:
        raise ValueError("the model has no nn.Linear layer to compress; pass layers=[...]")
    return names


def find_pooled_input(
    model: nn.Module, images: Tensor, *, pool: str = "avgpool", linear: str = "classifier.0"
) -> dict[str, PooledInput]:
    """``{linear: PooledInput}`` when ``pool`` enlarges the maps of ``images`` (VGG16 at 64x64).

    Empty when the model has no such pooling and layer, or when the pooling does not enlarge.
    """
    try:
        pooling, layer = model.get_submodule(pool), model.get_submodule(linear)
    except AttributeError:
        return {}
    if not isinstance(pooling, nn.AdaptiveAvgPool2d) or not isinstance(layer, nn.Linear):
        return {}
    shapes = []
    handle = pooling.register_forward_hook(lambda m, i, o: shapes.append((i[0].shape, o.shape)))
    try:
        with eval_mode(model), torch.no_grad():
            model(images[:1])
    finally:
        handle.remove()
    (_, channels, *size), (*_, out_h, out_w) = shapes[0]
    if size[0] >= out_h and size[1] >= out_w:
        return {}
    log.info("%s reads %s maps pooled to %dx%d: decomposed on them", linear, size, out_h, out_w)
    return {linear: PooledInput(channels, tuple(size), (out_h, out_w))}


def compare_cams(
    cams: Mapping[str, Tensor],
    labels: Tensor,
    *,
    boxes: Sequence[Sequence[int]] | Tensor | None = None,
) -> list[dict[str, Any]]:
    """One row per image: correlation of each model's CAM with the first one's, box scores."""
    (first, reference), *others = cams.items()
    rows = [{"image": k, "label": int(label)} for k, label in enumerate(labels)]
    for name, maps in others:
        for row, value in zip(rows, cam_correlation(reference, maps).tolist(), strict=True):
            row[f"correlation_{name}"] = round(value, 4)
    if boxes is not None:
        boxes = torch.as_tensor(boxes).reshape(-1, 4)[: len(labels)]
        for name, maps in cams.items():
            hits, mass = pointing_game(maps, boxes), cam_mass_in_box(maps, boxes)
            for row, hit, inside in zip(rows, hits.tolist(), mass.tolist(), strict=True):
                row.update({f"pointing_{name}": hit, f"mass_{name}": round(inside, 4)})
    return rows


def _first_images(loader: Iterable[tuple[Tensor, Tensor]], count: int) -> tuple[Tensor, Tensor]:
    images, labels, seen = [], [], 0
    for batch_images, batch_labels in loader:
        images.append(batch_images.cpu())
        labels.append(torch.as_tensor(batch_labels).cpu())
        seen += len(batch_labels)
        if seen >= count:
            break
    if not images:
        raise ValueError("the validation loader yielded no batches")
    return torch.cat(images)[:count], torch.cat(labels)[:count]


def _row(name: str, model: nn.Module, top1: float) -> dict[str, Any]:
    classifier = sum(p.numel() for n, p in model.named_parameters() if n.startswith("classifier"))
    return {
        "model": name,
        "parameters": count_parameters(model),
        "classifier_parameters": classifier,
        "state_dict_MB": round(state_dict_bytes(model) / 2**20, 3),
        "top1": round(float(top1), 4),
    }


def _finetune_stage(
    stage: StageConfig | None, config: TrainConfig | None, epochs: int
) -> StageConfig:
    """The given stage, else the config's first head-only stage, else HEAD_STAGE."""
    if stage is None and config is not None:
        heads = [s for s in config.stages if s.trainable == ("classifier",)]
        stage = heads[0] if heads else None
    stage = stage if stage is not None else HEAD_STAGE
    return StageConfig(**{**vars(stage), "name": "finetune_tt", "epochs": epochs})


def _finetune(compressed, loaders, stage, device, seed, train_step, metric, freeze) -> list[dict]:
    if seed is not None:  # the same batches and dropout masks for every model fine-tuned
        seed_everything(seed, deterministic=False)
        for generator in loader_generators(loaders):
            generator.manual_seed(seed)
    return train_stage(
        compressed,
        {"train": loaders["train"], "val": loaders["val"]},
        stage,
        freeze=freeze,
        device=device,
        train_step=train_step,
        metric=metric,
        topk=(1,),
    )


def _markdown(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _write_outputs(out_dir: Path, rows, report, cams, cam_rows, images, compressed) -> dict:
    write_csv(rows, out_dir / "summary.csv")
    text = _markdown(rows)
    write_text(out_dir / "summary.md", text)
    write_csv(report.rows(), out_dir / "layers.csv")
    write_csv(cam_rows, out_dir / "cams.csv")
    state = copy.deepcopy(compressed).cpu().state_dict()
    atomic_write(out_dir / "compressed.pt", lambda tmp: torch.save(state, tmp))
    panels, titles = [], []
    for k in range(min(3, len(images))):
        for name, maps in cams.items():
            panels.append(cam_panel(images[k], maps[k]))
            correlation = cam_rows[k].get(f"correlation_{name}")
            extra = "" if correlation is None else f" (correlation with original {correlation:.2f})"
            titles.append(f"image {k}: {name}{extra}")
    figure = plot_cam_panels(panels, titles)
    save_figure(figure, out_dir / "cams.png")
    result = {"table": rows, "compressed_bytes": (out_dir / "compressed.pt").stat().st_size}
    for key in cam_rows[0]:  # means over the images where the value is defined
        if key.startswith(("correlation_", "pointing_", "mass_")):
            values = [float(row[key]) for row in cam_rows if not math.isnan(float(row[key]))]
            result[f"cam_{key}_mean"] = sum(values) / len(values) if values else None
            result[f"cam_{key}_images"] = len(values)
    return result


def run_compress_checkpoint(
    checkpoint: str | os.PathLike,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    device: torch.device | str | None = None,
    num_workers: int = 0,
    **options: Any,
) -> dict[str, Any]:
    """``run_compress`` on a training checkpoint and its Tiny ImageNet folder.

    The saved config rebuilds the training split (fine-tuning data) and the head stage; top-1
    is measured on the official val split, whose boxes score the CAMs. ``options`` go to
    ``run_compress``.
    """
    model, config = model_from_checkpoint(checkpoint, device=device)
    data = tiny_imagenet_per_sample(config, data_root, num_workers=num_workers)
    loaders = {"train": data.loaders["train"], "val": data.test_loader}
    options.setdefault("boxes", TinyImageNet(data_root, "val").boxes())
    options.setdefault("stage", _finetune_stage(None, config, options.get("finetune_epochs", 1)))
    return run_compress(model, loaders, out_dir, device=device, **options)
