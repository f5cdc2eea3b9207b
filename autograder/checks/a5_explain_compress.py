"""Checks of a5_explain_compress: Grad-CAM from hooks, TT-SVD and the TT-matrix product."""

from __future__ import annotations

from autograder.checks.families.compression import (
    cam_case,
    cam_failure_case,
    cam_properties,
    matrix_case,
    matrix_properties,
    svd_case,
    svd_properties,
)

FUNCTIONS = {
    "gradcam": "course_lib.explain",
    "tt_svd": "course_lib.tt",
    "tt_matrix_forward": "course_lib.tt",
}

CASES = [
    cam_case(
        "predicted classes at the last ReLU (by name)", seed=2, n=2, size=8, layer="features.4"
    ),
    cam_case(
        "given targets at a convolution, frozen layer kept",
        seed=2,
        n=3,
        size=6,
        layer="features.3",
        targets=[0, 3, 1],
    ),
    cam_case(
        "maps in [0, 1] of the image size, hook removed, flags restored",
        seed=4,
        n=2,
        size=8,
        layer="features.3",
        training=True,
        mixed=True,
        compare=cam_properties,
        reference=False,
        points=1,
    ),
    svd_case("exact decomposition of a 3-D tensor", seed=1, shape=(3, 4, 5)),
    svd_case("max_rank caps every rank", seed=2, shape=(4, 5, 6), max_rank=2),
    svd_case(
        "eps truncation of a low-rank tensor with noise",
        seed=3,
        shape=(4, 4, 4, 4),
        rank=2,
        noise=1.0,
        eps=0.3,
    ),
    svd_case(
        "chained cores within the eps bound",
        seed=6,
        shape=(3, 4, 3, 2),
        eps=0.3,
        compare=svd_properties,
        reference=False,
        points=1,
    ),
    matrix_case(
        "two cores, a batch of vectors",
        seed=1,
        modes_in=(4, 6),
        modes_out=(3, 5),
        rank=3,
        batch=(5,),
    ),
    matrix_case(
        "the shape (..., prod n_k), finite values",
        seed=4,
        modes_in=(2, 3),
        modes_out=(4, 2),
        rank=2,
        batch=(2, 3),
        compare=matrix_properties,
        reference=False,
        points=1,
    ),
    ### BEGIN HIDDEN TESTS
    cam_case(
        "a model in train mode, layer given as a module",
        hidden=True,
        seed=3,
        n=2,
        size=10,
        layer="features.1",
        by_module=True,
        training=True,
    ),
    cam_case(
        "every module's own train/eval flag restored",
        hidden=True,
        seed=5,
        n=2,
        size=8,
        layer="features.4",
        training=True,
        mixed=True,
        points=1,
    ),
    cam_failure_case(
        "the hook is removed when a target is out of range",
        hidden=True,
        seed=6,
        n=2,
        size=8,
        layer="features.3",
        targets=[0, 4],
    ),
    svd_case("ranks per bond", hidden=True, seed=4, shape=(3, 4, 5, 2), ranks=[2, 3, 2]),
    svd_case(
        "caps and eps together",
        hidden=True,
        seed=5,
        shape=(5, 5, 5),
        rank=3,
        noise=1e-2,
        eps=0.05,
        max_rank=2,
    ),
    matrix_case(
        "three cores, leading dimensions",
        hidden=True,
        seed=2,
        modes_in=(2, 3, 4),
        modes_out=(4, 2, 3),
        rank=2,
        batch=(2, 3),
    ),
    matrix_case(
        "no dense matrix (it would need 4 GB)",
        hidden=True,
        seed=3,
        modes_in=(32, 32, 32),
        modes_out=(32, 32, 32),
        rank=2,
        batch=(2,),
    ),
    ### END HIDDEN TESTS
]
