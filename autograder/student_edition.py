"""Graded code in course_lib and the student edition that hides it.

A graded function keeps its whole body between markers tagged with the assignment that grades
it::

    def topk_accuracy(output, target, topk=(1,)):
        \"\"\"Fraction of samples whose target is among the k highest scores, for each k.\"\"\"
        ### BEGIN SOLUTION a2_transfer
        ...
        ### END SOLUTION

The student edition for assignment N replaces the bodies graded in N and later by a
``NotImplementedError`` that names the assignment, and keeps earlier bodies (without markers),
so that later notebooks can rely on what earlier ones taught.
"""

from __future__ import annotations

import ast
import re
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

from course_lib.files import atomic_folder

#: The course's assignments, in teaching order.
ASSIGNMENTS = ("a1_data", "a2_transfer", "a3_features", "a4_age", "a5_explain_compress")

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?:[ \t]+(?P<tag>\S+))?[ \t]*$")
END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")
#: Files and folders never copied into a student edition.
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.egg-info", ".*")


@dataclass(frozen=True)
class GradedUnit:
    """One graded function (or method) of course_lib."""

    assignment: str
    qualname: str  # "topk_accuracy" or "TransformedSubset.__getitem__"
    path: Path  # the source file
    begin: int  # 0-based line index of the BEGIN marker
    end: int  # 0-based line index of the END marker
    body: str  # reference body, dedented, without markers
    unit: str  # name of the top-level def or class that contains it
    unit_source: str  # source of that top-level statement, markers untagged (notebook form)

    @property
    def name(self) -> str:
        """The graded function's own name (last part of ``qualname``)."""
        return self.qualname.rsplit(".", 1)[-1]


def assignment_index(assignment: str) -> int:
    """Position of ``assignment`` in the course; ValueError naming the valid ids otherwise."""
    try:
        return ASSIGNMENTS.index(assignment)
    except ValueError:
        raise ValueError(
            f"unknown assignment {assignment!r}: expected one of {', '.join(ASSIGNMENTS)}"
        ) from None


def marker_regions(text: str, *, path: Path | str = "<source>") -> list[tuple[int, int, str]]:
    """``(begin, end, assignment)`` line indices of every marked region of a source file."""
    regions: list[tuple[int, int, str]] = []
    begin: tuple[int, str] | None = None
    for index, line in enumerate(text.splitlines()):
        where = f"{path}:{index + 1}"
        if match := BEGIN.match(line):
            if begin is not None:
                raise ValueError(
                    f"{where}: BEGIN SOLUTION inside the region opened at line "
                    f"{begin[0] + 1}; close it with ### END SOLUTION first"
                )
            tag = match.group("tag")
            if tag is None:
                raise ValueError(
                    f"{where}: BEGIN SOLUTION needs the assignment id that grades "
                    f"it, e.g. '### BEGIN SOLUTION {ASSIGNMENTS[0]}'"
                )
            assignment_index(tag)
            begin = (index, tag)
        elif END.match(line):
            if begin is None:
                raise ValueError(f"{where}: END SOLUTION without a BEGIN SOLUTION before it")
            regions.append((begin[0], index, begin[1]))
            begin = None
    if begin is not None:
        raise ValueError(
            f"{path}:{begin[0] + 1}: BEGIN SOLUTION is never closed by ### END SOLUTION"
        )
    return regions


def _enclosing(tree: ast.Module, line: int) -> tuple[list[ast.AST], ast.FunctionDef]:
    """The chain of def/class nodes around 1-based ``line``, innermost function last."""
    chain: list[ast.AST] = []
    nodes = list(tree.body)
    while nodes:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and (
                node.lineno <= line <= node.end_lineno
            ):
                chain.append(node)
                nodes = list(node.body)
                break
        else:
            break
    functions = [n for n in chain if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not functions:
        raise ValueError(f"line {line}: a solution region must be inside a function body")
    return chain, functions[-1]


def _check_whole_body(function: ast.FunctionDef, begin: int, end: int, where: str) -> None:
    """The region must hold the whole body after the docstring (0-based marker lines)."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring stays visible to students
    if not body or body[0].lineno - 1 <= begin or body[-1].end_lineno - 1 >= end:
        raise ValueError(
            f"{where}: the solution region of {function.name} must contain its "
            "whole body after the docstring"
        )


def graded_units(package: Path | str) -> list[GradedUnit]:
    """Every graded function under ``package`` (a folder of .py files), in file order."""
    units: list[GradedUnit] = []
    root = Path(package)
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        regions = marker_regions(text, path=path)
        if not regions:
            continue
        lines = text.splitlines()
        tree = ast.parse(text, filename=str(path))
        for begin, end, assignment in regions:
            chain, function = _enclosing(tree, begin + 1)
            _check_whole_body(function, begin, end, f"{path}:{begin + 1}")
            names = [n.name for n in chain[: chain.index(function) + 1]]
            top = chain[0]
            first = min([top.lineno] + [d.lineno for d in top.decorator_list]) - 1
            inside = [e + 1 for b, e, _ in regions if first <= b < top.end_lineno]
            last = max([top.end_lineno, *inside])  # the END marker follows the last statement
            source = textwrap.dedent("\n".join(lines[first:last]))
            body = textwrap.dedent("\n".join(lines[begin + 1 : end]))
            units.append(
                GradedUnit(
                    assignment,
                    ".".join(names),
                    path,
                    begin,
                    end,
                    body + "\n",
                    top.name,
                    untag(source) + "\n",
                )
            )
    return units


def untag(source: str) -> str:
    """Notebook form of a marked source: ``### BEGIN SOLUTION <id>`` -> ``### BEGIN SOLUTION``."""
    return re.sub(r"(### BEGIN SOLUTION)[ \t]+\S+", r"\1", source)


def not_implemented_line(qualname: str, assignment: str) -> str:
    """The statement that replaces a body still to be graded."""
    message = f"{qualname} is graded in {assignment}: implement it in the notebook"
    return f'raise NotImplementedError("{message}")'


def student_source(text: str, assignment: str, *, path: Path | str = "<source>") -> str:
    """``text`` with bodies graded in ``assignment`` or later replaced, earlier ones unmarked."""
    current = assignment_index(assignment)
    regions = marker_regions(text, path=path)
    if not regions:
        return text
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text, filename=str(path))
    for begin, end, tag in reversed(regions):
        if assignment_index(tag) < current:
            lines[begin : end + 1] = lines[begin + 1 : end]  # keep the body, drop the markers
            continue
        chain, _ = _enclosing(tree, begin + 1)
        qualname = ".".join(n.name for n in chain)
        indent = BEGIN.match(lines[begin].rstrip("\r\n")).group("indent")
        lines[begin : end + 1] = [indent + not_implemented_line(qualname, tag) + "\n"]
    return "".join(lines)


def build_student_edition(source: Path | str, dest: Path | str, assignment: str) -> Path:
    """Copy the package ``source`` to ``dest`` as the student edition for ``assignment``.

    ``dest`` is replaced as a whole, and only once the new copy is complete.
    """
    assignment_index(assignment)
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise FileNotFoundError(f"package folder {source} does not exist")
    with atomic_folder(dest) as tree:
        shutil.copytree(source, tree, ignore=IGNORED)
        for path in sorted(tree.rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            path.write_text(student_source(text, assignment, path=path), encoding="utf-8")
    return dest
