"""Checks of a2_transfer: the VGG16 head, freezing, one training epoch and top-k accuracy."""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autograder import asserts
from autograder.checks.common import generator, positional
from autograder.plaindata import ModuleSummary
from autograder.spec import Case, Context, Inputs

FUNCTIONS = {
    "build_vgg16_head": "course_lib.models",
    "set_trainable": "course_lib.models",
    "train_one_epoch": "course_lib.train",
    "topk_accuracy": "course_lib.metrics",
}


# --- build_vgg16_head ----------------------------------------------------------------------


def head_inputs(workdir: Path, **options: Any) -> Inputs:
    return options


def head_call(function, inputs: Inputs) -> Any:
    options = dict(inputs)
    head = function(options.pop("num_classes"), **options)
    if not isinstance(head, nn.Module):
        return head
    batch = torch.randn(4, inputs.get("in_features", 25088), generator=generator(0))
    extras = {
        "dropout": [float(m.p) for m in head.modules() if isinstance(m, nn.Dropout)],
        "output_shape": list(head.eval()(batch).shape),
    }
    return {"head": head, **extras}


def head_compare(actual: Any, expected: Any, context: Context) -> None:
    """Layers in order, parameter shapes, He (kaiming-uniform) weights, zero biases, BN 1/0."""
    head = actual.get("head") if isinstance(actual, dict) else actual
    asserts.check(
        isinstance(head, ModuleSummary),
        f"output: expected an nn.Module, got {asserts.describe(head)}",
    )
    want = expected["head"]
    types = [c.type_name.rsplit(".", 1)[-1] for c in head.children.values()]
    want_types = [c.type_name.rsplit(".", 1)[-1] for c in want.children.values()]
    asserts.check(
        types == want_types,
        f"layers: expected {len(want_types)} layers in the "
        f"article's order, got {len(types)}: {', '.join(types)}",
        detail=f"expected {', '.join(want_types)}",
    )
    params, want_params = head.named_parameters(), want.named_parameters()
    asserts.assert_same_keys(params, want_params, where="parameters")
    for name, value in want_params.items():
        asserts.assert_tensor(params[name], shape=tuple(value.shape), where=f"parameter {name}")
    for name, child in head.children.items():
        _check_layer(name, child)
    asserts.assert_close(actual["dropout"], expected["dropout"], where="dropout probabilities")
    asserts.assert_close(actual["output_shape"], expected["output_shape"], where="output shape")


def _check_layer(name: str, layer: ModuleSummary) -> None:
    kind = layer.type_name.rsplit(".", 1)[-1]
    if kind == "Linear":
        weight, bias = layer.parameters["weight"], layer.parameters.get("bias")
        bound = (6 / weight.shape[1]) ** 0.5  # kaiming_uniform_ with a=0: sqrt(6 / fan_in)
        largest, std = float(weight.abs().max()), float(weight.std())
        asserts.check(
            largest <= bound * 1.0001,
            f"layer {name}: weights exceed He's uniform "
            f"bound sqrt(6/fan_in) (largest |w| is {largest / bound:.2f} x the bound)",
        )
        asserts.check(
            abs(std / (bound / 3**0.5) - 1) < 0.2,
            f"layer {name}: weight spread "
            f"is {std / (bound / 3**0.5):.2f} x He's (use nn.init.kaiming_uniform_)",
        )
        if bias is not None:
            asserts.check(bool((bias == 0).all()), f"layer {name}: biases must start at 0")
    elif kind == "BatchNorm1d":
        asserts.check(
            bool((layer.parameters["weight"] == 1).all())
            and bool((layer.parameters["bias"] == 0).all()),
            f"layer {name}: BatchNorm weight must start at 1 and bias at 0",
        )


def head_case(title: str, options: dict[str, Any], *, hidden: bool = False) -> Case:
    return Case(
        "build_vgg16_head",
        title,
        partial(head_inputs, **options),
        call=head_call,
        compare=head_compare,
        hidden=hidden,
        points=2,
        timeout=20,
    )


# --- set_trainable -------------------------------------------------------------------------


def small_net() -> nn.Module:
    """A VGG-shaped network: ``features`` (two convolutions) and ``classifier`` (two Linear)."""
    features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU())
    classifier = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    return nn.Sequential(
        OrderedDict(
            features=features,
            pool=nn.AdaptiveAvgPool2d(2),
            flatten=nn.Flatten(),
            classifier=classifier,
        )
    )


def trainable_inputs(workdir: Path, *, steps: list[tuple[Any, bool]], frozen: bool) -> Inputs:
    model = small_net()
    model.requires_grad_(not frozen)
    return {"model": model, "steps": steps}


def trainable_call(function, inputs: Inputs) -> Any:
    """Apply each ``(prefixes, trainable)`` step; the counts and the final flags."""
    model, counts = inputs["model"], []
    for prefixes, trainable in inputs["steps"]:
        try:
            counts.append(function(model, prefixes, trainable))
        except ValueError:
            counts.append("ValueError")
    flags = {name: bool(p.requires_grad) for name, p in model.named_parameters()}
    return {"changed": counts, "requires_grad": flags}


def trainable_compare(actual: Any, expected: Any, context: Context) -> None:
    """Which parameters require gradients afterwards, and the count returned by each call."""
    asserts.check(
        isinstance(actual, dict) and "requires_grad" in actual,
        "output: the grader could not read requires_grad flags",
    )
    asserts.assert_close(actual["requires_grad"], expected["requires_grad"], where="requires_grad")
    asserts.assert_close(actual["changed"], expected["changed"], where="returned counts")


def trainable_case(title: str, steps: list, *, frozen: bool = False, hidden: bool = False) -> Case:
    return Case(
        "set_trainable",
        title,
        partial(trainable_inputs, steps=steps, frozen=frozen),
        call=trainable_call,
        compare=trainable_compare,
        hidden=hidden,
        timeout=10,
    )


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
    asserts.check(isinstance(actual, dict), "output: the grader could not read the model state")
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


def epoch_case(title: str, *, hidden: bool = False, **options: Any) -> Case:
    return Case(
        "train_one_epoch",
        title,
        partial(epoch_inputs, **options),
        call=epoch_call,
        compare=epoch_compare,
        hidden=hidden,
        points=2,
        timeout=20,
    )


# --- topk_accuracy -------------------------------------------------------------------------


def topk_inputs(
    workdir: Path,
    *,
    seed: int,
    n: int,
    classes: int,
    topk: tuple[int, ...],
    ties: bool = False,
    transform: str = "logits",
) -> Inputs:
    """Scores (n, classes) and targets; ``ties`` draws integer scores so that many are equal."""
    g = generator(seed)
    if ties:
        output = torch.randint(0, 3, (n, classes), generator=g).float()
    else:
        output = torch.randn(n, classes, generator=g) * 3
    if transform == "log_softmax":
        output = output.log_softmax(dim=1)
    elif transform == "softmax":
        output = output.softmax(dim=1)
    target = torch.randint(0, classes, (n,), generator=g)
    return {"output": output, "target": target, "topk": topk}


def topk_close(actual: Any, expected: Any, context: Context) -> None:
    """One accuracy per k, equal to the reference's (a tie with the target counts against it)."""
    asserts.assert_close(actual, expected, rtol=0, atol=1e-6)


def topk_invariants(actual: Any, expected: Any, context: Context) -> None:
    """One fraction per k, in [0, 1], non-decreasing in k, and 1 at k = number of classes."""
    topk = context.inputs["topk"]
    classes = context.inputs["output"].shape[1]
    asserts.check(
        isinstance(actual, (list, tuple)) and len(actual) == len(topk),
        f"output: expected a list of {len(topk)} floats (one per k), "
        f"got {asserts.describe(actual)}",
    )
    for index, value in enumerate(actual):
        asserts.check(
            isinstance(value, (int, float)) and not isinstance(value, bool),
            f"output[{index}]: expected a float, got {asserts.describe(value)}",
        )
        asserts.check(0 <= value <= 1, f"output[{index}]: a fraction must lie in [0, 1]")
    for index in range(1, len(topk)):
        asserts.check(
            actual[index - 1] <= actual[index] + 1e-9,
            f"top-{topk[index]} accuracy is below top-{topk[index - 1]} accuracy",
        )
    if classes in topk:
        asserts.check(
            abs(actual[topk.index(classes)] - 1) < 1e-9,
            f"top-{classes} accuracy must be 1: every target is among all classes",
        )


def topk_case(title: str, *, invariants: bool = False, hidden: bool = False, **options) -> Case:
    return Case(
        "topk_accuracy",
        title,
        partial(topk_inputs, **options),
        call=positional("output", "target", "topk"),
        compare=topk_invariants if invariants else topk_close,
        reference=not invariants,
        hidden=hidden,
        timeout=5,
    )


CASES = [
    head_case(
        "layers, shapes and He initialisation", {"num_classes": 7, "in_features": 40, "hidden": 16}
    ),
    trainable_case("freeze the features", [("features", False)]),
    trainable_case(
        "unfreeze two layers of a frozen model",
        [(["features.2", "classifier.0"], True)],
        frozen=True,
    ),
    epoch_case(
        "one epoch with CyclicLR stepped per batch", seed=1, sizes=(6, 6, 6, 6, 6), scheduler=True
    ),
    epoch_case("loss and top-1 averaged over samples", seed=2, sizes=(8, 8, 3), scheduler=False),
    topk_case("top-1 and top-5 on random logits", seed=1, n=64, classes=10, topk=(1, 5)),
    topk_case("ties at k=5", seed=2, n=48, classes=8, topk=(1, 5), ties=True),
    topk_case(
        "non-decreasing in k and 1 at k=C",
        seed=3,
        n=40,
        classes=6,
        topk=(1, 2, 3, 4, 5, 6),
        invariants=True,
    ),
    ### BEGIN HIDDEN TESTS
    head_case(
        "dropout and sizes passed through",
        {"num_classes": 3, "in_features": 30, "hidden": 12, "dropout": 0.25},
        hidden=True,
    ),
    head_case("default in_features", {"num_classes": 5, "hidden": 8}, hidden=True),
    trainable_case(
        "only tensors that change are counted",
        [("classifier", False), ("classifier", False), ("", True)],
        hidden=True,
    ),
    trainable_case("a prefix matching nothing is an error", [("decoder", False)], hidden=True),
    epoch_case(
        "log-probabilities with NLLLoss and Adam, device given",
        seed=3,
        sizes=(5, 5, 5, 5),
        scheduler=True,
        log_probs=True,
        adam=True,
        device="cpu",
        hidden=True,
    ),
    topk_case(
        "log-probabilities, 200 classes",
        seed=11,
        n=50,
        classes=200,
        topk=(1, 5),
        transform="log_softmax",
        hidden=True,
    ),
    topk_case(
        "one sample, probabilities",
        seed=12,
        n=1,
        classes=5,
        topk=(1, 2, 5),
        transform="softmax",
        hidden=True,
    ),
    ### END HIDDEN TESTS
]
