"""Alternatives and mistakes of a4_age (see grading_corpus)."""

from grading_corpus import Alternative, Mistake

# --- load_cacd_meta ------------------------------------------------------------------------

META_H5PY_IS_HDF5 = '''
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io

COLUMNS = ["age", "identity", "year", "rank", "lfw", "birth", "name"]


def load_cacd_meta(path: str | Path) -> pd.DataFrame:
    """One row per image of a CACD .mat file (v5 or v7.3): columns ``META_COLUMNS``, file order,
    numbers as int64 and names as str."""
    columns = {}
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as file:
            struct = file["celebrityImageData"]
            for key in COLUMNS[:-1]:
                columns[key] = np.asarray(struct[key]).ravel().astype(np.int64)
            columns["name"] = [
                "".join(chr(code) for code in np.asarray(file[ref]).ravel())
                for ref in np.asarray(struct["name"]).ravel()
            ]
    else:
        data = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
        struct = data["celebrityImageData"]
        for key in COLUMNS[:-1]:
            columns[key] = np.atleast_1d(getattr(struct, key)).astype(np.int64)
        columns["name"] = [str(name) for name in np.atleast_1d(struct.name)]
    return pd.DataFrame(columns, columns=COLUMNS)
'''

META_HELPERS_OBJECT_NAMES = '''
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io

from course_lib.data.cacd import META_COLUMNS, image_struct, mat_version


def _decode(codes: np.ndarray) -> str:
    return codes.astype("<u2").tobytes().decode("utf-16-le")


def load_cacd_meta(path: str | Path) -> pd.DataFrame:
    """One row per image of a CACD .mat file (v5 or v7.3): columns ``META_COLUMNS``, file order,
    numbers as int64 and names as str."""
    table = pd.DataFrame()
    if mat_version(path) == "7.3":
        with h5py.File(path, "r") as file:
            struct = image_struct(path, file)
            for key in META_COLUMNS[:-1]:
                table[key] = pd.Series(struct[key][0, :], dtype="int64")
            refs = struct["name"][0, :]
            names = [_decode(file[ref][:, 0]) for ref in refs]
    else:
        struct = image_struct(path, scipy.io.loadmat(path))
        for key in META_COLUMNS[:-1]:
            table[key] = pd.Series(struct[key][:, 0], dtype="int64")
        names = [cell[0] for cell in struct["name"][:, 0]]
    table["name"] = pd.Series(names, dtype=object)
    return table
'''

META_NAMES_AS_ARRAYS = '''
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io

from course_lib.data.cacd import META_COLUMNS, image_struct, mat_version


def load_cacd_meta(path: str | Path) -> pd.DataFrame:
    """One row per image of a CACD .mat file (v5 or v7.3): columns ``META_COLUMNS``, file order,
    numbers as int64 and names as str."""
    if mat_version(path) == "7.3":
        with h5py.File(path, "r") as file:
            struct = image_struct(path, file)
            table = {key: struct[key][0].astype(np.int64) for key in META_COLUMNS[:-1]}
            table["name"] = [
                file[ref][()].astype("<u2").tobytes().decode("utf-16-le")
                for ref in struct["name"][0]
            ]
    else:
        struct = image_struct(path, scipy.io.loadmat(path))
        table = {key: struct[key][:, 0].astype(np.int64) for key in META_COLUMNS[:-1]}
        table["name"] = list(struct["name"][:, 0])  # each cell is still a (1,) array
    return pd.DataFrame(table)
'''

META_V73_FLOATS = '''
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io

from course_lib.data.cacd import META_COLUMNS, image_struct, mat_version


def load_cacd_meta(path: str | Path) -> pd.DataFrame:
    """One row per image of a CACD .mat file (v5 or v7.3): columns ``META_COLUMNS``, file order,
    numbers as int64 and names as str."""
    if mat_version(path) == "7.3":
        with h5py.File(path, "r") as file:
            struct = image_struct(path, file)
            table = {key: struct[key][0] for key in META_COLUMNS[:-1]}  # still doubles
            table["name"] = [
                file[ref][()].astype("<u2").tobytes().decode("utf-16-le")
                for ref in struct["name"][0]
            ]
    else:
        struct = image_struct(path, scipy.io.loadmat(path))
        table = {key: struct[key][:, 0].astype(np.int64) for key in META_COLUMNS[:-1]}
        table["name"] = [str(cell[0]) for cell in struct["name"][:, 0]]
    return pd.DataFrame(table)
'''

META_V5_UINT = '''
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io

from course_lib.data.cacd import META_COLUMNS, image_struct, mat_version


def load_cacd_meta(path: str | Path) -> pd.DataFrame:
    """One row per image of a CACD .mat file (v5 or v7.3): columns ``META_COLUMNS``, file order,
    numbers as int64 and names as str."""
    if mat_version(path) == "7.3":
        with h5py.File(path, "r") as file:
            struct = image_struct(path, file)
            table = {key: struct[key][0].astype(np.int64) for key in META_COLUMNS[:-1]}
            table["name"] = [
                file[ref][()].astype("<u2").tobytes().decode("utf-16-le")
                for ref in struct["name"][0]
            ]
    else:
        struct = image_struct(path, scipy.io.loadmat(path))
        table = {key: struct[key][:, 0] for key in META_COLUMNS[:-1]}  # uint8 / uint16 as stored
        table["name"] = [str(cell[0]) for cell in struct["name"][:, 0]]
    return pd.DataFrame(table)
'''

META_NAMES_AS_BYTES = '''
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io

from course_lib.data.cacd import META_COLUMNS, image_struct, mat_version


def load_cacd_meta(path: str | Path) -> pd.DataFrame:
    """One row per image of a CACD .mat file (v5 or v7.3): columns ``META_COLUMNS``, file order,
    numbers as int64 and names as str."""
    if mat_version(path) == "7.3":
        with h5py.File(path, "r") as file:
            struct = image_struct(path, file)
            table = {key: struct[key][0].astype(np.int64) for key in META_COLUMNS[:-1]}
            # one byte per character: drops the high byte of every UTF-16 code
            table["name"] = [
                file[ref][()].ravel().astype(np.uint8).tobytes().decode("latin-1")
                for ref in struct["name"][0]
            ]
    else:
        struct = image_struct(path, scipy.io.loadmat(path))
        table = {key: struct[key][:, 0].astype(np.int64) for key in META_COLUMNS[:-1]}
        table["name"] = [str(cell[0]) for cell in struct["name"][:, 0]]
    return pd.DataFrame(table)
'''

META_SORTED_COLUMNS = '''
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io

from course_lib.data.cacd import META_COLUMNS, image_struct, mat_version


def load_cacd_meta(path: str | Path) -> pd.DataFrame:
    """One row per image of a CACD .mat file (v5 or v7.3): columns ``META_COLUMNS``, file order,
    numbers as int64 and names as str."""
    if mat_version(path) == "7.3":
        with h5py.File(path, "r") as file:
            struct = image_struct(path, file)
            table = {key: struct[key][0].astype(np.int64) for key in META_COLUMNS[:-1]}
            table["name"] = [
                file[ref][()].astype("<u2").tobytes().decode("utf-16-le")
                for ref in struct["name"][0]
            ]
    else:
        struct = image_struct(path, scipy.io.loadmat(path))
        table = {key: struct[key][:, 0].astype(np.int64) for key in META_COLUMNS[:-1]}
        table["name"] = [str(cell[0]) for cell in struct["name"][:, 0]]
    return pd.DataFrame(table).sort_index(axis=1)
'''

# --- age_group -----------------------------------------------------------------------------

AGE_MATH_FLOOR = '''
import math


def age_group(age: float) -> str:
    """The decade folder of an age: 23 -> "20s", 100 and over -> "100s"."""
    decade = min(math.floor(age / 10) * 10, 100)
    return f"{decade}s"
'''

AGE_DIVMOD = '''
def age_group(age: float) -> str:
    """The decade folder of an age: 23 -> "20s", 100 and over -> "100s"."""
    if age >= 100:
        return "100s"
    tens, _ = divmod(int(age), 10)
    return str(tens * 10) + "s"
'''

AGE_ROUND = '''
def age_group(age: float) -> str:
    """The decade folder of an age: 23 -> "20s", 100 and over -> "100s"."""
    decade = min(int(round(age)) // 10 * 10, 100)
    return f"{decade}s"
'''

AGE_NO_CAP = '''
def age_group(age: float) -> str:
    """The decade folder of an age: 23 -> "20s", 100 and over -> "100s"."""
    return f"{int(age) // 10 * 10}s"
'''

AGE_OFF_BY_ONE = '''
def age_group(age: float) -> str:
    """The decade folder of an age: 23 -> "20s", 100 and over -> "100s"."""
    if age > 100:
        return "100s"
    return f"{int(age - 1) // 10 * 10}s"  # 10 -> "0s", 20 -> "10s"
'''

AGE_CAP_90 = '''
def age_group(age: float) -> str:
    """The decade folder of an age: 23 -> "20s", 100 and over -> "100s"."""
    return f"{min(int(age) // 10, 9) * 10}s"
'''

# --- select_per_group ----------------------------------------------------------------------

SELECT_MASKS = '''
import numpy as np
import pandas as pd


def select_per_group(
    meta: pd.DataFrame, *, per_group: int = 200, seed: int = 0
) -> dict[str, list[str]]:
    """At most ``per_group`` image names per age group, groups by ascending age.

    One ``np.random.default_rng(seed)`` serves all groups in that order: for a group of n images
    (in file order) keep the first ``per_group`` of ``rng.permutation(n)``, listed in file order.
    """
    rng = np.random.default_rng(seed)
    ages = meta["age"].to_numpy()
    decades = np.where(ages >= 100, 100, ages // 10 * 10).astype(int)
    names = meta["name"].to_numpy()
    chosen = {}
    for decade in np.unique(decades):  # ascending
        members = np.flatnonzero(decades == decade)  # file order
        keep = np.sort(rng.permutation(len(members))[:per_group])
        chosen[f"{decade}s"] = [str(name) for name in names[members[keep]]]
    return chosen
'''

SELECT_GROUPBY = '''
import numpy as np
import pandas as pd


def _group(age: float) -> str:
    return f"{min(int(age) // 10, 10) * 10}s"


def select_per_group(
    meta: pd.DataFrame, *, per_group: int = 200, seed: int = 0
) -> dict[str, list[str]]:
    """At most ``per_group`` image names per age group, groups by ascending age.

    One ``np.random.default_rng(seed)`` serves all groups in that order: for a group of n images
    (in file order) keep the first ``per_group`` of ``rng.permutation(n)``, listed in file order.
    """
    rng = np.random.default_rng(seed)
    groups = meta.groupby(meta["age"].map(_group), sort=False)["name"]
    result = {}
    for group in sorted(groups.groups, key=lambda name: int(name[:-1])):
        names = groups.get_group(group).tolist()
        picked = set(rng.permutation(len(names))[:per_group].tolist())
        result[group] = [name for index, name in enumerate(names) if index in picked]
    return result
'''

SELECT_RNG_PER_GROUP = '''
import numpy as np
import pandas as pd


def select_per_group(
    meta: pd.DataFrame, *, per_group: int = 200, seed: int = 0
) -> dict[str, list[str]]:
    """At most ``per_group`` image names per age group, groups by ascending age.

    One ``np.random.default_rng(seed)`` serves all groups in that order: for a group of n images
    (in file order) keep the first ``per_group`` of ``rng.permutation(n)``, listed in file order.
    """
    decades = (meta["age"].to_numpy() // 10 * 10).clip(max=100)
    names = meta["name"].to_numpy()
    chosen = {}
    for decade in sorted(set(decades.tolist())):
        rng = np.random.default_rng(seed)  # a fresh generator for every group
        members = np.flatnonzero(decades == decade)
        keep = np.sort(rng.permutation(len(members))[:per_group])
        chosen[f"{decade}s"] = names[members[keep]].tolist()
    return chosen
'''

SELECT_PERMUTATION_ORDER = '''
import numpy as np
import pandas as pd


def select_per_group(
    meta: pd.DataFrame, *, per_group: int = 200, seed: int = 0
) -> dict[str, list[str]]:
    """At most ``per_group`` image names per age group, groups by ascending age.

    One ``np.random.default_rng(seed)`` serves all groups in that order: for a group of n images
    (in file order) keep the first ``per_group`` of ``rng.permutation(n)``, listed in file order.
    """
    rng = np.random.default_rng(seed)
    decades = (meta["age"].to_numpy() // 10 * 10).clip(max=100)
    names = meta["name"].to_numpy()
    chosen = {}
    for decade in sorted(set(decades.tolist())):
        members = np.flatnonzero(decades == decade)
        keep = rng.permutation(len(members))[:per_group]  # left in shuffled order
        chosen[f"{decade}s"] = names[members[keep]].tolist()
    return chosen
'''

SELECT_CHOICE = '''
import numpy as np
import pandas as pd


def select_per_group(
    meta: pd.DataFrame, *, per_group: int = 200, seed: int = 0
) -> dict[str, list[str]]:
    """At most ``per_group`` image names per age group, groups by ascending age.

    One ``np.random.default_rng(seed)`` serves all groups in that order: for a group of n images
    (in file order) keep the first ``per_group`` of ``rng.permutation(n)``, listed in file order.
    """
    rng = np.random.default_rng(seed)
    decades = (meta["age"].to_numpy() // 10 * 10).clip(max=100)
    names = meta["name"].to_numpy()
    chosen = {}
    for decade in sorted(set(decades.tolist())):
        members = np.flatnonzero(decades == decade)
        size = min(per_group, len(members))
        keep = np.sort(rng.choice(len(members), size=size, replace=False))
        chosen[f"{decade}s"] = names[members[keep]].tolist()
    return chosen
'''

SELECT_SKIP_SMALL_GROUPS = '''
import numpy as np
import pandas as pd


def select_per_group(
    meta: pd.DataFrame, *, per_group: int = 200, seed: int = 0
) -> dict[str, list[str]]:
    """At most ``per_group`` image names per age group, groups by ascending age.

    One ``np.random.default_rng(seed)`` serves all groups in that order: for a group of n images
    (in file order) keep the first ``per_group`` of ``rng.permutation(n)``, listed in file order.
    """
    rng = np.random.default_rng(seed)
    decades = (meta["age"].to_numpy() // 10 * 10).clip(max=100)
    names = meta["name"].to_numpy()
    chosen = {}
    for decade in sorted(set(decades.tolist())):
        members = np.flatnonzero(decades == decade)
        if len(members) > per_group:  # small groups are kept whole without drawing
            members = members[np.sort(rng.permutation(len(members))[:per_group])]
        chosen[f"{decade}s"] = names[members].tolist()
    return chosen
'''

SELECT_ALPHABETICAL = '''
import numpy as np
import pandas as pd


def select_per_group(
    meta: pd.DataFrame, *, per_group: int = 200, seed: int = 0
) -> dict[str, list[str]]:
    """At most ``per_group`` image names per age group, groups by ascending age.

    One ``np.random.default_rng(seed)`` serves all groups in that order: for a group of n images
    (in file order) keep the first ``per_group`` of ``rng.permutation(n)``, listed in file order.
    """
    rng = np.random.default_rng(seed)
    groups = [f"{min(int(age) // 10, 10) * 10}s" for age in meta["age"]]
    names = meta["name"].tolist()
    chosen = {}
    for group in sorted(set(groups)):  # "100s" sorts before "20s"
        members = [i for i, g in enumerate(groups) if g == group]
        keep = sorted(rng.permutation(len(members))[:per_group])
        chosen[group] = [names[members[i]] for i in keep]
    return chosen
'''

# --- stratified_split_indices --------------------------------------------------------------

SPLIT_SHUFFLE_SPLIT = '''
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedShuffleSplit


def stratified_split_indices(
    labels: Sequence[int], *, test_size: float = 0.2, seed: int = 42
) -> tuple[list[int], list[int]]:
    """(train, test) indices keeping each class's share, as sklearn's ``train_test_split``."""
    labels = np.asarray(labels)
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train, test = next(splitter.split(np.zeros(len(labels)), labels))
    return train.tolist(), test.tolist()
'''

SPLIT_ARANGE = '''
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split


def stratified_split_indices(
    labels: Sequence[int], *, test_size: float = 0.2, seed: int = 42
) -> tuple[list[int], list[int]]:
    """(train, test) indices keeping each class's share, as sklearn's ``train_test_split``."""
    train, test = train_test_split(
        np.arange(len(labels)), test_size=test_size, stratify=list(labels), random_state=seed
    )
    return [int(i) for i in train], [int(i) for i in test]
'''

SPLIT_ARRAYS = '''
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split


def stratified_split_indices(
    labels: Sequence[int], *, test_size: float = 0.2, seed: int = 42
) -> tuple[list[int], list[int]]:
    """(train, test) indices keeping each class's share, as sklearn's ``train_test_split``."""
    return tuple(
        train_test_split(
            np.arange(len(labels)), test_size=test_size, stratify=labels, random_state=seed
        )
    )
'''

SPLIT_NOT_STRATIFIED = '''
from collections.abc import Sequence

from sklearn.model_selection import train_test_split


def stratified_split_indices(
    labels: Sequence[int], *, test_size: float = 0.2, seed: int = 42
) -> tuple[list[int], list[int]]:
    """(train, test) indices keeping each class's share, as sklearn's ``train_test_split``."""
    train, test = train_test_split(
        list(range(len(labels))), test_size=test_size, random_state=seed
    )
    return list(train), list(test)
'''

SPLIT_SWAPPED = '''
from collections.abc import Sequence

from sklearn.model_selection import train_test_split


def stratified_split_indices(
    labels: Sequence[int], *, test_size: float = 0.2, seed: int = 42
) -> tuple[list[int], list[int]]:
    """(train, test) indices keeping each class's share, as sklearn's ``train_test_split``."""
    test, train = train_test_split(
        list(range(len(labels))), test_size=test_size, stratify=labels, random_state=seed
    )
    return list(train), list(test)
'''

SPLIT_SORTED = '''
from collections.abc import Sequence

from sklearn.model_selection import train_test_split


def stratified_split_indices(
    labels: Sequence[int], *, test_size: float = 0.2, seed: int = 42
) -> tuple[list[int], list[int]]:
    """(train, test) indices keeping each class's share, as sklearn's ``train_test_split``."""
    train, test = train_test_split(
        list(range(len(labels))), test_size=test_size, stratify=labels, random_state=seed
    )
    return sorted(train), sorted(test)
'''

# --- replace_last_linear -------------------------------------------------------------------

LINEAR_WALK_PATH = '''
from torch import nn


def replace_last_linear(
    model: nn.Module, num_classes: int, *, path: str = "classifier.2"
) -> nn.Module:
    """Replace the ``nn.Linear`` at ``path`` (ConvNeXt: ``classifier.2``) by a new one with the
    same inputs and ``num_classes`` outputs (default initialisation); return the model."""
    *parents, last = path.split(".")
    parent = model
    for name in parents:
        parent = getattr(parent, name)
    old = getattr(parent, last)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"expected an nn.Linear at {path!r}, found {type(old).__name__}")
    new = nn.Linear(
        old.in_features,
        num_classes,
        bias=old.bias is not None,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
    setattr(parent, last, new)
    return model
'''

LINEAR_GET_SUBMODULE = '''
from torch import nn


def replace_last_linear(
    model: nn.Module, num_classes: int, *, path: str = "classifier.2"
) -> nn.Module:
    """Replace the ``nn.Linear`` at ``path`` (ConvNeXt: ``classifier.2``) by a new one with the
    same inputs and ``num_classes`` outputs (default initialisation); return the model."""
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path)
    old = parent.get_submodule(name)
    if type(old) is not nn.Linear:
        raise TypeError(f"{path} is a {type(old).__name__}, not an nn.Linear")
    layer = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    parent.register_module(name, layer.to(old.weight.device, old.weight.dtype))
    return model
'''

LINEAR_ALWAYS_BIAS = '''
from torch import nn


def replace_last_linear(
    model: nn.Module, num_classes: int, *, path: str = "classifier.2"
) -> nn.Module:
    """Replace the ``nn.Linear`` at ``path`` (ConvNeXt: ``classifier.2``) by a new one with the
    same inputs and ``num_classes`` outputs (default initialisation); return the model."""
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path)
    old = getattr(parent, name)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"expected an nn.Linear at {path!r}, found {type(old).__name__}")
    new = nn.Linear(old.in_features, num_classes)
    setattr(parent, name, new.to(old.weight.device, old.weight.dtype))
    return model
'''

LINEAR_DEFAULT_DTYPE = '''
from torch import nn


def replace_last_linear(
    model: nn.Module, num_classes: int, *, path: str = "classifier.2"
) -> nn.Module:
    """Replace the ``nn.Linear`` at ``path`` (ConvNeXt: ``classifier.2``) by a new one with the
    same inputs and ``num_classes`` outputs (default initialisation); return the model."""
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path)
    old = getattr(parent, name)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"expected an nn.Linear at {path!r}, found {type(old).__name__}")
    setattr(parent, name, nn.Linear(old.in_features, num_classes, bias=old.bias is not None))
    return model
'''

LINEAR_HARD_CODED = '''
from torch import nn


def replace_last_linear(
    model: nn.Module, num_classes: int, *, path: str = "classifier.2"
) -> nn.Module:
    """Replace the ``nn.Linear`` at ``path`` (ConvNeXt: ``classifier.2``) by a new one with the
    same inputs and ``num_classes`` outputs (default initialisation); return the model."""
    old = model.classifier[2]  # the ConvNeXt layout, whatever path says
    if not isinstance(old, nn.Linear):
        raise TypeError(f"expected an nn.Linear, found {type(old).__name__}")
    model.classifier[2] = nn.Linear(
        old.in_features, num_classes, bias=old.bias is not None, dtype=old.weight.dtype
    )
    return model
'''

LINEAR_NO_TYPE_CHECK = '''
from torch import nn


def replace_last_linear(
    model: nn.Module, num_classes: int, *, path: str = "classifier.2"
) -> nn.Module:
    """Replace the ``nn.Linear`` at ``path`` (ConvNeXt: ``classifier.2``) by a new one with the
    same inputs and ``num_classes`` outputs (default initialisation); return the model."""
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path)
    old = getattr(parent, name)
    weight = next(old.parameters())
    in_features = getattr(old, "in_features", weight.shape[-1])
    has_bias = getattr(old, "bias", None) is not None
    new = nn.Linear(in_features, num_classes, bias=has_bias)
    setattr(parent, name, new.to(weight.device, weight.dtype))
    return model
'''

LINEAR_OUT_AS_IN = '''
from torch import nn


def replace_last_linear(
    model: nn.Module, num_classes: int, *, path: str = "classifier.2"
) -> nn.Module:
    """Replace the ``nn.Linear`` at ``path`` (ConvNeXt: ``classifier.2``) by a new one with the
    same inputs and ``num_classes`` outputs (default initialisation); return the model."""
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path)
    old = getattr(parent, name)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"expected an nn.Linear at {path!r}, found {type(old).__name__}")
    new = nn.Linear(old.out_features, num_classes, bias=old.bias is not None)
    setattr(parent, name, new.to(old.weight.device, old.weight.dtype))
    return model
'''

# --- confusion_matrix ----------------------------------------------------------------------

CONFUSION_INDEX_PUT = '''
import torch
from torch import Tensor


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Counts (C, C) int64: entry ``[actual, predicted]``, so each row is one actual class."""
    preds, targets = preds.reshape(-1).long(), targets.reshape(-1).long()
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=preds.device)
    ones = torch.ones_like(preds)
    return matrix.index_put_((targets, preds), ones, accumulate=True)
'''

CONFUSION_LOOP = '''
import torch
from torch import Tensor


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Counts (C, C) int64: entry ``[actual, predicted]``, so each row is one actual class."""
    matrix = torch.zeros((num_classes, num_classes), dtype=torch.long)
    for actual, predicted in zip(targets.tolist(), preds.tolist()):
        matrix[actual, predicted] += 1
    return matrix
'''

CONFUSION_ONE_HOT = '''
import torch
import torch.nn.functional as F
from torch import Tensor


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Counts (C, C) int64: entry ``[actual, predicted]``, so each row is one actual class."""
    actual = F.one_hot(targets.flatten().long(), num_classes)  # (N, C)
    predicted = F.one_hot(preds.flatten().long(), num_classes)  # (N, C)
    return (actual.T.double() @ predicted.double()).round().to(torch.int64)
'''

CONFUSION_TRANSPOSED = '''
import torch
from torch import Tensor


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Counts (C, C) int64: entry ``[actual, predicted]``, so each row is one actual class."""
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    preds, targets = preds.long(), targets.long()
    matrix.index_put_((preds, targets), torch.ones_like(preds), accumulate=True)
    return matrix
'''

CONFUSION_BINCOUNT = '''
import torch
from torch import Tensor


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Counts (C, C) int64: entry ``[actual, predicted]``, so each row is one actual class."""
    pairs = targets.long() * num_classes + preds.long()  # (N,)
    counts = torch.bincount(pairs, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
'''

CONFUSION_NO_MINLENGTH = '''
import torch
from torch import Tensor


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Counts (C, C) int64: entry ``[actual, predicted]``, so each row is one actual class."""
    pairs = targets.flatten().long() * num_classes + preds.flatten().long()
    return torch.bincount(pairs).reshape(num_classes, num_classes)
'''

CONFUSION_FLOAT = '''
import torch
from torch import Tensor


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Counts (C, C) int64: entry ``[actual, predicted]``, so each row is one actual class."""
    matrix = torch.zeros(num_classes, num_classes)  # float32 counts
    matrix.index_put_((targets, preds), torch.ones(len(preds)), accumulate=True)
    return matrix
'''

CONFUSION_NO_ACCUMULATE = '''
import torch
from torch import Tensor


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Counts (C, C) int64: entry ``[actual, predicted]``, so each row is one actual class."""
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    matrix[targets, preds] += 1  # repeated pairs are counted once
    return matrix
'''

# --- normalize_per_class -------------------------------------------------------------------

NORMALIZE_F_NORMALIZE = '''
import torch.nn.functional as F
from torch import Tensor


def normalize_per_class(matrix: Tensor) -> Tensor:
    """Divide each row (one actual class) by its sum so rows sum to 1; empty rows stay 0."""
    return F.normalize(matrix.float(), p=1, dim=1)
'''

NORMALIZE_WHERE_DOUBLE = '''
import torch
from torch import Tensor


def normalize_per_class(matrix: Tensor) -> Tensor:
    """Divide each row (one actual class) by its sum so rows sum to 1; empty rows stay 0."""
    matrix = matrix.double()
    sums = matrix.sum(dim=1, keepdim=True)
    safe = torch.where(sums > 0, sums, torch.ones_like(sums))
    return torch.where(sums > 0, matrix / safe, torch.zeros_like(matrix))
'''

NORMALIZE_NAN_TO_NUM = '''
import torch
from torch import Tensor


def normalize_per_class(matrix: Tensor) -> Tensor:
    """Divide each row (one actual class) by its sum so rows sum to 1; empty rows stay 0."""
    if not matrix.is_floating_point():
        matrix = matrix.to(torch.get_default_dtype())
    return torch.nan_to_num(matrix / matrix.sum(dim=1, keepdim=True), nan=0.0)
'''

NORMALIZE_COLUMNS = '''
import torch
from torch import Tensor


def normalize_per_class(matrix: Tensor) -> Tensor:
    """Divide each row (one actual class) by its sum so rows sum to 1; empty rows stay 0."""
    sums = matrix.sum(dim=0, keepdim=True).float()
    return torch.nan_to_num(matrix.float() / sums, nan=0.0)
'''

NORMALIZE_NAN_ROWS = '''
from torch import Tensor


def normalize_per_class(matrix: Tensor) -> Tensor:
    """Divide each row (one actual class) by its sum so rows sum to 1; empty rows stay 0."""
    return matrix.float() / matrix.sum(dim=1, keepdim=True)
'''

NORMALIZE_INTEGER_DIVISION = '''
from torch import Tensor


def normalize_per_class(matrix: Tensor) -> Tensor:
    """Divide each row (one actual class) by its sum so rows sum to 1; empty rows stay 0."""
    return matrix // matrix.sum(dim=1, keepdim=True).clamp(min=1)
'''

NORMALIZE_NO_KEEPDIM = '''
import torch
from torch import Tensor


def normalize_per_class(matrix: Tensor) -> Tensor:
    """Divide each row (one actual class) by its sum so rows sum to 1; empty rows stay 0."""
    sums = matrix.sum(dim=1).float()  # (C,) broadcasts along the rows: divides columns
    return torch.nan_to_num(matrix.float() / sums, nan=0.0, posinf=0.0)
'''

ALTERNATIVES: list[Alternative] = [
    Alternative("load_cacd_meta", "h5py-is-hdf5-squeeze-me", META_H5PY_IS_HDF5),
    Alternative("load_cacd_meta", "helpers-object-names", META_HELPERS_OBJECT_NAMES),
    Alternative("age_group", "math-floor-min", AGE_MATH_FLOOR),
    Alternative("age_group", "divmod", AGE_DIVMOD),
    Alternative("select_per_group", "numpy-masks", SELECT_MASKS),
    Alternative("select_per_group", "groupby-set", SELECT_GROUPBY),
    Alternative("stratified_split_indices", "stratified-shuffle-split", SPLIT_SHUFFLE_SPLIT),
    Alternative("stratified_split_indices", "arange-int-lists", SPLIT_ARANGE),
    Alternative("replace_last_linear", "walk-path-setattr", LINEAR_WALK_PATH),
    Alternative("replace_last_linear", "get-submodule-register", LINEAR_GET_SUBMODULE),
    Alternative("confusion_matrix", "index-put-accumulate", CONFUSION_INDEX_PUT),
    Alternative("confusion_matrix", "python-loop", CONFUSION_LOOP),
    Alternative("confusion_matrix", "one-hot-matmul", CONFUSION_ONE_HOT),
    Alternative("confusion_matrix", "bincount", CONFUSION_BINCOUNT),
    Alternative("normalize_per_class", "f-normalize-l1-float32", NORMALIZE_F_NORMALIZE),
    Alternative("normalize_per_class", "where-float64", NORMALIZE_WHERE_DOUBLE),
    Alternative("normalize_per_class", "nan-to-num-keep-float", NORMALIZE_NAN_TO_NUM),
]

MISTAKES: list[Mistake] = [
    Mistake(
        "load_cacd_meta",
        "names-as-arrays",
        META_NAMES_AS_ARRAYS,
        "MATLAB v5 metadata",
        "expected str values, got numpy.ndarray",
    ),
    Mistake(
        "load_cacd_meta",
        "v73-floats",
        META_V73_FLOATS,
        "MATLAB v7.3 metadata (HDF5, UTF-16 names)",
        "expected int64, got float64",
    ),
    Mistake(
        "load_cacd_meta",
        "v5-unsigned",
        META_V5_UINT,
        "MATLAB v5 metadata",
        "expected int64, got uint8",
    ),
    Mistake(
        "load_cacd_meta",
        "names-as-bytes",
        META_NAMES_AS_BYTES,
        "MATLAB v7.3 metadata (HDF5, UTF-16 names)",
        "decoded wrongly",
    ),
    Mistake(
        "load_cacd_meta",
        "sorted-columns",
        META_SORTED_COLUMNS,
        "MATLAB v5 metadata",
        "in this order, got",
    ),
    Mistake("age_group", "round", AGE_ROUND, "decades, 100 and over", "fractional ages round down"),
    Mistake(
        "age_group", "no-cap", AGE_NO_CAP, "decades, 100 and over", "100 and over all go to '100s'"
    ),
    Mistake(
        "age_group",
        "off-by-one",
        AGE_OFF_BY_ONE,
        "decades, 100 and over",
        "a decade starts at age // 10 * 10",
    ),
    Mistake(
        "age_group",
        "cap-at-90s",
        AGE_CAP_90,
        "decades, 100 and over",
        "100 and over all go to '100s'",
    ),
    Mistake(
        "select_per_group",
        "rng-per-group",
        SELECT_RNG_PER_GROUP,
        "at most 4 names per decade",
        "a new default_rng(seed) for every group",
    ),
    Mistake(
        "select_per_group",
        "permutation-order",
        SELECT_PERMUTATION_ORDER,
        "at most 4 names per decade",
        "not in file order",
    ),
    Mistake(
        "select_per_group",
        "rng-choice",
        SELECT_CHOICE,
        "at most 4 names per decade",
        "matches rng.choice",
    ),
    Mistake(
        "select_per_group",
        "skip-small-groups",
        SELECT_SKIP_SMALL_GROUPS,
        "at most 4 names per decade",
        "draw rng.permutation(n) for every group, also one smaller than per_group",
    ),
    Mistake(
        "select_per_group",
        "alphabetical-groups",
        SELECT_ALPHABETICAL,
        "at most 4 names per decade",
        "not as strings",
    ),
    Mistake(
        "stratified_split_indices",
        "not-stratified",
        SPLIT_NOT_STRATIFIED,
        "80/20 keeping class shares",
        "pass stratify=labels",
    ),
    Mistake(
        "stratified_split_indices",
        "train-test-swapped",
        SPLIT_SWAPPED,
        "80/20 keeping class shares",
        "the first list is the test part",
    ),
    Mistake(
        "stratified_split_indices",
        "numpy-arrays",
        SPLIT_ARRAYS,
        "80/20 keeping class shares",
        "expected a list, got numpy.ndarray",
    ),
    Mistake(
        "stratified_split_indices",
        "sorted-indices",
        SPLIT_SORTED,
        "80/20 keeping class shares",
        "do not sort them",
    ),
    Mistake(
        "replace_last_linear",
        "always-bias",
        LINEAR_ALWAYS_BIAS,
        "a head without bias gets none",
        "keep a bias exactly when the old layer had one",
    ),
    Mistake(
        "replace_last_linear",
        "default-dtype",
        LINEAR_DEFAULT_DTYPE,
        "another path, float64",
        "expected dtype float64",
    ),
    Mistake(
        "replace_last_linear",
        "hard-coded-path",
        LINEAR_HARD_CODED,
        "another path, float64",
        "use the `path` argument",
    ),
    Mistake(
        "replace_last_linear",
        "no-type-check",
        LINEAR_NO_TYPE_CHECK,
        "a LayerNorm at the path is a TypeError",
        "raise TypeError instead of replacing it",
    ),
    Mistake(
        "replace_last_linear",
        "out-features-as-inputs",
        LINEAR_OUT_AS_IN,
        "ConvNeXt head with 6 classes",
        "expected shape",
    ),
    Mistake(
        "confusion_matrix",
        "transposed",
        CONFUSION_TRANSPOSED,
        "rows are the actual classes",
        "the matrix is transposed",
    ),
    Mistake(
        "confusion_matrix",
        "bincount-no-minlength",
        CONFUSION_NO_MINLENGTH,
        "the last class without samples",
        "RuntimeError",
    ),
    Mistake(
        "confusion_matrix",
        "float-counts",
        CONFUSION_FLOAT,
        "rows are the actual classes",
        "expected dtype int64",
    ),
    Mistake(
        "confusion_matrix",
        "no-accumulate",
        CONFUSION_NO_ACCUMULATE,
        "rows are the actual classes",
        "count each (actual, predicted) pair once",
    ),
    Mistake(
        "normalize_per_class",
        "columns",
        NORMALIZE_COLUMNS,
        "rows sum to 1, empty rows stay 0",
        "are you normalising columns?",
    ),
    Mistake(
        "normalize_per_class",
        "nan-rows",
        NORMALIZE_NAN_ROWS,
        "rows sum to 1, empty rows stay 0",
        "a row without samples must stay 0",
    ),
    Mistake(
        "normalize_per_class",
        "integer-division",
        NORMALIZE_INTEGER_DIVISION,
        "rows sum to 1, empty rows stay 0",
        "integer division",
    ),
    Mistake(
        "normalize_per_class",
        "no-keepdim",
        NORMALIZE_NO_KEEPDIM,
        "rows sum to 1, empty rows stay 0",
        "keepdim=True",
    ),
]
