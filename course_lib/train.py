"""Training and evaluation loops: ``train_one_epoch``, ``evaluate`` and ``fit``.

``fit`` runs epochs of a ``train_step`` (by default :func:`train_one_epoch`) and
:func:`evaluate`, records loss, top-1 and top-k per epoch, and, given a run folder, writes
``history.csv``, ``predictions.csv`` and checkpoints after every epoch, so a run resumes
exactly (see ``course_lib.checkpoint``). Multi-stage recipes are in ``course_lib.stages``.

The learning-rate scheduler steps after every *batch*. Article 001 called ``scheduler.step()``
once per epoch, but CyclicLR's ``step_size_up`` (1404) counts *batches*: stepped per epoch, its
rate rose by only 10/1404 of a half cycle over 10 epochs (from 1e-4 to about 1.04e-4) and never
cycled. Stepped per batch, it rises to ``max_lr`` in 1404 batches (about one epoch of 1485
batches at batch size 64), falls back, and halves its amplitude each cycle (triangular2).

``fit`` stores convolution weights and images channels_last (NHWC) by default, on CUDA (tensor
cores) and on CPUs with oneDNN: its convolutions run without reordering every layer's input and
output (a frozen VGG16 backbone runs about 1.4x faster on 2 CPU cores, BENCHMARKS.md). The
weights are converted once, when ``fit`` starts, not per batch. NHWC changes only the order of
float32 additions: features equal NCHW ones to about 1e-6 relative, and ``tests/test_train``
trains both ways and compares the updates. Mixed precision (float16 autocast with a GradScaler)
is for CUDA only: on the CPU ``fit`` keeps float32, so results are exact and reproducible.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from course_lib.checkpoint import (
    check_compatible,
    load_checkpoint,
    loader_generators,
    restore_training_state,
    save_checkpoint,
    training_state,
)
from course_lib.history import CHECKPOINT_DIR, prediction_rows, read_csv, write_csv
from course_lib.metrics import topk_accuracy
from course_lib.models import uses_log_probs
from course_lib.utils import progress

log = logging.getLogger(__name__)


def loss_for(model: nn.Module) -> nn.Module:
    """NLLLoss for a model that outputs log-probabilities, CrossEntropyLoss for logits.

    CrossEntropyLoss applies log-softmax itself; giving it log-probabilities would apply
    softmax twice.
    """
    return nn.NLLLoss() if uses_log_probs(model) else nn.CrossEntropyLoss()


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter."""
    return next(model.parameters()).device


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    loss_fn: nn.Module,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    device: torch.device | str | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, float]:
    """One pass over ``loader``, stepping the optimizer *and then the scheduler* every batch.

    The model runs in training mode (``model.train()``); images and labels go to ``device``
    (default: the device of the model's parameters). Returns the mean loss and the top-1
    accuracy over the samples seen, each batch weighted by its size, as Python floats:
    ``{"loss": ..., "top1": ...}``. With a ``scaler`` (``torch.amp.GradScaler``) the forward
    pass and the loss run under ``torch.autocast(device.type)`` and every batch calls
    ``scaler.scale(loss).backward()``, ``scaler.step(optimizer)`` and ``scaler.update()``.
    """
    ### BEGIN SOLUTION a2_transfer
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = progress(loader, desc="train")
    for images, labels in bar:
        images, labels = images.to(device), labels.to(device)  # (N, 3, H, W), (N,)
        optimizer.zero_grad()
        with torch.autocast(device.type, enabled=scaler is not None):
            outputs = model(images)  # (N, num_classes)
            loss = loss_fn(outputs, labels)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        if scheduler is not None:
            scheduler.step()  # per batch: CyclicLR's step_size_up counts batches
        seen += len(labels)
        total_loss += loss.item() * len(labels)
        correct += (outputs.argmax(dim=1) == labels).sum().item()
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
    if seen == 0:
        raise ValueError("the training loader yielded no batches")
    return {"loss": total_loss / seen, "top1": correct / seen}
    ### END SOLUTION


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    *,
    loss_fn: nn.Module | None = None,
    device: torch.device | str | None = None,
    metric: Callable[..., list[float]] = topk_accuracy,
    topk: Sequence[int] = (1, 5),
    amp: bool = False,
) -> dict[str, Any]:
    """Loss and top-k accuracy of ``model`` over ``loader`` in eval mode, without gradients.

    Returns ``{"loss", "top1", "top5", ..., "preds", "targets"}``: the mean loss per sample,
    one entry per k (k is capped at the number of classes) and the (N,) tensors of top-1
    predictions and labels, on the CPU. The loss is the mean over samples (article 001 divided
    a sum of batch means by the number of samples, so its "Average loss" was 64 times small).
    """
    device = torch.device(device) if device is not None else model_device(model)
    loss_fn = loss_fn if loss_fn is not None else loss_for(model)
    model.eval()
    outputs, targets, total_loss = [], [], 0.0
    for images, labels in progress(loader, desc="eval"):
        images, labels = images.to(device), labels.to(device)
        with torch.autocast(device.type, enabled=amp):
            batch_outputs = model(images)  # (N, num_classes)
            total_loss += loss_fn(batch_outputs, labels).item() * len(labels)
        outputs.append(batch_outputs.float().cpu())
        targets.append(labels.cpu())
    if not outputs:
        raise ValueError("the evaluation loader yielded no batches")
    output, target = torch.cat(outputs), torch.cat(targets)  # (N, C), (N,)
    ks = sorted({min(k, output.shape[1]) for k in topk})
    result: dict[str, Any] = {"loss": total_loss / len(target)}
    result.update(
        {f"top{k}": value for k, value in zip(ks, metric(output, target, ks), strict=True)}
    )
    result.update(preds=output.argmax(dim=1), targets=target)
    return result


class DeviceLoader:
    """Wrap a loader: move each batch to ``device`` and, optionally, make 4-D images
    channels_last (NHWC, the layout tensor cores and oneDNN convolutions prefer); inputs of
    other ranks (e.g. feature vectors) pass unchanged."""

    def __init__(
        self, loader: Iterable[tuple[Tensor, Tensor]], device: torch.device, channels_last: bool
    ) -> None:
        self.loader, self.device, self.channels_last = loader, device, channels_last

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        non_blocking = self.device.type == "cuda"
        for images, labels in self.loader:
            images = images.to(self.device, non_blocking=non_blocking)
            if self.channels_last and images.dim() == 4:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, labels.to(self.device, non_blocking=non_blocking)

    def __len__(self) -> int:
        return len(self.loader)


def prefers_channels_last(device: torch.device) -> bool:
    """Whether convolutions on ``device`` run faster channels_last (NHWC): on CUDA (tensor
    cores) and on a CPU with oneDNN (``torch.backends.mkldnn``), whose kernels work in NHWC
    and otherwise reorder every NCHW input and output."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and torch.backends.mkldnn.is_available()


def fit(
    model: nn.Module,
    loaders: Mapping[str, Iterable[tuple[Tensor, Tensor]]],
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    loss_fn: nn.Module | None = None,
    device: torch.device | str | None = None,
    train_step: Callable[..., dict[str, float]] = train_one_epoch,
    metric: Callable[..., list[float]] = topk_accuracy,
    topk: Sequence[int] = (1, 5),
    stage: str = "train",
    history: Sequence[dict[str, Any]] = (),
    run_dir: str | os.PathLike | None = None,
    config: dict[str, Any] | None = None,
    resume: dict | str | os.PathLike | None = None,
    early_stopping: int | None = None,
    amp: bool | None = None,
    channels_last: bool | None = None,
    extra_state: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Train for ``epochs`` epochs of ``loaders["train"]``, evaluating on ``loaders["val"]``.

    Returns the history: the rows of ``history`` (earlier stages) plus one row per epoch
    (``epoch, stage, lr, train_loss, train_top1, val_loss, val_top1, val_top5, seconds``).
    With ``run_dir`` each epoch rewrites ``history.csv`` and ``predictions.csv`` and saves
    ``checkpoints/last.pt`` (``best.pt`` at the lowest validation loss). ``resume`` (a path
    or a loaded checkpoint of this stage) restores everything and continues. With
    ``early_stopping=p`` the stage ends after ``p`` epochs without a lower validation loss.
    ``amp`` defaults to on for CUDA only; ``channels_last`` to on for CUDA and for CPUs with
    oneDNN (see :func:`prefers_channels_last`). ``extra_state`` (e.g.
    ``class_names``) is stored in every checkpoint. ``train_step`` and ``metric`` can be
    replaced (e.g. by a student's versions).
    """
    loop = _setup(model, loaders, optimizer, scheduler, loss_fn, device, amp, channels_last)
    history, predictions, stopped = list(history), [], False
    if resume is not None:
        history, predictions, stopped = _restore(loop, resume, config, stage, run_dir)
    info = {**(extra_state or {}), "config": config}
    for _ in range(sum(row["stage"] == stage for row in history), 0 if stopped else epochs):
        row, rows = _epoch(loop, train_step, metric, topk, epoch=len(history) + 1, stage=stage)
        history.append(row)
        predictions += rows
        log.info("epoch %d (%s): %s", row["epoch"], stage, _describe(row))
        stopped = _should_stop(history, stage, early_stopping)
        if run_dir is not None:
            _write_epoch(loop, Path(run_dir), history, predictions, info, stopped=stopped)
        if stopped:
            log.info("early stopping: no lower val_loss for %d epochs", early_stopping)
            break
    return history


@dataclass
class _Loop:
    """What every epoch of one :func:`fit` uses: the moving parts and where batches go."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    scaler: torch.amp.GradScaler | None
    generators: list[torch.Generator]
    loaders: dict[str, DeviceLoader]
    loss_fn: nn.Module
    device: torch.device
    amp: bool

    def parts(self) -> tuple:
        """What a checkpoint saves and restores, in ``training_state``'s order."""
        return self.model, self.optimizer, self.scheduler, self.scaler, self.generators


def _setup(
    model: nn.Module,
    loaders: Mapping[str, Iterable[tuple[Tensor, Tensor]]],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    loss_fn: nn.Module | None,
    device: torch.device | str | None,
    amp: bool | None,
    channels_last: bool | None,
) -> _Loop:
    """Move the model to ``device`` (default: its own), choose AMP (on for CUDA unless given)
    and channels_last (:func:`prefers_channels_last` unless given), the loss (from the model's
    output) and wrap the loaders."""
    device = torch.device(device) if device is not None else model_device(model)
    amp = device.type == "cuda" if amp is None else amp
    channels_last = prefers_channels_last(device) if channels_last is None else channels_last
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    loss_fn = loss_fn if loss_fn is not None else loss_for(model)
    scaler = torch.amp.GradScaler(device.type) if amp else None
    wrapped = {name: DeviceLoader(data, device, channels_last) for name, data in loaders.items()}
    generators = loader_generators(loaders)
    return _Loop(model, optimizer, scheduler, scaler, generators, wrapped, loss_fn, device, amp)


def _restore(
    loop: _Loop,
    resume: dict | str | os.PathLike,
    config: dict[str, Any] | None,
    stage: str,
    run_dir: str | os.PathLike | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """Restore the loop from a checkpoint of ``stage``; return its history, the predictions up
    to its epoch and whether the stage had stopped."""
    checkpoint = resume if isinstance(resume, dict) else load_checkpoint(resume)
    where = "checkpoint" if isinstance(resume, dict) else str(resume)
    check_compatible(checkpoint, model=loop.model, config=config, path=where)
    if checkpoint["stage"] != stage:
        raise ValueError(f"{where} was saved in stage {checkpoint['stage']!r}, not {stage!r}")
    restore_training_state(checkpoint, *loop.parts())
    predictions = []
    if run_dir is not None and (Path(run_dir) / "predictions.csv").is_file():
        rows = read_csv(Path(run_dir) / "predictions.csv")
        predictions = [row for row in rows if row["epoch"] <= checkpoint["epoch"]]
    return list(checkpoint["history"]), predictions, checkpoint["stopped"]


def _epoch(
    loop: _Loop,
    train_step: Callable[..., dict[str, float]],
    metric: Callable[..., list[float]],
    topk: Sequence[int],
    *,
    epoch: int,
    stage: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train one epoch, then evaluate when there is a val loader; return the history row and
    the prediction rows."""
    start, lr = time.perf_counter(), loop.optimizer.param_groups[0]["lr"]
    scaling = {"scaler": loop.scaler} if loop.scaler is not None else {}
    train = train_step(
        loop.model,
        loop.loaders["train"],
        loop.optimizer,
        loss_fn=loop.loss_fn,
        scheduler=loop.scheduler,
        device=loop.device,
        **scaling,
    )
    row = {"epoch": epoch, "stage": stage, "lr": lr}
    row.update({f"train_{key}": value for key, value in train.items()})
    predictions = []
    if "val" in loop.loaders:
        val = evaluate(
            loop.model,
            loop.loaders["val"],
            loss_fn=loop.loss_fn,
            device=loop.device,
            metric=metric,
            topk=topk,
            amp=loop.amp,
        )
        row.update({f"val_{k}": v for k, v in val.items() if k not in ("preds", "targets")})
        predictions = prediction_rows(epoch, val["preds"], val["targets"])
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row, predictions


def _should_stop(history: list[dict[str, Any]], stage: str, patience: int | None) -> bool:
    losses = [row["val_loss"] for row in history if row["stage"] == stage and "val_loss" in row]
    if patience is None or not losses:
        return False
    best = losses.index(min(losses))
    return len(losses) - 1 - best >= patience


def _write_epoch(
    loop: _Loop,
    run_dir: Path,
    history: list[dict[str, Any]],
    predictions: list[dict[str, Any]],
    info: Mapping[str, Any],
    *,
    stopped: bool,
) -> None:
    """Rewrite ``history.csv`` and ``predictions.csv``; save ``checkpoints/last.pt`` (and
    ``best.pt`` at the lowest validation loss so far)."""
    row = history[-1]
    state = training_state(
        *loop.parts(),
        **info,
        epoch=row["epoch"],
        stage=row["stage"],
        stopped=stopped,
        metrics=row,
        history=history,
    )
    write_csv(history, run_dir / "history.csv")
    if predictions:
        write_csv(predictions, run_dir / "predictions.csv")
    save_checkpoint(run_dir / CHECKPOINT_DIR / "last.pt", **state)
    losses = [row["val_loss"] for row in history if "val_loss" in row]
    if losses and losses[-1] == min(losses):
        save_checkpoint(run_dir / CHECKPOINT_DIR / "best.pt", **state)


def _describe(row: dict[str, Any]) -> str:
    return " ".join(f"{key}={value:.4g}" for key, value in row.items() if isinstance(value, float))
