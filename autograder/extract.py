"""Taking the code to grade out of a submitted notebook.

Only code that defines things is taken: the import statements of the notebook's other code cells
(from the source notebook when there is one, so edits to read-only cells never count) and, from
each solution cell, imports, ``def`` and ``class`` statements and constant assignments. Training,
plotting and any other top-level statement is never executed. Repairs and problems (edited
read-only cells, duplicated or missing grade ids, syntax errors) become notes for the student.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.notebook import (
    compute_checksum,
    grade_id,
    is_locked,
    is_solution,
    nbgrader_meta,
    read_notebook,
)

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
IMPORTS = (ast.Import, ast.ImportFrom)
GRADER_MODULES = {"autograder"}  # the grader's own helpers are not in the sandbox


def _module_paths(nodes: Iterable[ast.stmt]) -> set[str]:
    """Full dotted names of the modules imported by ``nodes``."""
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@dataclass
class Extraction:
    """The code to run, in order (``name``/``source`` cells), and notes for the student."""

    cells: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    defined: set[str] = field(default_factory=set)
    preload: list[str] = field(default_factory=list)  # modules the source notebook imports


def cell_source(cell: nbformat.NotebookNode) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def parse(source: str) -> tuple[ast.Module, str]:
    """Parse a cell, turning IPython syntax (``%magic``, ``!cmd``) into Python first if needed.

    Returns the tree and the text it was parsed from.
    """
    try:
        return ast.parse(source), source
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager

        transformed = TransformerManager().transform_cell(source)
        if transformed == source:
            raise
        return ast.parse(transformed), transformed


def _constant_assignment(node: ast.stmt) -> bool:
    """``NAME = value`` whose value calls nothing (outside lambdas): cheap and side-effect free."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return False
    if not all(isinstance(t, ast.Name) for t in targets):
        return False
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
        if not isinstance(item, ast.Lambda):
            pending.extend(ast.iter_child_nodes(item))
    return True


def definitions(tree: ast.Module) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """Top-level statements kept (imports, definitions, constants) and those skipped."""
    kept, skipped = [], []
    for node in tree.body:
        keep = isinstance(node, (*IMPORTS, *DEFINITIONS)) or _constant_assignment(node)
        (kept if keep else skipped).append(node)
    return kept, skipped


def defined_names(nodes: Iterable[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, DEFINITIONS):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, IMPORTS):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _segment(nodes: list[ast.stmt]) -> str:
    return "\n".join(ast.unparse(node) for node in nodes)


def _without(text: str, kept: list[ast.stmt], skipped: list[ast.stmt]) -> str:
    """``text`` with the lines of ``skipped`` statements blanked, so line numbers stay valid."""
    lines = text.splitlines()
    kept_lines = {n for node in kept for n in range(_first_line(node), node.end_lineno + 1)}
    for node in skipped:
        span = range(_first_line(node), node.end_lineno + 1)
        if kept_lines.intersection(span):
            return _segment(kept)  # statements share lines: fall back to regenerated code
        for number in span:
            lines[number - 1] = ""
    return "\n".join(lines) + "\n"


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _setup_imports(notebook: nbformat.NotebookNode, *, trusted: bool) -> list[ast.stmt]:
    """Import statements of every code cell that is not a solution cell (not the grader's)."""
    statements = []
    for cell in notebook.cells:
        if cell.get("cell_type") != "code" or is_solution(cell):
            continue
        if not trusted and is_locked(cell) and _edited(cell):
            continue  # no original to restore it from; the note was made already
        try:
            tree, _ = parse(cell_source(cell))
        except SyntaxError:
            if trusted:
                raise
            continue
        statements += [
            node
            for node in tree.body
            if isinstance(node, IMPORTS) and not (imported_modules([node]) & GRADER_MODULES)
        ]
    return statements


def imported_modules(nodes: Iterable[ast.stmt]) -> set[str]:
    """Top-level names of the modules imported by ``nodes``."""
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _tolerant(statements: list[ast.stmt]) -> str:
    """Each import in its own ``try``: a module missing in the sandbox costs only its names."""
    handler = ast.ExceptHandler(type=ast.Name("Exception"), name=None, body=[ast.Pass()])
    future = [n for n in statements if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    tries = [
        ast.Try(body=[node], handlers=[handler], orelse=[], finalbody=[])
        for node in statements
        if node not in future
    ]
    module = ast.Module(body=[*future, *tries], type_ignores=[])
    return ast.unparse(ast.fix_missing_locations(module))


def _edited(cell: nbformat.NotebookNode) -> bool:
    checksum = nbgrader_meta(cell).get("checksum")
    try:
        return checksum is not None and compute_checksum(cell) != checksum
    except (KeyError, TypeError, ValueError):
        return True


def _check_cells(submission, source, notes: list[str]) -> None:
    """Notes on edited read-only cells, duplicated grade ids and cells missing from the source."""
    seen: dict[str, list[int]] = {}
    for index, cell in enumerate(submission.cells):
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        if not isinstance(meta.get("grade_id"), str) or not meta["grade_id"]:
            notes.append(f"cell {index + 1} has nbgrader metadata without a grade id")
            continue
        seen.setdefault(meta["grade_id"], []).append(index + 1)
        if is_locked(cell) and _edited(cell):
            restored = "the original is used" if source is not None else "it is ignored"
            notes.append(f"read-only cell {meta['grade_id']!r} was edited; {restored}")
    for name, positions in seen.items():
        if len(positions) > 1:
            where = ", ".join(str(p) for p in positions)
            notes.append(
                f"grade id {name!r} appears in cells {where}; they run in notebook "
                "order, so the last definition of a function wins"
            )
    if source is not None:
        for index, cell in enumerate(source.cells):
            name = grade_id(cell, index)
            if nbgrader_meta(cell) and name not in seen:
                notes.append(f"cell {name!r} of the assignment is missing from the notebook")


def extract(
    path: Path | str, functions: Iterable[str], *, source: Path | str | None = None
) -> Extraction:
    """The code of ``path`` to grade for ``functions``; SubmissionError if it cannot be read."""
    submission, note = read_notebook(path)
    original = read_notebook(source)[0] if source is not None else None
    result = Extraction(notes=[note] if note else [])
    _check_cells(submission, original, result.notes)
    for index, cell in enumerate(submission.cells):
        if cell.get("cell_type") == "code" and is_solution(cell):
            _take_cell(grade_id(cell, index), cell_source(cell), result)
    for function in functions:
        if function not in result.defined:
            _search_other_cells(submission, function, result)
    used = _used_names(result.cells)
    setup = [
        node
        for node in _setup_imports(original or submission, trusted=original is not None)
        if _binds(node) & used or _binds(node) == {"*"}
    ]  # only imports the graded code needs: no plotting or data libraries
    if setup:
        result.cells.insert(0, {"name": "imports", "source": _tolerant(setup)})
        if original is not None:  # modules named by the instructor's notebook may be preloaded
            result.preload = sorted(_module_paths(setup))
    return result


def _used_names(cells: list[dict[str, str]]) -> set[str]:
    """Every name the code of ``cells`` reads (in bodies, defaults, annotations, decorators)."""
    names = set()
    for cell in cells:
        for node in ast.walk(ast.parse(cell["source"])):
            if isinstance(node, ast.Name):
                names.add(node.id)
    return names


def _binds(node: ast.stmt) -> set[str]:
    """The names an import statement binds (``*`` for a star import)."""
    return {(alias.asname or alias.name).split(".")[0] for alias in node.names}


def _take_cell(name: str, source: str, result: Extraction) -> None:
    try:
        tree, text = parse(source)
    except SyntaxError as error:
        result.notes.append(
            f"cell {name!r}: syntax error at line {error.lineno} ({error.msg}); "
            "nothing in this cell can be graded"
        )
        return
    kept, skipped = definitions(tree)
    if skipped:
        lines = ", ".join(str(node.lineno) for node in skipped[:5])
        result.notes.append(
            f"cell {name!r}: top-level code at line(s) {lines} is not run by the "
            "grader (only imports, definitions and constants are)"
        )
    if kept:
        result.cells.append({"name": name, "source": _without(text, kept, skipped)})
        result.defined |= defined_names(kept)


def _search_other_cells(notebook, function: str, result: Extraction) -> None:
    """A graded function defined outside its solution cell (metadata lost) is still graded."""
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code" or is_solution(cell) or is_locked(cell):
            continue
        try:
            tree, _ = parse(cell_source(cell))
        except SyntaxError:
            continue
        found = [n for n in tree.body if isinstance(n, DEFINITIONS) and n.name == function]
        if found:
            result.notes.append(
                f"{function} was found in cell {index + 1}, which is not its "
                "solution cell; it is graded, but keep it in its solution cell"
            )
            result.cells.append({"name": f"cell {index + 1}", "source": _segment(found[-1:])})
            result.defined.add(function)
            return
