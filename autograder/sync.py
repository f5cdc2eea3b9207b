"""Keep the solution cells of solutions/ identical to the reference code in course_lib.

course_lib is the single source of truth: each solution cell of a notebook (grade id = the name
of a graded top-level function or class) holds that function's source from course_lib, with the
solution markers untagged. ``python -m autograder sync-solutions`` rewrites the cells;
``--check`` only reports the differences (and fails when there are any).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import nbformat

from autograder.student_edition import ASSIGNMENTS, GradedUnit, graded_units

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


def notebook_path(solutions: Path, assignment: str) -> Path:
    """``solutions/<id>/<id>.ipynb``."""
    return solutions / assignment / f"{assignment}.ipynb"


def solution_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """Solution cells of a notebook by grade id."""
    cells = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            cells[meta["grade_id"]] = cell
    return cells


def sync_notebook(path: Path, units: list[GradedUnit], *, write: bool) -> list[str]:
    """Differences between the notebook's solution cells and ``units``; fix them if ``write``."""
    nb = nbformat.read(path, as_version=4)
    cells = solution_cells(nb)
    problems = []
    expected = {unit.unit: unit for unit in units}
    for name, unit in expected.items():
        cell = cells.get(name)
        if cell is None:
            problems.append(f"{path}: no solution cell with grade id {name!r} for {unit.qualname}")
        elif cell.source != unit.unit_source.rstrip("\n"):
            problems.append(f"{path}: cell {name!r} differs from {unit.path}")
            cell.source = unit.unit_source.rstrip("\n")
    for name in sorted(set(cells) - set(expected)):
        problems.append(f"{path}: solution cell {name!r} is no graded function of course_lib")
    if write and problems:
        nbformat.write(nb, path)
    return problems


def sync_solutions(
    *,
    solutions: Path | str = ROOT / "solutions",
    package: Path | str = ROOT / "course_lib",
    assignments: tuple[str, ...] = ASSIGNMENTS,
    write: bool = True,
) -> list[str]:
    """Synchronise (or with ``write=False`` only compare) every assignment's notebook."""
    solutions = Path(solutions)
    units = graded_units(package)
    problems = []
    for assignment in assignments:
        path = notebook_path(solutions, assignment)
        mine = [unit for unit in units if unit.assignment == assignment]
        if not path.exists():
            if mine:
                problems.append(f"{path} is missing ({len(mine)} graded functions)")
            continue
        problems += sync_notebook(path, mine, write=write)
    return problems


def run(args: argparse.Namespace) -> int:
    problems = sync_solutions(
        solutions=args.solutions,
        package=args.package,
        assignments=tuple(args.assignments),
        write=not args.check,
    )
    for problem in problems:
        logger.warning(problem)
    if args.check:
        return 1 if problems else 0
    fixed = [p for p in problems if "differs" in p]
    logger.info("updated %d solution cells", len(fixed))
    return 1 if len(fixed) < len(problems) else 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``sync-solutions``."""
    parser = subparsers.add_parser(
        "sync-solutions",
        help="copy course_lib's reference code into the solution cells",
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
