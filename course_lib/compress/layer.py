"""``TTLinear``: a Linear layer whose weight is a tensor-train (TT) matrix.

The layer stores ``W^T`` (in, out), with in = m_1...m_d and out = n_1...n_d, as cores
(r_{k-1}, m_k, n_k, r_k) (Novikov et al. 2015, "Tensorizing Neural Networks"): sum_k m_k n_k
r_{k-1} r_k parameters instead of in * out. The forward pass multiplies the input core by core
(``tt_matrix_forward``) and never rebuilds W. Modes are chosen automatically for any sizes
(512 -> 200 included, the layer the source article's tool could not convert); at full rank the
layer equals the dense one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from course_lib.tt import (
    choose_modes,
    tt_matrix_forward,
    tt_matrix_forward_size,
    tt_matrix_svd,
    tt_matrix_to_dense,
    tt_svd,
)

__all__ = ["TTLinear"]


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
        # Multiply from the end where the intermediate tensors stay smaller: for VGG16's layer
        # on pooled inputs (ranks 4 and 2 at the end) that is 30 times fewer numbers.
        forward = tt_matrix_forward_size(self.in_modes, self.out_modes, self.ranks)
        backward = tt_matrix_forward_size(
            self.in_modes[::-1], self.out_modes[::-1], self.ranks[::-1]
        )
        self.from_last_core = backward < forward

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
        if self.from_last_core:  # the same product with the mode order reversed
            cores = [core.permute(3, 1, 2, 0) for core in reversed(self.cores)]
            y = self.contract(_reverse_modes(x, self.in_modes), cores)
            y = _reverse_modes(y, self.out_modes[::-1])
        else:
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


def _reverse_modes(x: Tensor, modes: Sequence[int]) -> Tensor:
    """(..., prod modes) with its index split by ``modes`` and the mode order reversed."""
    leading, d = x.shape[:-1], len(modes)
    x = x.reshape(-1, *modes).permute(0, *range(d, 0, -1))
    return x.reshape(*leading, -1)
