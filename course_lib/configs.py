"""Training recipes as frozen dataclasses, by name or from a YAML/JSON file.

Named recipes:

* ``transfer_vgg16`` -- article 001: VGG16 transfer on Tiny ImageNet in two stages (10 epochs
  head only, then 5 epochs with everything unfrozen), Adam, batch 64, CyclicLR triangular2
  stepped per batch, 95/5 split with seed 42 (200 classes on the full dataset).
* ``age_convnext_tiny`` -- article 003: ConvNeXt-Tiny age groups, Adam 1e-4, batch 32, 5 epochs,
  224 px, horizontal flip + ColorJitter(brightness=0.2, contrast=0.2), seed 2024 (six decades,
  10s to 60s, on CACD).

The class counts come from the data (``num_classes: null``), so a recipe runs unchanged on the
full dataset, the real sample or the synthetic data.
* ``transfer_demo``, ``age_demo`` -- the same pipelines with small models, for CPU demos.
* ``transfer_scratch_mini`` -- a small VGG-style net trained from scratch on CPU.

A file holds the fields of :class:`TrainConfig`; ``base: <name>`` starts from a named recipe
and overrides only what the file gives. Unknown keys are errors that list the valid ones.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from course_lib.files import write_text


@dataclass(frozen=True)
class StageConfig:
    """One stage of training: which parameters learn, for how long, at which rates.

    ``trainable`` lists parameter-name prefixes that train while all others are frozen;
    ``None`` trains everything. ``scheduler="cyclic"`` is CyclicLR stepped once per *batch*
    (``step_size_up`` counts batches).
    """

    name: str = "train"
    epochs: int = 1
    trainable: tuple[str, ...] | None = None
    optimizer: str = "adam"  # "adam" or "sgd" (momentum 0.9)
    lr: float = 1e-4
    weight_decay: float = 0.0
    scheduler: str | None = None  # None or "cyclic"
    base_lr: float = 1e-4
    max_lr: float = 6e-4
    step_size_up: int = 2000
    cyclic_mode: str = "triangular2"


@dataclass(frozen=True)
class AugmentSettings:
    """Training augmentation; validation images are only resized and normalised.

    ``crop_scale`` is RandomResizedCrop's area fraction with ratio 1 (article 001: 56/64);
    ``None`` turns an augmentation off.
    """

    crop_scale: float | None = None
    flip: bool = True
    brightness: float | None = None
    contrast: float | None = None
    saturation: tuple[float, float] | None = None
    hue: float | None = None


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data location and the device."""

    name: str
    task: str  # "transfer" (Tiny ImageNet) or "age" (CACD)
    model: str
    stages: tuple[StageConfig, ...]
    num_classes: int | None = None  # None: the number of classes in the data
    weights: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 64
    image_size: int = 64
    augment: AugmentSettings = AugmentSettings()
    val_fraction: float = 0.05  # part of train held out for validation (transfer task)
    max_per_class: int | None = None  # cap on training images per class (demos)
    topk: tuple[int, ...] = (1, 5)
    early_stopping: int | None = None  # patience in epochs on the validation loss
    seed: int = 42

    @property
    def epochs(self) -> int:
        """Total epochs over all stages."""
        return sum(stage.epochs for stage in self.stages)


TASKS = ("transfer", "age")

_TINY_IMAGENET_AUGMENT = AugmentSettings(crop_scale=56 / 64, saturation=(0.5, 2.0), hue=0.05)
_AGE_AUGMENT = AugmentSettings(brightness=0.2, contrast=0.2)

_CONFIGS: dict[str, TrainConfig] = {
    config.name: config
    for config in (
        TrainConfig(
            name="transfer_vgg16",
            task="transfer",
            model="vgg16_transfer",
            weights="IMAGENET1K_V1",
            augment=_TINY_IMAGENET_AUGMENT,
            stages=(
                StageConfig(
                    "head",
                    10,
                    ("classifier",),
                    lr=1e-4,
                    scheduler="cyclic",
                    base_lr=1e-4,
                    max_lr=6e-4,
                    step_size_up=1404,
                ),
                StageConfig(
                    "finetune",
                    5,
                    None,
                    lr=1e-5,
                    scheduler="cyclic",
                    base_lr=1e-5,
                    max_lr=6e-5,
                    step_size_up=1200,
                ),
            ),
        ),
        TrainConfig(
            name="age_convnext_tiny",
            task="age",
            model="convnext_age",
            weights="IMAGENET1K_V1",
            batch_size=32,
            image_size=224,
            augment=_AGE_AUGMENT,
            stages=(StageConfig("train", 5, None, lr=1e-4),),
            seed=2024,
        ),
        TrainConfig(
            name="transfer_demo",
            task="transfer",
            model="vgg_mini_transfer",
            model_kwargs={"batch_norm": True},
            augment=_TINY_IMAGENET_AUGMENT,
            batch_size=32,
            val_fraction=0.2,
            stages=(
                StageConfig(
                    "head",
                    2,
                    ("classifier",),
                    lr=1e-3,
                    scheduler="cyclic",
                    base_lr=1e-3,
                    max_lr=6e-3,
                    step_size_up=8,
                ),
                StageConfig(
                    "finetune",
                    4,
                    None,
                    lr=1e-3,
                    scheduler="cyclic",
                    base_lr=1e-3,
                    max_lr=3e-3,
                    step_size_up=8,
                ),
            ),
        ),
        TrainConfig(
            name="transfer_scratch_mini",
            task="transfer",
            model="vgg_mini_transfer",
            model_kwargs={"batch_norm": True, "widths": [32, 64, 128, 256], "hidden": 256},
            augment=_TINY_IMAGENET_AUGMENT,
            batch_size=32,
            val_fraction=0.1,
            stages=(
                StageConfig(
                    "train",
                    12,
                    None,
                    lr=1e-3,
                    scheduler="cyclic",
                    base_lr=2e-4,
                    max_lr=2e-3,
                    step_size_up=145,  # 29 batches an epoch: a cycle in 10 epochs, then half
                ),
            ),
        ),
        TrainConfig(
            name="age_demo",
            task="age",
            model="convnext_mini_age",
            batch_size=16,
            image_size=64,
            augment=_AGE_AUGMENT,
            topk=(1, 2),
            stages=(StageConfig("train", 4, None, lr=1e-3),),
            seed=2024,
        ),
    )
}


def config_names() -> list[str]:
    """Names accepted by :func:`get_config` and :func:`load_config`, sorted."""
    return sorted(_CONFIGS)


def get_config(name: str) -> TrainConfig:
    """The named recipe."""
    if name not in _CONFIGS:
        raise ValueError(f"unknown config {name!r}; known configs: {', '.join(config_names())}")
    return _CONFIGS[name]


def load_config(name_or_path: str | os.PathLike) -> TrainConfig:
    """A named recipe, or a YAML/JSON file (``.yaml``, ``.yml``, ``.json``) of fields."""
    path = Path(name_or_path)
    if path.suffix.lower() not in {".yaml", ".yml", ".json"}:
        return get_config(str(name_or_path))
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist; known names: {config_names()}")
    with open(path, encoding="utf-8") as f:
        data = json.load(f) if path.suffix.lower() == ".json" else yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(
            f"config file {path} must hold a mapping of fields, got {type(data).__name__}"
        )
    return config_from_dict(data, source=str(path))


def config_from_dict(data: dict[str, Any], *, source: str = "config") -> TrainConfig:
    """Build a TrainConfig from plain data (lists become tuples); ``base`` names a recipe."""
    data = dict(data)
    base = data.pop("base", None)
    if base is not None:
        merged = config_to_dict(get_config(base))
        merged.update({k: v for k, v in data.items() if k != "augment"})
        merged["augment"] = {**merged["augment"], **(data.get("augment") or {})}
        data = merged
    _check_keys(data, TrainConfig, source)
    if "stages" not in data or not data["stages"]:
        raise ValueError(f"{source}: 'stages' must list at least one stage")
    stages = []
    for i, stage in enumerate(data["stages"]):
        _check_keys(stage, StageConfig, f"{source}: stages[{i}]")
        stages.append(StageConfig(**_tuples(stage)))
    augment = data.get("augment") or {}
    _check_keys(augment, AugmentSettings, f"{source}: augment")
    fields = _tuples({k: v for k, v in data.items() if k not in {"stages", "augment"}})
    fields["model_kwargs"] = dict(data.get("model_kwargs") or {})
    config = TrainConfig(
        **fields, stages=tuple(stages), augment=AugmentSettings(**_tuples(augment))
    )
    return validate_config(config, source=source)


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain data (tuples as lists) that :func:`config_from_dict` turns back into ``config``."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def save_config(config: TrainConfig, path: str | os.PathLike) -> Path:
    """Write the config as YAML (or JSON for a ``.json`` path), atomically."""
    path = Path(path)
    data = config_to_dict(config)
    if path.suffix.lower() == ".json":
        text = json.dumps(data, indent=2)
    else:
        text = yaml.safe_dump(data, sort_keys=False)
    return write_text(path, text)


def with_epochs(config: TrainConfig, epochs: int) -> TrainConfig:
    """The same recipe with every stage shortened or lengthened to ``epochs`` epochs."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    stages = tuple(dataclasses.replace(stage, epochs=epochs) for stage in config.stages)
    return dataclasses.replace(config, stages=stages)


def validate_config(config: TrainConfig, *, source: str = "config") -> TrainConfig:
    """Check values that the dataclass types cannot; return the config unchanged."""
    problems = []
    if config.task not in TASKS:
        problems.append(f"task must be one of {TASKS}, got {config.task!r}")
    if len({stage.name for stage in config.stages}) != len(config.stages):
        problems.append("stage names must be unique")
    if config.batch_size < 1 or config.image_size < 8:
        problems.append("batch_size must be >= 1 and image_size >= 8")
    if not 0 < config.val_fraction < 1:
        problems.append(f"val_fraction must lie in (0, 1), got {config.val_fraction}")
    for stage in config.stages:
        if stage.epochs < 1 or stage.scheduler not in (None, "cyclic"):
            problems.append(f"stage {stage.name!r}: epochs >= 1 and scheduler None or 'cyclic'")
        if stage.optimizer not in ("adam", "sgd"):
            problems.append(f"stage {stage.name!r}: optimizer must be 'adam' or 'sgd'")
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems))
    return config


def _check_keys(data: Any, cls: type, where: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    valid = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in valid:
            raise ValueError(f"{where}: unknown key {key!r}; valid keys: {', '.join(valid)}")


def _tuples(data: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
