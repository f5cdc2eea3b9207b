"""Check families of feature similarity: extraction, cosine similarity, retrieval, the canvas.

Each function has a property comparison (shapes, types, invariants, the documented side effects,
with messages that name the usual mistake) that runs before the value comparison, and that also
serves alone as a ``reference=False`` case worth part of the points.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from autograder import asserts
from autograder.checks.common import all_of, family, generator, hooks_left, positional
from autograder.spec import Context, Inputs

# --- extract_features ----------------------------------------------------------------------


class BatchError(RuntimeError):
    """The failure a :class:`FailingLoader` raises."""


class FailingLoader:
    """Yields ``batches`` and raises :class:`BatchError` in place of batch ``fail_at``."""

    def __init__(self, batches: list, fail_at: int) -> None:
        self.batches = batches
        self.fail_at = fail_at
        self.failed = False

    def __iter__(self) -> Iterator:
        for index, batch in enumerate(self.batches):
            if index == self.fail_at:
                self.failed = True
                raise BatchError(f"batch {index} could not be read")
            yield batch


def small_classifier(seed: int, *, conv: bool = False) -> nn.Module:
    """(A 1x1 convolution,) flatten, a hidden block (Linear, ReLU, Dropout) and an output layer."""
    torch.manual_seed(seed)
    front = [("conv", nn.Conv2d(3, 4, 1))] if conv else []
    width = 16 if conv else 12
    block = nn.Sequential(nn.Linear(width, 8), nn.ReLU(), nn.Dropout(0.5))
    layers = [*front, ("flatten", nn.Flatten()), ("block", block), ("out", nn.Linear(8, 5))]
    return nn.Sequential(OrderedDict(layers))


def features_inputs(
    workdir: Path,
    *,
    seed: int,
    sizes: tuple[int, ...],
    layer: str | None,
    training: bool = True,
    conv: bool = False,
    fail_at: int | None = None,
    device: str | None = None,
) -> Inputs:
    """A model in train mode (dropout on) and batches of (images (B, 3, 2, 2), labels)."""
    model = small_classifier(seed, conv=conv).train(training)
    g = generator(seed)
    batches = [
        (torch.randn(n, 3, 2, 2, generator=g), torch.randint(0, 5, (n,), generator=g))
        for n in sizes
    ]
    inputs = {
        "model": model,
        "loader": batches if fail_at is None else FailingLoader(batches, fail_at),
    }
    if layer is not None:
        inputs["layer"] = layer
    if device is not None:
        inputs["device"] = device
    return inputs


def features_call(function, inputs: Inputs) -> Any:
    """The result, the model's state after the call, and whether a second run agrees."""
    model, loader = inputs["model"], inputs["loader"]
    options = {key: inputs[key] for key in ("layer", "device") if key in inputs}
    if isinstance(loader, FailingLoader):
        try:
            function(model, loader, **options)
            raised = None
        except Exception as error:  # the loader's failure, or the student's own
            raised = type(error).__name__
        state = {"training_after": model.training, "hooks": hooks_left(model)}
        return {"raised": raised, "reached_failure": loader.failed, **state}
    result = function(model, loader, **options)
    state = {"training_after": model.training, "hooks": hooks_left(model)}
    features = result[0] if isinstance(result, (tuple, list)) and result else None
    grad = bool(getattr(features, "requires_grad", False))
    again = function(model, loader, **options)[0]
    same = isinstance(features, torch.Tensor) and bool(torch.equal(features, again))
    return {"result": result, **state, "requires_grad": grad, "repeatable": same}


def _layer_width(inputs: Inputs) -> int:
    """Columns of the flattened output of the case's layer (the model's output when None)."""
    model, layer = inputs["model"], inputs.get("layer")
    seen = []
    target = model.get_submodule(layer) if layer else model
    handle = target.register_forward_hook(lambda module, args, output: seen.append(output))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, 2, 2))
    finally:
        handle.remove()
    return seen[0][0].numel()


def _batches(inputs: Inputs) -> list:
    loader = inputs["loader"]
    return loader.batches if isinstance(loader, FailingLoader) else loader


def _restored(actual: dict, context: Context) -> None:
    """Hooks removed and the model's train/eval mode as before the call."""
    hooks = actual["hooks"]
    asserts.require(
        hooks == 0,
        f"{hooks} hook(s) were left on the model: remove each hook (handle.remove()) in a "
        "finally block, so that it goes even when a batch fails",
    )
    before = context.inputs["model"].training
    modes = {True: "train", False: "eval"}
    asserts.require(
        actual["training_after"] == before,
        f"the model was in {modes[before]} mode and is in {modes[actual['training_after']]} mode "
        "after the call: remember model.training first and restore it (model.train(was))",
    )


def features_properties(actual: Any, expected: Any, context: Context) -> None:
    """Features (N, D) of the layer, the loader's labels, no gradients, hooks and mode restored."""
    inputs = context.inputs
    result = actual["result"]
    asserts.require(
        isinstance(result, (tuple, list)) and len(result) == 2,
        f"output: expected a tuple (features, labels), got {asserts.describe(result)}",
    )
    features, labels = result
    batches = _batches(inputs)
    n = sum(len(images) for images, _ in batches)
    asserts.assert_tensor(features, where="features")
    asserts.require(
        features.ndim == 2,
        f"features: expected 2 dimensions (N, D), got shape {tuple(features.shape)}: flatten "
        "each batch's output to (B, D) with output.flatten(start_dim=1)",
    )
    asserts.require(
        len(features) == n,
        f"features: expected {n} rows, one per image of all batches, got {len(features)}: "
        "collect every batch and concatenate them (torch.cat)",
    )
    width = _layer_width(inputs)
    where = f"layer {inputs['layer']!r}" if "layer" in inputs else "the model"
    asserts.require(
        features.shape[1] == width,
        f"features: {where} gives {width} values per image, got {features.shape[1]}: "
        + (
            "take the output of that layer through a forward hook"
            if "layer" in inputs
            else "with layer=None take the model's own output"
        ),
    )
    asserts.require(
        features.is_floating_point(),
        f"features: expected floating point values, got {features.dtype}",
    )
    asserts.require(
        not actual["requires_grad"],
        "features still require gradients: run the model under torch.no_grad()",
    )
    asserts.assert_tensor(labels, shape=(n,), where="labels")
    want = torch.cat([torch.as_tensor(targets) for _, targets in batches])
    asserts.require(
        torch.equal(labels.long(), want),
        "labels: not the loader's labels in loader order: concatenate each batch's labels",
    )
    _restored(actual, context)


def features_values(actual: Any, expected: Any, context: Context) -> None:
    """The same features as the layer's eval-mode output, within tolerance."""
    asserts.require(
        actual["repeatable"],
        "two runs over the same batches gave different features: dropout is active, so run "
        "the model in eval mode (model.eval()) while extracting",
    )
    asserts.assert_close(
        actual["result"][0],
        expected["result"][0],
        rtol=1e-5,
        atol=1e-6,
        check_dtype=False,
        where="features",
    )


def features_after_failure(actual: Any, expected: Any, context: Context) -> None:
    """When a batch fails, the hook is removed and the model's train/eval mode restored."""
    asserts.require(
        actual["reached_failure"],
        "the function did not read the batches up to the failing one (did it run at all?)",
    )
    _restored(actual, context)


features_case = family(
    "extract_features",
    features_inputs,
    call=features_call,
    compare=all_of(features_properties, features_values),
    points=2,
    timeout=20,
)


# --- cosine_similarity_matrix --------------------------------------------------------------


def cosine_inputs(
    workdir: Path, *, seed: int, n: int, d: int, zero_row: bool = False, dtype: str = "float32"
) -> Inputs:
    features = torch.randn(n, d, generator=generator(seed), dtype=getattr(torch, dtype))
    if zero_row:
        features[1] = 0
    return {"features": features}


def _unit(x: torch.Tensor, dim: int) -> torch.Tensor:
    return x / x.norm(dim=dim, keepdim=True).clamp_min(1e-12)


def cosine_properties(actual: Any, expected: Any, context: Context) -> None:
    """A symmetric float (N, N) matrix in [-1, 1]: 1 on the diagonal, 0 for zero rows."""
    x = context.inputs["features"].double()
    n, d = x.shape
    asserts.assert_tensor(actual)
    if tuple(actual.shape) == (d, d) and d != n:
        asserts.fail(
            f"output: expected shape ({n}, {n}) (one row and column per feature row), got "
            f"({d}, {d}): the similarities of rows are x @ x.T, not x.T @ x"
        )
    asserts.assert_tensor(actual, shape=(n, n))
    asserts.require(
        actual.is_floating_point(), f"output: expected floating point values, got {actual.dtype}"
    )
    values = actual.double()
    zero = x.norm(dim=1) == 0
    if torch.isnan(values).any():
        asserts.fail(
            "output: NaN values"
            + (
                ": a zero row divides by a zero norm; clamp the norm (norm.clamp_min(1e-12)) so "
                "that its similarities are 0"
                if zero.any()
                else ""
            )
        )
    diagonal = values.diagonal()[~zero]
    if not torch.allclose(diagonal, torch.ones_like(diagonal), atol=1e-5):
        hint = "divide each row by its length before the product"
        if torch.allclose(values, _unit(x, 0) @ _unit(x, 0).T, atol=1e-5):
            hint = "normalise each row (dim=1), not each column (dim=0)"
        asserts.fail(f"output: a row's similarity with itself must be 1: {hint}")
    asserts.assert_in_range(values, -1 - 1e-5, 1 + 1e-5)
    asserts.require(bool(torch.allclose(values, values.T, atol=1e-6)), "output: not symmetric")
    asserts.require(
        bool((values[zero] == 0).all() and (values[:, zero] == 0).all()),
        "output: the similarities of a zero row must be 0 (its row and its column)",
    )


def cosine_values(actual: Any, expected: Any, context: Context) -> None:
    """The reference's values within float32 tolerance (float32 and float64 both accepted)."""
    asserts.assert_close(actual, expected, rtol=1e-5, atol=1e-6, check_dtype=False)


cosine_case = family(
    "cosine_similarity_matrix",
    cosine_inputs,
    call=positional("features"),
    compare=all_of(cosine_properties, cosine_values),
)


# --- most_similar --------------------------------------------------------------------------


def similar_inputs(
    workdir: Path, *, seed: int, n: int, index: int, k: int, ties: bool = False
) -> Inputs:
    g = generator(seed)
    if ties:
        scores = torch.randint(0, 3, (n, n), generator=g).float() / 2
        similarity = torch.maximum(scores, scores.T)
    else:
        x = torch.nn.functional.normalize(torch.randn(n, 6, generator=g), dim=1)
        similarity = x @ x.T
    return {"similarity": similarity, "index": index, "k": k}


def similar_properties(actual: Any, expected: Any, context: Context) -> None:
    """Lists (indices, scores) of min(k, N - 1) other items, best first, scores from the row."""
    inputs = context.inputs
    similarity, index, k = inputs["similarity"], inputs["index"], inputs["k"]
    want = min(k, len(similarity) - 1)
    asserts.require(
        isinstance(actual, (tuple, list)) and len(actual) == 2,
        f"output: expected a tuple (indices, scores), got {asserts.describe(actual)}",
    )
    indices, scores = actual
    for name, values, kind in (("indices", indices, int), ("scores", scores, float)):
        asserts.require(
            isinstance(values, list),
            f"{name}: expected a Python list, got {asserts.describe(values)} (use .tolist())",
        )
        asserts.require(
            all(isinstance(v, kind) and not isinstance(v, bool) for v in values),
            f"{name}: expected Python {kind.__name__}s (use .tolist())",
        )
    asserts.require(len(indices) == len(scores), "indices and scores differ in length")
    asserts.require(
        index not in indices,
        "the query item itself is among the results: leave it out (its similarity with "
        "itself is the highest)",
    )
    if len(indices) != want:
        hint = ""
        if len(indices) == want - 1:
            hint = ": was the query dropped after taking the top k? Leave it out first"
        elif want < k:
            hint = ": there are fewer other items than k, so all of them come back"
        asserts.fail(f"expected {want} items, got {len(indices)}{hint}")
    asserts.require(
        all(0 <= i < len(similarity) for i in indices) and len(set(indices)) == len(indices),
        "indices: every index must be a different item in 0..N-1",
    )
    row = similarity[index].double()
    asserts.require(
        bool(torch.allclose(torch.tensor(scores, dtype=torch.float64), row[indices], atol=1e-6)),
        "scores: not the similarities of the returned items to the query (row `index` of the "
        "matrix)",
    )
    asserts.require(
        all(a >= b for a, b in zip(scores, scores[1:], strict=False)),
        "scores: not in descending order: the most similar item comes first",
    )


def similar_values(actual: Any, expected: Any, context: Context) -> None:
    """The reference's items in its order (ties in index order) and their scores."""
    indices, scores = actual
    asserts.require(
        indices == expected[0] or not np.allclose(scores, expected[1], atol=1e-6),
        "items of equal score are not in index order: use a stable sort "
        "(torch.sort(row, descending=True, stable=True))",
    )
    inputs = context.inputs
    order = torch.argsort(inputs["similarity"][inputs["index"]], descending=True, stable=True)
    asserts.require(
        indices == expected[0] or indices != order[1 : inputs["k"] + 1].tolist(),
        "the results are the sorted row without its first item: the query isn't always first in "
        "the sorted row (another item may score as high): remove it by index "
        "(order[order != index]), not by dropping the first result",
    )
    asserts.assert_close(actual, expected, rtol=1e-6, atol=1e-7)


similar_case = family(
    "most_similar",
    similar_inputs,
    call=positional("similarity", "index", "k"),
    compare=all_of(similar_properties, similar_values),
)


# --- canvas_positions ----------------------------------------------------------------------


def canvas_inputs(
    workdir: Path,
    *,
    seed: int,
    n: int,
    canvas: tuple[int, int],
    thumb: tuple[int, int],
    flat_axis: int | None = None,
) -> Inputs:
    coords = np.random.default_rng(seed).normal(size=(n, 2)) * 30
    if flat_axis is not None:
        coords[:, flat_axis] = 4.0
    return {"coords": coords, "canvas_size": canvas, "thumb_size": thumb}


def exact_positions(
    coords: np.ndarray, free: np.ndarray, *, flip: bool = True, shared: bool = False
) -> np.ndarray:
    """Unrounded top-left corners: each axis (or, ``shared``, both by one range) min..max onto
    0..free, an axis without spread in the middle, y flipped when ``flip``."""
    low, span = coords.min(axis=0), np.ptp(coords, axis=0)
    if shared:
        low, span = np.full(2, coords.min()), np.full(2, np.ptp(coords))
    unit = np.full_like(coords, 0.5)
    spread = span > 0
    unit[:, spread] = (coords[:, spread] - low[spread]) / span[spread]
    if flip:
        unit[:, 1] = 1.0 - unit[:, 1]
    return unit * free


#: The feedback when canvas and thumbnail sizes are read as (height, width).
SIZES_SWAPPED = (
    "the sizes are (width, height): the room along x is canvas_size[0] - thumb_size[0], along y "
    "canvas_size[1] - thumb_size[1]"
)


def canvas_inside(actual: Any, expected: Any, context: Context) -> None:
    """One (x, y) pair of ints per point, every thumbnail fully inside the canvas."""
    inputs = context.inputs
    asserts.require(
        isinstance(actual, list) and len(actual) == len(inputs["coords"]),
        f"output: expected a list of {len(inputs['coords'])} (x, y) pairs, "
        f"got {asserts.describe(actual)}",
    )
    free = np.asarray(inputs["canvas_size"]) - np.asarray(inputs["thumb_size"])
    flat = np.ptp(np.asarray(inputs["coords"], dtype=np.float64), axis=0) == 0
    for index, point in enumerate(actual):
        asserts.require(
            isinstance(point, (list, tuple))
            and len(point) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in point),
            f"output[{index}]: expected a pair of ints, got {asserts.describe(point)}",
        )
        outside = [not 0 <= point[axis] <= free[axis] for axis in (0, 1)]
        asserts.require(
            not any(outside & flat),
            f"output[{index}]: an axis without spread (all values equal) goes to the middle "
            "of its room: guard the division by max - min",
        )
        fits_swapped = all(0 <= point[axis] <= free[1 - axis] for axis in (0, 1))
        asserts.require(not any(outside) or not fits_swapped, SIZES_SWAPPED)
        asserts.require(
            not any(outside),
            f"output[{index}]: the thumbnail sticks out of the canvas: scale onto "
            "0..canvas - thumb (the top-left corner's room), not 0..canvas",
        )


def canvas_values(actual: Any, expected: Any, context: Context) -> None:
    """Each position within 1 pixel of the exact scaled point (any rounding to int is fine)."""
    inputs = context.inputs
    coords = np.asarray(inputs["coords"], dtype=np.float64)
    canvas, thumb = np.asarray(inputs["canvas_size"]), np.asarray(inputs["thumb_size"])
    points = np.asarray(actual, dtype=np.float64)

    def near(exact: np.ndarray) -> bool:
        return bool((np.abs(points - exact) < 1).all())

    exact = exact_positions(coords, canvas - thumb)
    if near(exact):
        return
    flat = np.ptp(coords, axis=0) == 0
    asserts.require(
        bool((np.abs(points - exact)[:, flat] < 1).all()),
        "an axis without spread (all values equal) goes to the middle of its room",
    )
    mistakes = [
        (
            exact_positions(coords, canvas - thumb, flip=False),
            "y is not flipped: the point with "
            "the largest y goes to the top (y = 0), as image rows grow downwards",
        ),
        (
            exact_positions(coords, (canvas - thumb)[::-1]),
            SIZES_SWAPPED,
        ),
        (
            exact_positions(coords, canvas - thumb, shared=True),
            "each axis is scaled from its own min..max, not both by one range",
        ),
    ]
    for exact, message in mistakes:
        if near(exact):
            asserts.fail(message)
    asserts.fail(
        "positions are more than 1 pixel from the scaled points: map each axis's min to 0 and "
        "max to canvas - thumb (an axis without spread to the middle), y flipped"
    )


canvas_case = family(
    "canvas_positions",
    canvas_inputs,
    call=positional("coords", canvas_size="canvas_size", thumb_size="thumb_size"),
    compare=all_of(canvas_inside, canvas_values),
)
