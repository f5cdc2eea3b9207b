"""Check families of Grad-CAM and the tensor-train functions.

Property comparisons (shapes, ranges, the documented side effects) run before the value
comparisons and also serve alone as ``reference=False`` cases worth part of the points. When a
value comparison fails, the output is compared with what the usual mistakes give (computed here,
in the grading process) so that the message can name the mistake. ``course_lib`` helpers are
imported where they are used: the sandbox imports this module for the ``call`` functions.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from autograder import asserts
from autograder.checks.common import all_of, family, generator, hooks_left
from autograder.spec import Context, Inputs

# --- gradcam -------------------------------------------------------------------------------


class CountingFlatten(nn.Flatten):
    """``nn.Flatten`` that counts its calls: shows that a failed call did run the model."""

    calls = 0

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (nn.Flatten's name)
        self.calls += 1
        return super().forward(input)


def tiny_cnn(seed: int) -> nn.Module:
    """conv-relu-pool-conv-relu (``features``), average pooling, dropout, a linear classifier."""
    torch.manual_seed(seed)
    features = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(),
    )
    return nn.Sequential(
        OrderedDict(
            features=features,
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=CountingFlatten(),
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
    mixed: bool = False,
) -> Inputs:
    """The tiny CNN with a frozen first convolution; ``mixed``: in train mode, features in eval."""
    model = tiny_cnn(seed).train(training)
    if mixed:
        model.features.eval()
    model.features[0].requires_grad_(False)  # a frozen layer must stay frozen
    images = torch.randn(n, 3, size, size, generator=generator(seed))
    target_layer = model.get_submodule(layer) if by_module else layer
    return {"model": model, "target_layer": target_layer, "images": images, "targets": targets}


def _model_state(model: nn.Module) -> dict:
    return {
        "modes": {name: module.training for name, module in model.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "hooks_left": hooks_left(model),
    }


def cam_call(function, inputs: Inputs) -> Any:
    """The CAMs, the model's state after the call, and whether a second call agrees."""
    model = inputs["model"]
    options = {"targets": inputs["targets"]} if inputs["targets"] is not None else {}
    cams = function(model, inputs["target_layer"], inputs["images"], **options)
    state = _model_state(model)
    again = function(model, inputs["target_layer"], inputs["images"], **options)
    repeatable = isinstance(cams, torch.Tensor) and bool(torch.equal(cams, again))
    return {"cams": cams, **state, "repeatable": repeatable}


def cam_failing_call(function, inputs: Inputs) -> Any:
    """The model's state after a call that fails (a target out of range)."""
    model = inputs["model"]
    try:
        function(model, inputs["target_layer"], inputs["images"], targets=inputs["targets"])
    except Exception:  # any error is right here; only what is left behind is checked
        pass
    return {**_model_state(model), "model_calls": model.flatten.calls}


def _restored(actual: dict, context: Context) -> None:
    """No hooks left; every module's train/eval flag and requires_grad as before."""
    asserts.require(
        actual["hooks_left"] == 0,
        f"{actual['hooks_left']} hook(s) were left on the model: remove the hook "
        "(handle.remove()) in a finally block, also when something fails",
    )
    before = _model_state(context.inputs["model"])
    changed = [
        name or "(the model)"
        for name, flag in actual["modes"].items()
        if before["modes"].get(name) != flag
    ]
    asserts.require(
        not changed,
        f"the train/eval mode of {changed[:3]} changed: run the model inside "
        "`with eval_mode(model):`, which restores every module's own flag",
    )
    flipped = [
        name
        for name, flag in actual["requires_grad"].items()
        if before["requires_grad"].get(name) != flag
    ]
    asserts.require(
        not flipped,
        f"requires_grad of {flipped[:3]} changed: leave the parameters' flags as they are (the "
        "hook's output.detach().requires_grad_(True) needs no parameter gradients)",
    )


def cam_properties(actual: Any, expected: Any, context: Context) -> None:
    """Maps (N, H, W) min-max normalised to [0, 1]; the hook removed, the model's flags restored."""
    images = context.inputs["images"]
    n, size = images.shape[0], tuple(images.shape[2:])
    cams = asserts.assert_tensor(actual["cams"], where="CAMs")
    if cams.ndim == 4 and cams.shape[1] == 1:
        asserts.fail(
            f"CAMs: expected shape {(n, *size)}, got {tuple(cams.shape)}: drop the "
            "channel dimension (cams[:, 0])"
        )
    if cams.ndim == 3 and tuple(cams.shape[1:]) != size and tuple(cams.shape[1:]) < size:
        asserts.fail(
            f"CAMs: expected maps of the images' size {size}, got "
            f"{tuple(cams.shape[1:])}: upsample them with F.interpolate(..., "
            "mode='bilinear', align_corners=False)"
        )
    asserts.assert_tensor(cams, shape=(n, *size), where="CAMs")
    asserts.require(cams.is_floating_point(), f"CAMs: expected floats, got {cams.dtype}")
    asserts.assert_in_range(cams, 0.0, 1.0, where="CAMs")
    peaks = cams.double().amax(dim=(1, 2))
    lows = cams.double().amin(dim=(1, 2))
    asserts.require(
        bool(((peaks > 1 - 1e-4) | (peaks < 1e-6)).all() and (lows < 1e-6).all()),
        "CAMs: each map must go from 0 to 1 (or be all 0): normalise after upsampling too "
        "(normalize_cams)",
    )
    _restored(actual, context)


def _layer(model: nn.Module, layer: nn.Module | str) -> nn.Module:
    return model.get_submodule(layer) if isinstance(layer, str) else layer


def _normalize(cams: torch.Tensor) -> torch.Tensor:
    cams = cams - cams.amin(dim=(1, 2), keepdim=True)
    return cams / (1e-7 + cams.amax(dim=(1, 2), keepdim=True))


def cam_variant(
    inputs: Inputs,
    *,
    relu: bool = True,
    average: bool = True,
    align_corners: bool | None = False,
    mode: str = "bilinear",
    softmax: bool = False,
    predicted: bool = False,
) -> torch.Tensor:
    """Grad-CAM of the case's inputs in eval mode, or what one of the usual mistakes gives."""
    model, images = inputs["model"], inputs["images"]
    saved = {}

    def keep(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        saved["maps"] = output.detach().requires_grad_(True)
        return saved["maps"]

    flags = {module: module.training for module in model.modules()}
    handle = _layer(model, inputs["target_layer"]).register_forward_hook(keep)
    try:
        with torch.enable_grad():
            outputs = model.eval()(images)
    finally:
        handle.remove()
        for module, flag in flags.items():
            module.training = flag
    scores = outputs.softmax(dim=1) if softmax else outputs
    targets = inputs["targets"]
    targets = outputs.argmax(dim=1) if predicted or targets is None else torch.tensor(targets)
    (gradients,) = torch.autograd.grad(scores.gather(1, targets[:, None]).sum(), saved["maps"])
    weights = gradients.mean(dim=(2, 3), keepdim=True) if average else gradients
    cams = (weights * saved["maps"].detach()).sum(dim=1)
    cams = _normalize(cams.relu() if relu else cams)
    cams = F.interpolate(
        cams[:, None], size=images.shape[-2:], mode=mode, align_corners=align_corners
    )
    return _normalize(cams[:, 0])


CAM_MISTAKES = (
    (
        {"relu": False},
        "the maps match Grad-CAM without the ReLU: apply torch.relu to the "
        "weighted sum of the maps before normalising",
    ),
    (
        {"average": False},
        "the maps match gradient x activation per pixel: average the gradient "
        "over each map (dim=(2, 3)) to get one weight per channel",
    ),
    (
        {"softmax": True},
        "the maps explain the softmax probability: the score is the model's "
        "own output for the class, y_c",
    ),
    ({"predicted": True}, "the maps explain the predicted classes: explain the given targets"),
    (
        {"mode": "nearest", "align_corners": None},
        "the upsampling is not bilinear: use F.interpolate(..., mode='bilinear', "
        "align_corners=False)",
    ),
    (
        {"align_corners": True},
        "the upsampling uses align_corners=True: use F.interpolate(..., "
        "mode='bilinear', align_corners=False)",
    ),
)


def cam_values(actual: Any, expected: Any, context: Context) -> None:
    """The same maps as the reference's Grad-CAM, within tolerance."""
    asserts.require(
        actual["repeatable"],
        "two calls on the same images gave different maps: dropout is active, so run the model "
        "in eval mode (with eval_mode(model): ...)",
    )
    cams = actual["cams"].double()
    if not torch.allclose(cams, expected["cams"].double(), rtol=1e-4, atol=1e-5):
        for options, message in CAM_MISTAKES:
            if options.get("predicted") and context.inputs["targets"] is None:
                continue
            variant = cam_variant(context.inputs, **options).double()
            if torch.allclose(cams, variant, rtol=1e-4, atol=1e-5):
                asserts.fail(message)
    asserts.assert_close(
        actual["cams"], expected["cams"], rtol=1e-4, atol=1e-5, where="CAMs", check_dtype=False
    )


def cam_after_failure(actual: Any, expected: Any, context: Context) -> None:
    """After a failed call, the hook is removed and the model's flags are restored."""
    asserts.require(
        actual["model_calls"] > 0,
        "the model never ran before the call failed (did the function run at all?)",
    )
    _restored(actual, context)


cam_case = family(
    "gradcam",
    cam_inputs,
    call=cam_call,
    compare=all_of(cam_properties, cam_values),
    points=2,
    timeout=20,
)

cam_failure_case = family(
    "gradcam",
    cam_inputs,
    call=cam_failing_call,
    compare=cam_after_failure,
    points=1,
    timeout=20,
    reference=False,
)


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
    from course_lib.tt import tt_to_dense

    g = generator(seed)
    if rank is None:
        tensor = torch.randn(*shape, generator=g, dtype=torch.float64)
    else:
        ranks = [1, *[rank] * (len(shape) - 1), 1]
        cores = [
            torch.randn(ranks[k], n, ranks[k + 1], generator=g, dtype=torch.float64)
            for k, n in enumerate(shape)
        ]
        tensor = tt_to_dense(cores) + noise * torch.randn(*shape, generator=g, dtype=torch.float64)
    return {"tensor": tensor, **caps}


def svd_call(function, inputs: Inputs) -> Any:
    options = {key: inputs[key] for key in ("ranks", "max_rank", "eps") if key in inputs}
    return function(inputs["tensor"], **options)


def tt_ranks(
    tensor: torch.Tensor,
    *,
    ranks: int | Sequence[int] | None = None,
    max_rank: int | None = None,
    eps: float | None = None,
    sqrt: bool = True,
    tails: bool = True,
    caps: bool = True,
) -> list[int]:
    """The d-1 inner ranks TT-SVD chooses, or those of a usual mistake: no √(d−1) in δ
    (``sqrt=False``), each singular value compared with δ (``tails=False``), caps ignored."""
    from course_lib.tt import check_ranks, truncation_rank

    shape = tensor.shape
    limits = check_ranks(ranks, len(shape), max_rank=max_rank) if caps else [None] * len(shape)
    delta = 0.0
    if eps is not None:
        delta = eps * torch.linalg.norm(tensor).item()
        delta /= math.sqrt(max(len(shape) - 1, 1)) if sqrt else 1
    chosen, rank, rest = [], 1, tensor
    for k in range(len(shape) - 1):
        u, s, vh = torch.linalg.svd(rest.reshape(rank * shape[k], -1), full_matrices=False)
        if tails:
            rank = truncation_rank(s, delta, limits[k])
        else:
            rank = max(1, int((s > delta).sum()))
            rank = rank if limits[k] is None else min(rank, limits[k])
        rest = s[:rank, None] * vh[:rank]
        chosen.append(rank)
    return chosen


def _options(inputs: Inputs) -> dict:
    return {key: inputs[key] for key in ("ranks", "max_rank", "eps") if key in inputs}


def svd_properties(actual: Any, expected: Any, context: Context) -> None:
    """Chained cores (r_{k-1}, n_k, r_k), r_0 = r_d = 1, ranks within caps, error within eps."""
    from course_lib.tt import check_ranks, tt_to_dense

    inputs = context.inputs
    tensor, options = inputs["tensor"], _options(inputs)
    shape = tuple(tensor.shape)
    asserts.require(
        isinstance(actual, (list, tuple)) and len(actual) == len(shape),
        f"output: expected a list of {len(shape)} cores (one per mode), "
        f"got {asserts.describe(actual)}",
    )
    previous = 1
    for k, core in enumerate(actual):
        asserts.assert_tensor(core, where=f"core {k}")
        asserts.require(
            core.ndim == 3,
            f"core {k}: expected 3 dimensions (r_{k}, n_{k + 1}, r_{k + 1}), got shape "
            f"{tuple(core.shape)}: keep the rank dimensions, also the 1s at both ends",
        )
        asserts.require(
            core.shape[0] == previous and core.shape[1] == shape[k],
            f"core {k}: expected shape ({previous}, {shape[k]}, r_{k + 1}), "
            f"got {tuple(core.shape)}: each core starts with the rank the previous one ends with",
        )
        previous = core.shape[2]
    asserts.require(previous == 1, "the last core must end with rank 1")
    ranks = [core.shape[2] for core in actual[:-1]]
    limits = check_ranks(options.get("ranks"), len(shape), max_rank=options.get("max_rank"))
    over = [
        k + 1
        for k, (r, cap) in enumerate(zip(ranks, limits, strict=True))
        if cap is not None and r > cap
    ]
    asserts.require(not over, f"ranks r_{over} exceed their caps (ranks, max_rank)")
    rebuilt = tt_to_dense([core.double() for core in actual])
    error = (torch.linalg.norm(rebuilt - tensor) / torch.linalg.norm(tensor)).item()
    if not {"ranks", "max_rank"} & set(options):
        bound = options.get("eps", 0.0)
        if error > bound + 1e-9:
            _rank_mistake(tensor, options, ranks)
            _core_order_mistake(actual, tensor, rtol=bound + 1e-9)
        asserts.require(
            error <= bound + 1e-9,
            "the cores do not rebuild the tensor within the eps bound: does each step pass on "
            "S·Vᵀ (s[:r, None] * vh[:r]) and reshape it to (r_k n_{k+1}, n_{k+2} ... n_d)?",
        )


def _rank_mistake(tensor: torch.Tensor, options: dict, ranks: list[int]) -> None:
    """Fail naming the usual truncation mistake whose ranks are ``ranks``, if one is."""
    mistakes = (
        (
            {"sqrt": False},
            "the ranks match δ = eps·‖A‖_F per SVD: use δ = eps / √(d−1) · ‖A‖_F so that the "
            "errors of the d−1 SVDs add up to at most eps",
        ),
        (
            {"tails": False},
            "the ranks match dropping each singular value below δ: drop the smallest ones while "
            "the norm of all dropped ones stays <= δ (truncation_rank)",
        ),
        (
            {"caps": False},
            "the ranks match TT-SVD without the caps: apply ranks/max_rank (check_ranks gives "
            "one cap per SVD)",
        ),
    )
    right = tt_ranks(tensor, **options)
    for variant, message in mistakes:
        if ranks != right and tt_ranks(tensor, **options, **variant) == ranks:
            asserts.fail(message)


def _core_order_mistake(cores: Sequence[torch.Tensor], target: torch.Tensor, *, rtol: float):
    """Fail when the cores rebuild ``target`` (within relative error ``rtol``) once each U core
    is re-read as U reshaped row-major: the usual mistake reshapes to (n_k, r_{k-1}, r_k)."""
    from course_lib.tt import tt_to_dense

    fixed = [core.double().transpose(0, 1).reshape(core.shape) for core in cores[:-1]]
    rebuilt = tt_to_dense([*fixed, cores[-1].double()])
    error = (torch.linalg.norm(rebuilt - target) / torch.linalg.norm(target)).item()
    asserts.require(
        error > rtol,
        "the cores rebuild the tensor once their first two indices are swapped: core k is U "
        "reshaped to (r_{k-1}, n_k, r_k) in row-major order (u[:, :r].reshape(r_prev, n, r)), "
        "not to (n_k, r_{k-1}, r_k)",
    )


def svd_values(actual: Any, expected: Any, context: Context) -> None:
    """The reference's TT ranks and the same reconstruction, within tolerance."""
    from course_lib.tt import tt_to_dense

    inputs = context.inputs
    tensor, options = inputs["tensor"], _options(inputs)
    ranks = [core.shape[2] for core in actual[:-1]]
    want = [core.shape[2] for core in expected[:-1]]
    if ranks != want:
        _rank_mistake(tensor, options, ranks)
        asserts.fail("the TT ranks differ from TT-SVD's truncation", detail=f"expected {want}")
    rebuilt = tt_to_dense([core.double() for core in actual])
    reference = tt_to_dense([core.double() for core in expected])
    if not torch.allclose(rebuilt, reference, rtol=1e-6, atol=1e-8):
        _core_order_mistake(actual, reference, rtol=1e-6)
    asserts.require(
        bool(torch.allclose(rebuilt, reference, rtol=1e-6, atol=1e-8)),
        "the cores have the right ranks but rebuild another tensor than TT-SVD's truncation: "
        "does each step keep U as the core, pass on S·Vᵀ (s[:r, None] * vh[:r]) and reshape it "
        "row-major to (r_k n_{k+1}, n_{k+2} ... n_d)?",
    )
    asserts.assert_close(rebuilt, reference, rtol=1e-6, atol=1e-8, where="reconstruction")


svd_case = family(
    "tt_svd",
    svd_inputs,
    call=svd_call,
    compare=all_of(svd_properties, svd_values),
    points=2,
    timeout=20,
)


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


def _runs(function, x: torch.Tensor, cores: Sequence[torch.Tensor]) -> bool:
    try:
        function(x, cores)
    except Exception:  # only whether it runs matters here
        return False
    return True


def matrix_call(function, inputs: Inputs) -> Any:
    """The product; when it raises, ``{"raised", "cause"}`` if the error shows a usual mistake.

    Causes: ``memory`` (an allocation failed: the dense matrix), ``leading`` (it runs once x is
    flattened to 2-D), ``swapped`` (it runs once each core's m_k and n_k are swapped).
    """
    x, cores = inputs["x"], inputs["cores"]
    try:
        return function(x, cores)
    except Exception as error:
        if isinstance(error, MemoryError) or "allocate" in str(error):
            cause = "memory"
        elif x.ndim > 2 and _runs(function, x.reshape(-1, x.shape[-1]), cores):
            cause = "leading"
        elif _runs(function, x, [core.transpose(1, 2) for core in cores]):
            cause = "swapped"
        else:
            raise
        return {"raised": type(error).__name__, "cause": cause}


def _raised(actual: dict, context: Context) -> None:
    """Fail naming the mistake that made the function raise (see :func:`matrix_call`)."""
    x, cores = context.inputs["x"], context.inputs["cores"]
    m, n = math.prod(core.shape[1] for core in cores), math.prod(core.shape[2] for core in cores)
    messages = {
        "memory": f"out of memory: the dense matrix does not fit ({m} x {n} values): contract "
        "core by core, one input mode and one rank index per step",
        "leading": f"it fails for x of shape {tuple(x.shape)} but runs once x is reshaped to "
        f"(-1, {m}): keep x's leading dimensions (reshape x to (-1, {m}) and the result to "
        "(*x.shape[:-1], -1))",
        "swapped": "it fails on these cores but runs once each core's m_k and n_k are "
        "swapped: a core is "
        "(r_{k-1}, m_k, n_k, r_k), so contract x's input mode with dim 1 (m_k), not with the "
        "output mode n_k (dim 2)",
    }
    asserts.fail(f"raised {actual['raised']}: {messages[actual['cause']]}")


def matrix_properties(actual: Any, expected: Any, context: Context) -> None:
    """A float tensor (..., prod n_k) that keeps the leading dimensions of x, all finite."""
    x, cores = context.inputs["x"], context.inputs["cores"]
    if isinstance(actual, dict):
        _raised(actual, context)
    shape = (*x.shape[:-1], math.prod(core.shape[2] for core in cores))
    asserts.assert_tensor(actual)
    if actual.numel() == math.prod(shape) and tuple(actual.shape) != shape:
        asserts.fail(
            f"output: expected shape {shape}, got {tuple(actual.shape)}: keep x's leading "
            "dimensions (reshape the result to (*x.shape[:-1], -1))"
        )
    asserts.assert_tensor(actual, shape=shape)
    asserts.require(actual.is_floating_point(), f"output: expected floats, got {actual.dtype}")
    asserts.assert_finite(actual)


def _reversed_modes(cores: Sequence[torch.Tensor], *, inputs: bool) -> torch.Tensor:
    """The TT matrix with the input (or output) index split column-major instead."""
    from course_lib.tt import tt_matrix_to_dense

    d = len(cores)
    m = [core.shape[1] for core in cores]
    n = [core.shape[2] for core in cores]
    full = tt_matrix_to_dense(cores).reshape(*m, *n)
    axes = list(range(2 * d))
    if inputs:
        axes[:d] = axes[:d][::-1]
    else:
        axes[d:] = axes[d:][::-1]
    return full.permute(axes).reshape(math.prod(m), math.prod(n))


#: Largest TT matrix (in elements) the grading process densifies to name a mistake.
MAX_DENSE = 2**22


def matrix_values(actual: Any, expected: Any, context: Context) -> None:
    """``x @ A`` equal to the reference's within tolerance."""
    x, cores = context.inputs["x"].double(), [c.double() for c in context.inputs["cores"]]
    got = actual.double()
    dense = math.prod(c.shape[1] for c in cores) * math.prod(c.shape[2] for c in cores)
    small = dense <= MAX_DENSE  # the diagnosis builds the dense matrix: never a huge one
    if (
        small
        and len(cores) > 1
        and not torch.allclose(got, expected.double(), rtol=1e-4, atol=1e-5)
    ):
        mistakes = (
            (
                True,
                "the input index is split column-major: the first mode m_1 varies slowest, "
                "as in x.reshape(B, m_1, ..., m_d)",
            ),
            (
                False,
                "the output modes come out in reverse order: n_1 varies slowest in the "
                "result, as in a reshape of (B, n_1, ..., n_d)",
            ),
        )
        for inputs, message in mistakes:
            variant = x @ _reversed_modes(cores, inputs=inputs)
            if torch.allclose(got, variant, rtol=1e-4, atol=1e-5):
                asserts.fail(message)
    asserts.assert_close(actual, expected, rtol=1e-4, atol=1e-5, check_dtype=False)


matrix_case = family(
    "tt_matrix_forward",
    matrix_inputs,
    call=matrix_call,
    compare=all_of(matrix_properties, matrix_values),
    points=2,
    timeout=30,
)
