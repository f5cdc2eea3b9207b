"""What the training pipelines (transfer, age groups) share: the device rule, the run folder,
and one sequence start -> data -> model -> stages -> report.

A run folder holds ``config.yaml``, ``history.csv``, ``predictions.csv``, ``checkpoints/``,
``curves.png``, ``confusion.png``/``confusion.csv`` and ``summary.json``.
"""

from __future__ import annotations

import argparse
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

from course_lib.cli import add_run_options, print_summary
from course_lib.configs import TrainConfig, config_names, load_config, save_config, with_epochs
from course_lib.files import save_figure, write_text
from course_lib.history import CHECKPOINT_DIR, prepare_run_dir, write_csv
from course_lib.metrics import confusion_matrix, normalize_per_class
from course_lib.models import create_model
from course_lib.stages import train_stages
from course_lib.train import evaluate, model_device
from course_lib.utils import get_device, seed_everything
from course_lib.viz.curves import plot_history
from course_lib.viz.heatmaps import plot_confusion

log = logging.getLogger(__name__)


def pipeline_device(
    device: torch.device | str | None, model: nn.Module | None = None
) -> torch.device:
    """The device rule of every pipeline: ``device`` when given, else the model's; a model that
    the pipeline builds itself starts on the CPU. Only the command line picks the best device
    (``course_lib.utils.get_device``)."""
    if device is not None:
        return torch.device(device)
    return model_device(model) if model is not None else torch.device("cpu")


@dataclass
class RunData:
    """What a pipeline trains and tests on."""

    loaders: dict[str, Any]  # "train" and "val" (held out, evaluated every epoch)
    test_loader: Any  # the final evaluation
    class_names: list[str]

    def describe(self) -> dict[str, Any]:
        """What checkpoints keep about the data: the class count and names."""
        return {"num_classes": len(self.class_names), "class_names": list(self.class_names)}


@dataclass
class TrainedRun:
    """A finished training run: its summary, model, data and folder."""

    summary: dict[str, Any]
    model: nn.Module
    data: RunData
    run_dir: Path


def train_run(
    config: TrainConfig | str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    task: str,
    load_data: Callable[[TrainConfig, Path], RunData],
    device: torch.device,
    epochs: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    test_name: str = "test (official val split)",
) -> TrainedRun:
    """Start the run folder, load the data (``load_data(config, run_dir)``), build the config's
    model, train every stage (resuming from ``checkpoints/last.pt`` when ``resume``), then test
    and report."""
    config, run_dir, checkpoint = start_run(
        config, out_dir, task=task, epochs=epochs, overwrite=overwrite, resume=resume
    )
    data = load_data(config, run_dir)
    model = build_model(config, len(data.class_names))
    history = train_stages(
        model,
        data.loaders,
        config,
        device=device,
        run_dir=run_dir,
        resume=checkpoint,
        extra_state=data.describe(),
    )
    summary = report_run(run_dir, config, model, history, data, device=device, test_name=test_name)
    return TrainedRun(summary, model, data, run_dir)


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


def report_run(
    run_dir: Path,
    config: TrainConfig,
    model: nn.Module,
    history: Sequence[dict[str, Any]],
    data: RunData,
    *,
    device: torch.device,
    test_name: str = "test (official val split)",
) -> dict[str, Any]:
    """Evaluate on the test loader; write curves, the heatmap and summary.json; return it."""
    start = time.perf_counter()
    test = evaluate(model, data.test_loader, device=device, topk=config.topk)
    figure = plot_history(history, title=f"{config.name}: {config.model}")
    save_figure(figure, run_dir / "curves.png")
    write_confusion(run_dir, test["preds"], test["targets"], data.class_names, title=test_name)
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
        "files": {
            "history": "history.csv",
            "curves": "curves.png",
            "confusion": "confusion.png",
            "confusion_counts": "confusion.csv",
        },
    }
    write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    log.info("test %s (%.1fs)", summary["test"], time.perf_counter() - start)
    return summary


def write_confusion(
    run_dir: Path,
    preds: torch.Tensor,
    targets: torch.Tensor,
    class_names: Sequence[str],
    *,
    title: str,
) -> None:
    """``confusion.csv`` (counts, one row per actual class) and ``confusion.png`` (each row
    normalised)."""
    counts = confusion_matrix(preds, targets, len(class_names))  # (C, C), rows: actual
    rows = [
        {"actual": name, **dict(zip(class_names, map(int, row), strict=True))}
        for name, row in zip(class_names, counts.tolist(), strict=True)
    ]
    write_csv(rows, run_dir / "confusion.csv")
    figure = plot_confusion(
        normalize_per_class(counts), class_names, title=f"{title}: actual vs predicted"
    )
    save_figure(figure, run_dir / "confusion.png")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """``python -m course_lib train``: a transfer or an age-group config."""
    text = "train a config on Tiny ImageNet or CACD age groups"
    parser = subparsers.add_parser("train", help=text, description=text)
    parser.add_argument(
        "--config", required=True, help=f"a YAML/JSON file or one of: {', '.join(config_names())}"
    )
    parser.add_argument("--data", type=Path, required=True, help="dataset root")
    parser.add_argument("--epochs", type=int, help="override the epochs of every stage")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")
    add_run_options(parser)
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    from course_lib.pipelines.age import run_age
    from course_lib.pipelines.transfer import run_transfer

    config = load_config(args.config)
    run = run_transfer if config.task == "transfer" else run_age
    summary = run(
        config,
        data_root=args.data,
        out_dir=args.out,
        device=get_device(args.device),
        epochs=args.epochs,
        overwrite=args.overwrite,
        resume=args.resume,
    )
    return print_summary(summary)
