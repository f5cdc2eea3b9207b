"""Check families of the metrics: top-k accuracy, the confusion matrix and its normalisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autograder import asserts
from autograder.checks.common import all_of, close, family, generator, positional
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


def topk_bounds(output: torch.Tensor, target: torch.Tensor, k: int) -> tuple[float, float]:
    """Top-k accuracy with every tie counted against the target, and with every tie for it."""
    target_score = output.gather(1, target.view(-1, 1).long())  # (N, 1)
    above = (output > target_score).sum(dim=1)  # (N,) classes strictly better
    tied = (output == target_score).sum(dim=1) - 1  # (N,) other classes with the same score
    return float(((above + tied) < k).float().mean()), float((above < k).float().mean())


def topk_fractions(actual: Any, expected: Any, context: Context) -> None:
    """A list with one Python float per k, each a fraction in [0, 1]."""
    topk = context.inputs["topk"]
    asserts.require(
        isinstance(actual, (list, tuple)) and len(actual) == len(topk),
        f"output: expected a list of {len(topk)} floats (one per k in topk), "
        f"got {asserts.describe(actual)}",
    )
    for index, value in enumerate(actual):
        hint = " (use .item() to get a Python number)" if isinstance(value, torch.Tensor) else ""
        asserts.require(
            isinstance(value, (int, float)) and not isinstance(value, bool),
            f"output[{index}]: expected a Python float, got {asserts.describe(value)}{hint}",
        )
        asserts.require(value == value, f"output[{index}]: got NaN where a fraction was expected")
        if value > 1 and float(value).is_integer():
            asserts.fail(
                f"output[{index}] is {value:g}, a count of samples: divide by the number of "
                "samples to get a fraction"
            )
        asserts.require(
            0 <= value <= 1,
            f"output[{index}] is {value:g}: an accuracy is a fraction in [0, 1], not a percentage",
        )


def topk_within_ties(actual: Any, expected: Any, context: Context) -> None:
    """One fraction per k, between counting every tie against the target and every tie for it."""
    topk_fractions(actual, expected, context)
    output, target, topk = (context.inputs[key] for key in ("output", "target", "topk"))
    for index, k in enumerate(topk):
        low, high = topk_bounds(output, target, k)
        if low - 1e-6 <= actual[index] <= high + 1e-6:
            continue
        asserts.fail(
            f"top-{k} accuracy is out of the accepted range{_topk_hint(actual, context, index)}",
            detail=f"expected a value in [{low:.6g}, {high:.6g}] (every tie counted against "
            f"the target .. every tie for it), got {actual[index]!r}",
        )


def _topk_hint(actual: list, context: Context, index: int) -> str:
    """What a wrong top-k value matches: the lowest scores, another k, or top-1 for every k."""
    output, target, topk = (context.inputs[key] for key in ("output", "target", "topk"))
    k, value, classes = topk[index], actual[index], output.shape[1]

    def near(bounds: tuple[float, float]) -> bool:
        return bounds[0] - 1e-6 <= value <= bounds[1] + 1e-6

    if near(topk_bounds(-output, target, k)):
        return f": it matches the {k} *lowest* scores (take the largest, largest=True)"
    if len(target) > k:  # correct[:k] on (N, maxk) hits counts the first k samples' hits
        low, high = topk_bounds(output[:k], target[:k], max(topk))
        if near((low * k / len(target), high * k / len(target))):
            return (
                ": it counts the first k samples (correct[:k] slices samples: take the first "
                "k columns)"
            )
    for other in (k - 1, k + 1):
        if 1 <= other <= classes and near(topk_bounds(output, target, other)):
            return f": it matches top-{other} (is k off by one?)"
    if k != 1 and near(topk_bounds(output, target, 1)):
        return ": it equals the top-1 accuracy (is k passed on for each k?)"
    return ""


def topk_invariants(actual: Any, expected: Any, context: Context) -> None:
    """One fraction per k in [0, 1], non-decreasing in k, and 1 at k = number of classes."""
    topk_fractions(actual, expected, context)
    topk = context.inputs["topk"]
    classes = context.inputs["output"].shape[1]
    for index in range(1, len(topk)):
        asserts.require(
            actual[index - 1] <= actual[index] + 1e-9,
            f"top-{topk[index]} accuracy is below top-{topk[index - 1]} accuracy: a larger k "
            "can only add samples",
        )
    if classes in topk:
        asserts.require(
            abs(actual[topk.index(classes)] - 1) < 1e-9,
            f"top-{classes} accuracy must be 1: every target is among all classes",
        )


topk_case = family(
    "topk_accuracy",
    topk_inputs,
    call=positional("output", "target", "topk"),
    compare=topk_within_ties,
    reference=False,
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
) -> Inputs:
    """Targets, predictions right 60 % of the time; class ``empty`` gets no target."""
    g = generator(seed)
    targets = torch.randint(0, classes, (n,), generator=g)
    preds = torch.where(
        torch.rand(n, generator=g) < 0.6, targets, torch.randint(0, classes, (n,), generator=g)
    )
    if empty is not None:
        targets = torch.where(targets == empty, (targets + 1) % classes, targets)
    return {"preds": preds, "targets": targets, "num_classes": classes}


def confusion_shape(actual: Any, expected: Any, context: Context) -> None:
    """A (C, C) int64 tensor of non-negative counts that add up to the number of samples."""
    inputs = context.inputs
    classes, samples = inputs["num_classes"], inputs["targets"].numel()
    asserts.assert_tensor(actual, shape=(classes, classes), dtype="int64")
    asserts.require(bool((actual >= 0).all()), "counts cannot be negative")
    total = int(actual.sum())
    asserts.require(
        total == samples,
        f"the counts add up to {total}, not to the {samples} samples: count each "
        "(actual, predicted) pair once",
    )


def confusion_rows(actual: Any, expected: Any, context: Context) -> None:
    """A (C, C) int64 matrix whose row sums are the class counts of the targets."""
    confusion_shape(actual, expected, context)
    inputs = context.inputs
    classes = inputs["num_classes"]
    counts = torch.bincount(inputs["targets"].reshape(-1), minlength=classes)
    if bool((actual.sum(dim=1) == counts).all()):
        return
    transposed = bool((actual.sum(dim=0) == counts).all())
    asserts.fail(
        "row sums are not the class counts of the targets"
        + (": the matrix is transposed" if transposed else "")
        + "; rows must be the actual classes (targets), columns the predictions"
    )


confusion_case = family(
    "confusion_matrix",
    confusion_inputs,
    call=positional("preds", "targets", "num_classes"),
    compare=all_of(confusion_rows, close(rtol=0, atol=0)),
)


# --- normalize_per_class -------------------------------------------------------------------


def normalize_inputs(
    workdir: Path, *, seed: int, classes: int, empty_row: int | None = None, dtype: str = "int64"
) -> Inputs:
    matrix = torch.randint(0, 9, (classes, classes), generator=generator(seed))
    if empty_row is not None:
        matrix[empty_row] = 0
    return {"matrix": matrix.to(getattr(torch, dtype))}


def normalized_shape(actual: Any, expected: Any, context: Context) -> None:
    """A floating-point tensor of the matrix's shape with every value in [0, 1]."""
    matrix = context.inputs["matrix"]
    asserts.assert_tensor(actual, shape=tuple(matrix.shape))
    asserts.require(
        actual.is_floating_point(),
        f"expected floats (float32 or float64), got {asserts.describe(actual)}: integer "
        "division rounds every share down",
    )
    nan = actual.isnan()
    if bool(nan.any()):
        rows = sorted({int(r) for r in nan.nonzero()[:, 0]})
        asserts.fail(
            f"NaN in {len(rows)} rows: a row without samples must stay 0 (do not divide 0 by 0)"
        )
    asserts.assert_in_range(actual, 0.0, 1.0)


def normalized_rows(actual: Any, expected: Any, context: Context) -> None:
    """Rows sum to 1, and a row without samples stays all zeros."""
    normalized_shape(actual, expected, context)
    matrix = context.inputs["matrix"]
    empty = matrix.sum(dim=1) == 0

    def sums_to_one(sums: torch.Tensor) -> bool:
        return bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-5))

    if not sums_to_one(actual.double().sum(dim=1)[~empty]):
        columns = actual.double().sum(dim=0)[matrix.sum(dim=0) != 0]
        asserts.fail(
            "rows with samples do not sum to 1"
            + (": the columns do; are you normalising columns?" if sums_to_one(columns) else "")
            + " Divide each row by its own sum (sum over dim=1, keepdim=True)."
        )
    asserts.require(bool((actual[empty] == 0).all()), "rows without samples must stay 0")


normalize_case = family(
    "normalize_per_class",
    normalize_inputs,
    call=positional("matrix"),
    compare=all_of(normalized_rows, close(rtol=1e-6, atol=1e-7, dtype=False)),
)
