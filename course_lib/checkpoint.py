"""Checkpoints that let a run resume exactly where it stopped.

A checkpoint holds the model, optimizer, scheduler and grad-scaler states, the config, the
epoch reached, the history so far and every random-number state (Python, NumPy, torch CPU and
CUDA, and the generators of the data loaders), so on the CPU a resumed run computes exactly
what an uninterrupted one would. It loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib.configs import TrainConfig, config_from_dict
from course_lib.files import atomic_write
from course_lib.models import create_model

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Config keys that may differ between a checkpoint and the run resuming it (training longer).
RESUMABLE_CHANGES = ("epochs",)


def rng_state(generators: Iterable[torch.Generator] = ()) -> dict[str, Any]:
    """Every random state a run depends on, as tensors and plain types."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.copy()), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": [g.get_state() for g in generators],
    }


def set_rng_state(state: dict[str, Any], generators: Iterable[torch.Generator] = ()) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only where CUDA is available)."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generators = list(generators)
    if len(generators) != len(state["generators"]):
        raise ValueError(
            f"the checkpoint saved {len(state['generators'])} loader generator(s), "
            f"the loaders now have {len(generators)}; build the loaders as in the saved run"
        )
    for generator, saved in zip(generators, state["generators"], strict=True):
        generator.set_state(saved)


def loader_generators(loaders: Mapping[str, Any]) -> list[torch.Generator]:
    """The torch.Generators that drive the loaders' shuffling (and augmentation), in a fixed
    order: ``loader.generator``, ``loader.sampler.generator``, each found once."""
    found: list[torch.Generator] = []
    for name in sorted(loaders):
        loader = loaders[name]
        for owner in (loader, getattr(loader, "sampler", None)):
            generator = getattr(owner, "generator", None)
            if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
                found.append(generator)
    return found


def training_state(model, optimizer, scheduler, scaler, generators, **info: Any) -> dict:
    """Everything a run needs to continue: the states of the model, optimizer, scheduler,
    grad scaler and random generators, the model's signature and ``info`` (epoch, config...)."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "model_name": (info.get("config") or {}).get("model"),
        "model_signature": model_signature(model),
        "rng": rng_state(generators),
        **info,
    }


def restore_training_state(checkpoint, model, optimizer, scheduler, scaler, generators) -> None:
    """Load what :func:`training_state` saved into live objects (and the random states)."""
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None and checkpoint["scheduler"] is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    if scaler is not None and checkpoint["scaler"] is not None:
        scaler.load_state_dict(checkpoint["scaler"])
    set_rng_state(checkpoint["rng"], generators)


def model_signature(model: nn.Module) -> dict[str, list[int]]:
    """Parameter and buffer names with their shapes: what a state dict must match."""
    return {name: list(tensor.shape) for name, tensor in model.state_dict().items()}


def save_checkpoint(path: str | os.PathLike, **state: Any) -> Path:
    """Write ``state`` (tensors, state dicts, plain data) atomically with ``torch.save``."""
    state = {"format_version": FORMAT_VERSION, **state}
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} is not a course_lib checkpoint (format {FORMAT_VERSION}); "
            "a bare state dict loads with model.load_state_dict(torch.load(path))"
        )
    return checkpoint


def model_from_checkpoint(
    path: str | os.PathLike, *, device: torch.device | str | None = None
) -> tuple[nn.Module, TrainConfig]:
    """The trained model of a course_lib checkpoint (e.g. ``run/checkpoints/last.pt``).

    The model is rebuilt from the saved config (no pretrained weights are downloaded: the
    checkpoint holds every weight) and the class count from the saved weights.
    """
    checkpoint = load_checkpoint(path)
    if not checkpoint.get("config"):
        raise ValueError(f"{path} has no training config; save it with course_lib.train.fit")
    config = config_from_dict(checkpoint["config"], source=str(path))
    weights = [shape for shape in checkpoint["model_signature"].values() if len(shape) == 2]
    if not weights:
        raise ValueError(f"{path}: no Linear weight to read the number of classes from")
    model = create_model(
        config.model, num_classes=weights[-1][0], weights=None, **config.model_kwargs
    )
    model.load_state_dict(checkpoint["model"])
    return (model.to(device) if device is not None else model), config


def check_compatible(
    checkpoint: dict, *, model: nn.Module, config: dict | None = None, path: str = "checkpoint"
) -> None:
    """Raise ValueError unless ``checkpoint`` was saved from this kind of model and config."""
    saved_model = checkpoint.get("model_name")
    saved = checkpoint["model_signature"]
    current = model_signature(model)
    if saved != current:
        missing = sorted(set(current) - set(saved))[:3]
        extra = sorted(set(saved) - set(current))[:3]
        shapes = [k for k in set(saved) & set(current) if saved[k] != current[k]][:3]
        raise ValueError(
            f"{path} was saved from another model ({saved_model}): missing {missing}, "
            f"unexpected {extra}, different shapes {shapes}. Resume with the same model and "
            "number of classes, or start a new run folder"
        )
    saved_config = checkpoint.get("config")
    if config is not None and saved_config is not None:
        differences = _differences(_without(saved_config), _without(config))
        if differences:
            raise ValueError(
                f"{path} was saved with another config ({'; '.join(differences[:5])}); "
                "resume with the saved config.yaml or start a new run folder"
            )


def _without(data: Any) -> Any:
    """``data`` without the keys that may change on resume."""
    if isinstance(data, dict):
        return {k: _without(v) for k, v in data.items() if k not in RESUMABLE_CHANGES}
    if isinstance(data, list | tuple):
        return [_without(v) for v in data]
    return data


def _differences(saved: Any, current: Any, where: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        found = []
        for key in sorted(set(saved) | set(current), key=str):
            found += _differences(saved.get(key), current.get(key), f"{where}.{key}".lstrip("."))
        return found
    if isinstance(saved, list) and isinstance(current, list) and len(saved) == len(current):
        return [
            d
            for i, (s, c) in enumerate(zip(saved, current, strict=True))
            for d in _differences(s, c, f"{where}[{i}]")
        ]
    return [] if saved == current else [f"{where}: saved {saved!r}, now {current!r}"]
