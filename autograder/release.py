"""The student release: nbgrader's assignments/ and the per-assignment student bundle.

- ``python -m autograder generate [ID ...]`` regenerates ``assignments/<id>/`` from
  ``solutions/<id>/`` with nbgrader's own ``generate_assignment`` (run in a temporary course
  folder, so no gradebook is left behind), after checking that the solution cells equal
  course_lib's reference code.
- ``python -m autograder release ID --out DIR`` builds what a student downloads for one
  assignment: the released notebook, the student edition of course_lib (bodies graded in this
  and later assignments raise ``NotImplementedError``), and the self-check autograder with
  public cases only.
- ``python -m autograder course DIR`` lays out an nbgrader course for a term outside the
  repository (:func:`lay_out_course`).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from autograder.spec import load_checks, strip_hidden_tests
from autograder.student_edition import (
    ASSIGNMENTS,
    IGNORED,
    assignment_index,
    build_student_edition,
)
from autograder.sync import sync_solutions
from course_lib.files import atomic_folder, write_text

logger = logging.getLogger(__name__)

IGNORES = ("__pycache__", "*.pyc", ".ipynb_checkpoints")

ROOT = Path(__file__).resolve().parent.parent

BUNDLE_README = """\
# {assignment}

1. Install the course's requirements once (from the course repository: `make setup`, or
   `pip install torch torchvision numpy pillow scipy h5py pandas matplotlib seaborn
   scikit-learn tqdm nbformat`).
2. Open `{assignment}.ipynb` from this folder (`jupyter lab {assignment}.ipynb`) and run it from
   the top. It writes the small synthetic dataset it needs on its first run.
3. The `course_lib` here is the student edition: the functions graded in this assignment and
   the later ones raise `NotImplementedError` until you write them in the notebook.
4. Check your work against the public cases before you hand it in:

       python -m autograder check {assignment} {assignment}.ipynb
"""


def nbgrader_env(root: Path) -> dict[str, str]:
    """Environment for nbgrader: this interpreter's tools on PATH, the course importable."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


def run_nbgrader(args: Sequence[str], *, course: Path, root: Path = ROOT) -> str:
    """Run ``nbgrader ARGS`` in the course folder ``course``; its log, or RuntimeError."""
    command = [sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"]
    done = subprocess.run(
        command, cwd=course, env=nbgrader_env(root), capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or "ERROR" in done.stderr:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed in {course}:\n{done.stderr}")
    return done.stderr


def make_course(course: Path, assignments: Sequence[str], *, root: Path = ROOT) -> Path:
    """A fresh nbgrader course folder: the config and the given assignments' sources."""
    course.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "nbgrader_config.py", course / "nbgrader_config.py")
    for assignment in assignments:
        source = root / "solutions" / assignment
        if not source.is_dir():
            raise FileNotFoundError(f"{source} does not exist: no source notebook for {assignment}")
        shutil.copytree(source, course / "solutions" / assignment, ignore=IGNORED)
    return course


def check_in_sync(assignments: Sequence[str], *, root: Path = ROOT) -> None:
    """Raise ValueError when a solution cell of ``assignments`` differs from course_lib."""
    for assignment in assignments:
        assignment_index(assignment)
    problems = sync_solutions(
        solutions=root / "solutions",
        package=root / "course_lib",
        assignments=tuple(assignments),
        write=False,
    )
    if problems:
        raise ValueError(
            "solution cells differ from course_lib; run `python -m autograder "
            "sync-solutions` first:\n" + "\n".join(map(str, problems))
        )


def generate(
    assignments: Sequence[str] = ASSIGNMENTS, *, root: Path = ROOT, out: Path | None = None
) -> Path:
    """Regenerate the release of ``assignments`` into ``out`` (default ``root/assignments``)."""
    check_in_sync(assignments, root=root)
    out = Path(out) if out is not None else root / "assignments"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nbgrader-course-") as tmp:
        course = make_course(Path(tmp), assignments, root=root)
        for assignment in assignments:
            run_nbgrader(["generate_assignment", assignment, "--force"], course=course, root=root)
            with atomic_folder(out / assignment) as tree:
                shutil.copytree(course / "assignments" / assignment, tree)
            logger.info("released %s into %s", assignment, out / assignment)
    return out


#: Instructor tools that students never need, and folders rebuilt for each bundle.
INSTRUCTOR_ONLY = ("release.py", "sync.py", "nbgrader_ext.py", "refs", "pinned", "store")


def build_student_autograder(assignment: str, dest: Path, *, root: Path = ROOT) -> Path:
    """The self-check autograder of ``assignment``: its public cases and their references.

    The checks of other assignments, hidden cases and instructor tools are left out; the
    released notebook is pinned (read-only cells are restored from it) and the public
    references are written from the full course_lib, for the student edition cannot compute
    them.
    """
    from autograder.references import write_refs  # imports torch: only when releasing

    source = root / "autograder"
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*INSTRUCTOR_ONLY, *IGNORES))
    for path in (dest / "checks").glob("*.py"):
        if path.stem.startswith("a") and path.stem != assignment:
            path.unlink()
    checks_file = dest / "checks" / f"{assignment}.py"
    checks_file.write_text(
        strip_hidden_tests(checks_file.read_text(encoding="utf-8")), encoding="utf-8"
    )
    write_refs(load_checks(assignment), dest / "refs" / f"{assignment}.zip")
    (dest / "pinned").mkdir()
    notebook = f"{assignment}.ipynb"
    shutil.copy2(root / "assignments" / assignment / notebook, dest / "pinned" / notebook)
    return dest


def build_bundle(assignment: str, out: Path, *, root: Path = ROOT) -> Path:
    """Write the student bundle of ``assignment`` into ``out`` (a new or empty folder)."""
    assignment_index(assignment)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: give a new folder for the bundle")
    released = root / "assignments" / assignment
    if not released.is_dir():
        raise FileNotFoundError(
            f"{released} does not exist: run `python -m autograder generate` first"
        )
    with atomic_folder(out) as bundle:  # out is new or empty
        shutil.copytree(released, bundle, ignore=IGNORED)
        build_student_edition(root / "course_lib", bundle / "course_lib", assignment)
        build_student_autograder(assignment, bundle / "autograder", root=root)
        (bundle / "README.md").write_text(
            BUNDLE_README.format(assignment=assignment), encoding="utf-8"
        )
    return out


COURSE_CONFIG = """\
\"\"\"nbgrader configuration of this course, written by `python -m autograder course`.

nbgrader's default folders: source/ (instructor notebooks), release/ (what students fetch),
submitted/, autograded/, feedback/. Run nbgrader commands from this folder.
\"\"\"

import os
import sys

# course_lib and autograder come from the course repository, for nbgrader and for its kernels.
REPOSITORY = {root!r}
sys.path.insert(0, REPOSITORY)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [REPOSITORY, os.environ.get("PYTHONPATH")]))

from autograder.nbgrader_ext import configure  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)
# Autograde runs imports, solution and test cells only (no training): the test cells' scores.
configure(c, graded_cells_only=True)
# Where release_assignment, fetch_assignment, submit and collect exchange files; the default is
# /srv/nbgrader/exchange, shared by all users of a JupyterHub.
# c.Exchange.root = "/srv/nbgrader/exchange"
"""

COURSE_GITIGNORE = """\
# Student data and what is computed from it never enter version control.
submitted/
autograded/
feedback/
exchange/
gradebook.db
gradebook.db-journal
.nbgrader.log
# Rebuilt by `python -m autograder course . --force`.
release/
.ipynb_checkpoints/
__pycache__/
"""


def check_course_folder(course: Path, *, force: bool, root: Path = ROOT) -> Path:
    """``course`` made absolute; ValueError inside ``root``, FileExistsError when not empty."""
    course = course.expanduser().resolve()
    if course == root or root in course.parents:
        raise ValueError(f"{course} is inside the repository {root}: give a folder outside it")
    if course.is_file() or (course.is_dir() and any(course.iterdir()) and not force):
        raise FileExistsError(
            f"{course} is not an empty folder: give a new one, or --force to rewrite the "
            "course's config, source/ and release/ there (student data is never touched)"
        )
    return course


def lay_out_course(
    course: Path,
    assignments: Sequence[str] = ASSIGNMENTS,
    *,
    force: bool = False,
    root: Path = ROOT,
) -> Path:
    """Write an nbgrader course for a term into ``course``, a folder outside the repository.

    It holds nbgrader_config.py, a .gitignore for student data, ``source/<id>/`` (the solution
    notebook) and ``release/<id>/`` (nbgrader's release of it, generated here, which also
    registers the assignment in gradebook.db, plus the student edition of course_lib, the
    public checks and a README: what ``python -m autograder release`` bundles).
    """
    course = check_course_folder(Path(course), force=force, root=root)
    check_in_sync(assignments, root=root)
    course.mkdir(parents=True, exist_ok=True)
    write_text(course / "nbgrader_config.py", COURSE_CONFIG.format(root=str(root)))
    write_text(course / ".gitignore", COURSE_GITIGNORE)
    for assignment in assignments:
        with atomic_folder(course / "source" / assignment) as tree:
            shutil.copytree(root / "solutions" / assignment, tree, ignore=IGNORED)
        run_nbgrader(["generate_assignment", assignment, "--force"], course=course, root=root)
        with tempfile.TemporaryDirectory(prefix="student-kit-") as tmp:
            kit = build_bundle(assignment, Path(tmp) / assignment, root=root)
            for path in kit.iterdir():
                if path.name != f"{assignment}.ipynb":  # nbgrader's own release stays
                    shutil.move(path, course / "release" / assignment / path.name)
        logger.info("laid out %s in %s", assignment, course)
    return course


def _run_generate(args: argparse.Namespace) -> int:
    generate(args.assignments or ASSIGNMENTS, out=args.out)
    return 0


def _run_release(args: argparse.Namespace) -> int:
    path = build_bundle(args.assignment, args.out)
    print(f"student bundle of {args.assignment} written to {path}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``generate`` and ``release``."""
    parser = subparsers.add_parser(
        "generate", help="regenerate assignments/ from solutions/ with nbgrader"
    )
    parser.add_argument(
        "assignments",
        nargs="*",
        metavar="ID",
        help=f"assignments to release (default: all of {', '.join(ASSIGNMENTS)})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="release folder (default: assignments/ of the repository)",
    )
    parser.set_defaults(func=_run_generate)

    parser = subparsers.add_parser("release", help="build the student bundle of one assignment")
    parser.add_argument("assignment", choices=ASSIGNMENTS, metavar="ID")
    parser.add_argument("--out", type=Path, required=True, help="new folder for the bundle")
    parser.set_defaults(func=_run_release)
