"""Compressing a model: replace chosen Linear layers by TT layers and report the sizes."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.compress.layer import TTLinear
from course_lib.compress.pooled import PooledInput, fold_pooling, tt_linear_on_pooled_inputs
from course_lib.models import count_parameters
from course_lib.tt import tt_matrix_forward, tt_svd

__all__ = [
    "CompressionReport",
    "LayerReport",
    "compress_model",
    "count_parameters",
    "state_dict_bytes",
]


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


def _linear_at(model: nn.Module, name: str) -> nn.Linear:
    """The ``nn.Linear`` called ``name`` in ``model``; anything else raises."""
    try:
        linear = model.get_submodule(name)
    except AttributeError as error:
        raise ValueError(f"layer {name!r} is not a module of the model ({error})") from None
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"layer {name!r} is a {type(linear).__name__}, not an nn.Linear")
    return linear


def _to_tt(
    linear: nn.Linear,
    options: dict,
    modes: tuple[Sequence[int] | None, Sequence[int] | None],
    inputs: PooledInput | None,
) -> tuple[TTLinear, float]:
    """``linear`` as a TTLinear (on its pooled inputs when ``inputs`` is given) and its error."""
    if inputs is not None:
        layer = tt_linear_on_pooled_inputs(linear, inputs, **options)
    else:
        layer = TTLinear.from_linear(linear, *modes, **options)
    return layer, _relative_error(layer.dense_weight(), linear.weight, inputs)


def _layer_report(name: str, linear: nn.Linear, layer: TTLinear, error: float) -> LayerReport:
    """The report row of ``linear`` replaced by ``layer``."""
    return LayerReport(
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
        linear = _linear_at(compressed, name)
        options = {
            "ranks": _for_layer(ranks, name),
            "max_rank": _for_layer(max_rank, name),
            "eps": _for_layer(eps, name),
            "decompose": decompose,
            "contract": contract,
        }
        layer_modes = (modes or {}).get(name, (None, None))
        layer, error = _to_tt(linear, options, layer_modes, (pooled or {}).get(name))
        compressed.set_submodule(name, layer)
        reports.append(_layer_report(name, linear, layer, error))
    report = CompressionReport(
        reports,
        count_parameters(model),
        count_parameters(compressed),
        state_dict_bytes(model),
        state_dict_bytes(compressed),
    )
    return compressed, report
