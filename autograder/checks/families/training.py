"""Check family of ``train_one_epoch``: metrics, parameters and a scheduler stepped per batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from autograder import asserts
from autograder.checks.common import family, generator
from autograder.spec import Context, Inputs

# --- train_one_epoch -----------------------------------------------------------------------


def epoch_inputs(
    workdir: Path,
    *,
    seed: int,
    sizes: tuple[int, ...],
    scheduler: bool,
    log_probs: bool = False,
    adam: bool = False,
    device: str | None = None,
) -> Inputs:
    """A small model (with BatchNorm, in eval mode), batches, optimizer, loss and scheduler."""
    torch.manual_seed(seed)
    # no bias before BatchNorm: its gradient is 0 up to rounding, which Adam would amplify
    layers = [nn.Linear(6, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4)]
    model = nn.Sequential(*layers, *([nn.LogSoftmax(dim=1)] if log_probs else [])).eval()
    g = generator(seed)
    batches = [
        (torch.randn(n, 6, generator=g), torch.randint(0, 4, (n,), generator=g)) for n in sizes
    ]
    optimizer = (
        torch.optim.Adam(model.parameters(), lr=0.01)
        if adam
        else torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    )
    inputs = {
        "model": model,
        "loader": batches,
        "optimizer": optimizer,
        "loss_fn": nn.NLLLoss() if log_probs else nn.CrossEntropyLoss(),
        "scheduler": None,
    }
    if scheduler:
        inputs["scheduler"] = torch.optim.lr_scheduler.CyclicLR(
            optimizer,
            base_lr=0.01,
            max_lr=0.1,
            step_size_up=2,
            mode="triangular2",
            cycle_momentum=not adam,
        )
    if device is not None:
        inputs["device"] = device
    return inputs


def epoch_call(function, inputs: Inputs) -> Any:
    model, optimizer, scheduler = inputs["model"], inputs["optimizer"], inputs["scheduler"]
    options = {"loss_fn": inputs["loss_fn"], "scheduler": scheduler}
    if "device" in inputs:
        options["device"] = inputs["device"]
    result = function(model, inputs["loader"], optimizer, **options)
    return {
        "result": result,
        "state": dict(model.state_dict()),
        "lr": float(optimizer.param_groups[0]["lr"]),
        "scheduler_steps": scheduler.last_epoch if scheduler is not None else None,
    }


def epoch_compare(actual: Any, expected: Any, context: Context) -> None:
    """Returned loss and top-1, parameters after the epoch, and the scheduler stepped per batch."""
    batches = len(context.inputs["loader"])
    if expected["scheduler_steps"] is not None:
        asserts.check(
            actual["scheduler_steps"] == expected["scheduler_steps"],
            f"the scheduler was stepped {actual['scheduler_steps']} times over "
            f"{batches} batches: step it once after every batch",
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


epoch_case = family(
    "train_one_epoch", epoch_inputs, call=epoch_call, compare=epoch_compare, points=2, timeout=20
)
