"""Checks of a1_data: class maps, val labels, per-class picks, splits, subsets, text vectors."""

from __future__ import annotations

from autograder.checks.common import all_of, close
from autograder.checks.families.data import (
    labels_case,
    labels_pairs,
    maps_case,
    maps_structure,
    pick_case,
    pick_indices,
    same_as_random_split,
    split_case,
    split_parts,
    subset_case,
    subset_items,
)
from autograder.checks.families.text import (
    cluster_case,
    cluster_structure,
    pool_case,
    pool_divisor,
    pool_shape,
    pool_zero_rows,
)

FUNCTIONS = {
    "class_name_maps": "course_lib.data.tiny_imagenet",
    "load_val_labels": "course_lib.data.tiny_imagenet",
    "pick_per_class": "course_lib.data.tiny_imagenet",
    "random_split_indices": "course_lib.data.splits",
    "TransformedSubset": "course_lib.data.splits",
    "mean_pool": "course_lib.text",
    "cluster_classes": "course_lib.text",
}

#: Imported once by the sandbox server: KMeans is imported inside cluster_classes.
PRELOAD = ("sklearn.cluster",)

CASES = [
    maps_case(
        "two dicts: indices -> descriptions, names -> indices",
        classes=5,
        compare=maps_structure,
        reference=False,
    ),
    maps_case("index -> description and first name -> index", classes=5),
    labels_case(
        "a (file name, label) pair per line",
        rows=12,
        classes=4,
        compare=labels_pairs,
        reference=False,
    ),
    labels_case("labels in file order", rows=12, classes=4),
    pick_case(
        "distinct valid indices, every class picked",
        seed=1,
        n=30,
        classes=4,
        per_class=2,
        compare=pick_indices,
        reference=False,
    ),
    pick_case("first two of each class, classes ascending", seed=1, n=30, classes=4, per_class=2),
    split_case(
        "part sizes, every index once",
        n=100,
        fractions=(0.95, 0.05),
        seed=42,
        compare=split_parts,
        reference=False,
    ),
    split_case("95/5 split of 100 with seed 42", n=100, fractions=(0.95, 0.05), seed=42),
    split_case(
        "the same as torch's random_split",
        n=50,
        fractions=(0.8, 0.2),
        seed=7,
        compare=same_as_random_split,
        reference=False,
    ),
    subset_case(
        "length and (image, label) items",
        size=8,
        indices=[5, 0, 3],
        transform=True,
        compare=subset_items,
        reference=False,
    ),
    subset_case("indices and transform applied", size=8, indices=[5, 0, 3], transform=True),
    pool_case(
        "shape and dtype, padding left out",
        seed=1,
        lengths=[6, 3, 1],
        compare=pool_shape,
        reference=False,
    ),
    pool_case("padding tokens do not count", seed=1, lengths=[6, 3, 1]),
    cluster_case(
        "every name once, numbered by first appearance",
        seed=1,
        groups=[4, 3, 5],
        k=3,
        compare=cluster_structure,
        reference=False,
    ),
    cluster_case(
        "three groups, numbered by first appearance", seed=1, groups=[4, 3, 5], k=3, points=2
    ),
    ### BEGIN HIDDEN TESTS
    maps_case("single names and unused wnids", hidden=True, classes=4, extra=3, single_names=True),
    labels_case(
        "an unknown wnid names the file and line", hidden=True, rows=6, classes=3, unknown_at=2
    ),
    pick_case(
        "a class with fewer samples than asked, tensor labels",
        hidden=True,
        seed=2,
        n=9,
        classes=5,
        per_class=3,
        tensor=True,
    ),
    split_case(
        "remainders of three fractions", hidden=True, n=7, fractions=(0.5, 0.3, 0.2), seed=3
    ),
    subset_case("no transform", hidden=True, size=5, indices=[4, 4, 1], transform=False),
    pool_case(
        "a row without tokens, boolean mask, float64",
        hidden=True,
        seed=2,
        lengths=[0, 4, 2],
        mask_dtype="bool",
        dtype="float64",
        compare=all_of(pool_zero_rows, pool_divisor, close(rtol=1e-7, atol=1e-9)),
    ),
    cluster_case("k above the number of names", hidden=True, seed=2, groups=[2, 2, 1], k=8),
    ### END HIDDEN TESTS
]
