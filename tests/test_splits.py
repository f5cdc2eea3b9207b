"""Seeded splits against torch's random_split and sklearn's train_test_split; subsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import random_split

from course_lib.data.splits import (
    TransformedSubset,
    random_split_indices,
    split_dataset,
    stratified_split_indices,
)


class Numbers(torch.utils.data.Dataset):
    """(i, i % 3) for i in range(n), counting how often each item is read."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.reads = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        self.reads += 1
        return index, index % 3


@pytest.mark.parametrize(
    ("n", "fractions", "seed"),
    [(1000, (0.95, 0.05), 42), (101, (0.95, 0.05), 0), (7, (0.5, 0.3, 0.2), 3), (10, (1.0,), 1)],
)
def test_random_split_indices_equals_torch_random_split(n, fractions, seed):
    expected = random_split(range(n), fractions, generator=torch.Generator().manual_seed(seed))
    assert random_split_indices(n, fractions, seed=seed) == [list(s.indices) for s in expected]


def test_random_split_is_deterministic_disjoint_and_complete():
    parts = random_split_indices(1001, seed=42)
    assert parts == random_split_indices(1001, seed=42)
    assert parts != random_split_indices(1001, seed=43)
    train, held_out = parts
    assert (len(train), len(held_out)) == (951, 50)
    assert not set(train) & set(held_out)
    assert sorted(train + held_out) == list(range(1001))


@pytest.mark.parametrize(("test_size", "seed"), [(0.2, 42), (0.25, 0), (0.5, 7)])
def test_stratified_split_equals_sklearn(test_size, seed):
    labels = np.random.default_rng(seed).integers(0, 5, size=203).tolist()
    expected = train_test_split(
        list(range(203)), test_size=test_size, stratify=labels, random_state=seed
    )
    train, test = stratified_split_indices(labels, test_size=test_size, seed=seed)
    assert (train, test) == tuple(expected)
    assert all(type(i) is int for i in train + test)


def test_stratified_split_keeps_class_shares_and_is_disjoint():
    labels = [0] * 50 + [1] * 30 + [2] * 20
    train, test = stratified_split_indices(labels, test_size=0.2, seed=1)
    assert not set(train) & set(test) and sorted(train + test) == list(range(100))
    assert np.bincount([labels[i] for i in test]).tolist() == [10, 6, 4]
    assert (train, test) == stratified_split_indices(labels, test_size=0.2, seed=1)


def test_transformed_subset_reads_through_without_copying():
    dataset = Numbers(10)
    subset = TransformedSubset(dataset, [7, 2, 5], transform=lambda x: -x)
    assert len(subset) == 3 and dataset.reads == 0
    assert [subset[i] for i in range(3)] == [(-7, 1), (-2, 2), (-5, 2)]
    assert subset.dataset is dataset and dataset.reads == 3
    assert TransformedSubset(dataset, [4], transform=None)[0] == (4, 1)


def test_split_dataset_gives_each_part_its_own_transform():
    dataset = Numbers(40)
    train, held_out = split_dataset(
        dataset, transforms=[lambda x: ("train", x), lambda x: ("eval", x)], seed=5
    )
    assert (len(train), len(held_out)) == (38, 2)
    assert train.indices == random_split_indices(40, seed=5)[0]
    assert train[0][0][0] == "train" and held_out[0][0][0] == "eval"
    assert train[0][0][1] == train.indices[0]


def test_split_dataset_uses_the_given_split_function_and_checks_arguments():
    calls = []

    def first_half(n, fractions, *, seed):
        calls.append((n, tuple(fractions), seed))
        return [list(range(n // 2)), list(range(n // 2, n))]

    class Recorded(TransformedSubset):
        pass

    parts = split_dataset(
        Numbers(6),
        transforms=[None, None],
        fractions=(0.5, 0.5),
        split_indices=first_half,
        subset_cls=Recorded,
    )
    assert calls == [(6, (0.5, 0.5), 42)] and parts[1].indices == [3, 4, 5]
    assert all(type(part) is Recorded for part in parts)
    with pytest.raises(ValueError, match="2 transforms for 3 fractions"):
        split_dataset(Numbers(6), transforms=[None, None], fractions=(0.4, 0.3, 0.3))
    with pytest.raises(ValueError, match="summing to 1"):
        split_dataset(Numbers(6), transforms=[None, None], fractions=(0.5, 0.6))
