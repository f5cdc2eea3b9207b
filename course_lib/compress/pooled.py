"""VGG16's first classifier layer at 64x64: decompose it on the inputs it can receive.

``AdaptiveAvgPool2d((7, 7))`` turns the 2x2 feature maps of a 64x64 image into 7x7 ones, so the
25088 inputs of ``classifier[0]`` span only 2048 dimensions (512 channels x 2 x 2).
``tt_linear_on_pooled_inputs`` folds the pooling into the weight (an equivalent 2048 -> 512
layer), decomposes that, and maps the two spatial cores back to the 7x7 grid: the TTLinear still
takes 25088 inputs and gives the same outputs on every pooled input, at the size of a
2048 -> 512 TT layer, and its TT ranks at the spatial modes are at most 4 and 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.compress.layer import TTLinear
from course_lib.tt import split_into_factors, tt_matrix_forward, tt_matrix_svd, tt_svd

__all__ = ["PooledInput", "adaptive_pool_matrix", "fold_pooling", "tt_linear_on_pooled_inputs"]


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
