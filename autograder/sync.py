"""Keep the graded cells of solutions/ identical to course_lib and the check specifications.

course_lib is the single source of truth of the reference code, ``autograder/checks/<id>.py``
of the checks. In ``solutions/<id>/<id>.ipynb``:

- the solution cell of a graded function (grade id = the name of the top-level function or
  class in course_lib) holds its source from course_lib, markers untagged;
- its public test cell ``test_<name>`` runs ``check(<name>)`` and is worth the points of the
  public cases; the hidden test cell ``test_<name>_hidden`` runs the hidden cases between
  nbgrader's hidden-test markers and is worth theirs.

``python -m autograder sync-solutions`` rewrites what differs; ``--check`` only reports it.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.spec import CHECKS_DIR, Checks, load_checks
from autograder.student_edition import ASSIGNMENTS, GradedUnit, graded_units

if TYPE_CHECKING:  # imported where a notebook is synced: every command's parser loads this module
    import nbformat

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent

HIDDEN_TEST = """\
# Hidden checks of {name} run when the notebook is graded.
### BEGIN HIDDEN TESTS
check({name}, hidden=True)
### END HIDDEN TESTS"""


@dataclass(frozen=True)
class Difference:
    """One way a notebook differs from its sources; ``fixable`` when sync can rewrite it."""

    path: Path
    message: str
    fixable: bool

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def notebook_path(solutions: Path, assignment: str) -> Path:
    """``solutions/<id>/<id>.ipynb``."""
    return solutions / assignment / f"{assignment}.ipynb"


def nbgrader_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """The nbgrader cells of a notebook by grade id."""
    cells = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if "grade_id" in meta:
            cells[meta["grade_id"]] = cell
    return cells


def expected_cells(unit: GradedUnit, checks: Checks | None) -> dict[str, tuple[str, float | None]]:
    """Grade id -> (source, points) of the cells of one graded unit."""
    cells: dict[str, tuple[str, float | None]] = {unit.unit: (unit.unit_source.rstrip("\n"), None)}
    if checks is None:
        return cells
    names = {n for n in checks.functions if n == unit.unit or n.startswith(unit.unit + ".")}
    for hidden, grade_id, source in (
        (False, f"test_{unit.unit}", f"check({unit.unit})"),
        (True, f"test_{unit.unit}_hidden", HIDDEN_TEST.format(name=unit.unit)),
    ):
        points = sum(c.points for c in checks.cases if c.function in names and c.hidden == hidden)
        if points:
            cells[grade_id] = (source, float(points))
    return cells


def sync_notebook(
    path: Path, units: list[GradedUnit], checks: Checks | None, *, write: bool
) -> list[Difference]:
    """Differences of the notebook's graded cells; rewritten when ``write``."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = nbgrader_cells(nb)
    found: list[Difference] = []
    expected: dict[str, tuple[str, float | None]] = {}
    for unit in units:
        expected.update(expected_cells(unit, checks))
    for grade_id, (source, points) in expected.items():
        cell = cells.get(grade_id)
        if cell is None:
            found.append(Difference(path, f"no cell with grade id {grade_id!r}", False))
            continue
        meta = cell.metadata["nbgrader"]
        if cell.source != source:
            found.append(Difference(path, f"cell {grade_id!r} differs from its source", True))
            cell.source = source
        if points is not None and meta.get("points") != points:
            found.append(
                Difference(
                    path,
                    f"cell {grade_id!r} is worth {meta.get('points')} points, its checks {points}",
                    True,
                )
            )
            meta["points"] = points
    for grade_id, cell in cells.items():
        meta = cell.metadata["nbgrader"]
        if (meta.get("solution") or meta.get("grade")) and grade_id not in expected:
            found.append(
                Difference(
                    path, f"graded cell {grade_id!r} checks no graded function of course_lib", False
                )
            )
    if write and any(d.fixable for d in found):
        nbformat.write(nb, path)
    return found


def sync_solutions(
    *,
    solutions: Path | str = ROOT / "solutions",
    package: Path | str = ROOT / "course_lib",
    assignments: tuple[str, ...] = ASSIGNMENTS,
    with_checks: bool = True,
    write: bool = True,
) -> list[Difference]:
    """Synchronise (or with ``write=False`` only compare) the given assignments' notebooks."""
    solutions = Path(solutions)
    units = graded_units(package)
    found: list[Difference] = []
    for assignment in assignments:
        path = notebook_path(solutions, assignment)
        mine = [unit for unit in units if unit.assignment == assignment]
        if not path.exists():
            if mine:
                found.append(Difference(path, f"missing ({len(mine)} graded functions)", False))
            continue
        checks = None
        if with_checks and (CHECKS_DIR / f"{assignment}.py").is_file():
            checks = load_checks(assignment)
        elif with_checks:
            found.append(Difference(path, f"no check specification {assignment}.py", False))
        found += sync_notebook(path, mine, checks, write=write)
    return found


def run(args: argparse.Namespace) -> int:
    found = sync_solutions(
        solutions=args.solutions,
        package=args.package,
        assignments=tuple(args.assignments),
        write=not args.check,
    )
    for difference in found:
        logger.warning("%s", difference)
    if args.check:
        return 1 if found else 0
    fixed = sum(d.fixable for d in found)
    logger.info("rewrote %d cells", fixed)
    return 1 if fixed < len(found) else 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``sync-solutions``."""
    parser = subparsers.add_parser(
        "sync-solutions",
        help="copy course_lib's code and the checks' points into solutions/",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "assignments",
        nargs="*",
        default=list(ASSIGNMENTS),
        metavar="ID",
        help="assignments to synchronise (default: all)",
    )
    parser.add_argument(
        "--check", action="store_true", help="only report differences; exit 1 when there are any"
    )
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--package", type=Path, default=ROOT / "course_lib")
    parser.set_defaults(func=run)
    return parser
