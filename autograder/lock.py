"""The Gradescope lock file: exact versions of the grader's dependencies as tested.

``requirements/gradescope.txt`` pins the project's runtime dependencies and everything they
pull in, at the versions installed in the environment that runs the tests (read with
``importlib.metadata``), so that each term's Gradescope image grades with the tested libraries.
The nbgrader stack (it executes notebooks; the grader never does) and the dev extras are left
out. torch and torchvision are pinned to their CPU wheels (``+cpu``, from the PyTorch CPU index):
Gradescope has no GPU. A tested CUDA build (``+cu128``, or PyPI's default Linux wheel, which
requires the ``nvidia-*`` packages) becomes the CPU wheel of the same version, and its GPU-only
requirements are left out. Regenerate with ``python -m autograder lock``.
"""

from __future__ import annotations

import importlib.metadata as metadata
import logging
import platform
import re
import sys
from pathlib import Path

from course_lib.files import write_text

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements" / "gradescope.txt"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: Dependencies in pyproject.toml that run notebooks (nbgrader's side), not the grader.
NOTEBOOK_STACK = {"nbgrader", "nbclient", "ipykernel"}
CPU_WHEELS = ("torch", "torchvision")
#: Requirements of a CUDA build of torch that its CPU wheel does not have.
GPU_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton|pytorch-triton.*)$")
PYTHON_LINE = re.compile(r"^# python: (\d+\.\d+)$", re.MULTILINE)


def normalize(name: str) -> str:
    """The canonical form of a distribution name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_roots() -> list[str]:
    """The requirements the grader needs: pyproject.toml's dependencies, less the nbgrader stack."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(REPO / "pyproject.toml", "rb") as handle:
        dependencies = tomllib.load(handle)["project"]["dependencies"]
    return [d for d in dependencies if _name(d) not in NOTEBOOK_STACK]


def _name(requirement: str) -> str:
    from packaging.requirements import Requirement

    return normalize(Requirement(requirement).name)


def installed_closure(roots: list[str]) -> dict[str, str]:
    """Installed version of each distribution ``roots`` need, transitively, by canonical name.

    Requirements whose markers do not hold here (another platform, an extra not asked for) are
    not followed; neither are the GPU-only requirements of torch.
    """
    from packaging.requirements import Requirement

    versions: dict[str, str] = {}
    pending = [(Requirement(root), "pyproject.toml") for root in roots]
    while pending:
        requirement, needed_by = pending.pop()
        name = normalize(requirement.name)
        if name in versions:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise RuntimeError(
                f"{requirement.name} (required by {needed_by}) is not installed here: run "
                "`make setup`, then regenerate the lock in the tested environment"
            ) from None
        if not requirement.specifier.contains(distribution.version, prereleases=True):
            raise RuntimeError(
                f"{name} {distribution.version} is installed, {needed_by} requires "
                f"{requirement}: run `make setup` to repair the environment"
            )
        versions[name] = distribution.version
        if name in CPU_WHEELS:
            _log_gpu_build(name, distribution.version, distribution.requires or [])
        for text in distribution.requires or []:
            child = Requirement(text)
            wanted = [{"extra": extra} for extra in requirement.extras] or [{"extra": ""}]
            if child.marker is not None and not any(child.marker.evaluate(e) for e in wanted):
                continue
            if name in CPU_WHEELS and GPU_ONLY.match(normalize(child.name)):
                continue
            pending.append((child, name))
    return versions


def cpu_version(version: str) -> str:
    """The CPU wheel's version of a tested torch or torchvision: ``X.Y.Z+cpu``."""
    return version.partition("+")[0] + "+cpu"


def _log_gpu_build(name: str, version: str, requires: list[str]) -> None:
    """Say so when a tested torch or torchvision is a GPU build (the lock pins its CPU wheel)."""
    from packaging.requirements import Requirement

    gpu = sorted({Requirement(r).name for r in requires if GPU_ONLY.match(_name(r))})
    local = version.partition("+")[2]
    if gpu or local not in ("", "cpu"):
        logger.info(
            "%s %s is a GPU build: the lock pins the CPU wheel %s, without %s",
            name,
            version,
            cpu_version(version),
            ", ".join(gpu) or "GPU libraries",
        )


def render_lock(versions: dict[str, str]) -> str:
    """The lock file's text for ``versions`` (canonical name -> installed version)."""
    lines = [
        "# Gradescope image of the autograder: the tested environment's exact versions.",
        "# Generated by `python -m autograder lock` (see autograder/lock.py); do not edit.",
        f"# python: {sys.version_info.major}.{sys.version_info.minor}",
        f"# platform: {sys.platform} {platform.machine()}",
        f"--extra-index-url {CPU_INDEX}",
    ]
    for name in sorted(versions):
        version = versions[name]
        if name in CPU_WHEELS:
            version = cpu_version(version)
        lines.append(f"{name}=={version}")
    return "\n".join(lines) + "\n"


def current_lock() -> str:
    """The lock file this environment gives."""
    return render_lock(installed_closure(runtime_roots()))


def write_lock(path: Path | str = LOCK) -> Path:
    """Write the lock of this environment to ``path`` (atomically); its path."""
    return write_text(path, current_lock())


def lock_differences(path: Path | str = LOCK) -> list[str]:
    """Lines of the lock at ``path`` and of this environment's lock that are not in the other."""
    path = Path(path)
    if not path.is_file():
        return [f"no lock file at {path}"]
    committed = path.read_text(encoding="utf-8").splitlines()
    tested = current_lock().splitlines()
    return [f"- {line}" for line in committed if line not in tested] + [
        f"+ {line}" for line in tested if line not in committed
    ]


def python_version(lock_text: str) -> str:
    """The ``X.Y`` Python version a lock was generated with."""
    match = PYTHON_LINE.search(lock_text)
    if match is None:
        raise ValueError("the lock names no Python version (a line '# python: X.Y' was expected)")
    return match.group(1)
