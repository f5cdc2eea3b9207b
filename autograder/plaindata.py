"""Outputs as plain data: a JSON manifest plus ``.npy`` arrays in one uncompressed zip.

The sandbox encodes whatever the student code returned; the grading process decodes it without
ever unpickling. Decoded values are ordinary Python objects: tensors, numpy arrays, numbers,
strings, lists, tuples, dicts, DataFrames, and two small records for what cannot travel as is:
:class:`ModuleSummary` (an ``nn.Module``) and :class:`Unsupported` (anything else, by type name).
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
MAX_DEPTH = 32
MAX_ITEMS = 100_000


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

    def array(self, data: np.ndarray) -> str:
        if data.dtype.hasobject:
            raise PlainDataError("object arrays cannot be encoded")
        self.left -= data.nbytes
        if self.left < 0:
            raise PlainDataError(f"output larger than the {self.limit / 2**20:g} MB limit")
        self.arrays.append(np.ascontiguousarray(data))
        return f"a{len(self.arrays) - 1}"

    def tensor(self, value: torch.Tensor) -> dict:
        value = value.detach().cpu()
        if value.layout != torch.strided:
            value = value.to_dense()
        dtype = str(value.dtype).removeprefix("torch.")
        if value.dtype == torch.bfloat16:
            value = value.float()
        return {"$tensor": self.array(value.numpy()), "dtype": dtype}

    def module(self, value: torch.nn.Module, depth: int) -> dict:
        return {
            "$module": type_name(value),
            "training": bool(value.training),
            "children": [[n, self(c, depth + 1)] for n, c in value.named_children()],
            "parameters": [
                [n, self.tensor(p), bool(p.requires_grad)]
                for n, p in value.named_parameters(recurse=False)
            ],
            "buffers": [
                [n, self.tensor(b)] for n, b in value.named_buffers(recurse=False) if b is not None
            ],
        }

    def summary(self, value: ModuleSummary, depth: int) -> dict:
        return {
            "$module": value.type_name,
            "training": value.training,
            "children": [[n, self(c, depth + 1)] for n, c in value.children.items()],
            "parameters": [
                [n, self.tensor(p), value.requires_grad.get(n, True)]
                for n, p in value.parameters.items()
            ],
            "buffers": [[n, self.tensor(b)] for n, b in value.buffers.items()],
        }

    def __call__(self, value: Any, depth: int = 0) -> Any:
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise PlainDataError("output nested too deeply or holding too many items")
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
            return self.tensor(value)
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                return {"$unsupported": "numpy.ndarray of objects"}
            return {"$ndarray": self.array(value)}
        if isinstance(value, torch.nn.Module):
            return self.module(value, depth)
        if isinstance(value, ModuleSummary):  # decoded before, e.g. a stored reference
            return self.summary(value, depth)
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

    PlainDataError when its arrays hold more than ``max_bytes``.
    """
    encoder = _Encoder(max_bytes)
    manifest = json.dumps({"value": encoder(value)}, allow_nan=False)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, manifest)
        for index, data in enumerate(encoder.arrays):
            with archive.open(f"a{index}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, data, allow_pickle=False)
    return buffer.getvalue()


def unpack(payload: bytes, *, max_bytes: int = MAX_BYTES) -> Any:
    """Decode :func:`pack` output; PlainDataError when malformed, compressed or too large."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise PlainDataError(f"not a plain-data archive ({error})") from None
    if sum(m.file_size for m in members) > max_bytes:
        raise PlainDataError(f"output larger than {max_bytes // 2**20} MB")
    if any(m.compress_type != zipfile.ZIP_STORED for m in members):
        raise PlainDataError("compressed members are not accepted")
    try:
        manifest = json.loads(archive.read(MANIFEST))
        arrays = {
            m.filename[:-4]: _read_array(archive, m.filename)
            for m in members
            if m.filename != MANIFEST
        }
        return _Decoder(arrays)(manifest["value"])
    except PlainDataError:
        raise
    except (KeyError, TypeError, ValueError, RecursionError, zipfile.BadZipFile) as error:
        raise PlainDataError(f"malformed plain data ({type(error).__name__}: {error})") from None


def roundtrip(value: Any) -> Any:
    """``unpack(pack(value))``: what the grading process would see of ``value``."""
    return unpack(pack(value))


def _read_array(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(name) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def tensor(self, item: dict) -> torch.Tensor:
        data = torch.from_numpy(self.arrays[item["$tensor"]].copy())
        return data.to(torch.bfloat16) if item["dtype"] == "bfloat16" else data

    def __call__(self, item: Any) -> Any:
        if item is None or isinstance(item, (bool, int, float, str)):
            return item
        if isinstance(item, list):
            return [self(v) for v in item]
        if not isinstance(item, dict) or len(item) == 0:
            raise PlainDataError(f"unexpected item {type(item).__name__}")
        tag = next(iter(item))
        if tag == "$float":
            return float(item[tag])
        if tag == "$tensor":
            return self.tensor(item)
        if tag == "$ndarray":
            return self.arrays[item[tag]]
        if tag == "$tuple":
            return tuple(self(v) for v in item[tag])
        if tag == "$dict":
            return {_hashable(self(k)): self(v) for k, v in item[tag]}
        if tag == "$module":
            return self.module(item)
        if tag == "$frame":
            return self.frame(item)
        if tag == "$unsupported":
            return Unsupported(str(item[tag]))
        raise PlainDataError(f"unknown tag {tag!r}")

    def module(self, item: dict) -> ModuleSummary:
        return ModuleSummary(
            type_name=str(item["$module"]),
            training=bool(item["training"]),
            children={str(n): self(c) for n, c in item["children"]},
            parameters={str(n): self.tensor(t) for n, t, _ in item["parameters"]},
            requires_grad={str(n): bool(g) for n, _, g in item["parameters"]},
            buffers={str(n): self.tensor(t) for n, t in item["buffers"]},
        )

    def frame(self, item: dict) -> Any:
        import pandas as pd

        data = {}
        for name, _dtype, column in item["$frame"]:
            column = self(column)
            data[_hashable(self(name))] = column.get("values", column.get("list"))
        return pd.DataFrame(data, index=self(item["index"]))


def _hashable(key: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        raise PlainDataError(f"dictionary key of type {type(key).__name__}") from None
    return key
