"""Tensor-train compression of Linear layers: ``TTLinear``, ``compress_model`` and size reports.

``TTLinear`` stores the weight as a TT matrix (Novikov et al. 2015, "Tensorizing Neural
Networks"): ``W^T`` (in, out) with in = m_1...m_d and out = n_1...n_d has cores
(r_{k-1}, m_k, n_k, r_k), i.e. sum_k m_k n_k r_{k-1} r_k parameters instead of in * out. The
forward pass multiplies the input core by core (``tt_matrix_forward``) and never rebuilds W.
Modes are chosen automatically for any sizes (512 -> 200 included, the layer the source
article's tool could not convert); at full rank the layer equals the dense one.

The 64x64 opportunity: VGG16's ``AdaptiveAvgPool2d((7, 7))`` turns the 2x2 feature maps of a
64x64 image into 7x7 ones, so the 25088-d input of ``classifier[0]`` always lies in a 2048-d
subspace (512 channels x 4 pooled values). ``project_onto_pooled_inputs`` projects the weight
onto that subspace (same outputs for every such input); with modes aligned with the (7, 7)
positions (``pooled_modes``) the TT ranks at those positions drop to 4 and 2, and the layer
compresses as if it were 2048 -> 512.
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
    "TTLinear",
    "adaptive_pool_matrix",
    "compress_model",
    "count_parameters",
    "pooled_modes",
    "project_onto_pooled_inputs",
    "state_dict_bytes",
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


def compress_model(
    model: nn.Module,
    layers: Sequence[str],
    *,
    ranks: int | Sequence[int] | Mapping[str, int | Sequence[int]] | None = None,
    max_rank: int | Mapping[str, int] | None = None,
    eps: float | Mapping[str, float] | None = None,
    modes: Mapping[str, tuple[Sequence[int], Sequence[int]]] | None = None,
    decompose: Callable[..., list[Tensor]] = tt_svd,
    contract: Callable[[Tensor, Sequence[Tensor]], Tensor] = tt_matrix_forward,
) -> tuple[nn.Module, CompressionReport]:
    """A copy of ``model`` with the Linear layers named in ``layers`` (dotted names) as TTLinear.

    ``ranks``, ``max_rank``, ``eps`` and ``modes`` (in_modes, out_modes) apply to every layer or
    are given per layer name; ``model`` itself is left unchanged.
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
        in_modes, out_modes = (modes or {}).get(name, (None, None))
        layer = TTLinear.from_linear(
            linear,
            in_modes,
            out_modes,
            ranks=_for_layer(ranks, name),
            max_rank=_for_layer(max_rank, name),
            eps=_for_layer(eps, name),
            decompose=decompose,
            contract=contract,
        )
        with torch.no_grad():
            error = torch.linalg.norm(layer.dense_weight() - linear.weight) / torch.linalg.norm(
                linear.weight
            )
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
                float(error),
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


def adaptive_pool_matrix(in_size: int, out_size: int) -> Tensor:
    """The (out_size, in_size) matrix of ``AdaptiveAvgPool1d(out_size)`` on ``in_size`` cells."""
    matrix = torch.zeros(out_size, in_size)
    for i in range(out_size):
        start, end = (i * in_size) // out_size, -(-(i + 1) * in_size // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def project_onto_pooled_inputs(
    linear: nn.Linear,
    *,
    channels: int,
    feature_size: tuple[int, int],
    pooled_size: tuple[int, int] = (7, 7),
) -> nn.Linear:
    """A copy of ``linear`` whose weight is projected onto the inputs it can actually receive.

    ``linear`` reads ``flatten(AdaptiveAvgPool2d(pooled_size)(maps))`` with maps of shape
    (channels, *feature_size). Every such input x satisfies W x = W P x, P the orthogonal
    projector onto the pooling's range, so W P gives the same outputs and drops the part of W
    that never meets an input.
    """
    if linear.in_features != channels * math.prod(pooled_size):
        raise ValueError(
            f"linear has {linear.in_features} inputs, expected channels x pooled = "
            f"{channels} x {pooled_size[0]} x {pooled_size[1]}"
        )
    weight = linear.weight.detach()
    projectors = []
    for in_size, out_size in zip(feature_size, pooled_size, strict=True):
        pool = adaptive_pool_matrix(in_size, out_size).to(weight)  # (out_size, in_size)
        projectors.append(pool @ torch.linalg.pinv(pool))  # (out_size, out_size), symmetric
    weight = weight.reshape(linear.out_features, channels, *pooled_size)
    weight = torch.einsum("ocij,ia,jb->ocab", weight, *projectors)
    projected = copy.deepcopy(linear)
    with torch.no_grad():
        projected.weight.copy_(weight.reshape(linear.out_features, -1))
    return projected


def pooled_modes(
    channels: int,
    pooled_size: tuple[int, int],
    out_features: int,
    *,
    num_modes: int = 6,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """TT modes for a layer on pooled maps: channel modes first, then the two pooled axes.

    The pooled axes are paired with output modes of 1, so the TT ranks at those positions are
    the ranks of the pooling's range (2 for a 2 -> 7 pooling) once the weight is projected.
    """
    in_modes = (*split_into_factors(channels, num_modes - 2), *pooled_size)
    out_modes = (*split_into_factors(out_features, num_modes - 2), 1, 1)
    return in_modes, out_modes
