"""Decoding plain data (:mod:`autograder.plaindata`) sent by an untrusted sandbox.

Every step is bounded before it runs: the number and names of the archive's members, the
manifest's size and JSON nesting, each tag's fields and their types, each ``.npy`` header
against the bytes behind it, and dictionary keys of kinds whose hashes cannot be steered into
collisions. Anything malformed raises PlainDataError; nothing is ever unpickled.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from typing import Any

import numpy as np
import torch

from autograder.plaindata import (
    ARRAY_KINDS,
    MANIFEST,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_MANIFEST_BYTES,
    TENSOR_DTYPES,
    ModuleSummary,
    PlainDataError,
    Unsupported,
)

#: JSON nesting the encoder can reach: 3 levels per value level, 4 inside a module, the root.
MAX_JSON_DEPTH = 3 * MAX_DEPTH + 8
#: JSON values the encoder can write: at most 16 (a module's fields) per counted item.
MAX_JSON_VALUES = 16 * MAX_ITEMS
#: Longest tuple accepted as a dict key.
MAX_KEY_TUPLE = 4
#: Python hashes an int ``k`` with ``|k| < 2**61 - 1`` as ``k`` itself (-1 as -2): no collisions.
HASH_MODULUS = 2**61 - 1
NON_FINITE = ("inf", "-inf", "nan")
#: The fields of each tag, exactly.
TAG_FIELDS = {
    "$float": {"$float"},
    "$tensor": {"$tensor", "dtype"},
    "$ndarray": {"$ndarray"},
    "$tuple": {"$tuple"},
    "$dict": {"$dict"},
    "$module": {"$module", "training", "children", "parameters", "buffers"},
    "$frame": {"$frame", "index"},
    "$unsupported": {"$unsupported"},
}
ARRAY_MEMBER = re.compile(r"a\d{1,6}\.npy")
ZIP_FLAGS = 0x808  # the only general-purpose flags accepted: data descriptor, UTF-8 names


def decode(payload: bytes, *, max_bytes: int) -> Any:
    """The value :func:`autograder.plaindata.pack` encoded in ``payload``."""
    archive, members = _open_archive(payload, max_bytes)
    manifest = _read_manifest(archive, members.pop(MANIFEST, None))
    return _Decoder(archive, members)(manifest, 0)


def _open_archive(payload: bytes, max_bytes: int) -> tuple[zipfile.ZipFile, dict]:
    """The archive and its members by name, after checking their number, names, sizes, kinds."""
    if payload.count(b"PK\x01\x02") > MAX_ITEMS + 1:  # central directory entries, at most
        raise PlainDataError(f"archive with more than {MAX_ITEMS} members")
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
        members = archive.infolist()
    except Exception as error:  # zipfile raises many types on malformed archives
        kind = type(error).__name__
        raise PlainDataError(f"not a plain-data archive ({kind}: {error})") from None
    if sum(m.file_size for m in members) > max_bytes:
        raise PlainDataError(f"output larger than {max_bytes / 2**20:g} MB")
    if any(m.compress_type != zipfile.ZIP_STORED for m in members):
        raise PlainDataError("compressed members are not accepted")
    if any(m.flag_bits & ~ZIP_FLAGS for m in members):  # encrypted, patched, ...
        raise PlainDataError("zip flags other than data descriptor and UTF-8 are not accepted")
    names = {m.filename: m for m in members}
    unexpected = [n for n in names if n != MANIFEST and not ARRAY_MEMBER.fullmatch(n)]
    if unexpected or len(names) != len(members):
        raise PlainDataError(
            f"unexpected or repeated members {unexpected[:3]} (expected {MANIFEST} and a<i>.npy)"
        )
    return archive, names


def _read_manifest(archive: zipfile.ZipFile, info: zipfile.ZipInfo | None) -> Any:
    """The encoded value, after checking the manifest's size, encoding, nesting and length."""
    if info is None:
        raise PlainDataError(f"the archive has no {MANIFEST}")
    if info.file_size > MAX_MANIFEST_BYTES:
        raise PlainDataError(
            f"{MANIFEST} is {info.file_size / 2**20:.1f} MB; at most "
            f"{MAX_MANIFEST_BYTES / 2**20:g} MB is accepted"
        )
    try:
        data = archive.read(info)
        text = data.decode("utf-8")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise PlainDataError(f"unreadable {MANIFEST} ({type(error).__name__}: {error})") from None
    _check_json_shape(data)
    try:
        manifest = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as error:  # JSONDecodeError, or an int of more than 4300 digits
        raise PlainDataError(f"{MANIFEST} is not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or set(manifest) != {"value"}:
        raise PlainDataError(f'{MANIFEST} must be an object with the one key "value"')
    return manifest["value"]


def _refuse_constant(name: str) -> None:
    raise PlainDataError(f"{MANIFEST} holds {name}; non-finite floats travel as $float tags")


def _check_json_shape(data: bytes) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH or with more than MAX_JSON_VALUES values.

    Brackets and separators are counted outside strings with numpy, in linear time and without
    recursion, so that parsing never reaches the interpreter's recursion limit.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(raw == ord('"'))
    slashes = np.zeros(raw.size + 2, dtype=np.int8)
    slashes[1:-1] = raw == ord("\\")
    edges = np.diff(slashes)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # runs of backslashes
    run = np.zeros(quotes.size, dtype=np.int64)  # length of the run just before each quote
    if ends.size:
        after = np.minimum(np.searchsorted(ends, quotes), ends.size - 1)
        hit = ends[after] == quotes
        run[hit] = (ends - starts)[after[hit]]
    delimiters = quotes[run % 2 == 0]  # an odd run of backslashes escapes a quote
    marks = np.flatnonzero(np.isin(raw, np.frombuffer(b"[]{},:", dtype=np.uint8)))
    marks = raw[marks[np.searchsorted(delimiters, marks) % 2 == 0]]  # outside strings
    opening = (marks == ord("[")) | (marks == ord("{"))
    closing = (marks == ord("]")) | (marks == ord("}"))
    depth = np.cumsum(opening.astype(np.int64) - closing)
    if depth.size and depth.max() > MAX_JSON_DEPTH:
        raise PlainDataError(f"{MANIFEST} nested deeper than {MAX_JSON_DEPTH} levels")
    if marks.size - np.count_nonzero(closing) + 1 > MAX_JSON_VALUES:
        raise PlainDataError(f"{MANIFEST} holds more than {MAX_JSON_VALUES} values")


def _read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """An ``.npy`` member, its header checked against its size before any allocation."""
    fmt = np.lib.format
    try:
        with archive.open(info) as member:
            version = fmt.read_magic(member)
            if version not in {(1, 0), (2, 0)}:
                raise PlainDataError(f"{info.filename}: .npy version {version} (expected 1.0/2.0)")
            header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran_order, dtype = header(member)
            if dtype.hasobject or dtype.kind not in ARRAY_KINDS or dtype.itemsize == 0:
                raise PlainDataError(f"{info.filename}: arrays of dtype {dtype} are not accepted")
            size = info.file_size - member.tell()
            if any(d < 0 for d in shape) or math.prod(shape) * dtype.itemsize != size:
                raise PlainDataError(
                    f"{info.filename}: header says shape {shape} of {dtype}, but the member "
                    f"holds {size} bytes of data"
                )
            data = bytearray(member.read(size))
        if len(data) != size:
            raise PlainDataError(f"{info.filename}: truncated ({len(data)} of {size} bytes)")
        return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    except PlainDataError:
        raise
    except Exception as error:  # numpy and zipfile raise many types on malformed members
        raise PlainDataError(
            f"{info.filename} is not a plain .npy array ({type(error).__name__}: {error})"
        ) from None


def _fields(item: Any, *expected: str) -> str:
    """The tag of an encoded dict, after checking it has exactly its tag's fields."""
    if not isinstance(item, dict):
        raise PlainDataError(f"expected an encoded value, got {type(item).__name__}")
    tags = [key for key in item if key.startswith("$")]
    tag = tags[0] if len(tags) == 1 else None
    if tag not in TAG_FIELDS:
        raise PlainDataError(f"unknown tag {tag if tag else tags[:3]!r}")
    if expected and tag not in expected:
        raise PlainDataError(f"expected {' or '.join(expected)}, got {tag}")
    if set(item) != TAG_FIELDS[tag]:
        raise PlainDataError(f"{tag} expects the fields {sorted(TAG_FIELDS[tag])}")
    return tag


def _typed(value: Any, kind: type, what: str) -> Any:
    """``value`` when it is a ``kind`` (a bool is not an int here), else PlainDataError."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PlainDataError(f"{what} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _rows(value: Any, width: int, what: str) -> list[list]:
    """A list of lists of ``width`` entries (the pairs and triples of the encoding)."""
    rows = _typed(value, list, what)
    if not all(isinstance(row, list) and len(row) == width for row in rows):
        raise PlainDataError(f"{what} must be a list of {width}-element lists")
    return rows


def _short(value: Any) -> str:
    """A string value quoted and cut to 20 characters, else the value's type name."""
    return repr(value[:20]) if isinstance(value, str) else type(value).__name__


def _safe_key(key: Any) -> Any:
    """A dict key whose hash an output cannot choose, so building dicts stays linear.

    Strings hash with the process's secret key; ints below 2**61 - 1 in size hash to themselves;
    tuples of strings, bools and None are accepted up to MAX_KEY_TUPLE long. Floats (0.5 and
    2.0**-62 hash alike), big ints and tuples of ints (their hash mixes element hashes with a
    public function) could be chosen to collide, and are refused.
    """
    if key is None or isinstance(key, (str, bool)):
        return key
    if type(key) is int and abs(key) < HASH_MODULUS:
        return key
    if (
        type(key) is tuple
        and len(key) <= MAX_KEY_TUPLE
        and all(k is None or isinstance(k, (str, bool)) for k in key)
    ):
        return key
    raise PlainDataError(
        f"dictionary key {type(key).__name__} is not accepted: keys must be str, bool, None, "
        f"int below 2**61 - 1 in size, or tuples of up to {MAX_KEY_TUPLE} str/bool/None"
    )


class _Decoder:
    """Rebuilds values from the manifest, counting items and depth as the encoder does."""

    def __init__(self, archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> None:
        self.archive = archive
        self.members = members  # arrays not used yet
        self.items = 0

    def count(self, depth: int) -> None:
        self.items += 1
        if depth > MAX_DEPTH:
            raise PlainDataError(f"output nested deeper than {MAX_DEPTH} levels")
        if self.items > MAX_ITEMS:
            raise PlainDataError(f"output holding more than {MAX_ITEMS} items")

    def array(self, name: Any, depth: int) -> np.ndarray:
        self.count(depth)
        info = self.members.pop(f"{_typed(name, str, 'an array name')}.npy", None)
        if info is None:
            raise PlainDataError(f"array {_short(name)} is missing or used twice")
        return _read_array(self.archive, info)

    def tensor(self, item: Any, depth: int) -> torch.Tensor:
        _fields(item, "$tensor")
        dtype = item["dtype"]
        if not isinstance(dtype, str) or dtype not in TENSOR_DTYPES:
            raise PlainDataError(f"unknown tensor dtype {_short(dtype)}")
        data = self.array(item["$tensor"], depth)
        if data.dtype != TENSOR_DTYPES[dtype]:
            raise PlainDataError(f"a {dtype} tensor stored as {data.dtype}")
        tensor = torch.from_numpy(data)
        return tensor.to(torch.bfloat16) if dtype == "bfloat16" else tensor

    def __call__(self, item: Any, depth: int) -> Any:
        self.count(depth)
        if item is None or isinstance(item, (bool, int, float, str)):
            return item
        if isinstance(item, list):
            return [self(v, depth + 1) for v in item]
        tag = _fields(item)
        if tag == "$float":
            if item[tag] not in NON_FINITE:
                raise PlainDataError(f"$float must be one of {NON_FINITE}, got {_short(item[tag])}")
            return float(item[tag])
        if tag == "$tensor":
            return self.tensor(item, depth)
        if tag == "$ndarray":
            return self.array(item[tag], depth)
        if tag == "$tuple":
            return tuple(self(v, depth + 1) for v in _typed(item[tag], list, "$tuple"))
        if tag == "$dict":
            rows = _rows(item[tag], 2, "$dict")
            return {_safe_key(self(k, depth + 1)): self(v, depth + 1) for k, v in rows}
        if tag == "$module":
            return self.module(item, depth)
        if tag == "$frame":
            return self.frame(item, depth)
        return Unsupported(_typed(item[tag], str, "$unsupported"))

    def module(self, item: dict, depth: int) -> ModuleSummary:
        children = {}
        for name, child in _rows(item["children"], 2, "children"):
            children[_typed(name, str, "a child's name")] = summary = self(child, depth + 1)
            if not isinstance(summary, ModuleSummary):
                raise PlainDataError(f"child {_short(name)} is not a module")
        parameters, requires_grad = {}, {}
        for name, tensor, flag in _rows(item["parameters"], 3, "parameters"):
            parameters[_typed(name, str, "a parameter's name")] = self.tensor(tensor, depth)
            requires_grad[name] = _typed(flag, bool, "requires_grad")
        buffers = {
            _typed(name, str, "a buffer's name"): self.tensor(tensor, depth)
            for name, tensor in _rows(item["buffers"], 2, "buffers")
        }
        return ModuleSummary(
            type_name=_typed(item["$module"], str, "$module"),
            training=_typed(item["training"], bool, "training"),
            children=children,
            parameters=parameters,
            requires_grad=requires_grad,
            buffers=buffers,
        )

    def frame(self, item: dict, depth: int) -> Any:
        import pandas as pd

        index = _typed(self(item["index"], depth + 1), list, "a frame's index")
        if not all(v is None or isinstance(v, (bool, int, float, str)) for v in index):
            raise PlainDataError("a frame's index must hold only str, numbers, bools and None")
        data = {}
        for name, dtype, encoded in _rows(item["$frame"], 3, "$frame"):
            _typed(dtype, str, "a column's dtype")
            column = self(encoded, depth + 1)
            values = column.get("values") if isinstance(column, dict) else None
            if not (
                isinstance(column, dict)
                and len(column) == 1
                and (
                    (isinstance(values, np.ndarray) and values.ndim == 1)
                    or isinstance(column.get("list"), list)
                )
            ):
                raise PlainDataError("a column must be {'values': 1-d array} or {'list': list}")
            values = values if values is not None else column["list"]
            if len(values) != len(index):
                raise PlainDataError(f"a column of {len(values)} rows for {len(index)} index rows")
            data[_safe_key(self(name, depth + 1))] = values
        try:
            return pd.DataFrame(data, index=index)
        except (ValueError, TypeError) as error:
            raise PlainDataError(f"not a DataFrame ({error})") from None
