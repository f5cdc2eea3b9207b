"""Checks of a4_age: CACD metadata, decades, capped groups, split, head, confusion heatmap."""

from __future__ import annotations

from autograder.checks.families.cacd import (
    age_case,
    age_format,
    meta_case,
    meta_properties,
    select_case,
    select_properties,
    split_properties,
    stratified_case,
)
from autograder.checks.families.metrics import (
    confusion_case,
    confusion_shape,
    normalize_case,
    normalized_shape,
)
from autograder.checks.families.models import last_linear_case, not_linear_compare

FUNCTIONS = {
    "load_cacd_meta": "course_lib.data.cacd",
    "age_group": "course_lib.data.cacd",
    "select_per_group": "course_lib.data.cacd",
    "stratified_split_indices": "course_lib.data.splits",
    "replace_last_linear": "course_lib.models",
    "confusion_matrix": "course_lib.metrics",
    "normalize_per_class": "course_lib.metrics",
}

CASES = [
    meta_case("MATLAB v5 metadata", version="5", seed=1, people=3, per_person=4, points=2),
    meta_case(
        "MATLAB v7.3 metadata (HDF5, UTF-16 names)",
        version="7.3",
        seed=2,
        people=3,
        per_person=3,
        points=2,
    ),
    meta_case(
        "columns, int64 numbers, str names, one row per image",
        version="7.3",
        seed=4,
        people=4,
        per_person=2,
        compare=meta_properties,
        reference=False,
    ),
    age_case("decades, 100 and over", ages=[0, 9, 10, 23, 59.5, 99, 100, 105, 112]),
    age_case(
        "a decade folder name per age",
        ages=[5, 17, 20, 38.5, 64, 99.9, 100, 117],
        compare=age_format,
        reference=False,
    ),
    select_case("at most 4 names per decade", seed=1, n=40, per_group=4, oldest=110),
    select_case(
        "every decade in ascending order, capped, in file order",
        seed=5,
        n=30,
        per_group=3,
        oldest=110,
        compare=select_properties,
        reference=False,
    ),
    stratified_case("80/20 keeping class shares", seed=1, counts=[10, 5, 15], test_size=0.2),
    stratified_case(  # the reference is train_test_split itself
        "the same as sklearn's train_test_split", seed=2, counts=[8, 12], test_size=0.25
    ),
    stratified_case(
        "disjoint parts covering every index, class shares kept",
        seed=4,
        counts=[6, 9, 5],
        test_size=0.25,
        compare=split_properties,
        reference=False,
    ),
    last_linear_case("ConvNeXt head with 6 classes", seed=1, num_classes=6),
    confusion_case(
        "shape, dtype and total count",
        seed=1,
        n=50,
        classes=4,
        compare=confusion_shape,
        reference=False,
    ),
    confusion_case("rows are the actual classes", seed=1, n=50, classes=4),
    confusion_case("the last class without samples", seed=2, n=30, classes=5, empty=4),
    normalize_case(
        "shape, floats in [0, 1]",
        seed=1,
        classes=5,
        empty_row=2,
        compare=normalized_shape,
        reference=False,
    ),
    normalize_case("rows sum to 1, empty rows stay 0", seed=1, classes=5, empty_row=2),
    ### BEGIN HIDDEN TESTS
    meta_case("more people, v7.3", hidden=True, version="7.3", seed=3, people=5, per_person=2),
    age_case("fractional and large ages", hidden=True, ages=[19.99, 20.0, 45.7, 101.2, 130]),
    select_case("groups smaller than the cap", hidden=True, seed=2, n=12, per_group=10),
    stratified_case(
        "another seed and test size", hidden=True, seed=3, counts=[7, 7, 7, 9], test_size=0.3
    ),
    last_linear_case(
        "another path, float64", hidden=True, seed=2, num_classes=3, path="head.fc", dtype="float64"
    ),
    last_linear_case(
        "a LayerNorm at the path is a TypeError",
        hidden=True,
        seed=3,
        num_classes=4,
        path="classifier.1",
        compare=not_linear_compare,
    ),
    last_linear_case(
        "a head without bias gets none", hidden=True, seed=4, num_classes=5, bias=False
    ),
    confusion_case(
        "six classes, the first without samples", hidden=True, seed=3, n=40, classes=6, empty=0
    ),
    normalize_case("float64 counts", hidden=True, seed=2, classes=4, dtype="float64"),
    ### END HIDDEN TESTS
]
