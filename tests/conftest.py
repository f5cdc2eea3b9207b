"""Shared fixtures: the real Tiny ImageNet sample (when present) and small synthetic datasets."""

from __future__ import annotations

import os
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a small shared CPU spinning threads of one
# process starve the others (notebook kernels, sandboxes). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_SAMPLE = Path(
    os.environ.get(
        "TINY_IMAGENET_SAMPLE", REPO_ROOT.parent / "shared" / "data" / "tiny-imagenet-200-sample"
    )
)

# Progress bars would only clutter test logs.
os.environ.setdefault("COURSE_LIB_PROGRESS", "0")


@pytest.fixture(scope="session", autouse=True)
def reference_store(tmp_path_factory) -> Path:
    """The grader's store of references for this session, shared by the grading processes the
    tests start; never the repository's own ``autograder/store``."""
    folder = tmp_path_factory.mktemp("store")
    os.environ["AUTOGRADER_STORE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def real_sample() -> Path:
    """The real 10-class Tiny ImageNet sample; tests using it skip when it is absent."""
    if not (REAL_SAMPLE / "wnids.txt").is_file():
        pytest.skip(
            f"real Tiny ImageNet sample not found at {REAL_SAMPLE} "
            "(set TINY_IMAGENET_SAMPLE to its folder to run these tests)"
        )
    return REAL_SAMPLE


@pytest.fixture(scope="session")
def tiny_imagenet(tmp_path_factory) -> Path:
    """A small synthetic Tiny ImageNet in the real layout (4 classes, 12 train / 4 val each)."""
    from course_lib.data.synthetic import make_tiny_imagenet

    root = tmp_path_factory.mktemp("synthetic") / "tiny-imagenet"
    make_tiny_imagenet(root, num_classes=4, train_per_class=12, val_per_class=4, seed=0)
    return root


@pytest.fixture(scope="session")
def cacd(tmp_path_factory) -> Path:
    """A small synthetic CACD: both .mat versions and the face images."""
    from course_lib.data.synthetic import make_cacd

    root = tmp_path_factory.mktemp("synthetic") / "cacd"
    make_cacd(root, people=6, images_per_person=5, seed=0)
    return root


@pytest.fixture
def one_thread():
    """One intra-op thread: tiny tensors gain nothing from more, and on a busy shared CPU the
    thread pool's waiting makes small-model tests many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def a2_notebooks(tmp_path_factory) -> dict[str, Path]:
    """a2_transfer's solution notebook (full marks) and its release (0), as graders get them."""
    from autograder_corpus import release_notebook, solution_notebook, write

    root = tmp_path_factory.mktemp("notebooks")
    return {
        "solution": write(solution_notebook("a2_transfer"), root / "solution.ipynb"),
        "release": write(release_notebook("a2_transfer"), root / "release.ipynb"),
    }
