"""Check families of the metrics: top-k accuracy, the confusion matrix and its normalisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autograder import asserts
from autograder.checks.common import close, family, generator, positional
from autograder.spec import Context, Inputs

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


topk_case = family(
    "topk_accuracy",
    topk_inputs,
    call=positional("output", "target", "topk"),
    compare=topk_close,
    timeout=5,
)


# --- confusion_matrix ----------------------------------------------------------------------


def confusion_inputs(
    workdir: Path,
    *,
    seed: int,
    n: int,
    classes: int,
    empty: int | None = None,
    column: bool = False,
) -> Inputs:
    g = generator(seed)
    targets = torch.randint(0, classes, (n,), generator=g)
    preds = torch.where(
        torch.rand(n, generator=g) < 0.6, targets, torch.randint(0, classes, (n,), generator=g)
    )
    if empty is not None:
        targets = torch.where(targets == empty, (targets + 1) % classes, targets)
    if column:
        preds, targets = preds[:, None], targets[:, None]
    return {"preds": preds, "targets": targets, "num_classes": classes}


def confusion_rows(actual: Any, expected: Any, context: Context) -> None:
    """A (C, C) int64 matrix whose row sums are the class counts of the targets."""
    inputs = context.inputs
    classes = inputs["num_classes"]
    asserts.assert_tensor(actual, shape=(classes, classes), dtype="int64")
    counts = torch.bincount(inputs["targets"].reshape(-1), minlength=classes)
    asserts.check(
        bool((actual.sum(dim=1) == counts).all()),
        "row sums are not the class counts: rows must be the actual classes",
    )


confusion_case = family(
    "confusion_matrix",
    confusion_inputs,
    call=positional("preds", "targets", "num_classes"),
    compare=close(rtol=0, atol=0),
)


# --- normalize_per_class -------------------------------------------------------------------


def normalize_inputs(
    workdir: Path, *, seed: int, classes: int, empty_row: int | None = None, dtype: str = "int64"
) -> Inputs:
    matrix = torch.randint(0, 9, (classes, classes), generator=generator(seed))
    if empty_row is not None:
        matrix[empty_row] = 0
    return {"matrix": matrix.to(getattr(torch, dtype))}


def normalized_rows(actual: Any, expected: Any, context: Context) -> None:
    """Rows sum to 1, and a row without samples stays all zeros."""
    matrix = context.inputs["matrix"]
    asserts.assert_tensor(actual, shape=tuple(matrix.shape))
    asserts.assert_finite(actual)
    sums = actual.double().sum(dim=1)
    empty = matrix.sum(dim=1) == 0
    asserts.check(
        bool(torch.allclose(sums[~empty], torch.ones_like(sums[~empty]), atol=1e-5)),
        "rows with samples must sum to 1",
    )
    asserts.check(bool((actual[empty] == 0).all()), "rows without samples must stay 0")


normalize_case = family(
    "normalize_per_class",
    normalize_inputs,
    call=positional("matrix"),
    compare=close(rtol=1e-6, atol=1e-7),
)
