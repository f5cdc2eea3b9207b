"""Alternatives and mistakes of a5_explain_compress (see grading_corpus)."""

from grading_corpus import Alternative, Mistake

# --- gradcam -------------------------------------------------------------------------------

CAM_TENSOR_HOOK = '''
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _min_max(cams: Tensor) -> Tensor:
    cams = cams - cams.flatten(1).min(dim=1).values[:, None, None]
    return cams / (1e-7 + cams.flatten(1).max(dim=1).values[:, None, None])


def gradcam(
    model: nn.Module,
    target_layer: nn.Module | str,
    images: Tensor,
    *,
    targets: Sequence[int] | Tensor | None = None,
) -> Tensor:
    """Grad-CAM maps (N, H, W) in [0, 1] of ``images`` (N, C, H, W) at ``target_layer``.

    ``targets`` are the class indices to explain (one per image); None explains the predicted
    classes. The model runs in eval mode; its flags are restored afterwards.
    """
    if isinstance(target_layer, str):
        target_layer = model.get_submodule(target_layer)
    saved = {}

    def keep(module, inputs, output):
        saved["activations"] = output
        output.register_hook(lambda grad: saved.__setitem__("gradients", grad))

    flags = {module: module.training for module in model.modules()}
    handle = target_layer.register_forward_hook(keep)
    try:
        model.eval()
        with torch.enable_grad():
            x = images.detach().clone().requires_grad_(True)
            scores = model(x)  # (N, classes)
            if targets is None:
                classes = scores.argmax(dim=1)
            else:
                classes = torch.as_tensor(targets, device=scores.device).long().view(-1)
            rows = torch.arange(len(classes), device=scores.device)
            torch.autograd.grad(scores[rows, classes].sum(), x)
    finally:
        handle.remove()
        for module, flag in flags.items():
            module.training = flag
    activations = saved["activations"].detach()  # (N, K, h, w)
    weights = saved["gradients"].mean(dim=(2, 3), keepdim=True)  # (N, K, 1, 1)
    cams = _min_max(torch.relu((weights * activations).sum(dim=1)))
    cams = F.interpolate(
        cams.unsqueeze(1), size=images.shape[-2:], mode="bilinear", align_corners=False
    ).squeeze(1)
    return _min_max(cams)
'''

CAM_LEAF_CLONE = '''
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.explain import check_targets, eval_mode, find_layer, normalize_cams


def gradcam(
    model: nn.Module,
    target_layer: nn.Module | str,
    images: Tensor,
    *,
    targets: Sequence[int] | Tensor | None = None,
) -> Tensor:
    """Grad-CAM maps (N, H, W) in [0, 1] of ``images`` (N, C, H, W) at ``target_layer``.

    ``targets`` are the class indices to explain (one per image); None explains the predicted
    classes. The model runs in eval mode; its flags are restored afterwards.
    """
    layer = find_layer(model, target_layer)
    kept = {}

    def hook(module, inputs, output):
        kept["leaf"] = output.detach().requires_grad_(True)
        kept["maps"] = kept["leaf"].clone()  # the model continues from this copy
        return kept["maps"]

    handle = layer.register_forward_hook(hook)
    try:
        with eval_mode(model), torch.enable_grad():
            outputs = model(images)
            classes = check_targets(targets, outputs)
            score = outputs.gather(1, classes[:, None]).sum()
            (grads,) = torch.autograd.grad(score, kept["leaf"])
    finally:
        handle.remove()
    maps = kept["maps"].detach()  # (N, K, h, w), read after the forward pass
    alpha = grads.mean(dim=(2, 3))  # (N, K)
    cams = torch.einsum("nk,nkhw->nhw", alpha, maps).clamp(min=0)
    cams = normalize_cams(cams)
    cams = F.interpolate(cams[:, None], size=images.shape[2:], mode="bilinear", align_corners=False)
    return normalize_cams(cams[:, 0])
'''

# The notebook's recipe taken literally: the hook returns the leaf itself.
CAM_NOTEBOOK_LEAF = CAM_LEAF_CLONE.replace(
    """        kept["maps"] = kept["leaf"].clone()  # the model continues from this copy
        return kept["maps"]""",
    """        kept["maps"] = kept["leaf"]
        return kept["leaf"]""",
)

# A is "the output of the layer" (the leaf), not the tensor an in-place ReLU later overwrites.
CAM_LAYER_OUTPUT = CAM_LEAF_CLONE.replace(
    'maps = kept["maps"].detach()  # (N, K, h, w), read after the forward pass',
    'maps = kept["leaf"].detach()  # (N, K, h, w), the layer output',
)

CAM_NO_RELU = CAM_LEAF_CLONE.replace(
    'torch.einsum("nk,nkhw->nhw", alpha, maps).clamp(min=0)',
    'torch.einsum("nk,nkhw->nhw", alpha, maps)',
)

CAM_HOOK_LEFT = CAM_LEAF_CLONE.replace(
    """    finally:
        handle.remove()
""",
    """    finally:
        pass
""",
)

CAM_EVAL_NOT_RESTORED = CAM_LEAF_CLONE.replace(
    "        with eval_mode(model), torch.enable_grad():",
    "        model.eval()\n        with torch.enable_grad():",
)

CAM_UNFREEZES = CAM_LEAF_CLONE.replace(
    "        with eval_mode(model), torch.enable_grad():",
    "        model.requires_grad_(True)  # make sure gradients flow\n"
    "        with eval_mode(model), torch.enable_grad():",
)

CAM_IGNORES_TARGETS = CAM_LEAF_CLONE.replace(
    "classes = check_targets(targets, outputs)", "classes = outputs.argmax(dim=1)"
)

CAM_SOFTMAX_SCORE = CAM_LEAF_CLONE.replace(
    "score = outputs.gather(1, classes[:, None]).sum()",
    "score = outputs.softmax(dim=1).gather(1, classes[:, None]).sum()",
)

CAM_NO_EVAL = CAM_LEAF_CLONE.replace(
    "        with eval_mode(model), torch.enable_grad():", "        with torch.enable_grad():"
)

CAM_NEAREST = CAM_LEAF_CLONE.replace('mode="bilinear", align_corners=False', 'mode="nearest"')

# --- tt_svd --------------------------------------------------------------------------------

SVD_NUMPY = '''
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def _caps(ranks, inner: int, max_rank: int | None) -> list[int | None]:
    if ranks is None:
        caps = [None] * inner
    elif isinstance(ranks, int):
        caps = [ranks] * inner
    else:
        caps = [int(r) for r in ranks]
        if len(caps) != inner:
            raise ValueError(f"expected {inner} ranks (one per inner bond), got {len(caps)}")
    if max_rank is not None:
        caps = [max_rank if c is None else min(c, max_rank) for c in caps]
    return caps


def tt_svd(
    tensor: Tensor,
    *,
    ranks: int | Sequence[int] | None = None,
    max_rank: int | None = None,
    eps: float | None = None,
) -> list[Tensor]:
    """TT cores (r_{k-1}, n_k, r_k) of ``tensor`` (n_1, ..., n_d) by TT-SVD.

    ``ranks`` caps the d-1 inner ranks (one int or d-1 ints), ``max_rank`` caps all of them and
    ``eps`` truncates so that ||A - TT||_F <= eps * ||A||_F (when no cap cuts deeper). Given
    together, the smallest rank wins; with none of them the decomposition is exact.
    """
    shape = tuple(tensor.shape)
    d = len(shape)
    caps = _caps(ranks, d - 1, max_rank)
    array = tensor.detach().cpu().numpy().astype(np.float64)
    delta = 0.0
    if eps is not None and d > 1:
        delta = eps / np.sqrt(d - 1) * np.linalg.norm(array)
    cores, rank, rest = [], 1, array
    for k in range(d - 1):
        u, s, vt = np.linalg.svd(rest.reshape(rank * shape[k], -1), full_matrices=False)
        new = len(s)
        if eps is not None:
            tails = np.sqrt(np.cumsum(s[::-1] ** 2)[::-1])  # tails[r] = ||s[r:]||
            new = max(1, int(np.count_nonzero(tails > delta)))
        if caps[k] is not None:
            new = min(new, caps[k])
        cores.append(u[:, :new].reshape(rank, shape[k], new))
        rest = s[:new, None] * vt[:new]
        rank = new
    cores.append(rest.reshape(rank, shape[-1], 1))
    return [
        torch.from_numpy(np.ascontiguousarray(core)).to(tensor.device, tensor.dtype)
        for core in cores
    ]
'''

SVD_TORCH_HELPERS = '''
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from course_lib.tt import check_ranks, truncation_rank


def tt_svd(
    tensor: Tensor,
    *,
    ranks: int | Sequence[int] | None = None,
    max_rank: int | None = None,
    eps: float | None = None,
) -> list[Tensor]:
    """TT cores (r_{k-1}, n_k, r_k) of ``tensor`` (n_1, ..., n_d) by TT-SVD.

    ``ranks`` caps the d-1 inner ranks (one int or d-1 ints), ``max_rank`` caps all of them and
    ``eps`` truncates so that ||A - TT||_F <= eps * ||A||_F (when no cap cuts deeper). Given
    together, the smallest rank wins; with none of them the decomposition is exact.
    """
    d = tensor.dim()
    caps = check_ranks(ranks, d, max_rank=max_rank)
    delta = 0.0
    if eps is not None and d > 1:
        delta = eps / math.sqrt(d - 1) * torch.linalg.norm(tensor).item()
    cores, r, rest = [], 1, tensor
    for k, n in enumerate(tensor.shape[:-1]):
        u, s, vh = torch.linalg.svd(rest.reshape(r * n, -1), full_matrices=False)
        new = truncation_rank(s, delta, caps[k])
        cores.append(u[:, :new].reshape(r, n, new))
        rest = torch.diag(s[:new]) @ vh[:new]
        r = new
    cores.append(rest.reshape(r, tensor.shape[-1], 1))
    return cores
'''

SVD_US_CORE = SVD_TORCH_HELPERS.replace(
    """        cores.append(u[:, :new].reshape(r, n, new))
        rest = torch.diag(s[:new]) @ vh[:new]""",
    """        cores.append((u[:, :new] * s[:new]).reshape(r, n, new))
        rest = vh[:new]""",
)

SVD_DELTA_NO_SQRT = SVD_TORCH_HELPERS.replace(
    "delta = eps / math.sqrt(d - 1) * torch.linalg.norm(tensor).item()",
    "delta = eps * torch.linalg.norm(tensor).item()",
)

SVD_CORE_INDEX_ORDER = SVD_TORCH_HELPERS.replace(
    "cores.append(u[:, :new].reshape(r, n, new))",
    "cores.append(u[:, :new].reshape(n, r, new).transpose(0, 1))",
)

SVD_EPS_IGNORES_CAPS = SVD_TORCH_HELPERS.replace(
    "new = truncation_rank(s, delta, caps[k])",
    "new = truncation_rank(s, delta) if eps is not None else truncation_rank(s, 0.0, caps[k])",
)

# --- tt_matrix_forward ---------------------------------------------------------------------

MATRIX_EINSUM = '''
import math
from collections.abc import Sequence

import torch
from torch import Tensor


def tt_matrix_forward(x: Tensor, cores: Sequence[Tensor]) -> Tensor:
    """``x @ A`` (..., prod n_k) for x (..., prod m_k) and the TT matrix A of ``cores``.

    Each step contracts one input mode and one rank index with a core (r_{k-1}, m_k, n_k, r_k)
    and appends one output mode; the dense A is never formed.
    """
    batch = x.shape[:-1]
    state = x.reshape(-1, x.shape[-1], 1, 1)  # (B, m_1...m_d, n_0 = 1, r_0 = 1)
    for core in cores:
        rank, m, n, next_rank = core.shape
        b, rest, done, _ = state.shape
        state = state.reshape(b, m, rest // m, done, rank)
        state = torch.einsum("bmsdr,rmnq->bsdnq", state, core)
        state = state.reshape(b, rest // m, done * n, next_rank)
    out_features = math.prod(core.shape[2] for core in cores)
    return state.reshape(*batch, out_features)
'''

MATRIX_TENSORDOT = '''
import math
from collections.abc import Sequence

import torch
from torch import Tensor


def tt_matrix_forward(x: Tensor, cores: Sequence[Tensor]) -> Tensor:
    """``x @ A`` (..., prod n_k) for x (..., prod m_k) and the TT matrix A of ``cores``.

    Each step contracts one input mode and one rank index with a core (r_{k-1}, m_k, n_k, r_k)
    and appends one output mode; the dense A is never formed.
    """
    in_modes = [core.shape[1] for core in cores]
    out_modes = [core.shape[2] for core in cores]
    lead = x.shape[:-1]
    # axes: (B, n_1..n_{k-1}, r_{k-1}, m_k..m_d)
    state = x.reshape(-1, 1, *in_modes)
    for k, core in enumerate(cores):
        state = torch.tensordot(state, core, dims=([k + 1, k + 2], [0, 1]))
        # now (B, n_1..n_{k-1}, m_{k+1}..m_d, n_k, r_k): move n_k, r_k behind n_{k-1}
        state = state.movedim([-2, -1], [k + 1, k + 2])
    return state.reshape(*lead, math.prod(out_modes))
'''

MATRIX_DENSE = '''
import math
from collections.abc import Sequence

import torch
from torch import Tensor


def tt_matrix_forward(x: Tensor, cores: Sequence[Tensor]) -> Tensor:
    """``x @ A`` (..., prod n_k) for x (..., prod m_k) and the TT matrix A of ``cores``.

    Each step contracts one input mode and one rank index with a core (r_{k-1}, m_k, n_k, r_k)
    and appends one output mode; the dense A is never formed.
    """
    full = cores[0]  # (1, m_1, n_1, r_1)
    for core in cores[1:]:
        full = torch.einsum("amnr,rpqs->ampnqs", full, core)
        a, m, p, n, q, s = full.shape
        full = full.reshape(a, m * p, n * q, s)
    matrix = full[0, :, :, 0]  # (prod m, prod n): the dense A, formed anyway
    return x @ matrix
'''

MATRIX_2D_ONLY = MATRIX_EINSUM.replace(
    "    batch = x.shape[:-1]\n    state = x.reshape(-1, x.shape[-1], 1, 1)",
    "    batch = x.shape[:1]\n    state = x.reshape(x.shape[0], -1, 1, 1)",
)

MATRIX_OUTPUT_MODES_REVERSED = '''
import math
from collections.abc import Sequence

import torch
from torch import Tensor


def tt_matrix_forward(x: Tensor, cores: Sequence[Tensor]) -> Tensor:
    """``x @ A`` (..., prod n_k) for x (..., prod m_k) and the TT matrix A of ``cores``.

    Each step contracts one input mode and one rank index with a core (r_{k-1}, m_k, n_k, r_k)
    and appends one output mode; the dense A is never formed.
    """
    leading = x.shape[:-1]
    state = x.reshape(-1, x.shape[-1], 1, 1)  # (B, m_k...m_d, n_1...n_{k-1}, r_{k-1})
    for core in cores:
        r, m, n, r_next = core.shape
        b, rest, done, _ = state.shape
        state = state.reshape(b, m, rest // m, done, r)
        state = torch.einsum("bmxyr,rmns->bxnys", state, core)  # the new mode goes in front
        state = state.reshape(b, rest // m, n * done, r_next)
    return state.reshape(*leading, math.prod(core.shape[2] for core in cores))
'''

MATRIX_INPUT_MODES_LAST_FIRST = '''
import math
from collections.abc import Sequence

import torch
from torch import Tensor


def tt_matrix_forward(x: Tensor, cores: Sequence[Tensor]) -> Tensor:
    """``x @ A`` (..., prod n_k) for x (..., prod m_k) and the TT matrix A of ``cores``.

    Each step contracts one input mode and one rank index with a core (r_{k-1}, m_k, n_k, r_k)
    and appends one output mode; the dense A is never formed.
    """
    leading = x.shape[:-1]
    state = x.reshape(-1, x.shape[-1], 1, 1)  # (B, input modes left, output modes, rank)
    for core in cores:
        r, m, n, r_next = core.shape
        b, rest, done, _ = state.shape
        state = state.reshape(b, rest // m, m, done, r)  # peels the mode off the end
        state = torch.einsum("bxmyr,rmns->bxyns", state, core)
        state = state.reshape(b, rest // m, done * n, r_next)
    return state.reshape(*leading, math.prod(core.shape[2] for core in cores))
'''

MATRIX_OUTPUT_MODE_CONTRACTED = '''
import math
from collections.abc import Sequence

import torch
from torch import Tensor


def tt_matrix_forward(x: Tensor, cores: Sequence[Tensor]) -> Tensor:
    """``x @ A`` (..., prod n_k) for x (..., prod m_k) and the TT matrix A of ``cores``.

    Each step contracts one input mode and one rank index with a core (r_{k-1}, m_k, n_k, r_k)
    and appends one output mode; the dense A is never formed.
    """
    leading = x.shape[:-1]
    state = x.reshape(-1, x.shape[-1], 1, 1)
    for core in cores:
        r, n, m, r_next = core.shape  # read as (rank, out, in, rank)
        b, rest, done, _ = state.shape
        state = state.reshape(b, m, rest // m, done, r)
        state = torch.einsum("bmxyr,rnms->bxyns", state, core)
        state = state.reshape(b, rest // m, done * n, r_next)
    return state.reshape(*leading, -1)
'''

ALTERNATIVES: list[Alternative] = [
    Alternative("gradcam", "tensor-hook-input-grad", CAM_TENSOR_HOOK),
    Alternative("gradcam", "leaf-clone-helpers", CAM_LEAF_CLONE),
    Alternative("gradcam", "notebook-leaf-literal", CAM_NOTEBOOK_LEAF),
    Alternative("gradcam", "layer-output-maps", CAM_LAYER_OUTPUT),
    Alternative("tt_svd", "numpy-float64", SVD_NUMPY),
    Alternative("tt_svd", "torch-helpers", SVD_TORCH_HELPERS),
    Alternative("tt_matrix_forward", "einsum-state", MATRIX_EINSUM),
    Alternative("tt_matrix_forward", "tensordot-movedim", MATRIX_TENSORDOT),
]

MISTAKES: list[Mistake] = [
    Mistake(
        "gradcam",
        "no-relu",
        CAM_NO_RELU,
        "given targets at a convolution, frozen layer kept",
        "without the ReLU",
    ),
    Mistake(
        "gradcam",
        "hook-left",
        CAM_HOOK_LEFT,
        "predicted classes at the last ReLU (by name)",
        "hook(s) were left on the model",
    ),
    Mistake(
        "gradcam",
        "eval-not-restored",
        CAM_EVAL_NOT_RESTORED,
        "a model in train mode, layer given as a module",
        "train/eval mode",
    ),
    Mistake(
        "gradcam",
        "no-eval",
        CAM_NO_EVAL,
        "a model in train mode, layer given as a module",
        "dropout is active",
    ),
    Mistake(
        "gradcam",
        "unfreezes",
        CAM_UNFREEZES,
        "given targets at a convolution, frozen layer kept",
        "requires_grad of",
    ),
    Mistake(
        "gradcam",
        "ignores-targets",
        CAM_IGNORES_TARGETS,
        "given targets at a convolution, frozen layer kept",
        "explain the given targets",
    ),
    Mistake(
        "gradcam",
        "softmax-score",
        CAM_SOFTMAX_SCORE,
        "predicted classes at the last ReLU (by name)",
        "softmax probability",
    ),
    Mistake(
        "gradcam",
        "nearest",
        CAM_NEAREST,
        "predicted classes at the last ReLU (by name)",
        "the upsampling is not bilinear",
    ),
    Mistake(
        "tt_svd", "us-core-vt-rest", SVD_US_CORE, "max_rank caps every rank", "keep U as the core"
    ),
    Mistake(
        "tt_svd",
        "delta-without-sqrt",
        SVD_DELTA_NO_SQRT,
        "eps truncation of a low-rank tensor with noise",
        "δ = eps / √(d−1) · ‖A‖_F",
    ),
    Mistake(
        "tt_svd",
        "core-index-order",
        SVD_CORE_INDEX_ORDER,
        "exact decomposition of a 3-D tensor",
        "core k is U reshaped to (r_{k-1}, n_k, r_k) in row-major order",
    ),
    Mistake(
        "tt_svd",
        "eps-ignores-caps",
        SVD_EPS_IGNORES_CAPS,
        "caps and eps together",
        "exceed their caps",
    ),
    Mistake(
        "tt_matrix_forward",
        "dense-matrix",
        MATRIX_DENSE,
        "no dense matrix (it would need 4 GB)",
        "the dense matrix does not fit",
    ),
    Mistake(
        "tt_matrix_forward",
        "2d-input-only",
        MATRIX_2D_ONLY,
        "the shape (..., prod n_k), finite values",
        "keep x's leading dimensions",
    ),
    Mistake(
        "tt_matrix_forward",
        "output-modes-reversed",
        MATRIX_OUTPUT_MODES_REVERSED,
        "two cores, a batch of vectors",
        "the output modes come out in reverse order",
    ),
    Mistake(
        "tt_matrix_forward",
        "input-modes-last-first",
        MATRIX_INPUT_MODES_LAST_FIRST,
        "two cores, a batch of vectors",
        "the input index is split column-major",
    ),
    Mistake(
        "tt_matrix_forward",
        "output-mode-contracted",
        MATRIX_OUTPUT_MODE_CONTRACTED,
        "two cores, a batch of vectors",
        "not with the output mode n_k",
    ),
]
