"""The folder a sandbox imports from: the student edition of course_lib and a part of autograder.

Nothing else is visible to student code: not the reference bodies of the functions being graded
(or graded later), not the references, not other assignments' checks. The folder is built once
per process and assignment, in a temporary directory removed at exit.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

from autograder.safefs import remove_tree
from autograder.sandbox.cgroups import alive
from autograder.student_edition import build_student_edition, graded_units

logger = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parents[1]
#: The parts of the autograder the sandbox imports (relative to the package folder).
SANDBOX_MODULES = (
    "__init__.py",
    "asserts.py",
    "plaindata.py",
    "spec.py",
    "sandbox/__init__.py",
    "sandbox/bootstrap.py",
    "sandbox/cgroups.py",
    "sandbox/jail.py",
    "sandbox/protocol.py",
    "sandbox/runner.py",
    "sandbox/transfer.py",
    "sandbox/zygote.py",
    "checks/__init__.py",
    "checks/common.py",
)

_lock = threading.Lock()
_built: dict[str, Path] = {}
_run: list[Path] = []


def run_folder() -> Path:
    """This process's temporary folder (libraries, sandboxes, fork servers), removed at exit.

    Folders left by grading processes that were killed are removed on the way.
    """
    with _lock:
        if not _run:
            root = Path(tempfile.gettempdir())
            for old in root.glob("autograder-run-*"):
                if not alive(int(old.name.rsplit("-", 1)[1])):
                    remove_tree(old)
            folder = root / f"autograder-run-{os.getpid()}"
            folder.mkdir(mode=0o755, exist_ok=True)
            atexit.register(remove_tree, folder)
            _run.append(folder)
        return _run[0]


def course_lib_folder() -> Path:
    """Where ``import course_lib`` finds the package in this process."""
    spec = importlib.util.find_spec("course_lib")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("course_lib is not importable: install the course package")
    return Path(next(iter(spec.submodule_search_locations)))


def protected_folders() -> list[Path]:
    """What student code must never read: the checks, the stored references, the full
    course_lib, the solutions."""
    from autograder.references import store_folder  # imports torch: only when grading

    folders = [PACKAGE, store_folder(), PACKAGE.parent / "solutions"]
    course_lib = course_lib_folder()
    if is_full_edition(course_lib):
        folders.append(course_lib)
    return folders


def is_full_edition(package: Path) -> bool:
    """Whether ``package`` still holds marked reference bodies (a student edition has none)."""
    return bool(graded_units(package))


def sandbox_library(assignment: str) -> Path:
    """The sandbox's import folder for ``assignment`` (built on first use)."""
    run = run_folder()
    with _lock:
        if assignment not in _built:
            _built[assignment] = _build(assignment, run)
        return _built[assignment]


def _build(assignment: str, run: Path) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"lib-{assignment}-", dir=run))
    families = [
        p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "checks" / "families").glob("*.py")
    ]
    for name in (*SANDBOX_MODULES, *sorted(families)):  # never checks/<assignment>.py
        source = PACKAGE / name
        if source.exists():
            target = folder / "autograder" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    course_lib = course_lib_folder()
    if is_full_edition(course_lib):
        build_student_edition(course_lib, folder / "course_lib", assignment)
    else:  # already a student edition (a student's own machine)
        shutil.copytree(
            course_lib, folder / "course_lib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    for path in [folder, *folder.rglob("*")]:  # readable by the sandbox's own user
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    logger.debug("sandbox library for %s in %s", assignment, folder)
    return folder
