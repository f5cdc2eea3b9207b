"""Check family of ``train_one_epoch``: metrics, parameters and a scheduler stepped per batch."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from autograder import asserts
from autograder.checks.common import all_of, family, generator
from autograder.spec import Context, Inputs

# --- train_one_epoch -----------------------------------------------------------------------


class MoveProbe(torch.Tensor):
    """A batch tensor that records the devices ``.to()`` moves it to (in ``MoveProbe.moves``).

    Every other operation returns a plain tensor. Module-level, so batches travel by pickle.
    """

    moves: ClassVar[list[str]] = []
    __torch_function__ = torch._C._disabled_torch_function_impl

    def to(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        target = kwargs.get(
            "device", next((a for a in args if isinstance(a, (str, torch.device))), None)
        )
        if target is not None:
            MoveProbe.moves.append(str(torch.device(target)))
        return self.as_subclass(torch.Tensor).to(*args, **kwargs)


class RecordingLoss(nn.Module):
    """``loss_fn`` that also records each batch's loss and size, to tell means apart."""

    def __init__(self, loss_fn: nn.Module) -> None:
        super().__init__()
        self.loss_fn = loss_fn
        self.batches: list[tuple[float, int]] = []

    def forward(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = self.loss_fn(outputs, labels)
        self.batches.append((float(loss.detach().float()), len(labels)))
        return loss


class StepWatch:
    """Records, at each ``optimizer.step()``, the learning rate and whether any gradient holds
    more than the last backward pass (gradients not zeroed since the previous step)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.fresh: dict[int, torch.Tensor] = {}
        self.lrs: list[float] = []
        self.stale = 0
        self.handles = [p.register_hook(partial(self._grad, i)) for i, p in enumerate(self.params)]
        self.handles.append(optimizer.register_step_pre_hook(self._step))

    def _grad(self, index: int, grad: torch.Tensor) -> None:
        self.fresh[index] = grad.detach().double().flatten()

    def _step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.lrs.append(float(optimizer.param_groups[0]["lr"]))
        for index, param in enumerate(self.params):
            fresh = self.fresh.get(index)
            if param.grad is None or fresh is None:
                continue
            grad = param.grad.detach().double().flatten()
            # a scaler divides the gradient by its scale: compare directions, not sizes
            if float(grad.norm()) > 0 and float(fresh.norm()) > 0:
                cosine = float(grad @ fresh / (grad.norm() * fresh.norm()))
                self.stale += cosine < 0.999
        self.fresh.clear()

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


@dataclass(frozen=True)
class Optimizers:
    """The optimizer (and scheduler) of an epoch case, built on the model where the case runs:
    constructing a torch optimizer imports torch._dynamo (about a second), which the grading
    process would otherwise pay to build or judge a case."""

    adam: bool
    scheduler: bool

    def build(
        self, model: nn.Module
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
        optimizer = (
            torch.optim.Adam(model.parameters(), lr=0.01)
            if self.adam
            else torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        )
        if not self.scheduler:
            return optimizer, None
        scheduler = torch.optim.lr_scheduler.CyclicLR(
            optimizer,
            base_lr=0.01,
            max_lr=0.1,
            step_size_up=2,
            mode="triangular2",
            cycle_momentum=not self.adam,
        )
        return optimizer, scheduler


def epoch_inputs(
    workdir: Path,
    *,
    seed: int,
    sizes: tuple[int, ...],
    scheduler: bool,
    log_probs: bool = False,
    adam: bool = False,
    device: str | None = None,
    scaler: bool = False,
) -> Inputs:
    """A small model (with BatchNorm, in eval mode), batches, loss, and the optimizer and
    scheduler to build on the model."""
    torch.manual_seed(seed)
    # no bias before BatchNorm: its gradient is 0 up to rounding, which Adam would amplify
    layers = [nn.Linear(6, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4)]
    model = nn.Sequential(*layers, *([nn.LogSoftmax(dim=1)] if log_probs else [])).eval()
    g = generator(seed)
    batches = [
        (
            torch.randn(n, 6, generator=g).as_subclass(MoveProbe),
            torch.randint(0, 4, (n,), generator=g).as_subclass(MoveProbe),
        )
        for n in sizes
    ]
    inputs = {
        "model": model,
        "loader": batches,
        "optimizers": Optimizers(adam=adam, scheduler=scheduler),
        "loss_fn": nn.NLLLoss() if log_probs else nn.CrossEntropyLoss(),
    }
    if device is not None:
        inputs["device"] = device
    if scaler:
        inputs["scaler"] = torch.amp.GradScaler("cpu")
    return inputs


def epoch_call(function, inputs: Inputs) -> Any:
    model = inputs["model"]
    optimizer, scheduler = inputs["optimizers"].build(model)
    loss_fn = RecordingLoss(inputs["loss_fn"])
    options = {"loss_fn": loss_fn, "scheduler": scheduler}
    options.update({key: inputs[key] for key in ("device", "scaler") if key in inputs})
    MoveProbe.moves = []
    watch = StepWatch(model, optimizer)
    try:
        result = function(model, inputs["loader"], optimizer, **options)
    finally:
        watch.remove()
    scaler = inputs.get("scaler")
    return {
        "result": result,
        "state": dict(model.state_dict()),
        "lr": float(optimizer.param_groups[0]["lr"]),
        "scheduler_steps": scheduler.last_epoch if scheduler is not None else None,
        "batch_losses": loss_fn.batches,
        "moves": list(MoveProbe.moves),
        "step_lrs": watch.lrs,
        "stale_steps": watch.stale,
        # scaler.update() after a step without inf/NaN gradients counts up the growth tracker
        "scaler_updates": (
            int(scaler._growth_tracker) if scaler is not None and scaler._scale is not None else 0
        ),
    }


def epoch_properties(actual: Any, expected: Any, context: Context) -> None:
    """Metrics as a dict of floats, and the scheduler, scaler and device used for every batch."""
    inputs = context.inputs
    batches, samples = len(inputs["loader"]), sum(len(labels) for _, labels in inputs["loader"])
    asserts.require(isinstance(actual, dict), f"output: got {asserts.describe(actual)}")
    result = actual["result"]
    asserts.assert_same_keys(result, {"loss": 0.0, "top1": 0.0}, where="returned metrics")
    for key in ("loss", "top1"):
        value = result[key]
        hint = " (use .item())" if isinstance(value, torch.Tensor) else ""
        asserts.require(
            isinstance(value, float),
            f"returned metrics[{key!r}]: expected a Python float, got "
            f"{asserts.describe(value)}{hint}",
        )
    top1 = result["top1"]
    asserts.require(
        0 <= top1 <= 1,
        f"top1 is {top1:g}: return the fraction of correct samples in [0, 1] (divide the "
        f"number correct by the {samples} samples seen)",
    )
    if inputs["optimizers"].scheduler:
        steps = actual["scheduler_steps"]
        asserts.require(
            steps == batches,
            f"the scheduler was stepped {steps} times over {batches} batches: step it once "
            "after every batch",
        )
    if "scaler" in inputs:
        asserts.require(
            actual["scaler_updates"] == batches,
            f"the GradScaler made {actual['scaler_updates']} updates over {batches} batches: "
            "with a scaler, call scaler.scale(loss).backward(), scaler.step(optimizer) and "
            "scaler.update() for every batch",
        )
    if "device" in inputs:
        moved = sum(1 for device in actual["moves"] if device == str(inputs["device"]))
        asserts.require(
            moved >= 2 * batches,
            f"{moved} tensors were moved to device over {batches} batches: move both the "
            "images and the labels of every batch with .to(device)",
        )


def epoch_values(actual: Any, expected: Any, context: Context) -> None:
    """Training mode, returned loss and top-1, parameters and learning rate after the epoch."""
    batches = len(context.inputs["loader"])
    tracked = [v for k, v in actual["state"].items() if k.endswith("num_batches_tracked")]
    asserts.require(
        all(int(v) == batches for v in tracked),
        f"BatchNorm tracked {[int(v) for v in tracked]} batches out of {batches}: the model "
        "was not in training mode; call model.train() before the loop",
    )
    asserts.require(
        actual["stale_steps"] == 0,
        "gradients pile up across batches: call optimizer.zero_grad() every batch",
    )
    lrs, want_lrs = actual["step_lrs"], expected["step_lrs"]
    asserts.require(
        not (len(lrs) == len(want_lrs) > 1 and lrs[:-1] == want_lrs[1:] and lrs != want_lrs),
        "each batch was trained with the next batch's learning rate: step the optimizer before "
        "the scheduler",
    )
    recorded = actual["batch_losses"]
    if recorded and not _close(actual["result"]["loss"], expected["result"]["loss"]):
        per_batch = sum(loss for loss, _ in recorded) / len(recorded)
        per_sample = sum(loss * n for loss, n in recorded) / sum(n for _, n in recorded)
        asserts.require(
            not (_close(actual["result"]["loss"], per_batch) and not _close(per_batch, per_sample)),
            "the loss is the mean over batches: weight each batch's loss by its number of "
            "samples and divide by the samples seen",
        )
    asserts.assert_close(
        actual["result"], expected["result"], rtol=1e-4, atol=1e-6, where="returned metrics"
    )
    asserts.assert_close(
        actual["state"],
        expected["state"],
        rtol=1e-4,
        atol=1e-5,
        where="model state after the epoch",
    )
    asserts.assert_close(actual["lr"], expected["lr"], rtol=1e-6, where="learning rate")


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 + 1e-4 * abs(b)


epoch_case = family(
    "train_one_epoch",
    epoch_inputs,
    call=epoch_call,
    compare=all_of(epoch_properties, epoch_values),
    points=2,
    timeout=20,
)
