"""Age groups from faces (article 003), end to end: CACD decades, ConvNeXt, curves, heatmap,
PCA and t-SNE of the learned features.

``data_root`` is either an ImageFolder split (``train/<group>/`` and ``val/<group>/``, as
``data_tools`` writes it) or a raw CACD folder (``CACD2000/`` with ``celebrity2000_meta.mat`` or
``celebrity2000.mat``); a raw folder is first copied into decade folders (at most
``per_group`` images each) and split 80/20, stratified, inside the run folder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import v2

from course_lib.configs import TrainConfig
from course_lib.data.cacd import (
    load_cacd_meta,
    organize_by_decade,
    select_per_group,
    split_train_val,
)
from course_lib.data.splits import stratified_split_indices
from course_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from course_lib.features import extract_features, pca_2d, penultimate_layer, tsne_2d
from course_lib.files import save_figure
from course_lib.metrics import confusion_matrix, normalize_per_class, topk_accuracy
from course_lib.models import set_trainable
from course_lib.pipelines.transfer import (
    RunData,
    build_model,
    report_run,
    start_run,
)
from course_lib.stages import train_stages
from course_lib.train import train_one_epoch
from course_lib.utils import seed_worker
from course_lib.viz.embeddings import scatter_by_label

log = logging.getLogger(__name__)

META_FILES = ("celebrity2000_meta.mat", "celebrity2000.mat")


def run_age(
    config: TrainConfig | str,
    *,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    device: torch.device | str | None = None,
    epochs: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    model: nn.Module | None = None,
    per_group: int = 200,
    num_workers: int = 0,
    embeddings: bool = True,
    train_step: Callable[..., dict[str, float]] = train_one_epoch,
    metric: Callable[..., list[float]] = topk_accuracy,
    freeze: Callable[..., int] = set_trainable,
    confusion: Callable[..., torch.Tensor] = confusion_matrix,
    normalize: Callable[[torch.Tensor], torch.Tensor] = normalize_per_class,
    load_meta: Callable[..., Any] = load_cacd_meta,
    select: Callable[..., dict[str, list[str]]] = select_per_group,
    split: Callable[..., tuple[list[int], list[int]]] = stratified_split_indices,
    extract: Callable[..., tuple[torch.Tensor, torch.Tensor]] = extract_features,
) -> dict[str, Any]:
    """Train ``config`` (e.g. ``"age_convnext_tiny"``) on age groups and write the run folder
    ``out_dir`` like :func:`course_lib.pipelines.transfer.run_transfer`, plus ``pca.png`` and
    ``tsne.png`` (penultimate features of the validation images) when ``embeddings``.

    The validation split is evaluated every epoch and once more at the end for the heatmap.
    Graded steps can be swapped through the last keywords.
    """
    config, run_dir, checkpoint = start_run(
        config, out_dir, task="age", epochs=epochs, overwrite=overwrite, resume=resume
    )
    device = torch.device(device) if device is not None else torch.device("cpu")
    folders = age_folders(
        data_root, run_dir / "data", per_group=per_group, seed=config.seed,
        load_meta=load_meta, select=select, split=split,
    )  # fmt: skip
    data = age_loaders(config, folders, num_workers=num_workers)
    model = model if model is not None else build_model(config, len(data.class_names))
    history = train_stages(
        model, data.loaders, config, device=device, run_dir=run_dir, resume=checkpoint,
        train_step=train_step, metric=metric, freeze=freeze, extra_state=data.describe(),
    )  # fmt: skip
    summary = report_run(
        run_dir, config, model, history, data, device=device, metric=metric,
        confusion=confusion, normalize=normalize, test_name="val (the final model)",
    )  # fmt: skip
    if embeddings:
        features, labels = extract(model, data.test_loader, layer=penultimate_layer(model))
        for name, reduce in (("pca", pca_2d), ("tsne", tsne_2d)):
            title = f"{name.upper()} of validation features ({penultimate_layer(model)})"
            figure = scatter_by_label(
                reduce(features), labels, class_names=data.class_names, title=title,
                axis_name=f"{'PCA' if name == 'pca' else 't-SNE'} component",
            )  # fmt: skip
            save_figure(figure, run_dir / f"{name}.png")
            summary["files"][name] = f"{name}.png"
    return summary


def age_folders(
    data_root: str | os.PathLike,
    work_dir: Path,
    *,
    per_group: int = 200,
    seed: int = 0,
    load_meta: Callable[..., Any] = load_cacd_meta,
    select: Callable[..., dict[str, list[str]]] = select_per_group,
    split: Callable[..., tuple[list[int], list[int]]] = stratified_split_indices,
) -> Path:
    """The ImageFolder split to train on: ``data_root`` itself, or one made from raw CACD."""
    root = Path(data_root)
    if (root / "train").is_dir() and (root / "val").is_dir():
        train, val = (
            sorted(p.name for p in (root / s).iterdir() if p.is_dir()) for s in ("train", "val")
        )
        if train != val or not train:
            raise ValueError(
                f"{root} has train/ and val/ but not the same group folders (train: {train[:6]}, "
                f"val: {val[:6]}); expected train/<group>/ and val/<group>/, e.g. 10s ... 60s"
            )
        return root
    meta = next((root / name for name in META_FILES if (root / name).is_file()), None)
    if meta is None or not (root / "CACD2000").is_dir():
        raise FileNotFoundError(
            f"{root} is neither an ImageFolder split (train/<group>/, val/<group>/) nor a CACD "
            f"folder (CACD2000/ and {' or '.join(META_FILES)})"
        )
    by_decade = work_dir / "by_decade"
    organize_by_decade(
        load_meta(meta), root / "CACD2000", by_decade, per_group=per_group, seed=seed,
        select=select,
    )  # fmt: skip
    split_train_val(by_decade, work_dir / "split", test_size=0.2, seed=42, split=split)
    return work_dir / "split"


class AgeGroupFolder(datasets.ImageFolder):
    """ImageFolder whose classes are ordered by age ("10s" < "20s" < ... < "100s"), not
    alphabetically (where "100s" would come first)."""

    def find_classes(self, directory: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
        classes, _ = super().find_classes(directory)
        classes = sorted(
            classes, key=lambda name: (int(name[:-1]) if name[:-1].isdigit() else 1e9, name)
        )
        return classes, {name: index for index, name in enumerate(classes)}


def age_transforms(config: TrainConfig) -> dict[str, v2.Compose]:
    """Article 003: resize to ``image_size``; for training also flip and ColorJitter."""
    size, settings = (config.image_size, config.image_size), config.augment
    to_tensor = [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD)),
    ]
    augment: list[v2.Transform] = [v2.RandomHorizontalFlip()] if settings.flip else []
    jitter = {
        "brightness": settings.brightness,
        "contrast": settings.contrast,
        "saturation": settings.saturation,
        "hue": settings.hue,
    }
    if any(value is not None for value in jitter.values()):
        augment.append(v2.ColorJitter(**jitter))
    if settings.crop_scale is not None:
        scale = (settings.crop_scale, settings.crop_scale)
        augment.insert(0, v2.RandomResizedCrop(size, scale=scale, ratio=(1.0, 1.0)))
    return {
        "train": v2.Compose([v2.Resize(size), *augment, *to_tensor]),
        "val": v2.Compose([v2.Resize(size), *to_tensor]),
    }


def age_loaders(config: TrainConfig, folders: Path, *, num_workers: int = 0) -> RunData:
    """Shuffled training and ordered validation loaders over the ImageFolder split."""
    transforms = age_transforms(config)
    train = AgeGroupFolder(folders / "train", transform=transforms["train"])
    val = AgeGroupFolder(folders / "val", transform=transforms["val"])
    options = {
        "batch_size": config.batch_size,
        "num_workers": num_workers,
        "worker_init_fn": seed_worker if num_workers else None,
    }
    generator = torch.Generator().manual_seed(config.seed)
    loaders = {
        "train": DataLoader(train, shuffle=True, generator=generator, **options),
        "val": DataLoader(val, **options),
    }
    return RunData(loaders, loaders["val"], list(train.classes))
