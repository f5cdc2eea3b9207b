"""Seeded splits of a dataset into index lists, and subsets that bring their own transform.

The dataset is never copied: a split is a list of indices, and :class:`TransformedSubset`
reads ``dataset[indices[i]]`` and applies its own transform, so the training part can be
augmented while the held-out part is not (article 001's ``MyDataset``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset


def random_split_indices(
    n: int, fractions: Sequence[float] = (0.95, 0.05), *, seed: int = 42
) -> list[list[int]]:
    """Shuffle ``range(n)`` and cut it by ``fractions``, as ``random_split`` with ``seed`` does.

    The sizes are ``floor(n * fraction)``, the remainder handed one by one to the first parts;
    the order is ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))``. Returns
    one list of Python ints per fraction.
    """
    ### BEGIN SOLUTION a1_data
    lengths = [math.floor(n * fraction) for fraction in fractions]
    for i in range(n - sum(lengths)):  # hand the remainder out round-robin
        lengths[i % len(lengths)] += 1
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator).tolist()
    parts, start = [], 0
    for length in lengths:
        parts.append(order[start : start + length])
        start += length
    return parts
    ### END SOLUTION


def stratified_split_indices(
    labels: Sequence[int], *, test_size: float = 0.2, seed: int = 42
) -> tuple[list[int], list[int]]:
    """(train, test) indices keeping each class's share, as sklearn's ``train_test_split``.

    Both are lists of Python ints in ``train_test_split``'s order (on the indices 0 ... n-1, with
    ``stratify=labels``, ``test_size`` and ``random_state=seed``).
    """
    ### BEGIN SOLUTION a4_age
    from sklearn.model_selection import train_test_split  # imported here: sklearn is slow to load

    indices = list(range(len(labels)))
    train, test = train_test_split(
        indices, test_size=test_size, stratify=list(labels), random_state=seed
    )
    return [int(i) for i in train], [int(i) for i in test]
    ### END SOLUTION


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
        ### BEGIN SOLUTION a1_data
        image, label = self.dataset[self.indices[index]]
        if self.transform is not None:
            image = self.transform(image)
        return image, label
        ### END SOLUTION


def split_dataset(
    dataset: Dataset,
    *,
    transforms: Sequence[Callable | None],
    fractions: Sequence[float] = (0.95, 0.05),
    seed: int = 42,
    split_indices: Callable[..., list[list[int]]] = random_split_indices,
    subset_cls: type[Dataset] = TransformedSubset,
) -> list[Dataset]:
    """Split ``dataset`` (without a transform of its own) into subsets, one transform each.

    ``split_indices`` and ``subset_cls`` are the graded pieces, replaceable by a student's own.
    """
    if len(transforms) != len(fractions):
        raise ValueError(
            f"got {len(transforms)} transforms for {len(fractions)} fractions: expected one each"
        )
    if not math.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ValueError(f"fractions={list(fractions)}: expected non-negative values summing to 1")
    parts = split_indices(len(dataset), fractions, seed=seed)
    return [subset_cls(dataset, part, t) for part, t in zip(parts, transforms, strict=True)]
