"""Check families of Grad-CAM and the tensor-train functions."""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autograder import asserts
from autograder.checks.common import family, generator, hooks_left
from autograder.spec import Context, Inputs

# --- gradcam -------------------------------------------------------------------------------


def tiny_cnn(seed: int) -> nn.Module:
    """conv-relu-conv-relu (``features``), average pooling, dropout and a linear classifier."""
    torch.manual_seed(seed)
    features = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(inplace=True),
    )
    return nn.Sequential(
        OrderedDict(
            features=features,
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            dropout=nn.Dropout(0.5),
            fc=nn.Linear(8, 4),
        )
    )


def cam_inputs(
    workdir: Path,
    *,
    seed: int,
    n: int,
    size: int,
    layer: str,
    by_module: bool = False,
    targets: list[int] | None = None,
    training: bool = False,
) -> Inputs:
    model = tiny_cnn(seed).train(training)
    model.features[0].requires_grad_(False)  # a frozen layer must stay frozen
    images = torch.randn(n, 3, size, size, generator=generator(seed))
    target_layer = model.get_submodule(layer) if by_module else layer
    return {"model": model, "target_layer": target_layer, "images": images, "targets": targets}


def cam_call(function, inputs: Inputs) -> Any:
    model = inputs["model"]
    options = {"targets": inputs["targets"]} if inputs["targets"] is not None else {}
    cams = function(model, inputs["target_layer"], inputs["images"], **options)
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    return {
        "cams": cams,
        "training": model.training,
        "requires_grad": flags,
        "hooks_left": hooks_left(model),
    }


def cam_compare(actual: Any, expected: Any, context: Context) -> None:
    """CAMs (N, H, W) in [0, 1] equal to the reference's; the model's flags and hooks restored."""
    images = context.inputs["images"]
    cams = asserts.assert_tensor(actual["cams"], shape=(images.shape[0], *images.shape[2:]))
    asserts.assert_in_range(cams, 0.0, 1.0, where="CAMs")
    asserts.assert_close(cams, expected["cams"], rtol=1e-4, atol=1e-5, where="CAMs")
    asserts.check(actual["hooks_left"] == 0, "hooks were left on the model: remove them")
    asserts.check(actual["training"] == expected["training"], "the model's mode was not restored")
    asserts.assert_close(
        actual["requires_grad"], expected["requires_grad"], where="requires_grad after Grad-CAM"
    )


cam_case = family("gradcam", cam_inputs, call=cam_call, compare=cam_compare, points=2, timeout=20)


# --- tt_svd --------------------------------------------------------------------------------


def svd_inputs(
    workdir: Path,
    *,
    seed: int,
    shape: tuple[int, ...],
    rank: int | None = None,
    noise: float = 0.0,
    **caps: Any,
) -> Inputs:
    """A random tensor, or one of TT rank ``rank`` plus ``noise``; ``caps``: ranks/max_rank/eps."""
    g = generator(seed)
    if rank is None:
        tensor = torch.randn(*shape, generator=g, dtype=torch.float64)
    else:
        ranks = [1, *[rank] * (len(shape) - 1), 1]
        cores = [
            torch.randn(ranks[k], n, ranks[k + 1], generator=g, dtype=torch.float64)
            for k, n in enumerate(shape)
        ]
        tensor = _dense(cores) + noise * torch.randn(*shape, generator=g, dtype=torch.float64)
    return {"tensor": tensor, **caps}


def _dense(cores: list[torch.Tensor]) -> torch.Tensor:
    """The full tensor of TT cores (r_{k-1}, n_k, r_k)."""
    result = cores[0]
    for core in cores[1:]:
        result = torch.tensordot(result, core, dims=([-1], [0]))
    return result.squeeze(0).squeeze(-1)


def svd_call(function, inputs: Inputs) -> Any:
    options = {key: inputs[key] for key in ("ranks", "max_rank", "eps") if key in inputs}
    return function(inputs["tensor"], **options)


def svd_compare(actual: Any, expected: Any, context: Context) -> None:
    """Chained core shapes (r_{k-1}, n_k, r_k), the reference's ranks and parameter count, and
    the same reconstruction."""
    shape = tuple(context.inputs["tensor"].shape)
    asserts.check(
        isinstance(actual, (list, tuple)) and len(actual) == len(shape),
        f"output: expected a list of {len(shape)} cores, got {asserts.describe(actual)}",
    )
    previous = 1
    for k, core in enumerate(actual):
        asserts.assert_tensor(core, where=f"core {k}")
        asserts.check(
            core.ndim == 3 and core.shape[0] == previous and core.shape[1] == shape[k],
            f"core {k}: expected shape ({previous}, {shape[k]}, r_{k + 1}), "
            f"got {tuple(core.shape)}",
        )
        previous = core.shape[2]
    asserts.check(previous == 1, "the last core must end with rank 1")
    ranks = [core.shape[2] for core in actual[:-1]]
    want = [core.shape[2] for core in expected[:-1]]
    asserts.check(
        ranks == want,
        f"TT ranks {ranks} differ from the truncation's",
        detail=f"expected ranks {want}",
    )
    count, want_count = sum(c.numel() for c in actual), sum(c.numel() for c in expected)
    asserts.check(count == want_count, f"{count} parameters, expected {want_count} for these ranks")
    asserts.assert_close(
        _dense(list(actual)).double(),
        _dense(list(expected)).double(),
        rtol=1e-6,
        atol=1e-8,
        where="reconstruction",
    )


svd_case = family("tt_svd", svd_inputs, call=svd_call, compare=svd_compare, points=2, timeout=20)


# --- tt_matrix_forward ---------------------------------------------------------------------


def matrix_inputs(
    workdir: Path,
    *,
    seed: int,
    modes_in: tuple[int, ...],
    modes_out: tuple[int, ...],
    rank: int,
    batch: tuple[int, ...],
) -> Inputs:
    g = generator(seed)
    ranks = [1, *[rank] * (len(modes_in) - 1), 1]
    cores = [
        torch.randn(ranks[k], m, n, ranks[k + 1], generator=g) / math.sqrt(m * rank)
        for k, (m, n) in enumerate(zip(modes_in, modes_out, strict=True))
    ]
    x = torch.randn(*batch, math.prod(modes_in), generator=g)
    return {"x": x, "cores": cores}


def matrix_call(function, inputs: Inputs) -> Any:
    return function(inputs["x"], inputs["cores"])


def matrix_compare(actual: Any, expected: Any, context: Context) -> None:
    """``x @ A`` with the shape (..., prod n_k), equal to the reference's within tolerance."""
    asserts.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


matrix_case = family(
    "tt_matrix_forward",
    matrix_inputs,
    call=matrix_call,
    compare=matrix_compare,
    points=2,
    timeout=30,
)
