"""Checks of a3_features: feature extraction, cosine similarity, retrieval, the t-SNE canvas."""

from __future__ import annotations

from autograder.checks.families.features import (
    canvas_case,
    canvas_inside,
    cosine_case,
    cosine_properties,
    features_after_failure,
    features_case,
    features_properties,
    similar_case,
    similar_properties,
)

FUNCTIONS = {
    "extract_features": "course_lib.features",
    "cosine_similarity_matrix": "course_lib.features",
    "most_similar": "course_lib.features",
    "canvas_positions": "course_lib.features",
}

CASES = [
    features_case("model outputs in eval mode, labels kept", seed=1, sizes=(4, 4, 2), layer=None),
    features_case("a hidden layer through a hook", seed=2, sizes=(3, 5), layer="block.1"),
    features_case(
        "shapes and labels, hook removed, mode restored",
        seed=4,
        sizes=(3, 2),
        layer="block.1",
        compare=features_properties,
        reference=False,
        points=1,
    ),
    cosine_case("random features", seed=1, n=6, d=5),
    cosine_case(
        "symmetric, in [-1, 1], 1 on the diagonal",
        seed=2,
        n=7,
        d=3,
        zero_row=True,
        compare=cosine_properties,
        reference=False,
    ),
    similar_case("top 3 of item 2, itself excluded", seed=1, n=8, index=2, k=3),
    similar_case(
        "k items, best first, the query left out",
        seed=4,
        n=7,
        index=5,
        k=4,
        compare=similar_properties,
        reference=False,
    ),
    canvas_case(
        "positions scaled into the canvas, y flipped",
        seed=1,
        n=10,
        canvas=(200, 100),
        thumb=(20, 10),
    ),
    canvas_case(
        "pairs of ints, every thumbnail inside the canvas",
        seed=3,
        n=8,
        canvas=(90, 160),
        thumb=(30, 20),
        compare=canvas_inside,
        reference=False,
    ),
    ### BEGIN HIDDEN TESTS
    features_case(
        "eval-mode model stays in eval mode",
        hidden=True,
        seed=3,
        sizes=(2, 2),
        layer="block",
        training=False,
    ),
    features_case(
        "convolution maps flattened, device given",
        hidden=True,
        seed=5,
        sizes=(2, 3),
        layer="conv",
        conv=True,
        device="cpu",
    ),
    features_case(
        "the hook is removed when a batch fails",
        hidden=True,
        seed=6,
        sizes=(2, 2, 2),
        layer="block.1",
        fail_at=1,
        compare=features_after_failure,
        reference=False,
        points=1,
    ),
    cosine_case("a zero row gives zeros", hidden=True, seed=3, n=5, d=4, zero_row=True),
    cosine_case("float64 features", hidden=True, seed=4, n=4, d=6, dtype="float64"),
    similar_case("ties keep index order", hidden=True, seed=2, n=9, index=4, k=5, ties=True),
    similar_case("k above the number of other items", hidden=True, seed=3, n=4, index=0, k=10),
    canvas_case(
        "an axis without spread is centred",
        hidden=True,
        seed=2,
        n=6,
        canvas=(120, 90),
        thumb=(30, 30),
        flat_axis=0,
    ),
    ### END HIDDEN TESTS
]
