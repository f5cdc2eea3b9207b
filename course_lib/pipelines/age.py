"""Age groups from faces (article 003), end to end: CACD decades, ConvNeXt, curves, heatmap,
PCA and t-SNE of the learned features.

``data_root`` is either an ImageFolder split (``train/<group>/`` and ``val/<group>/``, as
``data_tools`` writes it) or a raw CACD folder (``CACD2000/`` with ``celebrity2000_meta.mat`` or
``celebrity2000.mat``); a raw folder is first copied into decade folders (at most
``IMAGES_PER_GROUP`` images each) and split 80/20, stratified, inside the run folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import v2

from course_lib.configs import TrainConfig
from course_lib.data.cacd import load_cacd_meta, organize_by_decade, split_train_val
from course_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from course_lib.features import extract_features, pca_2d, penultimate_layer, tsne_2d
from course_lib.files import save_figure
from course_lib.pipelines.training import RunData, pipeline_device, train_run
from course_lib.utils import seed_worker
from course_lib.viz.embeddings import scatter_by_label

META_FILES = ("celebrity2000_meta.mat", "celebrity2000.mat")
#: At most this many images per decade are copied out of a raw CACD folder.
IMAGES_PER_GROUP = 200


def run_age(
    config: TrainConfig | str | os.PathLike,
    *,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    device: torch.device | str | None = None,
    epochs: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Train ``config`` (e.g. ``"age_convnext_tiny"``) on age groups and write the run folder
    ``out_dir`` like :func:`course_lib.pipelines.transfer.run_transfer`, plus ``pca.png`` and
    ``tsne.png`` (penultimate features of the validation images).

    The validation split is evaluated every epoch and once more at the end for the heatmap.
    """

    def load_data(config: TrainConfig, run_dir: Path) -> RunData:
        return age_loaders(config, age_folders(data_root, run_dir / "data", seed=config.seed))

    run = train_run(
        config,
        out_dir,
        task="age",
        load_data=load_data,
        device=pipeline_device(device),
        epochs=epochs,
        overwrite=overwrite,
        resume=resume,
        test_name="val (the final model)",
    )
    run.summary["files"].update(plot_val_features(run.model, run.data, run.run_dir))
    return run.summary


def plot_val_features(model: nn.Module, data: RunData, run_dir: Path) -> dict[str, str]:
    """``pca.png`` and ``tsne.png`` of the penultimate features of the test images."""
    layer = penultimate_layer(model)
    features, labels = extract_features(model, data.test_loader, layer=layer)
    files = {}
    for name, method, reduce in (("pca", "PCA", pca_2d), ("tsne", "t-SNE", tsne_2d)):
        figure = scatter_by_label(
            reduce(features),
            labels,
            class_names=data.class_names,
            title=f"{name.upper()} of validation features ({layer})",
            axis_name=f"{method} component",
        )
        save_figure(figure, run_dir / f"{name}.png")
        files[name] = f"{name}.png"
    return files


def age_folders(data_root: str | os.PathLike, work_dir: Path, *, seed: int = 0) -> Path:
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
        load_cacd_meta(meta), root / "CACD2000", by_decade, per_group=IMAGES_PER_GROUP, seed=seed
    )
    split_train_val(by_decade, work_dir / "split", test_size=0.2, seed=42)
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
