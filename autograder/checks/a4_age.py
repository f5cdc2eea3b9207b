"""Checks of a4_age: CACD metadata, decades, capped groups, split, head, confusion heatmap."""

from __future__ import annotations

from autograder.checks.common import all_of, close
from autograder.checks.families.cacd import (
    age_case,
    meta_case,
    same_as_sklearn,
    select_case,
    stratified_case,
)
from autograder.checks.families.metrics import (
    confusion_case,
    confusion_rows,
    normalize_case,
    normalized_rows,
)
from autograder.checks.families.models import last_linear_case

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
    age_case("decades, 100 and over", ages=[0, 9, 10, 23, 59.5, 99, 100, 105, 112]),
    select_case("at most 4 names per decade", seed=1, n=40, per_group=4),
    stratified_case("80/20 keeping class shares", seed=1, counts=[10, 5, 15], test_size=0.2),
    stratified_case(
        "the same as sklearn's train_test_split",
        seed=2,
        counts=[8, 12],
        test_size=0.25,
        compare=same_as_sklearn,
        reference=False,
    ),
    last_linear_case("ConvNeXt head with 6 classes", seed=1, num_classes=6),
    confusion_case(
        "rows are the actual classes",
        seed=1,
        n=50,
        classes=4,
        compare=all_of(confusion_rows, close(rtol=0, atol=0)),
    ),
    normalize_case(
        "rows sum to 1, empty rows stay 0",
        seed=1,
        classes=5,
        empty_row=2,
        compare=all_of(normalized_rows, close(rtol=1e-6, atol=1e-7)),
    ),
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
    confusion_case(
        "a class without samples, (N, 1) inputs",
        hidden=True,
        seed=2,
        n=30,
        classes=5,
        empty=3,
        column=True,
    ),
    normalize_case("float64 counts", hidden=True, seed=2, classes=4, dtype="float64"),
    ### END HIDDEN TESTS
]
