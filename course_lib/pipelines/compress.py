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

import argparse
import copy
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from course_lib.checkpoint import model_from_checkpoint
from course_lib.cli import add_checkpoint_options, add_run_options, print_summary
from course_lib.compress import (
    CompressionReport,
    PooledInput,
    compress_model,
    count_parameters,
    state_dict_bytes,
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
from course_lib.pipelines.training import pipeline_device
from course_lib.pipelines.transfer import tiny_imagenet_per_sample
from course_lib.stages import train_stage
from course_lib.train import evaluate, loader_generators
from course_lib.utils import get_device, seed_everything
from course_lib.viz.cams import cam_panel, plot_cam_panels

log = logging.getLogger(__name__)

#: Article 001's head stage (Adam, CyclicLR 1e-4..6e-4 per batch), used when no config is given.
HEAD_STAGE = StageConfig(
    "finetune_tt", 1, ("classifier",), lr=1e-4, scheduler="cyclic", max_lr=6e-4, step_size_up=1404
)
#: Every fine-tuning (and its control) starts from this seed.
FINETUNE_SEED = 0


def run_compress(
    model: nn.Module,
    loaders: Mapping[str, Iterable[tuple[Tensor, Tensor]]],
    out_dir: str | os.PathLike,
    *,
    layers: Sequence[str] | None = None,
    max_rank: int | None = None,
    eps: float | None = None,
    finetune_epochs: int = 1,
    stage: StageConfig | None = None,
    control: bool = False,
    cam_images: int = 16,
    boxes: Sequence[Sequence[int]] | Tensor | None = None,
    device: torch.device | str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Compress ``model``, fine-tune, compare; write ``out_dir`` and return the summary.

    ``loaders["train"]`` fine-tunes, ``loaders["val"]`` gives top-1 and the CAM images (its
    first ``cam_images``; ``boxes`` are theirs, in loader order). ``layers`` (default: every
    Linear of ``model.classifier``) are compressed with ``max_rank``/``eps``, then
    fine-tuned with ``stage`` (default ``HEAD_STAGE``) for ``finetune_epochs`` (0: not at all).
    ``control`` fine-tunes a copy of the original the same way: what fine-tuning alone changes.
    """
    out_dir = prepare_out_dir(out_dir, overwrite=overwrite)
    device = pipeline_device(device, model)
    model = model.to(device)
    images, labels = _first_images(loaders["val"], cam_images)
    layers = list(layers) if layers is not None else classifier_linears(model)
    pooled = find_pooled_input(model, images.to(device))
    compressed, report = compress_model(model, layers, max_rank=max_rank, eps=eps, pooled=pooled)
    cam_layer = default_cam_layer(model)
    cams_of = partial(_true_class_cams, cam_layer, images.to(device), labels)
    rows = [_row("original", model, _top1(model, loaders, device))]
    rows.append(_row("TT-compressed", compressed, _top1(compressed, loaders, device)))
    cams = {"original": cams_of(model), "compressed": cams_of(compressed)}
    history = []
    if finetune_epochs > 0:
        stage = _finetune_stage(stage, None, finetune_epochs)
        history = _finetune(compressed, loaders, stage, device)
        name = f"TT + head fine-tuned ({finetune_epochs} ep.)"
        rows.append(_row(name, compressed, history[-1]["val_top1"]))
        cams["finetuned"] = cams_of(compressed)
    pooled_inputs = {name: vars(inputs) for name, inputs in pooled.items()}
    extra = dict(cam_layer=cam_layer, layers=layers, pooled=pooled_inputs, finetune_history=history)
    extra.update(_change(rows[0], rows[-1]))
    if control and finetune_epochs > 0:  # how much the fine-tuning alone moves top-1
        rows.append(_control_row(model, loaders, stage, device))
    cam_rows = compare_cams(cams, labels, boxes=boxes)
    return _write_outputs(out_dir, rows, report, cams, cam_rows, images, compressed, extra)


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


def _finetune(
    model: nn.Module,
    loaders: Mapping[str, Iterable[tuple[Tensor, Tensor]]],
    stage: StageConfig,
    device: torch.device,
) -> list[dict[str, Any]]:
    """Fine-tune ``stage``'s parameters from the same seed: the same batches and dropout masks
    for every model fine-tuned."""
    seed_everything(FINETUNE_SEED, deterministic=False)
    for generator in loader_generators(loaders):
        generator.manual_seed(FINETUNE_SEED)
    train = {"train": loaders["train"], "val": loaders["val"]}
    return train_stage(model, train, stage, device=device, topk=(1,))


def _control_row(
    model: nn.Module,
    loaders: Mapping[str, Iterable[tuple[Tensor, Tensor]]],
    stage: StageConfig,
    device: torch.device,
) -> dict[str, Any]:
    """The row of a copy of the uncompressed model, fine-tuned like the compressed one."""
    reference = copy.deepcopy(model)
    top1 = _finetune(reference, loaders, stage, device)[-1]["val_top1"]
    return _row("original + head fine-tuned (control)", reference, top1)


def _change(original: dict[str, Any], final: dict[str, Any]) -> dict[str, float]:
    """How many times fewer classifier parameters, and the top-1 lost, at the end."""
    return {
        "classifier_reduction": original["classifier_parameters"] / final["classifier_parameters"],
        "top1_drop": original["top1"] - final["top1"],
    }


def _true_class_cams(layer: str, images: Tensor, labels: Tensor, model: nn.Module) -> Tensor:
    """Grad-CAMs (N, H, W) of the true classes, on the CPU."""
    return gradcam(model, layer, images, targets=labels).cpu()


def _top1(
    model: nn.Module, loaders: Mapping[str, Iterable[tuple[Tensor, Tensor]]], device: torch.device
) -> float:
    return evaluate(model, loaders["val"], device=device, topk=(1,))["top1"]


def _markdown(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _write_outputs(
    out_dir: Path,
    rows: list[dict[str, Any]],
    report: CompressionReport,
    cams: Mapping[str, Tensor],
    cam_rows: list[dict[str, Any]],
    images: Tensor,
    compressed: nn.Module,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The tables, the fine-tuned weights, the CAM figure and summary.json; return the summary
    (the table, the weights' size, the CAM means, then ``extra``)."""
    write_csv(rows, out_dir / "summary.csv")
    write_text(out_dir / "summary.md", _markdown(rows))
    write_csv(report.rows(), out_dir / "layers.csv")
    write_csv(cam_rows, out_dir / "cams.csv")
    state = copy.deepcopy(compressed).cpu().state_dict()
    atomic_write(out_dir / "compressed.pt", lambda tmp: torch.save(state, tmp))
    save_figure(_cam_figure(images, cams, cam_rows), out_dir / "cams.png")
    result = {"table": rows, "compressed_bytes": (out_dir / "compressed.pt").stat().st_size}
    result.update(_cam_means(cam_rows))
    result.update(extra)
    write_text(out_dir / "summary.json", json.dumps(result, indent=2, default=str))
    log.info("compression: %s", rows)
    return result


def _cam_figure(
    images: Tensor, cams: Mapping[str, Tensor], cam_rows: list[dict[str, Any]]
) -> Figure:
    """The first three images' CAM panels, one per model."""
    panels, titles = [], []
    for k in range(min(3, len(images))):
        for name, maps in cams.items():
            panels.append(cam_panel(images[k], maps[k]))
            correlation = cam_rows[k].get(f"correlation_{name}")
            extra = "" if correlation is None else f" (correlation with original {correlation:.2f})"
            titles.append(f"image {k}: {name}{extra}")
    return plot_cam_panels(panels, titles)


def _cam_means(cam_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each CAM score's mean over the images where it is defined, and their number."""
    means: dict[str, Any] = {}
    for key in cam_rows[0]:
        if key.startswith(("correlation_", "pointing_", "mass_")):
            values = [float(row[key]) for row in cam_rows if not math.isnan(float(row[key]))]
            means[f"cam_{key}_mean"] = sum(values) / len(values) if values else None
            means[f"cam_{key}_images"] = len(values)
    return means


def run_compress_checkpoint(
    checkpoint: str | os.PathLike,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    layers: Sequence[str] | None = None,
    max_rank: int | None = None,
    eps: float | None = None,
    finetune_epochs: int = 1,
    stage: StageConfig | None = None,
    control: bool = False,
    device: torch.device | str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """``run_compress`` on a training checkpoint and its Tiny ImageNet folder.

    The saved config rebuilds the training split (fine-tuning data) and, unless ``stage`` is
    given, the head stage; top-1 is measured on the official val split, whose boxes score the
    CAMs.
    """
    model, config = model_from_checkpoint(checkpoint, device=device)
    data = tiny_imagenet_per_sample(config, data_root)
    return run_compress(
        model,
        {"train": data.loaders["train"], "val": data.test_loader},
        out_dir,
        layers=layers,
        max_rank=max_rank,
        eps=eps,
        finetune_epochs=finetune_epochs,
        stage=_finetune_stage(stage, config, finetune_epochs),
        control=control,
        boxes=TinyImageNet(data_root, "val").boxes(),
        device=device,
        overwrite=overwrite,
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """``python -m course_lib compress``."""
    text = "tensor-train compression of the head"
    parser = subparsers.add_parser("compress", help=text, description=text)
    add_checkpoint_options(parser, data_help="Tiny ImageNet root")
    ranks = parser.add_mutually_exclusive_group(required=True)
    ranks.add_argument("--max-rank", type=int, help="cap on every TT rank")
    ranks.add_argument("--eps", type=float, help="relative Frobenius error bound per layer")
    parser.add_argument("--finetune-epochs", type=int, default=1)
    add_run_options(parser)
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    summary = run_compress_checkpoint(
        args.checkpoint,
        args.data,
        args.out,
        max_rank=args.max_rank,
        eps=args.eps,
        finetune_epochs=args.finetune_epochs,
        device=get_device(args.device),
        overwrite=args.overwrite,
    )
    return print_summary(summary)
