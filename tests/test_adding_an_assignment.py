"""docs/adding-an-assignment.md, followed step by step in a temporary copy of the repository.

The files of the worked example are taken from the guide (a ``File: `path` `` line above a
fenced block), and every command run here must appear verbatim in one of its ``sh`` blocks.
Commands run in subprocesses with the copy as working folder and first on ``PYTHONPATH``, so the
copy's course_lib and autograder are the ones that run, not this repository's.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "adding-an-assignment.md"
ASSIGNMENT = "a6_tiny"
#: What the guide's commands need: the library, the grader, nbgrader's configuration and, for
#: the corpus step, the grading corpus tests with their pytest configuration.
COPIED = (
    "course_lib",
    "autograder",
    "nbgrader_config.py",
    "pyproject.toml",
    "tests/conftest.py",
    "tests/test_grading_corpus.py",
    "tests/grading_corpus",
    "tests/autograder_corpus",
)
FILE_BLOCK = re.compile(r"^File: `(?P<path>[^`]+)`\n\n```python\n(?P<source>.*?)^```$", re.M | re.S)
SH_BLOCK = re.compile(r"^```sh\n(?P<lines>.*?)^```$", re.M | re.S)
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def guide_files(text: str) -> dict[str, str]:
    """Path -> content of every file the guide shows in full."""
    return {m["path"]: m["source"] for m in FILE_BLOCK.finditer(text)}


def guide_commands(text: str) -> set[str]:
    """Every line of the guide's ``sh`` blocks."""
    return {line for m in SH_BLOCK.finditer(text) for line in m["lines"].splitlines()}


def copy_repository(dest: Path) -> Path:
    for name in COPIED:
        source, target = ROOT / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=IGNORED)
        else:
            shutil.copy2(source, target)
    return dest


def register(path: Path, assignment: str) -> None:
    """Step 1: append ``assignment`` to the ``ASSIGNMENTS`` tuple of ``path``."""
    text = path.read_text(encoding="utf-8")
    node = next(
        n
        for n in ast.parse(text).body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ASSIGNMENTS"
    )
    last = node.value.elts[-1]
    lines = text.splitlines(keepends=True)
    line = lines[last.end_lineno - 1]
    lines[last.end_lineno - 1] = (
        line[: last.end_col_offset] + f', "{assignment}"' + line[last.end_col_offset :]
    )
    path.write_text("".join(lines), encoding="utf-8")


def graded_names(checks_source: str) -> list[str]:
    """The keys of ``FUNCTIONS`` in a checks module's source."""
    for node in ast.parse(checks_source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FUNCTIONS":
            return list(ast.literal_eval(node.value))
    raise ValueError("the guide's checks module defines no FUNCTIONS")


def skeleton(path: Path, names: list[str]) -> None:
    """Step 4: a notebook with an import cell and empty graded cells for ``names``."""
    v4 = nbformat.v4

    def graded(grade_id: str, *, solution: bool) -> nbformat.NotebookNode:
        meta = {"grade": not solution, "grade_id": grade_id, "locked": not solution}
        meta |= {"schema_version": 3, "solution": solution}
        if not solution:
            meta["points"] = 0
        return v4.new_code_cell("", metadata={"nbgrader": meta})

    cells = [
        v4.new_markdown_cell(f"# {ASSIGNMENT}"),
        v4.new_code_cell("import torch\n\nfrom autograder.cells import check"),
    ]
    for name in names:
        cells += [v4.new_markdown_cell(f"## `{name}`\n\nWrite `{name}` as its docstring says.")]
        cells += [graded(name, solution=True), graded(f"test_{name}", solution=False)]
        cells += [graded(f"test_{name}_hidden", solution=False)]
    for number, cell in enumerate(cells):
        cell.id = f"cell-{number}"
    notebook = v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path.parent.mkdir(parents=True)
    nbformat.write(notebook, path)


def cells_by_id(path: Path) -> dict[str, nbformat.NotebookNode]:
    nb = nbformat.read(path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def test_the_guide_shows_every_file_of_the_example() -> None:
    files = guide_files(GUIDE.read_text(encoding="utf-8"))
    assert sorted(files) == [
        "autograder/checks/a6_tiny.py",
        "autograder/checks/families/pixels.py",
        "course_lib/pixels.py",
        "tests/grading_corpus/a6_tiny.py",
    ]
    assert "### BEGIN SOLUTION a6_tiny" in files["course_lib/pixels.py"]
    assert "### BEGIN HIDDEN TESTS" in files["autograder/checks/a6_tiny.py"]


@pytest.mark.slow
def test_following_the_guide_releases_and_grades_a_new_assignment(tmp_path: Path) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    files, commands = guide_files(text), guide_commands(text)
    repo = copy_repository(tmp_path / "repo")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(repo)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])

    def run(command: str, *, status: int = 0) -> str:
        assert command in commands, f"{command!r} is not a command of {GUIDE.name}"
        done = subprocess.run(
            command, shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == status, f"{command}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def write(name: str) -> None:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(files[name], encoding="utf-8")

    where = subprocess.run(
        [sys.executable, "-c", "import autograder, course_lib; print(autograder.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(repo), "the copy must be what runs"

    # 1. Register the id.
    register(repo / "autograder" / "student_edition.py", ASSIGNMENT)
    # 2. The graded function in course_lib.
    write("course_lib/pixels.py")
    # 3. The checks.
    write("autograder/checks/families/pixels.py")
    write(f"autograder/checks/{ASSIGNMENT}.py")
    names = graded_names(files[f"autograder/checks/{ASSIGNMENT}.py"])
    # 4. The source notebook, graded cells empty.
    source = repo / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    skeleton(source, names)
    # 5. Code and points into the notebook.
    run(f"python -m autograder sync-solutions {ASSIGNMENT}")
    run(f"python -m autograder sync-solutions --check {ASSIGNMENT}")
    cells = cells_by_id(source)
    for name in names:
        assert cells[name].source.startswith(f"def {name}(")
        assert "### BEGIN SOLUTION\n" in cells[name].source
        assert cells[f"test_{name}"].source == f"check({name})"
        assert f"check({name}, hidden=True)" in cells[f"test_{name}_hidden"].source
    # 6. The release.
    run(f"python -m autograder generate {ASSIGNMENT}")
    released = repo / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    release_cells = cells_by_id(released)
    for name in names:
        assert "NotImplementedError" in release_cells[name].source
        assert "hidden=True" not in release_cells[f"test_{name}_hidden"].source
    # 7. The student bundle.
    run(f"python -m autograder refs {ASSIGNMENT} --out runs/{ASSIGNMENT}/refs.zip")
    run(f"python -m autograder release {ASSIGNMENT} --out runs/{ASSIGNMENT}/bundle")
    bundle = repo / "runs" / ASSIGNMENT / "bundle"
    assert (bundle / f"{ASSIGNMENT}.ipynb").read_bytes() == released.read_bytes()
    assert "is graded in a6_tiny" in (bundle / "course_lib" / "pixels.py").read_text()
    shipped = sorted(p.name for p in (bundle / "autograder" / "checks").glob("a*.py"))
    assert shipped == [f"{ASSIGNMENT}.py"]
    assert "HIDDEN" not in (bundle / "autograder" / "checks" / f"{ASSIGNMENT}.py").read_text()
    # 8. Grade: the solution gets full marks, the release 0, the self-check fails the release.
    out = f"runs/{ASSIGNMENT}"
    for notebook, name in ((source, "solution"), (released, "release")):
        notebook = notebook.relative_to(repo)
        run(f"python -m autograder grade {ASSIGNMENT} {notebook} --out {out}/{name}.json")
    solution = json.loads((repo / out / "solution.json").read_text())
    release = json.loads((repo / out / "release.json").read_text())
    assert solution["score"] == sum(t["max_score"] for t in solution["tests"]) > 0
    assert release["score"] == 0 and len(release["tests"]) == len(solution["tests"])
    for name in names:
        for grade_id, visibility in (
            (f"test_{name}", "visible"),
            (f"test_{name}_hidden", "after_published"),
        ):
            points = sum(
                t["max_score"]
                for t in solution["tests"]
                if t["name"].startswith(f"{name}: ") and t["visibility"] == visibility
            )
            assert cells[grade_id].metadata["nbgrader"]["points"] == points > 0, grade_id
    self_check = f"cd {out}/bundle && python -m autograder check {ASSIGNMENT} {ASSIGNMENT}.ipynb"
    checked = run(self_check, status=1)
    assert "NotImplementedError" in checked
    # 9. The grading corpus.
    write(f"tests/grading_corpus/{ASSIGNMENT}.py")
    run(f"python -m pytest tests/test_grading_corpus.py -k {ASSIGNMENT}")
