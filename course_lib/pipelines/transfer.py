"""Tiny ImageNet classification by transfer learning (article 001), end to end.

``run_transfer`` reads a Tiny ImageNet folder, holds out ``val_fraction`` of train (95/5,
seed 42, as the article's ``random_split``), trains with the config's stages, evaluates on the
official val split (labels recovered from ``val_annotations.txt``) and writes the run folder:
``config.yaml``, ``history.csv``, ``predictions.csv``, ``checkpoints/``, ``curves.png``,
``confusion.png``/``confusion.csv`` and ``summary.json``.

Two data paths give the same splits and the same augmentation distribution:

* ``fast=True`` (default): every image is decoded once into a uint8 cache, and batches are
  augmented as whole tensors (``course_lib.data.cache.CachedLoader``), on the GPU when training
  there;
* ``fast=False``: the article's way, ``(PIL image, label)`` per sample through torchvision
  transforms in a DataLoader.

``start_run`` and ``report_run`` are shared with the age pipeline.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib.configs import TrainConfig, load_config, save_config, with_epochs
from course_lib.data.cache import CachedLoader, build_cache, load_cache
from course_lib.data.splits import TransformedSubset, random_split_indices
from course_lib.data.tiny_imagenet import TinyImageNet, pick_per_class
from course_lib.data.transforms import AugmentConfig, train_transform, val_transform
from course_lib.files import save_figure, write_text
from course_lib.history import CHECKPOINT_DIR, prepare_run_dir, write_csv
from course_lib.metrics import confusion_matrix, normalize_per_class, topk_accuracy
from course_lib.models import create_model, set_trainable
from course_lib.stages import train_stages
from course_lib.train import evaluate, train_one_epoch
from course_lib.utils import seed_everything
from course_lib.viz.curves import plot_history
from course_lib.viz.heatmaps import plot_confusion

log = logging.getLogger(__name__)


@dataclass
class RunData:
    """What a pipeline trains and tests on."""

    loaders: dict[str, Any]  # "train" and "val" (held out, evaluated every epoch)
    test_loader: Any  # the final evaluation
    class_names: list[str]

    def describe(self) -> dict[str, Any]:
        """What checkpoints keep about the data: the class count and names."""
        return {"num_classes": len(self.class_names), "class_names": list(self.class_names)}


def run_transfer(
    config: TrainConfig | str,
    *,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    device: torch.device | str | None = None,
    epochs: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    model: nn.Module | None = None,
    fast: bool = True,
    cache_dir: str | os.PathLike | None = None,
    num_workers: int = 0,
    heatmap: bool = True,
    train_step: Callable[..., dict[str, float]] = train_one_epoch,
    metric: Callable[..., list[float]] = topk_accuracy,
    freeze: Callable[..., int] = set_trainable,
    confusion: Callable[..., torch.Tensor] = confusion_matrix,
    normalize: Callable[[torch.Tensor], torch.Tensor] = normalize_per_class,
) -> dict[str, Any]:
    """Train ``config`` (a name, a YAML/JSON path or a TrainConfig) on Tiny ImageNet at
    ``data_root``; write the run folder ``out_dir``; return the summary (also summary.json).

    ``epochs`` overrides every stage's epochs. An existing run folder is an error unless
    ``overwrite`` or ``resume`` (continue from ``checkpoints/last.pt``). ``model`` replaces the
    config's model (e.g. one built from a student's head). ``cache_dir`` keeps the decoded
    cache somewhere reusable (default: inside the run folder). The graded steps can be
    swapped through the last keywords; ``heatmap=False`` skips the confusion figure.
    """
    config, run_dir, checkpoint = start_run(
        config, out_dir, task="transfer", epochs=epochs, overwrite=overwrite, resume=resume
    )
    device = torch.device(device) if device is not None else _default_device(model)
    cache_root = Path(cache_dir) if cache_dir is not None else run_dir / "cache"
    if fast:
        data = tiny_imagenet_cached(config, data_root, cache_root, device=device)
    else:
        data = tiny_imagenet_per_sample(config, data_root, num_workers=num_workers)
    model = model if model is not None else build_model(config, len(data.class_names))
    history = train_stages(
        model, data.loaders, config, device=device, run_dir=run_dir, resume=checkpoint,
        train_step=train_step, metric=metric, freeze=freeze, extra_state=data.describe(),
    )  # fmt: skip
    return report_run(
        run_dir, config, model, history, data, device=device, metric=metric,
        confusion=confusion if heatmap else None, normalize=normalize,
    )  # fmt: skip


def start_run(
    config: TrainConfig | str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    task: str,
    epochs: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
) -> tuple[TrainConfig, Path, Path | None]:
    """Resolve the config, prepare the run folder, save ``config.yaml`` and seed everything.

    Returns the config, the folder and the checkpoint to resume from (None for a new run).
    """
    if not isinstance(config, TrainConfig):
        config = load_config(config)
    if config.task != task:
        raise ValueError(
            f"config {config.name!r} is for the {config.task!r} pipeline, not {task!r}"
        )
    if epochs is not None:
        config = with_epochs(config, epochs)
    run_dir = prepare_run_dir(out_dir, overwrite=overwrite, resume=resume)
    checkpoint = run_dir / CHECKPOINT_DIR / "last.pt" if resume else None
    if checkpoint is not None and not checkpoint.is_file():
        raise FileNotFoundError(f"nothing to resume: {checkpoint} does not exist")
    save_config(config, run_dir / "config.yaml")
    seed_everything(config.seed, deterministic=False)
    return config, run_dir, checkpoint


def build_model(config: TrainConfig, data_classes: int) -> nn.Module:
    """The config's model for the number of classes in the data (which must match the
    config's ``num_classes`` when it gives one)."""
    if config.num_classes is not None and config.num_classes != data_classes:
        raise ValueError(
            f"config {config.name!r} asks for {config.num_classes} classes but the data has "
            f"{data_classes}; set num_classes to null (from the data) or use the matching data"
        )
    return create_model(
        config.model, num_classes=data_classes, weights=config.weights, **config.model_kwargs
    )


def augment_config(config: TrainConfig) -> AugmentConfig:
    """The batched/per-sample augmentation of ``course_lib.data.transforms`` for a config."""
    settings = config.augment
    if settings.brightness is not None or settings.contrast is not None:
        raise ValueError(
            f"config {config.name!r}: brightness/contrast jitter is not part of the Tiny "
            "ImageNet recipe; use crop_scale, flip, saturation and hue"
        )
    return AugmentConfig(
        size=config.image_size,
        scale=settings.crop_scale if settings.crop_scale is not None else 1.0,
        flip_p=0.5 if settings.flip else 0.0,
        saturation=settings.saturation,
        hue=settings.hue,
    )


def tiny_imagenet_cached(
    config: TrainConfig, root: str | os.PathLike, cache_root: Path, *, device: torch.device
) -> RunData:
    """Loaders over decoded uint8 caches of train and val, augmented batch-wise on ``device``."""
    train_set, test_set = TinyImageNet(root, "train"), TinyImageNet(root, "val")
    _check_size(config, train_set)
    train_cache = load_cache(build_cache(train_set, cache_root / "train"))
    test_cache = load_cache(build_cache(test_set, cache_root / "val"))
    train_idx, val_idx = _split(config, train_set.targets)
    batch = config.batch_size
    loaders = {
        "train": CachedLoader(train_cache, batch_size=batch, indices=train_idx, shuffle=True,
                              augment=augment_config(config), device=device, seed=config.seed),
        "val": CachedLoader(train_cache, batch_size=batch, indices=val_idx, device=device),
    }  # fmt: skip
    test = CachedLoader(test_cache, batch_size=batch, device=device)
    return RunData(loaders, test, list(train_set.class_names))


def tiny_imagenet_per_sample(
    config: TrainConfig, root: str | os.PathLike, *, num_workers: int = 0
) -> RunData:
    """Article 001's loaders: PIL images through per-sample torchvision transforms."""
    train_set = TinyImageNet(root, "train")
    _check_size(config, train_set)
    augment = augment_config(config)
    train_idx, val_idx = _split(config, train_set.targets)
    train = TransformedSubset(train_set, train_idx, train_transform(config=augment))
    held_out = TransformedSubset(train_set, val_idx, val_transform())
    test_set = TinyImageNet(root, "val", transform=val_transform())
    shuffle = torch.Generator().manual_seed(config.seed)
    options = {"batch_size": config.batch_size, "num_workers": num_workers}
    loaders = {
        "train": DataLoader(train, shuffle=True, generator=shuffle, **options),
        "val": DataLoader(held_out, **options),
    }
    return RunData(loaders, DataLoader(test_set, **options), list(train_set.class_names))


def report_run(
    run_dir: Path,
    config: TrainConfig,
    model: nn.Module,
    history: Sequence[dict[str, Any]],
    data: RunData,
    *,
    device: torch.device,
    metric: Callable[..., list[float]] = topk_accuracy,
    confusion: Callable[..., torch.Tensor] | None = confusion_matrix,
    normalize: Callable[[torch.Tensor], torch.Tensor] = normalize_per_class,
    test_name: str = "test (official val split)",
) -> dict[str, Any]:
    """Evaluate on the test loader; write curves, the heatmap and summary.json; return it."""
    start = time.perf_counter()
    test = evaluate(model, data.test_loader, device=device, metric=metric, topk=config.topk)
    files = {"history": "history.csv", "curves": "curves.png"}
    save_figure(
        plot_history(history, title=f"{config.name}: {config.model}"), run_dir / "curves.png"
    )
    if confusion is not None:
        num_classes = len(data.class_names)
        counts = confusion(test["preds"], test["targets"], num_classes)
        rows = [{"actual": name, **dict(zip(data.class_names, map(int, row), strict=True))}
                for name, row in zip(data.class_names, counts.tolist(), strict=True)]  # fmt: skip
        write_csv(rows, run_dir / "confusion.csv")
        figure = plot_confusion(
            normalize(counts), data.class_names, title=f"{test_name}: actual vs predicted"
        )
        save_figure(figure, run_dir / "confusion.png")
        files.update(confusion="confusion.png", confusion_counts="confusion.csv")
    summary = {
        "config": config.name,
        "model": config.model,
        "device": str(device),
        "classes": len(data.class_names),
        "chance_top1": 1 / len(data.class_names),
        "epochs": len(history),
        "train_seconds": round(sum(row["seconds"] for row in history), 2),
        "last_epoch": dict(history[-1]) if history else {},
        "test_split": test_name,
        "test": {k: v for k, v in test.items() if k not in ("preds", "targets")},
        "test_images": len(test["targets"]),
        "files": files,
    }
    write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    log.info("test %s (%.1fs)", summary["test"], time.perf_counter() - start)
    return summary


def _split(config: TrainConfig, targets: Sequence[int]) -> tuple[list[int], list[int]]:
    """Held-out split of (at most ``max_per_class`` per class of) the training images."""
    pool = list(range(len(targets)))
    if config.max_per_class is not None:
        pool = pick_per_class(targets, config.max_per_class)
    fractions = (1 - config.val_fraction, config.val_fraction)
    train, val = random_split_indices(len(pool), fractions, seed=config.seed)
    return [pool[i] for i in train], [pool[i] for i in val]


def _check_size(config: TrainConfig, dataset: TinyImageNet) -> None:
    if config.image_size != 64:
        raise ValueError(
            f"config {config.name!r} has image_size={config.image_size}; Tiny ImageNet images "
            f"in {dataset.root} are 64x64 and this pipeline trains on them as they are"
        )


def _default_device(model: nn.Module | None) -> torch.device:
    return next(model.parameters()).device if model is not None else torch.device("cpu")
