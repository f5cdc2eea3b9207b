"""Outputs as plain data: a JSON manifest plus ``.npy`` arrays in one uncompressed zip.

The sandbox encodes whatever the student code returned; the grading process decodes it without
ever unpickling. Decoded values are ordinary Python objects: tensors, numpy arrays, numbers,
strings, lists, tuples, dicts, DataFrames, and two small records for what cannot travel as is:
:class:`ModuleSummary` (an ``nn.Module``) and :class:`Unsupported` (anything else, by type name).

Decoding (:mod:`autograder.plaindecode`) treats the payload as hostile: its work is linear in
the payload's size and bounded by the caps below, every field is type-checked, and anything
malformed raises PlainDataError.
"""

from __future__ import annotations

import io
import json
import math
import sys
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

MANIFEST = "manifest.json"
#: Default cap on the uncompressed size of one encoded output.
MAX_BYTES = 64 * 2**20
#: Cap on the JSON part (everything but the arrays).
MAX_MANIFEST_BYTES = 8 * 2**20
MAX_DEPTH = 32
#: Values (containers, scalars, keys) and arrays of one output, encoded or decoded.
MAX_ITEMS = 100_000
#: numpy kinds an ``.npy`` member may hold: bool, numbers, bytes, text, dates and durations.
ARRAY_KINDS = "biufcSUmM"
#: Tensor dtypes that travel (bfloat16 as float32, as numpy has no bfloat16).
TENSOR_DTYPES = {
    name: np.dtype("float32" if name == "bfloat16" else name)
    for name in (
        *("bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"),
        *("float16", "bfloat16", "float32", "float64", "complex64", "complex128"),
    )
}


@dataclass(frozen=True)
class Unsupported:
    """An output of a type that cannot be returned as plain data."""

    type_name: str


@dataclass
class ModuleSummary:
    """What the checks need of an ``nn.Module``: its structure, parameters and buffers."""

    type_name: str
    training: bool
    children: dict[str, ModuleSummary] = field(default_factory=dict)
    parameters: dict[str, torch.Tensor] = field(default_factory=dict)  # direct ones only
    requires_grad: dict[str, bool] = field(default_factory=dict)
    buffers: dict[str, torch.Tensor] = field(default_factory=dict)

    def named_parameters(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Every parameter by dotted name, like ``nn.Module.named_parameters``."""
        params = {prefix + name: value for name, value in self.parameters.items()}
        for name, child in self.children.items():
            params.update(child.named_parameters(f"{prefix}{name}."))
        return params

    def named_requires_grad(self, prefix: str = "") -> dict[str, bool]:
        """``requires_grad`` of every parameter by dotted name."""
        flags = {prefix + name: flag for name, flag in self.requires_grad.items()}
        for name, child in self.children.items():
            flags.update(child.named_requires_grad(f"{prefix}{name}."))
        return flags


class PlainDataError(ValueError):
    """Encoded data that is malformed or too large."""


def type_name(value: Any) -> str:
    """``module.Class`` of a value, short for builtins (``list``, ``torch.Tensor``)."""
    kind = type(value)
    module = kind.__module__
    if module == "builtins":
        return kind.__qualname__
    if module.startswith("torch"):
        module = "torch"
    return f"{module}.{kind.__qualname__}"


class _Encoder:
    def __init__(self, max_bytes: int) -> None:
        self.arrays: list[np.ndarray] = []
        self.items = 0
        self.limit = self.left = max_bytes

    def count(self, depth: int) -> None:
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise PlainDataError(
                f"output nested deeper than {MAX_DEPTH} levels or holding more than "
                f"{MAX_ITEMS} items"
            )

    def array(self, data: np.ndarray, depth: int) -> str:
        self.count(depth)
        self.left -= data.nbytes
        if self.left < 0:
            raise PlainDataError(f"output larger than the {self.limit / 2**20:g} MB limit")
        self.arrays.append(np.ascontiguousarray(data).reshape(data.shape))  # 0-d stays 0-d
        return f"a{len(self.arrays) - 1}"

    def tensor(self, value: torch.Tensor, depth: int) -> dict:
        value = value.detach().cpu()
        if value.layout != torch.strided:
            value = value.to_dense()
        dtype = str(value.dtype).removeprefix("torch.")
        if dtype not in TENSOR_DTYPES:
            raise PlainDataError(f"tensors of dtype {dtype} cannot be returned")
        if value.dtype == torch.bfloat16:
            value = value.float()
        return {"$tensor": self.array(value.numpy(), depth), "dtype": dtype}

    def module(self, value: torch.nn.Module | ModuleSummary, depth: int) -> dict:
        if isinstance(value, ModuleSummary):  # decoded before, e.g. a stored reference
            name, training, children = value.type_name, value.training, value.children.items()
            params = [(n, p, value.requires_grad.get(n, True)) for n, p in value.parameters.items()]
            buffers = value.buffers.items()
        else:
            name, training = type_name(value), bool(value.training)
            children = value.named_children()
            params = [(n, p, p.requires_grad) for n, p in value.named_parameters(recurse=False)]
            buffers = [(n, b) for n, b in value.named_buffers(recurse=False) if b is not None]
        return {
            "$module": name,
            "training": training,
            "children": [[n, self(c, depth + 1)] for n, c in children],
            "parameters": [[n, self.tensor(p, depth), bool(g)] for n, p, g in params],
            "buffers": [[n, self.tensor(b, depth)] for n, b in buffers],
        }

    def __call__(self, value: Any, depth: int = 0) -> Any:
        self.count(depth)
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
            return int(value)
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(value, torch.Tensor):
            return self.tensor(value, depth)
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                return {"$unsupported": "numpy.ndarray of objects"}
            if value.dtype.kind not in ARRAY_KINDS or value.dtype.itemsize == 0:
                return {"$unsupported": f"numpy.ndarray of {value.dtype}"}
            return {"$ndarray": self.array(value, depth)}
        if isinstance(value, (torch.nn.Module, ModuleSummary)):
            return self.module(value, depth)
        if isinstance(value, Unsupported):
            return {"$unsupported": value.type_name}
        if type(value) is tuple:
            return {"$tuple": [self(v, depth + 1) for v in value]}
        if type(value) is list:
            return [self(v, depth + 1) for v in value]
        if type(value) is dict:
            return {"$dict": [[self(k, depth + 1), self(v, depth + 1)] for k, v in value.items()]}
        pandas = sys.modules.get("pandas")
        if pandas is not None and isinstance(value, pandas.DataFrame):
            return self.frame(value, depth)
        return {"$unsupported": type_name(value)}

    def frame(self, frame: Any, depth: int) -> dict:
        columns = []
        for name in frame.columns:
            column = frame[name]
            if column.dtype.kind in "biuf":
                data = self({"values": column.to_numpy()}, depth + 1)
            else:
                data = self({"list": [_scalar(v) for v in column.tolist()]}, depth + 1)
            columns.append([self(name, depth + 1), str(column.dtype), data])
        index = [_scalar(v) for v in frame.index.tolist()]
        return {"$frame": columns, "index": self(index, depth + 1)}


def _scalar(value: Any) -> Any:
    """A DataFrame cell as a plain Python value (numpy scalars unwrapped)."""
    return value.item() if isinstance(value, np.generic) else value


def pack(value: Any, *, max_bytes: int = MAX_BYTES) -> bytes:
    """Encode ``value`` as a zip of ``manifest.json`` and ``a<i>.npy`` members (stored).

    PlainDataError when its arrays hold more than ``max_bytes``, its JSON part more than
    MAX_MANIFEST_BYTES, or it nests deeper than MAX_DEPTH or holds more than MAX_ITEMS items.
    """
    encoder = _Encoder(max_bytes)
    manifest = json.dumps({"value": encoder(value)}, allow_nan=False).encode()
    if len(manifest) > MAX_MANIFEST_BYTES:
        raise PlainDataError(
            f"output larger than the {MAX_MANIFEST_BYTES / 2**20:g} MB limit on its non-array "
            "part (strings, numbers in lists, names)"
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, manifest)
        for index, data in enumerate(encoder.arrays):
            with archive.open(f"a{index}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, data, allow_pickle=False)
    return buffer.getvalue()


def unpack(payload: bytes, *, max_bytes: int = MAX_BYTES) -> Any:
    """Decode :func:`pack` output; PlainDataError when malformed, compressed or too large.

    The decoder lives in :mod:`autograder.plaindecode` (the sandbox only encodes).
    """
    from autograder.plaindecode import decode

    return decode(payload, max_bytes=max_bytes)


def roundtrip(value: Any) -> Any:
    """``unpack(pack(value))``: what the grading process would see of ``value``."""
    return unpack(pack(value))
