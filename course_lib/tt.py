"""The tensor-train (TT) format: TT-SVD, the TT-matrix product and their helpers.

A TT tensor of shape (n_1, ..., n_d) is a list of cores ``G_k`` of shape (r_{k-1}, n_k, r_k)
with r_0 = r_d = 1; entry (i_1, ..., i_d) is the product G_1[:, i_1, :] ... G_d[:, i_d, :]
(Oseledets 2011). A TT matrix of shape (m_1...m_d, n_1...n_d) has cores (r_{k-1}, m_k, n_k, r_k)
and entry ((i_1..i_d), (j_1..j_d)) = G_1[:, i_1, j_1, :] ... G_d[:, i_d, j_d, :] (Novikov et
al. 2015), i.e. sum_k m_k n_k r_{k-1} r_k numbers. Row and column indices are split row-major:
i = (i_1 * m_2 + i_2) * m_3 + ... (the layout of ``tensorly.decomposition.tensor_train_matrix``).

``tt_svd`` is Oseledets' TT-SVD: d-1 truncated SVDs of successive unfoldings. With ``eps`` every
SVD drops singular values whose norm is at most ``delta = eps / sqrt(d - 1) * ||A||_F``, so the
relative Frobenius error of the result is at most ``eps`` (Theorem 2.2 of the paper).
``tt_matrix_forward`` multiplies by a TT matrix core by core, never rebuilding it. The dense
reconstructions below are for checks and reports only. ``course_lib.compress`` builds layers on
these (and re-exports ``tt_svd`` and ``tt_matrix_forward``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = [
    "check_ranks",
    "choose_modes",
    "prime_factors",
    "split_into_factors",
    "truncation_rank",
    "tt_matrix_forward",
    "tt_matrix_forward_size",
    "tt_matrix_parameters",
    "tt_matrix_svd",
    "tt_matrix_to_dense",
    "tt_svd",
    "tt_to_dense",
]


def prime_factors(n: int) -> list[int]:
    """Prime factors of ``n`` in ascending order, with repetition (1 has none)."""
    if n < 1:
        raise ValueError(f"can only factorise positive integers, got {n}")
    factors, p = [], 2
    while p * p <= n:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    if n > 1:
        factors.append(n)
    return factors


def split_into_factors(n: int, d: int) -> tuple[int, ...]:
    """``d`` factors of ``n``, as equal as the primes allow, ascending; padded with 1s."""
    if d < 1:
        raise ValueError(f"the number of modes must be at least 1, got {d}")
    buckets = [1] * d
    for p in sorted(prime_factors(n), reverse=True):  # largest prime into the smallest bucket
        buckets[buckets.index(min(buckets))] *= p
    return tuple(sorted(buckets))


def choose_modes(
    in_features: int, out_features: int, *, num_modes: int | None = None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Input and output modes of the same length d for a TT matrix of the given size.

    d defaults to the larger number of prime factors of the two sizes, at most 6, so that
    25088 -> 512 gives (4, 4, 4, 7, 7, 8) x (2, 2, 2, 4, 4, 4) and 512 -> 200 works too (the
    shorter factorisation is padded with 1s).
    """
    if num_modes is None:
        num_modes = max(
            1, min(6, max(len(prime_factors(in_features)), len(prime_factors(out_features))))
        )
    return split_into_factors(in_features, num_modes), split_into_factors(out_features, num_modes)


def check_ranks(
    ranks: int | Sequence[int] | None, num_cores: int, *, max_rank: int | None = None
) -> list[int | None]:
    """The d-1 inner rank caps (None = no cap) from ``ranks`` (one int or d-1) and ``max_rank``."""
    inner = num_cores - 1
    if max_rank is not None and (not isinstance(max_rank, int) or max_rank < 1):
        raise ValueError(f"max_rank must be a positive int, got {max_rank!r}")
    if ranks is None:
        ranks = [None] * inner
    elif isinstance(ranks, int):
        ranks = [ranks] * inner
    else:
        ranks = list(ranks)
        if len(ranks) != inner:
            raise ValueError(
                f"ranks has {len(ranks)} entries but a TT with {num_cores} cores has {inner} "
                "inner ranks (r_1 ... r_{d-1}; r_0 = r_d = 1 are implied); give that many "
                "or one int"
            )
    if any(r is not None and (int(r) != r or r < 1) for r in ranks):
        raise ValueError(f"TT ranks must be positive integers, got {ranks}")
    if max_rank is not None:
        ranks = [max_rank if r is None else min(int(r), max_rank) for r in ranks]
    return ranks


def truncation_rank(singular_values: Tensor, delta: float, cap: int | None = None) -> int:
    """Smallest rank whose discarded singular values have a norm <= ``delta``, then capped."""
    tails = singular_values.flip(0).square().cumsum(0).flip(0)  # tails[r] = sum_{i>=r} s_i^2
    rank = max(1, int((tails > delta**2).sum()))
    return rank if cap is None else min(rank, cap)


def tt_to_dense(cores: Sequence[Tensor]) -> Tensor:
    """The full tensor (n_1, ..., n_d) of TT cores (r_{k-1}, n_k, r_k)."""
    result = cores[0]  # (1, n_1, r_1)
    for core in cores[1:]:
        result = torch.tensordot(result, core, dims=([result.ndim - 1], [0]))
    return result.reshape([core.shape[1] for core in cores])


def tt_matrix_to_dense(cores: Sequence[Tensor]) -> Tensor:
    """The (prod m_k, prod n_k) matrix of TT-matrix cores (r_{k-1}, m_k, n_k, r_k)."""
    d = len(cores)
    in_modes = [core.shape[1] for core in cores]
    out_modes = [core.shape[2] for core in cores]
    merged = [core.reshape(core.shape[0], -1, core.shape[-1]) for core in cores]
    full = tt_to_dense(merged).reshape([size for core in cores for size in core.shape[1:3]])
    full = full.permute([*range(0, 2 * d, 2), *range(1, 2 * d, 2)])  # (m_1..m_d, n_1..n_d)
    return full.reshape(math.prod(in_modes), math.prod(out_modes))


def tt_matrix_parameters(
    in_modes: Sequence[int], out_modes: Sequence[int], ranks: Sequence[int]
) -> int:
    """Sum over k of m_k * n_k * r_{k-1} * r_k, with ``ranks`` the d+1 ranks (1 at both ends)."""
    return sum(
        m * n * r0 * r1
        for m, n, r0, r1 in zip(in_modes, out_modes, ranks[:-1], ranks[1:], strict=True)
    )


def tt_matrix_forward_size(
    in_modes: Sequence[int], out_modes: Sequence[int], ranks: Sequence[int]
) -> int:
    """Numbers per sample held by the intermediate tensors of ``tt_matrix_forward``.

    After core k the state holds (m_{k+1}...m_d) x (n_1...n_k) x r_k numbers per sample; their
    sum is a good proxy for the time of the product (memory traffic dominates).
    """
    rest, done, total = math.prod(in_modes), 1, 0
    for m, n, rank in zip(in_modes, out_modes, ranks[1:], strict=True):
        rest, done = rest // m, done * n
        total += rest * done * rank
    return total


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
    ### BEGIN SOLUTION a5_explain_compress
    shape = tensor.shape
    caps = check_ranks(ranks, len(shape), max_rank=max_rank)  # d-1 caps, None = no cap
    delta = 0.0
    if eps is not None:
        delta = eps / math.sqrt(max(len(shape) - 1, 1)) * torch.linalg.norm(tensor).item()
    cores, rank, rest = [], 1, tensor
    for k in range(len(shape) - 1):
        unfolding = rest.reshape(rank * shape[k], -1)  # (r_{k-1} n_k, n_{k+1} ... n_d)
        u, s, vh = torch.linalg.svd(unfolding, full_matrices=False)
        new_rank = truncation_rank(s, delta, caps[k])
        cores.append(u[:, :new_rank].reshape(rank, shape[k], new_rank))
        rest = s[:new_rank, None] * vh[:new_rank]  # (r_k, n_{k+1} ... n_d)
        rank = new_rank
    cores.append(rest.reshape(rank, shape[-1], 1))
    return cores
    ### END SOLUTION


def tt_matrix_forward(x: Tensor, cores: Sequence[Tensor]) -> Tensor:
    """``x @ A`` (..., prod n_k) for x (..., prod m_k) and the TT matrix A of ``cores``.

    Each step contracts one input mode and one rank index with a core (r_{k-1}, m_k, n_k, r_k)
    and appends one output mode; the dense A is never formed.
    """
    ### BEGIN SOLUTION a5_explain_compress
    in_features = math.prod(core.shape[1] for core in cores)
    if x.shape[-1] != in_features:
        raise ValueError(f"x has {x.shape[-1]} features but the TT matrix takes {in_features}")
    leading = x.shape[:-1]
    state = x.reshape(-1, in_features, 1, 1)  # (B, m_k...m_d, n_1...n_{k-1}, r_{k-1})
    for core in cores:
        rank_in, m, n, rank_out = core.shape
        batch, rest_in, done_out, _ = state.shape
        state = state.reshape(batch, m, rest_in // m, done_out, rank_in)
        state = torch.einsum("bmxyr,rmns->bxyns", state, core)  # (B, rest, done, n_k, r_k)
        state = state.reshape(batch, rest_in // m, done_out * n, rank_out)
    return state.reshape(*leading, -1)
    ### END SOLUTION


def tt_matrix_svd(
    matrix: Tensor,
    in_modes: Sequence[int],
    out_modes: Sequence[int],
    *,
    ranks: int | Sequence[int] | None = None,
    max_rank: int | None = None,
    eps: float | None = None,
    decompose: Callable[..., list[Tensor]] = tt_svd,
) -> list[Tensor]:
    """TT-matrix cores (r_{k-1}, m_k, n_k, r_k) of ``matrix`` (prod m_k, prod n_k).

    The matrix is reshaped to (m_1, ..., m_d, n_1, ..., n_d), its modes interleaved to
    (m_1 n_1, ..., m_d n_d) and decomposed by ``decompose`` (TT-SVD); the Frobenius norm is
    unchanged, so ``eps`` bounds the relative error of the matrix.
    """
    in_modes, out_modes = tuple(in_modes), tuple(out_modes)
    if len(in_modes) != len(out_modes):
        raise ValueError(
            f"in_modes {in_modes} and out_modes {out_modes} need the same length; pad the "
            "shorter one with 1s"
        )
    rows, cols = matrix.shape
    if math.prod(in_modes) != rows or math.prod(out_modes) != cols:
        raise ValueError(
            f"modes {in_modes} x {out_modes} multiply to {math.prod(in_modes)} x "
            f"{math.prod(out_modes)} but the matrix is {rows} x {cols} (in_features x "
            "out_features); choose modes whose products match, or None to choose them"
        )
    d = len(in_modes)
    tensor = matrix.reshape(*in_modes, *out_modes)
    tensor = tensor.permute([i for k in range(d) for i in (k, d + k)])  # (m_1, n_1, m_2, ...)
    tensor = tensor.reshape([m * n for m, n in zip(in_modes, out_modes, strict=True)])
    cores = decompose(tensor, ranks=ranks, max_rank=max_rank, eps=eps)
    return [
        core.reshape(core.shape[0], m, n, core.shape[-1])
        for core, m, n in zip(cores, in_modes, out_modes, strict=True)
    ]
