"""Check families of feature similarity: extraction, cosine similarity, retrieval, the canvas."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from autograder import asserts
from autograder.checks.common import close, family, generator, hooks_left, positional
from autograder.spec import Context, Inputs

# --- extract_features ----------------------------------------------------------------------


def small_classifier(seed: int) -> nn.Module:
    """Flatten, a hidden block (Linear, ReLU, Dropout) and an output layer."""
    torch.manual_seed(seed)
    block = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Dropout(0.5))
    return nn.Sequential(OrderedDict(flatten=nn.Flatten(), block=block, out=nn.Linear(8, 5)))


def features_inputs(
    workdir: Path, *, seed: int, sizes: tuple[int, ...], layer: str | None, training: bool = True
) -> Inputs:
    """A model in train mode (dropout on) and batches of (images (B, 3, 2, 2), labels)."""
    model = small_classifier(seed).train(training)
    g = generator(seed)
    loader = [
        (torch.randn(n, 3, 2, 2, generator=g), torch.randint(0, 5, (n,), generator=g))
        for n in sizes
    ]
    inputs = {"model": model, "loader": loader}
    if layer is not None:
        inputs["layer"] = layer
    return inputs


def features_call(function, inputs: Inputs) -> Any:
    model = inputs["model"]
    options = {"layer": inputs["layer"]} if "layer" in inputs else {}
    result = function(model, inputs["loader"], **options)
    return {"result": result, "training_after": model.training, "hooks_left": hooks_left(model)}


def features_compare(actual: Any, expected: Any, context: Context) -> None:
    """Features (N, D) in eval mode and labels (N,); hooks removed, train/eval mode restored."""
    asserts.assert_close(
        actual["result"], expected["result"], rtol=1e-5, atol=1e-6, where="(features, labels)"
    )
    asserts.check(
        actual["hooks_left"] == 0,
        f"{actual['hooks_left']} hooks were left on the "
        "model: remove them (hook.remove()) even when a batch fails",
    )
    asserts.check(
        actual["training_after"] == expected["training_after"],
        "the model's train/eval mode was not restored",
    )


features_case = family(
    "extract_features",
    features_inputs,
    call=features_call,
    compare=features_compare,
    points=2,
    timeout=20,
)


# --- cosine_similarity_matrix --------------------------------------------------------------


def cosine_inputs(
    workdir: Path, *, seed: int, n: int, d: int, zero_row: bool = False, integers: bool = False
) -> Inputs:
    features = torch.randn(n, d, generator=generator(seed))
    if integers:
        features = (features * 3).round().to(torch.int64)
    if zero_row:
        features[1] = 0
    return {"features": features}


def cosine_invariants(actual: Any, expected: Any, context: Context) -> None:
    """Symmetric (N, N), values in [-1, 1], 1 on the diagonal of non-zero rows."""
    n = len(context.inputs["features"])
    asserts.assert_tensor(actual, shape=(n, n))
    asserts.assert_in_range(actual, -1 - 1e-5, 1 + 1e-5)
    values = actual.double()
    asserts.check(bool(torch.allclose(values, values.T, atol=1e-6)), "output is not symmetric")
    nonzero = context.inputs["features"].double().norm(dim=1) > 0
    diagonal = values.diagonal()[nonzero]
    asserts.check(
        bool(torch.allclose(diagonal, torch.ones_like(diagonal), atol=1e-5)),
        "a row's similarity with itself must be 1",
    )


cosine_case = family(
    "cosine_similarity_matrix",
    cosine_inputs,
    call=positional("features"),
    compare=close(rtol=1e-5, atol=1e-6),
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


similar_case = family(
    "most_similar",
    similar_inputs,
    call=positional("similarity", "index", "k"),
    compare=close(rtol=1e-6, atol=1e-7),
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


def canvas_inside(actual: Any, expected: Any, context: Context) -> None:
    """One (x, y) of ints per point, every thumbnail fully inside the canvas."""
    inputs = context.inputs
    asserts.check(
        isinstance(actual, list) and len(actual) == len(inputs["coords"]),
        f"output: expected a list of {len(inputs['coords'])} (x, y) pairs, "
        f"got {asserts.describe(actual)}",
    )
    free = np.asarray(inputs["canvas_size"]) - np.asarray(inputs["thumb_size"])
    for index, point in enumerate(actual):
        asserts.check(
            isinstance(point, (list, tuple))
            and len(point) == 2
            and all(isinstance(v, int) for v in point),
            f"output[{index}]: expected a pair of ints, got {asserts.describe(point)}",
        )
        asserts.check(
            0 <= point[0] <= free[0] and 0 <= point[1] <= free[1],
            f"output[{index}]: the thumbnail sticks out of the canvas",
        )


canvas_case = family(
    "canvas_positions",
    canvas_inputs,
    call=positional("coords", canvas_size="canvas_size", thumb_size="thumb_size"),
    compare=close(rtol=0, atol=0),
)
