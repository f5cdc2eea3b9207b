"""Check specifications: the cases of an assignment and how they are loaded.

Each ``autograder/checks/<id>.py`` defines ``FUNCTIONS`` (graded name -> course_lib module that
holds the reference), ``CASES``, a list of :class:`Case`, and optionally ``PRELOAD``, modules
the sandbox server imports once besides the submission's imports (those the graded code or the
cases import lazily, when they are called). ``FUNCTIONS`` and ``PRELOAD`` are literals: they are
read without importing the module, so that the sandbox starts before the grading process
imports torch (:func:`sandbox_modules`). A case builds its inputs from a seed (the same code
runs in the sandbox and in the grading process), calls the graded function, and compares the
plain-data output with the reference's in the grading process. Hidden cases sit between
``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` lines so that the student edition of a
checks module can drop them (:func:`strip_hidden_tests`).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = Path(__file__).resolve().parent
CHECKS_DIR = PACKAGE / "checks"
FAMILIES = CHECKS_DIR / "families"
BEGIN_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*$")
END_HIDDEN = re.compile(r"^[ \t]*### END HIDDEN TESTS[ \t]*$")

Inputs = dict[str, Any]


def summary(function: Callable) -> str:
    """The first paragraph of ``function``'s docstring, on one line: what a comparison checks."""
    text = inspect.cleandoc(function.__doc__ or "the output")
    return " ".join(text.split("\n\n", 1)[0].split())


def default_call(function: Callable, inputs: Inputs) -> Any:
    """Call the graded function with the inputs as keyword arguments."""
    return function(**inputs)


def default_compare(actual: Any, expected: Any, context: Context) -> None:
    """Structure, shapes, dtypes and values within the case's tolerance."""
    from autograder import asserts  # imports torch: not needed to start a sandbox

    asserts.assert_close(actual, expected, rtol=context.case.rtol, atol=context.case.atol)


@dataclass(frozen=True)
class Case:
    """One named check of one graded function.

    ``inputs(workdir)`` builds the arguments from fixed seeds (files go under ``workdir``);
    ``call(function, inputs)`` returns what is compared (defaults to ``function(**inputs)``);
    ``compare(actual, expected, context)`` raises :class:`asserts.CheckFailure`. Cases with
    ``reference=False`` check invariants only and get ``expected=None``.
    """

    function: str
    title: str
    inputs: Callable[[Path], Inputs]
    call: Callable[[Callable, Inputs], Any] = default_call
    compare: Callable[[Any, Any, Context], None] = default_compare
    points: float = 1.0
    hidden: bool = False
    timeout: float = 10.0
    rtol: float | None = None
    atol: float | None = None
    reference: bool = True

    @property
    def name(self) -> str:
        """``"<function>: <title>"``, unique within an assignment."""
        return f"{self.function}: {self.title}"

    @property
    def visibility(self) -> str:
        return "hidden" if self.hidden else "public"


@dataclass
class Context:
    """What a comparison may use besides the two outputs: the case and its inputs."""

    case: Case
    workdir: Path

    @cached_property
    def inputs(self) -> Inputs:
        """The case's inputs, rebuilt in the grading process (never taken from the sandbox)."""
        return self.case.inputs(self.workdir)


@dataclass(frozen=True)
class Checks:
    """The check specification of one assignment."""

    assignment: str
    functions: dict[str, str]  # graded name -> module holding the reference
    cases: tuple[Case, ...]
    module: ModuleType

    def case(self, name: str) -> Case:
        for case in self.cases:
            if case.name == name:
                return case
        raise KeyError(f"{self.assignment} has no case {name!r}")

    def select(self, *, hidden: bool) -> tuple[Case, ...]:
        """All cases, or only the public ones."""
        return self.cases if hidden else tuple(c for c in self.cases if not c.hidden)

    @property
    def max_score(self) -> float:
        return sum(case.points for case in self.cases)

    def reference(self, function: str) -> Callable:
        """The reference implementation of ``function`` from the full course_lib."""
        module = importlib.import_module(self.functions[function])
        target: Any = module
        for part in function.split("."):
            target = getattr(target, part)
        return target


def checks_file(assignment: str) -> Path:
    """``autograder/checks/<assignment>.py``; ValueError naming the known ids when there is none."""
    path = CHECKS_DIR / f"{assignment}.py"
    if not re.fullmatch(r"a\d+_\w+", assignment) or not path.is_file():
        known = sorted(p.stem for p in CHECKS_DIR.glob("a*_*.py"))
        raise ValueError(f"unknown assignment {assignment!r}: expected one of {', '.join(known)}")
    return path


def load_checks(assignment: str) -> Checks:
    """Import ``autograder.checks.<assignment>`` and validate its cases."""
    checks_file(assignment)
    module = importlib.import_module(f"autograder.checks.{assignment}")
    cases = tuple(module.CASES)
    names = [case.name for case in cases]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"{module.__file__}: duplicated case names {duplicated}")
    unknown = sorted({case.function for case in cases} - set(module.FUNCTIONS))
    if unknown:
        raise ValueError(f"{module.__file__}: cases of functions missing in FUNCTIONS: {unknown}")
    return Checks(assignment, dict(module.FUNCTIONS), cases, module)


def strip_hidden_tests(text: str) -> str:
    """``text`` without the lines from ``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN TESTS``."""
    kept: list[str] = []
    hidden = False
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if BEGIN_HIDDEN.match(line):
            if hidden:
                raise ValueError(f"line {number}: BEGIN HIDDEN TESTS inside a hidden block")
            hidden = True
        elif END_HIDDEN.match(line):
            if not hidden:
                raise ValueError(f"line {number}: END HIDDEN TESTS without a BEGIN")
            hidden = False
        elif not hidden:
            kept.append(line)
    if hidden:
        raise ValueError("BEGIN HIDDEN TESTS is never closed by END HIDDEN TESTS")
    return "".join(kept)


def families_of(assignment: str) -> list[Path]:
    """The family modules the checks of ``assignment`` import, directly or through each other."""
    pending, found = [checks_file(assignment)], set()
    while pending:
        path = pending.pop()
        for family in _families_imported(path, path.stat().st_mtime_ns):
            if family not in found:
                found.add(family)
                pending.append(family)
    return sorted(found)


@functools.lru_cache(maxsize=256)
def _families_imported(path: Path, mtime_ns: int) -> tuple[Path, ...]:
    """The family modules ``path`` imports (parsed once per version of the file)."""
    families = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        module = node.module if isinstance(node, ast.ImportFrom) else None
        if module and module.startswith("autograder.checks.families."):
            families.append(FAMILIES / f"{module.rsplit('.', 1)[1]}.py")
    return tuple(families)


def _literals(assignment: str) -> dict[str, Any]:
    """``FUNCTIONS`` and ``PRELOAD`` of a checks file, read from its literals without importing
    it (that would import torch)."""
    constants: dict[str, Any] = {"FUNCTIONS": {}, "PRELOAD": ()}
    for node in ast.parse(checks_file(assignment).read_text(encoding="utf-8")).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id in constants and node.value is not None:
            constants[target.id] = ast.literal_eval(node.value)
    return constants


def graded_functions(assignment: str) -> list[str]:
    """The names of ``assignment``'s graded functions (``FUNCTIONS``), read without importing
    its checks: a notebook is read while the sandbox server starts."""
    return list(_literals(assignment)["FUNCTIONS"])


def sandbox_modules(assignment: str) -> list[str]:
    """Modules a sandbox server of ``assignment`` imports first, before the submission's own
    (:func:`autograder.sandbox.host.warm_up`): ``PRELOAD`` and the families the checks use (they
    define each case's ``call``, which reaches the sandbox by pickle). Read without importing the
    checks, so that the server starts before the grading process has imported torch."""
    families = [f"autograder.checks.families.{p.stem}" for p in families_of(assignment)]
    return sorted({*_literals(assignment)["PRELOAD"], *families})


def public_spec_hash(assignment: str) -> str:
    """sha256 of the public checks: the module without hidden tests, the helpers it uses.

    This is what pins a file of public references to the checks it was made for; a change in
    another assignment's families leaves it as it is.
    """
    digest = hashlib.sha256()
    text = (CHECKS_DIR / f"{assignment}.py").read_text(encoding="utf-8")
    digest.update(strip_hidden_tests(text).encode())
    for path in [CHECKS_DIR / "common.py", *families_of(assignment)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def module_source(module: str, assignment: str) -> Path:
    """The source file of the reference ``module`` of ``assignment``, found without importing
    it or its packages (``course_lib.data`` imports torchvision: seconds)."""
    top, *parts = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
        for candidate in (path.with_suffix(".py"), path / "__init__.py"):
            if candidate.is_file():
                return candidate
    raise ValueError(f"reference module {module!r} of {assignment} not found")


def grader_sha256(checks: Checks) -> str:
    """sha256 of everything that decides a grade besides the submission.

    The checks module (hidden cases included), ``common.py``, the families, ``asserts.py`` and
    the source of the course_lib modules that hold the references (``FUNCTIONS``). A result
    made under another hash is out of date.
    """
    paths = [CHECKS_DIR / f"{checks.assignment}.py", CHECKS_DIR / "common.py"]
    paths += [*families_of(checks.assignment), PACKAGE / "asserts.py"]
    for module in sorted(set(checks.functions.values())):
        paths.append(module_source(module, checks.assignment))
    digest = hashlib.sha256()
    for path in paths:
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()
