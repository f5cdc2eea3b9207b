"""Taking the code to grade out of a submitted notebook.

Only code that defines things is taken: the import statements of the notebook's other code cells
(from the source notebook when there is one, so edits to read-only cells never count) and, from
each solution cell, imports, ``def`` and ``class`` statements and constant assignments. Training,
plotting and any other top-level statement is never executed. Repairs and problems (edited
read-only cells, duplicated or missing grade ids, syntax errors) become notes for the student.

The notebook is hostile input, so the work is bounded: a cell above MAX_CELL_BYTES is not read,
the code read from one notebook stops at MAX_NOTEBOOK_CODE, each cell is parsed at most once,
and a cell too deep or too large for the parser costs only that cell.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.notebook import (
    NotebookFile,
    compute_checksum,
    grade_id,
    is_locked,
    is_solution,
    nbgrader_meta,
    read_notebook,
)

if TYPE_CHECKING:  # imported where a notebook is read (autograder.notebook)
    import nbformat

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
IMPORTS = (ast.Import, ast.ImportFrom)
GRADER_MODULES = {"autograder"}  # the grader's own helpers are not in the sandbox
#: One cell's source; real solution cells are a few KB.
MAX_CELL_BYTES = 200 * 2**10
#: All code read from one submission: its solution cells first, then others as needed.
MAX_NOTEBOOK_CODE = 512 * 2**10
#: Lines of IPython syntax (``%magic``, ``!cmd``, ``obj?``) rewritten in one cell.
MAX_IPYTHON_LINES = 100
#: What the parser and ``ast.unparse`` raise on input too deep or too large (and null bytes).
PARSE_ERRORS = (RecursionError, MemoryError, ValueError)
IPYTHON_SYNTAX = re.compile(r"^[ \t]*[%!?]|=[ \t]*[%!](?!=)|\?[ \t]*$", re.M)
NEWLINE = re.compile(r"\r\n|\r|\n")  # Python's line ends (str.splitlines knows more)


@dataclass
class Extraction:
    """The code to run, in order (``name``/``source`` cells), and notes for the student."""

    cells: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    defined: set[str] = field(default_factory=set)
    preload: list[str] = field(default_factory=list)  # modules the source notebook imports
    used: set[str] = field(default_factory=set)  # names the code of ``cells`` reads


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
    except SyntaxError as error:
        if not IPYTHON_SYNTAX.search(source):
            raise
        try:
            transformed = _from_ipython(source)
        except SyntaxError:
            raise
        except Exception:  # IPython's rewriting fails in many ways on broken cells
            raise error from None
        if transformed == source:
            raise
        return ast.parse(transformed), transformed


def _from_ipython(source: str) -> str:
    """``source`` with IPython syntax rewritten as IPython does, in linear time.

    IPython's ``transform_cell`` tokenizes the whole cell again after each rewrite (quadratic,
    minutes for a 200 KB cell of magics); here the cell is tokenized once, each logical line is
    matched on its own, and the matches are rewritten from the last up.
    """
    from IPython.core.inputtransformer2 import (
        TokenTransformBase,
        TransformerManager,
        make_tokens_by_line,
    )

    manager = TransformerManager()
    lines = (source if source.endswith("\n") else source + "\n").splitlines(keepends=True)
    for transform in manager.cleanup_transforms + manager.line_transforms:
        lines = transform(lines)
    found = []
    for tokens in make_tokens_by_line(lines):
        matches = [m for kind in manager.token_transformers if (m := kind.find([tokens]))]
        if matches:
            found.append(min(matches, key=TokenTransformBase.sortby))
    if len(found) > MAX_IPYTHON_LINES:
        raise SyntaxError(f"more than {MAX_IPYTHON_LINES} lines of IPython syntax")
    for match in reversed(found):
        lines = match.transform(lines)
    return "".join(lines)


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
    """The code of ``nodes`` regenerated (PARSE_ERRORS when too deep)."""
    return "\n".join(ast.unparse(node) for node in nodes)


def _without(text: str, kept: list[ast.stmt], skipped: list[ast.stmt]) -> str:
    """``text`` with the lines of ``skipped`` statements blanked, so line numbers stay valid."""
    lines = NEWLINE.split(text)
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


def _setup_imports(
    notebook: nbformat.NotebookNode, *, trusted: bool, reader: _Reader
) -> list[ast.stmt]:
    """Import statements of every code cell that is not a solution cell (not the grader's)."""
    statements = []
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code" or is_solution(cell):
            continue
        if trusted:
            nodes = parse(cell_source(cell))[0].body
        elif (is_locked(cell) and _edited(cell)) or "import" not in cell_source(cell):
            continue  # an edited read-only cell has no original to restore; the note was made
        else:
            nodes = reader.other(index, cell)
        statements += [
            node
            for node in nodes
            if isinstance(node, IMPORTS) and not (imported_modules([node]) & GRADER_MODULES)
        ]
    return statements


def imported_modules(nodes: Iterable[ast.stmt], *, top: bool = True) -> set[str]:
    """The modules imported by ``nodes``: top-level names, or full dotted ones (``top=False``)."""
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return {name.split(".")[0] for name in names} if top else names


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


class _Reader:
    """Parses the code cells of one submission within MAX_CELL_BYTES and MAX_NOTEBOOK_CODE.

    What cannot be read becomes a note; syntax errors only in solution cells, as other cells
    may hold anything.
    """

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes
        self.left = MAX_NOTEBOOK_CODE
        self.others: dict[int, list[ast.stmt]] = {}

    def solution(self, name: str, source: str) -> tuple[ast.Module, str] | None:
        """The tree of a solution cell and the text it was parsed from."""
        return self._parse(f"cell {name!r}", source, solution=True)

    def other(self, index: int, cell: nbformat.NotebookNode) -> list[ast.stmt]:
        """The imports and definitions of another code cell, parsed once."""
        if index not in self.others:
            parsed = self._parse(f"cell {index + 1}", cell_source(cell), solution=False)
            body = parsed[0].body if parsed else []
            self.others[index] = [n for n in body if isinstance(n, (*IMPORTS, *DEFINITIONS))]
        return self.others[index]

    def _parse(self, label: str, source: str, *, solution: bool) -> tuple[ast.Module, str] | None:
        size = len(source.encode("utf-8", "surrogatepass"))
        kind, verb = ("solution cells", "graded") if solution else ("other cells", "read")
        if size > MAX_CELL_BYTES:
            self.notes.append(
                f"{label} is {_size(size)}; {kind} above {_size(MAX_CELL_BYTES)} are not {verb}"
            )
            return None
        if size > self.left:
            self.notes.append(
                f"{label} is not {verb}: with it the notebook's code would pass the "
                f"{_size(MAX_NOTEBOOK_CODE)} limit"
            )
            return None
        self.left -= size
        try:
            return parse(source)
        except SyntaxError as error:
            if solution:
                self.notes.append(
                    f"{label}: syntax error at line {error.lineno} ({error.msg}); "
                    "nothing in this cell can be graded"
                )
        except PARSE_ERRORS as error:
            self.notes.append(
                f"{label} cannot be parsed ({_reason(error)}); nothing in it is {verb}"
            )
        return None


def _size(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.0f} KB"


def _reason(error: Exception) -> str:
    detail = str(error) or "nested too deeply or too large"
    return f"{type(error).__name__}: {detail}"


def extract(
    path: Path | str | NotebookFile,
    functions: Iterable[str],
    *,
    source: Path | str | None = None,
) -> Extraction:
    """The code of ``path`` (or of a file already read) to grade for ``functions``.

    SubmissionError if it cannot be read.
    """
    submission, note = read_notebook(path)
    original = read_notebook(source)[0] if source is not None else None
    result = Extraction(notes=[note] if note else [])
    _check_cells(submission, original, result.notes)
    reader = _Reader(result.notes)
    for index, cell in enumerate(submission.cells):
        if cell.get("cell_type") == "code" and is_solution(cell):
            name = grade_id(cell, index)
            _take_cell(name, reader.solution(name, cell_source(cell)), result)
    for function in functions:
        if function not in result.defined:
            _search_other_cells(submission, function, result, reader)
    setup = [
        node
        for node in _setup_imports(
            original or submission, trusted=original is not None, reader=reader
        )
        if _binds(node) & result.used or _binds(node) == {"*"}
    ]  # only imports the graded code needs: no plotting or data libraries
    if setup:
        result.cells.insert(0, {"name": "imports", "source": _tolerant(setup)})
        if original is not None:  # modules named by the instructor's notebook may be preloaded
            result.preload = sorted(imported_modules(setup, top=False))
    return result


def _names_read(nodes: Iterable[ast.stmt]) -> set[str]:
    """Every name ``nodes`` read (in bodies, defaults, annotations, decorators)."""
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _binds(node: ast.stmt) -> set[str]:
    """The names an import statement binds (``*`` for a star import)."""
    return {(alias.asname or alias.name).split(".")[0] for alias in node.names}


def _take_cell(name: str, parsed: tuple[ast.Module, str] | None, result: Extraction) -> None:
    if parsed is None:
        return
    tree, text = parsed
    kept, skipped = definitions(tree)
    if skipped:
        lines = ", ".join(str(node.lineno) for node in skipped[:5])
        result.notes.append(
            f"cell {name!r}: top-level code at line(s) {lines} is not run by the "
            "grader (only imports, definitions and constants are)"
        )
    if not kept:
        return
    try:
        source = _without(text, kept, skipped)
    except PARSE_ERRORS as error:
        result.notes.append(
            f"cell {name!r} cannot be rewritten without its top-level code ({_reason(error)}); "
            "nothing in this cell can be graded"
        )
        return
    result.cells.append({"name": name, "source": source})
    result.defined |= defined_names(kept)
    result.used |= _names_read(kept)


def _search_other_cells(notebook, function: str, result: Extraction, reader: _Reader) -> None:
    """A graded function defined outside its solution cell (metadata lost) is still graded."""
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code" or is_solution(cell) or is_locked(cell):
            continue
        if function not in cell_source(cell):
            continue
        found = [
            n
            for n in reader.other(index, cell)
            if isinstance(n, DEFINITIONS) and n.name == function
        ]
        if not found:
            continue
        try:
            source = _segment(found[-1:])
        except PARSE_ERRORS as error:
            result.notes.append(f"{function} in cell {index + 1} cannot be read ({_reason(error)})")
            continue
        result.notes.append(
            f"{function} was found in cell {index + 1}, which is not its "
            "solution cell; it is graded, but keep it in its solution cell"
        )
        result.cells.append({"name": f"cell {index + 1}", "source": source})
        result.defined.add(function)
        result.used |= _names_read(found[-1:])
        return
