"""Tiny ImageNet classification by transfer learning (article 001), end to end.

``run_transfer`` reads a Tiny ImageNet folder, holds out ``val_fraction`` of train (95/5,
seed 42, as the article's ``random_split``), trains with the config's stages, evaluates on the
official val split (labels recovered from ``val_annotations.txt``) and writes the run folder
(see :mod:`course_lib.pipelines.training`).

Two data paths give the same splits and the same augmentation distribution:

* ``tiny_imagenet_cached`` (what ``run_transfer`` trains on): every image is decoded once into
  a uint8 cache, and batches are augmented as whole tensors
  (``course_lib.data.cache.CachedLoader``), on the GPU when training there;
* ``tiny_imagenet_per_sample``: the article's way, ``(PIL image, label)`` per sample through
  torchvision transforms in a DataLoader (the compression pipeline fine-tunes on it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from course_lib.configs import TrainConfig
from course_lib.data.cache import CachedLoader, build_cache, load_cache
from course_lib.data.splits import TransformedSubset, random_split_indices
from course_lib.data.tiny_imagenet import TinyImageNet, pick_per_class
from course_lib.data.transforms import AugmentConfig, train_transform, val_transform
from course_lib.pipelines.training import RunData, pipeline_device, train_run


def run_transfer(
    config: TrainConfig | str | os.PathLike,
    *,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    device: torch.device | str | None = None,
    epochs: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train ``config`` (a name, a YAML/JSON path or a TrainConfig) on Tiny ImageNet at
    ``data_root``; write the run folder ``out_dir``; return the summary (also summary.json).

    ``epochs`` overrides every stage's epochs. An existing run folder is an error unless
    ``overwrite`` or ``resume`` (continue from ``checkpoints/last.pt``). ``device`` defaults to
    the CPU (:func:`~course_lib.pipelines.training.pipeline_device`). ``cache_dir`` keeps the
    decoded cache somewhere reusable (default: inside the run folder).
    """
    device = pipeline_device(device)

    def load_data(config: TrainConfig, run_dir: Path) -> RunData:
        cache_root = Path(cache_dir) if cache_dir is not None else run_dir / "cache"
        return tiny_imagenet_cached(config, data_root, cache_root, device=device)

    run = train_run(
        config,
        out_dir,
        task="transfer",
        load_data=load_data,
        device=device,
        epochs=epochs,
        overwrite=overwrite,
        resume=resume,
    )
    return run.summary


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
    train = CachedLoader(
        train_cache,
        batch_size=batch,
        indices=train_idx,
        shuffle=True,
        augment=augment_config(config),
        device=device,
        seed=config.seed,
    )
    held_out = CachedLoader(train_cache, batch_size=batch, indices=val_idx, device=device)
    loaders = {"train": train, "val": held_out}
    test = CachedLoader(test_cache, batch_size=batch, device=device)
    return RunData(loaders, test, list(train_set.class_names))


def tiny_imagenet_per_sample(config: TrainConfig, root: str | os.PathLike) -> RunData:
    """Article 001's loaders: PIL images through per-sample torchvision transforms."""
    train_set = TinyImageNet(root, "train")
    _check_size(config, train_set)
    augment = augment_config(config)
    train_idx, val_idx = _split(config, train_set.targets)
    train = TransformedSubset(train_set, train_idx, train_transform(config=augment))
    held_out = TransformedSubset(train_set, val_idx, val_transform())
    test_set = TinyImageNet(root, "val", transform=val_transform())
    shuffle = torch.Generator().manual_seed(config.seed)
    batch = config.batch_size
    loaders = {
        "train": DataLoader(train, batch_size=batch, shuffle=True, generator=shuffle),
        "val": DataLoader(held_out, batch_size=batch),
    }
    return RunData(loaders, DataLoader(test_set, batch_size=batch), list(train_set.class_names))


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
