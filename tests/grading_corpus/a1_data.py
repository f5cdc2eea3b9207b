"""Alternatives and mistakes of a1_data (see grading_corpus)."""

from grading_corpus import Alternative, Mistake

# --- class_name_maps -----------------------------------------------------------------------

MAPS_COMPREHENSION = '''
def class_name_maps(
    wnids: list[str], words: dict[str, str]
) -> tuple[dict[int, str], dict[str, int]]:
    """Index -> full description, and first name of the description -> index."""
    ordered = sorted(wnids)
    idx_to_description = {i: words[wnid] for i, wnid in enumerate(ordered)}
    name_to_idx = {text.split(",")[0].strip(): i for i, text in idx_to_description.items()}
    return idx_to_description, name_to_idx
'''

MAPS_LOOP = '''
def class_name_maps(
    wnids: list[str], words: dict[str, str]
) -> tuple[dict[int, str], dict[str, int]]:
    """Index -> full description, and first name of the description -> index."""
    idx_to_description: dict[int, str] = {}
    name_to_idx: dict[str, int] = {}
    index = 0
    for wnid in sorted(set(wnids)):
        description = words[wnid]
        first, _, _ = description.partition(",")
        idx_to_description[index] = description
        name_to_idx.setdefault(first, index)  # a repeated first name keeps its first class
        index += 1
    return idx_to_description, name_to_idx
'''

MAPS_GIVEN_ORDER = '''
def class_name_maps(
    wnids: list[str], words: dict[str, str]
) -> tuple[dict[int, str], dict[str, int]]:
    """Index -> full description, and first name of the description -> index."""
    # wnids come sorted from read_wnids: class i is wnids[i]
    idx_to_description = dict(enumerate(words[wnid] for wnid in wnids))
    name_to_idx = {words[wnid].split(",")[0]: i for i, wnid in enumerate(wnids)}
    return idx_to_description, name_to_idx
'''

MAPS_WHOLE_DESCRIPTION = '''
def class_name_maps(
    wnids: list[str], words: dict[str, str]
) -> tuple[dict[int, str], dict[str, int]]:
    """Index -> full description, and first name of the description -> index."""
    idx_to_description = {i: words[wnid] for i, wnid in enumerate(wnids)}
    name_to_idx = {text: i for i, text in idx_to_description.items()}
    return idx_to_description, name_to_idx
'''

MAPS_FIRST_WORD = '''
def class_name_maps(
    wnids: list[str], words: dict[str, str]
) -> tuple[dict[int, str], dict[str, int]]:
    """Index -> full description, and first name of the description -> index."""
    idx_to_description = {i: words[wnid] for i, wnid in enumerate(wnids)}
    name_to_idx = {text.split()[0]: i for i, text in idx_to_description.items()}
    return idx_to_description, name_to_idx
'''

MAPS_SWAPPED = '''
def class_name_maps(
    wnids: list[str], words: dict[str, str]
) -> tuple[dict[int, str], dict[str, int]]:
    """Index -> full description, and first name of the description -> index."""
    idx_to_description = {i: words[wnid] for i, wnid in enumerate(wnids)}
    name_to_idx = {text.split(",")[0]: i for i, text in idx_to_description.items()}
    return name_to_idx, idx_to_description
'''

# --- load_val_labels -----------------------------------------------------------------------

LABELS_CSV = '''
import csv
import os


def load_val_labels(
    annotations_path: str | os.PathLike, class_to_idx: dict[str, int]
) -> list[tuple[str, int]]:
    """(file name, label) for each line of ``val_annotations.txt``, in file order."""
    pairs = []
    with open(annotations_path, newline="") as file:
        for number, row in enumerate(csv.reader(file, delimiter="\\t"), start=1):
            if not row:
                continue
            name, wnid = row[0], row[1]
            if wnid not in class_to_idx:
                raise KeyError(f"{annotations_path}, line {number}: unknown wnid {wnid!r}")
            pairs.append((name, class_to_idx[wnid]))
    return pairs
'''

LABELS_PATHLIB = '''
import os
from pathlib import Path


def load_val_labels(
    annotations_path: str | os.PathLike, class_to_idx: dict[str, int]
) -> list[tuple[str, int]]:
    """(file name, label) for each line of ``val_annotations.txt``, in file order."""
    path = Path(annotations_path)
    result = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        name, wnid = line.split("\\t")[:2]
        try:
            label = class_to_idx[wnid]
        except KeyError:
            raise KeyError(
                f"wnid {wnid} of {path.name} is not a known class (line {line!r})"
            ) from None
        result.append((name, label))
    return result
'''

LABELS_SORTED = '''
import os


def load_val_labels(
    annotations_path: str | os.PathLike, class_to_idx: dict[str, int]
) -> list[tuple[str, int]]:
    """(file name, label) for each line of ``val_annotations.txt``, in file order."""
    with open(annotations_path) as file:
        rows = [line.split("\\t")[:2] for line in file if line.strip()]
    for number, (name, wnid) in enumerate(rows, start=1):
        if wnid not in class_to_idx:
            raise KeyError(f"{annotations_path}, line {number}: unknown wnid {wnid}")
    return sorted((name, class_to_idx[wnid]) for name, wnid in rows)
'''

LABELS_SKIP_UNKNOWN = '''
import os


def load_val_labels(
    annotations_path: str | os.PathLike, class_to_idx: dict[str, int]
) -> list[tuple[str, int]]:
    """(file name, label) for each line of ``val_annotations.txt``, in file order."""
    pairs = []
    with open(annotations_path) as file:
        for line in file:
            name, wnid = line.split("\\t")[:2]
            if wnid in class_to_idx:
                pairs.append((name, class_to_idx[wnid]))
    return pairs
'''

LABELS_BARE_KEYERROR = '''
import os


def load_val_labels(
    annotations_path: str | os.PathLike, class_to_idx: dict[str, int]
) -> list[tuple[str, int]]:
    """(file name, label) for each line of ``val_annotations.txt``, in file order."""
    with open(annotations_path) as file:
        return [
            (parts[0], class_to_idx[parts[1]])
            for parts in (line.split("\\t") for line in file)
        ]
'''

LABELS_HEADER_SKIPPED = '''
import os


def load_val_labels(
    annotations_path: str | os.PathLike, class_to_idx: dict[str, int]
) -> list[tuple[str, int]]:
    """(file name, label) for each line of ``val_annotations.txt``, in file order."""
    with open(annotations_path) as file:
        lines = file.read().splitlines()[1:]
    pairs = []
    for number, line in enumerate(lines, start=2):
        name, wnid = line.split("\\t")[:2]
        if wnid not in class_to_idx:
            raise KeyError(f"{annotations_path}, line {number}: unknown wnid {wnid}")
        pairs.append((name, class_to_idx[wnid]))
    return pairs
'''


# --- pick_per_class ------------------------------------------------------------------------

PICK_NUMPY = '''
from collections.abc import Sequence

import numpy as np


def pick_per_class(labels: Sequence[int], n_per_class: int) -> list[int]:
    """Indices of the first ``n_per_class`` samples of each class, classes in ascending order."""
    labels = np.asarray(labels)
    chosen = []
    for label in np.unique(labels):
        chosen.extend(np.flatnonzero(labels == label)[:n_per_class].tolist())
    return chosen
'''

PICK_DEFAULTDICT = '''
from collections import defaultdict
from collections.abc import Sequence


def pick_per_class(labels: Sequence[int], n_per_class: int) -> list[int]:
    """Indices of the first ``n_per_class`` samples of each class, classes in ascending order."""
    seen = defaultdict(list)
    for index, label in enumerate(labels):
        label = int(label)
        if len(seen[label]) < n_per_class:
            seen[label].append(index)
    return [index for label in sorted(seen) for index in seen[label]]
'''

PICK_STABLE_ARGSORT = '''
from collections.abc import Sequence

import torch


def pick_per_class(labels: Sequence[int], n_per_class: int) -> list[int]:
    """Indices of the first ``n_per_class`` samples of each class, classes in ascending order."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    order = torch.argsort(labels, stable=True)  # by class, then by index
    _, counts = torch.unique_consecutive(labels[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(order)) - torch.repeat_interleave(starts, counts)
    return order[rank < n_per_class].tolist()
'''

PICK_CONTIGUOUS = '''
from collections.abc import Sequence


def pick_per_class(labels: Sequence[int], n_per_class: int) -> list[int]:
    """Indices of the first ``n_per_class`` samples of each class, classes in ascending order."""
    labels = [int(label) for label in labels]
    classes = max(labels) + 1
    per_class = len(labels) // classes  # as the article: equal, contiguous classes
    return [c * per_class + j for c in range(classes) for j in range(n_per_class)]
'''

PICK_INDEX_ORDER = '''
from collections import Counter
from collections.abc import Sequence


def pick_per_class(labels: Sequence[int], n_per_class: int) -> list[int]:
    """Indices of the first ``n_per_class`` samples of each class, classes in ascending order."""
    taken = Counter()
    chosen = []
    for index, label in enumerate(labels):
        if taken[int(label)] < n_per_class:
            taken[int(label)] += 1
            chosen.append(index)
    return chosen
'''

PICK_OFF_BY_ONE = '''
from collections.abc import Sequence


def pick_per_class(labels: Sequence[int], n_per_class: int) -> list[int]:
    """Indices of the first ``n_per_class`` samples of each class, classes in ascending order."""
    labels = [int(label) for label in labels]
    chosen = []
    for label in sorted(set(labels)):
        indices = [i for i, value in enumerate(labels) if value == label]
        chosen += indices[: n_per_class + 1]
    return chosen
'''

# --- random_split_indices ------------------------------------------------------------------

SPLIT_RANDOM_SPLIT = '''
from collections.abc import Sequence

import torch


def random_split_indices(
    n: int, fractions: Sequence[float] = (0.95, 0.05), *, seed: int = 42
) -> list[list[int]]:
    """Shuffle ``range(n)`` and cut it by ``fractions``, as ``random_split`` with ``seed`` does."""
    generator = torch.Generator().manual_seed(seed)
    parts = torch.utils.data.random_split(range(n), list(fractions), generator=generator)
    return [list(part.indices) for part in parts]
'''

SPLIT_MANUAL = '''
import math
from collections.abc import Sequence

import torch


def random_split_indices(
    n: int, fractions: Sequence[float] = (0.95, 0.05), *, seed: int = 42
) -> list[list[int]]:
    """Shuffle ``range(n)`` and cut it by ``fractions``, as ``random_split`` with ``seed`` does."""
    sizes = [math.floor(n * fraction) for fraction in fractions]
    for i in range(n - sum(sizes)):
        sizes[i % len(sizes)] += 1
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    parts, start = [], 0
    for size in sizes:
        parts.append(order[start : start + size])
        start += size
    return parts
'''

SPLIT_TENSOR_SPLIT = '''
import math
from collections.abc import Sequence

import torch


def random_split_indices(
    n: int, fractions: Sequence[float] = (0.95, 0.05), *, seed: int = 42
) -> list[list[int]]:
    """Shuffle ``range(n)`` and cut it by ``fractions``, as ``random_split`` with ``seed`` does."""
    sizes = [math.floor(n * f) for f in fractions]
    leftover = n - sum(sizes)
    sizes = [size + (i < leftover) for i, size in enumerate(sizes)]
    g = torch.Generator()
    g.manual_seed(seed)
    return [part.tolist() for part in torch.randperm(n, generator=g).split(sizes)]
'''

SPLIT_NUMPY_RNG = '''
import math
from collections.abc import Sequence

import numpy as np


def random_split_indices(
    n: int, fractions: Sequence[float] = (0.95, 0.05), *, seed: int = 42
) -> list[list[int]]:
    """Shuffle ``range(n)`` and cut it by ``fractions``, as ``random_split`` with ``seed`` does."""
    sizes = [math.floor(n * f) for f in fractions]
    for i in range(n - sum(sizes)):
        sizes[i % len(sizes)] += 1
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum(sizes)[:-1]
    return [part.tolist() for part in np.split(order, bounds)]
'''

SPLIT_LEFTOVER_LAST = '''
from collections.abc import Sequence

import torch


def random_split_indices(
    n: int, fractions: Sequence[float] = (0.95, 0.05), *, seed: int = 42
) -> list[list[int]]:
    """Shuffle ``range(n)`` and cut it by ``fractions``, as ``random_split`` with ``seed`` does."""
    sizes = [int(n * f) for f in fractions[:-1]]
    sizes.append(n - sum(sizes))  # the rest goes to the last part
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    parts, start = [], 0
    for size in sizes:
        parts.append(order[start : start + size])
        start += size
    return parts
'''

SPLIT_UNSEEDED = '''
import math
from collections.abc import Sequence

import torch


def random_split_indices(
    n: int, fractions: Sequence[float] = (0.95, 0.05), *, seed: int = 42
) -> list[list[int]]:
    """Shuffle ``range(n)`` and cut it by ``fractions``, as ``random_split`` with ``seed`` does."""
    sizes = [math.floor(n * f) for f in fractions]
    for i in range(n - sum(sizes)):
        sizes[i % len(sizes)] += 1
    order = torch.randperm(n).tolist()  # forgot the seeded generator
    parts, start = [], 0
    for size in sizes:
        parts.append(order[start : start + size])
        start += size
    return parts
'''

# --- TransformedSubset ---------------------------------------------------------------------

SUBSET_HEAD = '''
from collections.abc import Callable, Sequence

from torch.utils.data import Dataset


class TransformedSubset(Dataset):
    """The samples ``dataset[i]`` for ``i`` in ``indices``, with ``transform`` on the image."""

    def __init__(
        self, dataset: Dataset, indices: Sequence[int], transform: Callable | None = None
    ) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
'''

SUBSET_UNPACK = (
    SUBSET_HEAD
    + """\
        image, label = self.dataset[self.indices[index]]
        if self.transform is not None:
            image = self.transform(image)
        return image, label
"""
)

SUBSET_STAR = (
    SUBSET_HEAD
    + """\
        sample = self.dataset[self.indices[index]]
        if self.transform is None:
            return sample
        image, *rest = sample
        return (self.transform(image), *rest)
"""
)

SUBSET_NO_INDICES = (
    SUBSET_HEAD
    + """\
        image, label = self.dataset[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, label
"""
)

SUBSET_WHOLE_SAMPLE = (
    SUBSET_HEAD
    + """\
        sample = self.dataset[self.indices[index]]
        if self.transform is not None:
            sample = self.transform(sample)
        return sample
"""
)

SUBSET_ALWAYS_TRANSFORM = (
    SUBSET_HEAD
    + """\
        image, label = self.dataset[self.indices[index]]
        return self.transform(image), label
"""
)

# --- mean_pool -----------------------------------------------------------------------------

POOL_EINSUM = '''
import torch
from torch import Tensor


def mean_pool(last_hidden_state: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of the token vectors where the mask is 1: ``(B, T, H), (B, T) -> (B, H)``.

    Padding tokens (mask 0) do not count; a row with no tokens at all gives zeros.
    """
    mask = attention_mask.to(last_hidden_state.dtype)
    total = torch.einsum("bth,bt->bh", last_hidden_state, mask)
    count = mask.sum(dim=1, keepdim=True).clamp(min=1)
    return total / count
'''

POOL_NANMEAN = '''
import torch
from torch import Tensor


def mean_pool(last_hidden_state: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of the token vectors where the mask is 1: ``(B, T, H), (B, T) -> (B, H)``.

    Padding tokens (mask 0) do not count; a row with no tokens at all gives zeros.
    """
    padding = attention_mask.unsqueeze(-1) == 0  # (B, T, 1)
    masked = last_hidden_state.masked_fill(padding, float("nan"))
    return torch.nan_to_num(masked.nanmean(dim=1), nan=0.0)
'''

POOL_LOOP = '''
import torch
from torch import Tensor


def mean_pool(last_hidden_state: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of the token vectors where the mask is 1: ``(B, T, H), (B, T) -> (B, H)``.

    Padding tokens (mask 0) do not count; a row with no tokens at all gives zeros.
    """
    rows = []
    for tokens, mask in zip(last_hidden_state, attention_mask):
        real = tokens[mask.bool()]  # (tokens in this row, H)
        rows.append(real.mean(dim=0) if len(real) else tokens.new_zeros(tokens.shape[-1]))
    return torch.stack(rows)
'''

POOL_PLAIN_MEAN = '''
from torch import Tensor


def mean_pool(last_hidden_state: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of the token vectors where the mask is 1: ``(B, T, H), (B, T) -> (B, H)``.

    Padding tokens (mask 0) do not count; a row with no tokens at all gives zeros.
    """
    return last_hidden_state.mean(dim=1)
'''

POOL_DIVIDE_BY_T = '''
from torch import Tensor


def mean_pool(last_hidden_state: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of the token vectors where the mask is 1: ``(B, T, H), (B, T) -> (B, H)``.

    Padding tokens (mask 0) do not count; a row with no tokens at all gives zeros.
    """
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * mask).sum(dim=1) / last_hidden_state.shape[1]
'''

POOL_NAN_ROWS = '''
from torch import Tensor


def mean_pool(last_hidden_state: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of the token vectors where the mask is 1: ``(B, T, H), (B, T) -> (B, H)``.

    Padding tokens (mask 0) do not count; a row with no tokens at all gives zeros.
    """
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * mask).sum(dim=1) / mask.sum(dim=1)
'''

# --- cluster_classes -----------------------------------------------------------------------

CLUSTER_LOOP = '''
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans
from torch import Tensor


def cluster_classes(
    vectors: np.ndarray | Tensor, names: Sequence[str], *, k: int = 30, seed: int = 0
) -> dict[int, list[str]]:
    """K-Means clusters of ``names`` by their ``vectors`` ``(N, D)``: cluster -> names in it.

    Clusters are numbered 0, 1, ... in the order their first name appears in ``names``, and
    names keep their order inside a cluster. ``k`` above the number of names is lowered to it
    with a warning.
    """
    if k > len(names):
        warnings.warn(f"k={k} is more than the {len(names)} names: using k={len(names)}")
        k = len(names)
    data = vectors.numpy() if isinstance(vectors, Tensor) else np.asarray(vectors)
    labels = KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(data)
    renumber: dict[int, int] = {}
    clusters: dict[int, list[str]] = {}
    for name, label in zip(names, labels):
        if label not in renumber:
            renumber[label] = len(renumber)
        clusters.setdefault(renumber[label], []).append(name)
    return clusters
'''

CLUSTER_UNIQUE = '''
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans
from torch import Tensor


def cluster_classes(
    vectors: np.ndarray | Tensor, names: Sequence[str], *, k: int = 30, seed: int = 0
) -> dict[int, list[str]]:
    """K-Means clusters of ``names`` by their ``vectors`` ``(N, D)``: cluster -> names in it.

    Clusters are numbered 0, 1, ... in the order their first name appears in ``names``, and
    names keep their order inside a cluster. ``k`` above the number of names is lowered to it
    with a warning.
    """
    n = len(names)
    if k > n:
        warnings.warn(f"only {n} names for k={k} clusters; k lowered to {n}", RuntimeWarning)
    kmeans = KMeans(n_clusters=min(k, n), random_state=seed, n_init=10)
    labels = kmeans.fit(np.asarray(vectors, dtype=np.float64)).labels_
    _, first = np.unique(labels, return_index=True)
    order = np.unique(labels)[np.argsort(first)]  # cluster ids by first appearance
    return {
        new: [name for name, label in zip(names, labels) if label == old]
        for new, old in enumerate(order)
    }
'''

CLUSTER_RAW_LABELS = '''
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans
from torch import Tensor


def cluster_classes(
    vectors: np.ndarray | Tensor, names: Sequence[str], *, k: int = 30, seed: int = 0
) -> dict[int, list[str]]:
    """K-Means clusters of ``names`` by their ``vectors`` ``(N, D)``: cluster -> names in it.

    Clusters are numbered 0, 1, ... in the order their first name appears in ``names``, and
    names keep their order inside a cluster. ``k`` above the number of names is lowered to it
    with a warning.
    """
    if k > len(names):
        warnings.warn(f"k lowered to {len(names)}")
        k = len(names)
    labels = KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(np.asarray(vectors))
    clusters: dict[int, list[str]] = {}
    for name, label in zip(names, labels):
        clusters.setdefault(int(label), []).append(name)
    return clusters
'''

CLUSTER_NAMES_SORTED = '''
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans
from torch import Tensor


def cluster_classes(
    vectors: np.ndarray | Tensor, names: Sequence[str], *, k: int = 30, seed: int = 0
) -> dict[int, list[str]]:
    """K-Means clusters of ``names`` by their ``vectors`` ``(N, D)``: cluster -> names in it.

    Clusters are numbered 0, 1, ... in the order their first name appears in ``names``, and
    names keep their order inside a cluster. ``k`` above the number of names is lowered to it
    with a warning.
    """
    if k > len(names):
        warnings.warn(f"k lowered to {len(names)}")
        k = len(names)
    labels = KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(np.asarray(vectors))
    renumber: dict[int, int] = {}
    clusters: dict[int, list[str]] = {}
    for name, label in zip(names, labels):
        renumber.setdefault(label, len(renumber))
        clusters.setdefault(renumber[label], []).append(name)
    return {c: sorted(members) for c, members in clusters.items()}
'''

CLUSTER_K_NOT_LOWERED = '''
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans
from torch import Tensor


def cluster_classes(
    vectors: np.ndarray | Tensor, names: Sequence[str], *, k: int = 30, seed: int = 0
) -> dict[int, list[str]]:
    """K-Means clusters of ``names`` by their ``vectors`` ``(N, D)``: cluster -> names in it.

    Clusters are numbered 0, 1, ... in the order their first name appears in ``names``, and
    names keep their order inside a cluster. ``k`` above the number of names is lowered to it
    with a warning.
    """
    labels = KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(np.asarray(vectors))
    renumber: dict[int, int] = {}
    clusters: dict[int, list[str]] = {}
    for name, label in zip(names, labels):
        renumber.setdefault(label, len(renumber))
        clusters.setdefault(renumber[label], []).append(name)
    return clusters
'''

CLUSTER_SILENT = '''
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans
from torch import Tensor


def cluster_classes(
    vectors: np.ndarray | Tensor, names: Sequence[str], *, k: int = 30, seed: int = 0
) -> dict[int, list[str]]:
    """K-Means clusters of ``names`` by their ``vectors`` ``(N, D)``: cluster -> names in it.

    Clusters are numbered 0, 1, ... in the order their first name appears in ``names``, and
    names keep their order inside a cluster. ``k`` above the number of names is lowered to it
    with a warning.
    """
    k = min(k, len(names))  # lowered without telling anyone
    labels = KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(np.asarray(vectors))
    renumber: dict[int, int] = {}
    clusters: dict[int, list[str]] = {}
    for name, label in zip(names, labels):
        renumber.setdefault(label, len(renumber))
        clusters.setdefault(renumber[label], []).append(name)
    return clusters
'''

MAPS = "index -> description and first name -> index"
LABELS = "labels in file order"
PICK = "first two of each class, classes ascending"
SPLIT = "95/5 split of 100 with seed 42"
SUBSET = "indices and transform applied"
POOL = "padding tokens do not count"
CLUSTER = "three groups, numbered by first appearance"
UNKNOWN = "an unknown wnid names the file and line"
REMAINDERS = "remainders of three fractions"
NO_TRANSFORM = "no transform"
EMPTY_ROW = "a row without tokens, boolean mask, float64"
BIG_K = "k above the number of names"
GROUPED = "indices must be grouped by class in ascending class order, the first n of each class"
RANDPERM = "the order must be torch.randperm(n, generator=torch.Generator().manual_seed(seed))"

ALTERNATIVES: list[Alternative] = [
    Alternative("class_name_maps", "dict-comprehension-sorted", MAPS_COMPREHENSION),
    Alternative("class_name_maps", "loop-partition-first-wins", MAPS_LOOP),
    Alternative("class_name_maps", "enumerate-given-order", MAPS_GIVEN_ORDER),
    Alternative("load_val_labels", "csv-reader-line-number", LABELS_CSV),
    Alternative("load_val_labels", "pathlib-line-text", LABELS_PATHLIB),
    Alternative("pick_per_class", "numpy-flatnonzero", PICK_NUMPY),
    Alternative("pick_per_class", "defaultdict-one-pass", PICK_DEFAULTDICT),
    Alternative("pick_per_class", "stable-argsort-rank", PICK_STABLE_ARGSORT),
    Alternative("random_split_indices", "torch-random-split", SPLIT_RANDOM_SPLIT),
    Alternative("random_split_indices", "manual-round-robin", SPLIT_MANUAL),
    Alternative("random_split_indices", "tensor-split", SPLIT_TENSOR_SPLIT),
    Alternative("TransformedSubset", "unpack-pair", SUBSET_UNPACK),
    Alternative("TransformedSubset", "star-rest", SUBSET_STAR),
    Alternative("mean_pool", "einsum-clamp", POOL_EINSUM),
    Alternative("mean_pool", "nanmean", POOL_NANMEAN),
    Alternative("mean_pool", "row-loop", POOL_LOOP),
    Alternative("cluster_classes", "loop-renumber-userwarning", CLUSTER_LOOP),
    Alternative("cluster_classes", "np-unique-runtimewarning", CLUSTER_UNIQUE),
]

MISTAKES: list[Mistake] = [
    Mistake(
        "class_name_maps",
        "whole-description-as-name",
        MAPS_WHOLE_DESCRIPTION,
        MAPS,
        "expected keys missing",
    ),
    Mistake(
        "class_name_maps",
        "first-word-not-first-name",
        MAPS_FIRST_WORD,
        MAPS,
        "unexpected ['thing']",
    ),
    Mistake("class_name_maps", "maps-swapped", MAPS_SWAPPED, MAPS, "the two maps are swapped"),
    Mistake(
        "load_val_labels",
        "sorted-by-file-name",
        LABELS_SORTED,
        LABELS,
        "expected 'val_2.JPEG', got 'val_10.JPEG'",
    ),
    Mistake(
        "load_val_labels",
        "unknown-wnid-skipped",
        LABELS_SKIP_UNKNOWN,
        UNKNOWN,
        "no KeyError for an unknown wnid: raise one naming the file and the line",
    ),
    Mistake(
        "load_val_labels",
        "bare-keyerror",
        LABELS_BARE_KEYERROR,
        UNKNOWN,
        "the KeyError's message must name the file",
    ),
    Mistake(
        "load_val_labels",
        "first-line-skipped",
        LABELS_HEADER_SKIPPED,
        LABELS,
        "expected length 12, got 11",
    ),
    Mistake("pick_per_class", "contiguous-classes-assumed", PICK_CONTIGUOUS, PICK, GROUPED),
    Mistake("pick_per_class", "index-order-not-class-order", PICK_INDEX_ORDER, PICK, GROUPED),
    Mistake("pick_per_class", "one-too-many", PICK_OFF_BY_ONE, PICK, "expected length 8, got 12"),
    Mistake("random_split_indices", "numpy-permutation", SPLIT_NUMPY_RNG, SPLIT, RANDPERM),
    Mistake(
        "random_split_indices",
        "leftover-to-last-part",
        SPLIT_LEFTOVER_LAST,
        REMAINDERS,
        "output[0]: expected length 4, got 3",
    ),
    Mistake("random_split_indices", "generator-not-seeded", SPLIT_UNSEEDED, SPLIT, RANDPERM),
    Mistake(
        "TransformedSubset",
        "indices-ignored",
        SUBSET_NO_INDICES,
        SUBSET,
        "item i must be dataset[indices[i]]",
    ),
    Mistake(
        "TransformedSubset",
        "transform-on-whole-sample",
        SUBSET_WHOLE_SAMPLE,
        SUBSET,
        "expected length 2, got 4",
    ),
    Mistake(
        "TransformedSubset",
        "none-transform-called",
        SUBSET_ALWAYS_TRANSFORM,
        NO_TRANSFORM,
        "TypeError raised",
    ),
    Mistake("mean_pool", "plain-mean", POOL_PLAIN_MEAN, POOL, "padding tokens were averaged in"),
    Mistake(
        "mean_pool",
        "divided-by-all-tokens",
        POOL_DIVIDE_BY_T,
        POOL,
        "divide by the number of real tokens (mask.sum), not by T",
    ),
    Mistake("mean_pool", "empty-row-nan", POOL_NAN_ROWS, EMPTY_ROW, "clamp the token count to 1"),
    Mistake(
        "cluster_classes",
        "kmeans-numbering-kept",
        CLUSTER_RAW_LABELS,
        CLUSTER,
        "renumber K-Means's labels",
    ),
    Mistake(
        "cluster_classes",
        "names-sorted",
        CLUSTER_NAMES_SORTED,
        CLUSTER,
        "keep their order in names",
    ),
    Mistake("cluster_classes", "k-not-lowered", CLUSTER_K_NOT_LOWERED, BIG_K, "ValueError raised"),
    Mistake("cluster_classes", "k-lowered-silently", CLUSTER_SILENT, BIG_K, "with a warning"),
]
