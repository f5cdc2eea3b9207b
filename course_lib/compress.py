"""Tensor-train compression of Linear layers: ``TTLinear``, ``compress_model`` and size reports.

``TTLinear`` stores the weight as a TT matrix (Novikov et al. 2015, "Tensorizing Neural
Networks"): ``W^T`` (in, out) with in = m_1...m_d and out = n_1...n_d has cores
(r_{k-1}, m_k, n_k, r_k), i.e. sum_k m_k n_k r_{k-1} r_k parameters instead of in * out. The
forward pass multiplies the input core by core (``tt_matrix_forward``) and never rebuilds W.
Modes are chosen automatically for any sizes (512 -> 200 included, the layer the source
article's tool could not convert); at full rank the layer equals the dense one.

The 64x64 opportunity: VGG16's ``AdaptiveAvgPool2d((7, 7))`` turns the 2x2 feature maps of a
64x64 image into 7x7 ones, so the 25088 inputs of ``classifier[0]`` span only 2048 dimensions
(512 channels x 2 x 2). ``tt_linear_on_pooled_inputs`` folds the pooling into the weight (an
equivalent 2048 -> 512 layer), decomposes that, and maps the two spatial cores back to the 7x7
grid: the TTLinear still takes 25088 inputs and gives the same outputs on every pooled input,
at the size of a 2048 -> 512 TT layer.
"""

from __future__ import annotations

import copy
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.tt import (
    choose_modes,
    split_into_factors,
    tt_matrix_forward,
    tt_matrix_svd,
    tt_matrix_to_dense,
    tt_svd,
)

__all__ = [
    "CompressionReport",
    "LayerReport",
    "PooledInput",
    "TTLinear",
    "adaptive_pool_matrix",
    "compress_model",
    "count_parameters",
    "fold_pooling",
    "state_dict_bytes",
    "tt_linear_on_pooled_inputs",
    "tt_matrix_forward",
    "tt_svd",
]


class TTLinear(nn.Module):
    """A Linear layer whose weight is a TT matrix; ``contract`` does the forward product."""

    def __init__(
        self,
        cores: Sequence[Tensor],
        bias: Tensor | None = None,
        *,
        contract: Callable[[Tensor, Sequence[Tensor]], Tensor] = tt_matrix_forward,
    ) -> None:
        super().__init__()
        ranks = [core.shape[0] for core in cores] + [cores[-1].shape[-1]] if cores else []
        if (
            any(core.ndim != 4 for core in cores)
            or ranks[:1] + ranks[-1:] != [1, 1]
            or any(a.shape[-1] != b.shape[0] for a, b in zip(cores[:-1], cores[1:], strict=True))
        ):
            raise ValueError(
                "cores must be (r_{k-1}, m_k, n_k, r_k) with r_0 = r_d = 1 and matching ranks"
            )
        self.cores = nn.ParameterList(nn.Parameter(core.detach().clone()) for core in cores)
        self.in_modes = tuple(core.shape[1] for core in cores)
        self.out_modes = tuple(core.shape[2] for core in cores)
        self.ranks = (1, *(core.shape[-1] for core in cores))
        self.in_features = math.prod(self.in_modes)
        self.out_features = math.prod(self.out_modes)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())
        self.contract = contract

    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        in_modes: Sequence[int] | None = None,
        out_modes: Sequence[int] | None = None,
        *,
        ranks: int | Sequence[int] | None = None,
        max_rank: int | None = None,
        eps: float | None = None,
        decompose: Callable[..., list[Tensor]] = tt_svd,
        contract: Callable[[Tensor, Sequence[Tensor]], Tensor] = tt_matrix_forward,
    ) -> TTLinear:
        """Convert ``linear`` (bias kept); modes are chosen by ``choose_modes`` when None."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"from_linear needs an nn.Linear, got {type(linear).__name__}")
        if (in_modes is None) != (out_modes is None):
            raise ValueError("give both in_modes and out_modes, or neither")
        if in_modes is None:
            in_modes, out_modes = choose_modes(linear.in_features, linear.out_features)
        with torch.no_grad():  # decomposed in float64, stored in the layer's dtype
            cores = tt_matrix_svd(
                linear.weight.t().double(),
                in_modes,
                out_modes,
                ranks=ranks,
                max_rank=max_rank,
                eps=eps,
                decompose=decompose,
            )
        cores = [core.to(linear.weight.dtype) for core in cores]
        return cls(cores, linear.bias, contract=contract)

    def forward(self, x: Tensor) -> Tensor:  # (..., in_features) -> (..., out_features)
        y = self.contract(x, list(self.cores))
        return y if self.bias is None else y + self.bias

    def dense_weight(self) -> Tensor:
        """The (out_features, in_features) weight rebuilt from the cores (for checks only)."""
        return tt_matrix_to_dense(list(self.cores)).t()

    def num_parameters(self) -> int:
        """Sum_k m_k n_k r_{k-1} r_k, plus the bias."""
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"in_modes={self.in_modes}, out_modes={self.out_modes}, ranks={self.ranks}, "
            f"bias={self.bias is not None}"
        )


def adaptive_pool_matrix(in_size: int, out_size: int) -> Tensor:
    """The (out_size, in_size) matrix of ``AdaptiveAvgPool1d(out_size)`` on ``in_size`` cells."""
    matrix = torch.zeros(out_size, in_size)
    for i in range(out_size):
        start, end = (i * in_size) // out_size, -(-(i + 1) * in_size // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@dataclass(frozen=True)
class PooledInput:
    """A Linear layer reading ``flatten(AdaptiveAvgPool2d(pooled_size)(maps))``.

    ``maps`` are (channels, *feature_size): VGG16 at 64x64 has 512 x 2 x 2 maps pooled to 7x7,
    so its 25088 inputs span only 2048 dimensions.
    """

    channels: int
    feature_size: tuple[int, int]
    pooled_size: tuple[int, int] = (7, 7)

    def matrices(self) -> tuple[Tensor, Tensor]:
        """The pooling along rows (7, 2) and along columns (7, 2)."""
        sizes = zip(self.feature_size, self.pooled_size, strict=True)
        return tuple(adaptive_pool_matrix(size, pooled) for size, pooled in sizes)


def fold_pooling(weight: Tensor, pooled: PooledInput) -> Tensor:
    """The (out, C*h*w) weight of the same layer applied to the maps before pooling."""
    rows, cols = (matrix.to(weight) for matrix in pooled.matrices())  # (7, h), (7, w)
    weight = weight.reshape(weight.shape[0], pooled.channels, *pooled.pooled_size)
    return torch.einsum("ocij,ia,jb->ocab", weight, rows, cols).reshape(weight.shape[0], -1)


def tt_linear_on_pooled_inputs(
    linear: nn.Linear,
    pooled: PooledInput,
    *,
    num_modes: int = 6,
    ranks: int | Sequence[int] | None = None,
    max_rank: int | None = None,
    eps: float | None = None,
    decompose: Callable[..., list[Tensor]] = tt_svd,
    contract: Callable[[Tensor, Sequence[Tensor]], Tensor] = tt_matrix_forward,
) -> TTLinear:
    """A TTLinear equal to ``linear`` on every input the pooling can produce.

    The weight is folded onto the maps before pooling (512*2*2 = 2048 inputs for VGG16 at
    64x64), decomposed with modes (channel modes..., h, w) x (output modes..., 1, 1), and the
    two spatial cores are mapped back to the pooled grid with the pseudo-inverse of the
    pooling, so W_tt P = W_folded,tt exactly. Truncation (``eps``) is measured on the folded
    weight, i.e. on the layer as it acts on real inputs.
    """
    if linear.in_features != pooled.channels * math.prod(pooled.pooled_size):
        raise ValueError(
            f"the layer has {linear.in_features} inputs, expected channels x pooled size = "
            f"{pooled.channels} x {pooled.pooled_size[0]} x {pooled.pooled_size[1]}"
        )
    in_modes = (*split_into_factors(pooled.channels, num_modes - 2), *pooled.feature_size)
    out_modes = (*split_into_factors(linear.out_features, num_modes - 2), 1, 1)
    with torch.no_grad():
        folded = fold_pooling(linear.weight.double(), pooled)  # (out, C*h*w)
        cores = tt_matrix_svd(
            folded.t(),
            in_modes,
            out_modes,
            ranks=ranks,
            max_rank=max_rank,
            eps=eps,
            decompose=decompose,
        )
        for k, matrix in zip((-2, -1), pooled.matrices(), strict=True):
            inverse = torch.linalg.pinv(matrix.double())  # (h, 7): pinv(P) P = identity
            cores[k] = torch.einsum("rans,ai->rins", cores[k], inverse)
    cores = [core.to(linear.weight.dtype) for core in cores]
    return TTLinear(cores, linear.bias, contract=contract)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model`` (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def state_dict_bytes(model: nn.Module) -> int:
    """Size in bytes of ``torch.save(model.state_dict())``: the checkpoint's size on disk."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


@dataclass(frozen=True)
class LayerReport:
    """One replaced layer: its shape, modes, ranks, parameters and relative weight error."""

    name: str
    in_features: int
    out_features: int
    in_modes: tuple[int, ...]
    out_modes: tuple[int, ...]
    ranks: tuple[int, ...]
    dense_parameters: int
    tt_parameters: int
    relative_error: float


@dataclass(frozen=True)
class CompressionReport:
    """Parameters and state_dict bytes of the whole model before and after, and each layer."""

    layers: list[LayerReport]
    parameters_before: int
    parameters_after: int
    bytes_before: int
    bytes_after: int

    def rows(self) -> list[dict]:
        """One dict per layer plus a ``model`` row, ready for a CSV or a DataFrame."""
        rows = [
            vars(layer) | {"ratio": layer.dense_parameters / layer.tt_parameters}
            for layer in self.layers
        ]
        total = {
            "name": "model",
            "dense_parameters": self.parameters_before,
            "tt_parameters": self.parameters_after,
            "ratio": self.parameters_before / self.parameters_after,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
        }
        return [*rows, total]


def _for_layer(option, name: str):
    """An option given once for all layers, or per layer as a mapping name -> value."""
    return option.get(name) if isinstance(option, Mapping) else option


def _relative_error(approx: Tensor, exact: Tensor, pooled: PooledInput | None = None) -> float:
    """||approx - exact||_F / ||exact||_F, on the folded weights for a pooled-input layer."""
    with torch.no_grad():
        if pooled is not None:
            approx, exact = fold_pooling(approx, pooled), fold_pooling(exact, pooled)
        return float(torch.linalg.norm(approx - exact) / torch.linalg.norm(exact))


def compress_model(
    model: nn.Module,
    layers: Sequence[str],
    *,
    ranks: int | Sequence[int] | Mapping[str, int | Sequence[int]] | None = None,
    max_rank: int | Mapping[str, int] | None = None,
    eps: float | Mapping[str, float] | None = None,
    modes: Mapping[str, tuple[Sequence[int], Sequence[int]]] | None = None,
    pooled: Mapping[str, PooledInput] | None = None,
    decompose: Callable[..., list[Tensor]] = tt_svd,
    contract: Callable[[Tensor, Sequence[Tensor]], Tensor] = tt_matrix_forward,
) -> tuple[nn.Module, CompressionReport]:
    """A copy of ``model`` with the Linear layers named in ``layers`` (dotted names) as TTLinear.

    ``ranks``, ``max_rank``, ``eps`` and ``modes`` (in_modes, out_modes) apply to every layer or
    are given per layer name. Layers named in ``pooled`` are decomposed on their pooled inputs
    (``tt_linear_on_pooled_inputs``; their error is that of the folded weight). ``model``
    itself is left unchanged.
    """
    compressed = copy.deepcopy(model)
    reports = []
    for name in layers:
        try:
            linear = compressed.get_submodule(name)
        except AttributeError as error:
            raise ValueError(f"layer {name!r} is not a module of the model ({error})") from None
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"layer {name!r} is a {type(linear).__name__}, not an nn.Linear")
        options = {
            "ranks": _for_layer(ranks, name),
            "max_rank": _for_layer(max_rank, name),
            "eps": _for_layer(eps, name),
            "decompose": decompose,
            "contract": contract,
        }
        inputs = (pooled or {}).get(name)
        if inputs is not None:
            layer = tt_linear_on_pooled_inputs(linear, inputs, **options)
            error = _relative_error(layer.dense_weight(), linear.weight, inputs)
        else:
            layer = TTLinear.from_linear(linear, *(modes or {}).get(name, (None, None)), **options)
            error = _relative_error(layer.dense_weight(), linear.weight)
        compressed.set_submodule(name, layer)
        reports.append(
            LayerReport(
                name,
                linear.in_features,
                linear.out_features,
                layer.in_modes,
                layer.out_modes,
                layer.ranks,
                sum(p.numel() for p in linear.parameters()),
                layer.num_parameters(),
                error,
            )
        )
    report = CompressionReport(
        reports,
        count_parameters(model),
        count_parameters(compressed),
        state_dict_bytes(model),
        state_dict_bytes(compressed),
    )
    return compressed, report
