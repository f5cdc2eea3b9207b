"""Writers for CACD's two metadata files, with the structure of the real ones.

``celebrity2000_meta.mat`` is MATLAB v5 (scipy.io.savemat): structs ``celebrityImageData``
(fields (N, 1) arrays of the real integer types, ``feature`` empty, ``name`` a cell array) and
``celebrityData``. ``celebrity2000.mat`` is MATLAB v7.3, an HDF5 file behind a 512-byte MATLAB
header: each struct is a group, numbers are (1, N) doubles, and every name is an object
reference to a (length, 1) uint16 UTF-16 array in ``#refs#``; ``MATLAB_class`` attributes say
what each object was in MATLAB. The headers carry a fixed date so files are reproducible.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io

from course_lib.data.cacd import IMAGE_FIELDS, IMAGE_STRUCT, PEOPLE_FIELDS, PEOPLE_STRUCT

CREATED = "Created on: Mon Jan 04 09:00:00 2016"
V5_TYPES = {
    "age": np.uint8,
    "identity": np.uint16,
    "year": np.uint16,
    "rank": np.uint8,
    "lfw": np.uint8,
    "birth": np.uint16,
}


def _header_text(version: str, suffix: str = "") -> bytes:
    text = f"MATLAB {version} MAT-file, Platform: GLNXA64, {CREATED}{suffix}"
    return text.encode("ascii").ljust(116, b" ")


def _cell(strings) -> np.ndarray:
    """An (N, 1) object array: savemat writes it as a cell array of char arrays."""
    cell = np.empty((len(strings), 1), dtype=object)
    cell[:, 0] = list(strings)
    return cell


def write_meta_v5(path: Path, images: pd.DataFrame, people: pd.DataFrame) -> None:
    """Write ``celebrity2000_meta.mat`` (MATLAB v5) atomically."""
    image_struct = {key: images[key].to_numpy(V5_TYPES[key])[:, None] for key in V5_TYPES}
    image_struct["feature"] = np.zeros((0, 0), np.uint8)  # empty in the real meta file
    image_struct["name"] = _cell(images["name"])
    people_struct = {key: people[key].to_numpy(V5_TYPES[key])[:, None] for key in PEOPLE_FIELDS[1:]}
    people_struct["name"] = _cell(people["name"])
    structs = {
        IMAGE_STRUCT: {key: image_struct[key] for key in IMAGE_FIELDS},  # the real field order
        PEOPLE_STRUCT: {key: people_struct[key] for key in PEOPLE_FIELDS},
    }
    temporary = path.with_name(f".{path.name}.part")
    with temporary.open("wb") as file:
        scipy.io.savemat(file, structs, format="5", oned_as="column")
        file.seek(0)
        file.write(_header_text("5.0"))  # scipy writes the current time there
    os.replace(temporary, path)


def _attrs(obj: h5py.HLObject, matlab_class: str) -> None:
    obj.attrs["MATLAB_class"] = np.bytes_(matlab_class)


def _ref_name(index: int) -> str:
    """MATLAB's names for referenced objects: a, b, ..., z, aa, ab, ..."""
    name = ""
    index += 1
    while index:
        index, letter = divmod(index - 1, 26)
        name = chr(ord("a") + letter) + name
    return name


def _write_struct(file: h5py.File, name: str, table: pd.DataFrame, fields, extra: dict) -> None:
    """A MATLAB struct as an HDF5 group: (1, N) doubles, names as references into #refs#."""
    group = file.create_group(name)
    _attrs(group, "struct")
    refs = file.require_group("#refs#")
    for key in fields:
        if key == "name":
            references = []
            for text in table["name"]:
                chars = np.frombuffer(text.encode("utf-16-le"), "<u2")[:, None]  # (length, 1)
                dataset = refs.create_dataset(_ref_name(len(refs)), data=chars)
                _attrs(dataset, "char")
                dataset.attrs["MATLAB_int_decode"] = np.int32(2)
                references.append(dataset.ref)
            dataset = group.create_dataset("name", data=np.array([references], h5py.ref_dtype))
            _attrs(dataset, "cell")
        else:
            values = extra[key] if key in extra else table[key].to_numpy(np.float64)[None, :]
            _attrs(group.create_dataset(key, data=values), "double")


def write_meta_v73(
    path: Path, images: pd.DataFrame, people: pd.DataFrame, *, features: np.ndarray | None = None
) -> None:
    """Write ``celebrity2000.mat`` (MATLAB v7.3 = HDF5 with a MATLAB header) atomically.

    ``features`` (N, F) are stored as MATLAB does, transposed to (F, N).
    """
    if features is None:
        features = np.zeros((len(images), 0))
    temporary = path.with_name(f".{path.name}.part")
    with h5py.File(temporary, "w", userblock_size=512) as file:
        _write_struct(file, IMAGE_STRUCT, images, IMAGE_FIELDS, {"feature": np.asarray(features).T})
        _write_struct(file, PEOPLE_STRUCT, people, PEOPLE_FIELDS, {})
    header = (
        _header_text("7.3", " HDF5 schema 1.00 .")
        + b"\0" * 8
        + (0x0200).to_bytes(2, "little")
        + b"IM"
    )
    with temporary.open("r+b") as file:
        file.write(header.ljust(512, b"\0"))  # the user block HDF5 leaves for it
    os.replace(temporary, path)
