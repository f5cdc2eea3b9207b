"""Nothing a student receives contains solutions, hidden tests or hidden references.

Scanned: the nbgrader release ``assignments/`` and the student bundle of every assignment
(``python -m autograder release``). A reference body is recognised by its distinctive lines
(whitespace-normalised, 4 lines in a row, or the whole body when shorter); the
bundle must not hold the body of any function graded in its assignment or later.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from notebook_runs import available, bundle

from autograder.spec import load_checks
from autograder.student_edition import ASSIGNMENTS, GradedUnit, graded_units

ROOT = Path(__file__).resolve().parent.parent
UNITS = graded_units(ROOT / "course_lib")
#: A solution or hidden-test region left in course code, a check module or a notebook.
MARKER = re.compile(r"^[ \t]*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)", re.MULTILINE)
#: The grading engine's own modules name the markers in their documentation and parsers.
ENGINE = re.compile(r"/autograder/(?!checks/)[^/]+(/[^/]+)?\.py$")
WINDOW = 4


def normalised_lines(text: str) -> list[str]:
    """Non-empty lines without indentation, comments kept (they are part of a solution)."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def fingerprints(unit: GradedUnit) -> set[str]:
    """Runs of ``WINDOW`` consecutive body lines (the whole body if shorter)."""
    lines = normalised_lines(unit.body)
    if len(lines) <= WINDOW:
        return {"\n".join(lines)}
    return {"\n".join(lines[i : i + WINDOW]) for i in range(len(lines) - WINDOW + 1)}


def texts(folder: Path) -> dict[Path, str]:
    """Every readable text in ``folder``: files, notebook sources and outputs, zip members."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".zip":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for name in archive.namelist():
                    found[path / name] = archive.read(name).decode("utf-8", "replace")
        elif path.suffix == ".ipynb":
            nb = json.loads(data)
            found[path] = "\n".join(
                "".join(cell.get("source", "")) + "\n" + json.dumps(cell.get("outputs", []))
                for cell in nb["cells"]
            )
        else:
            found[path] = data.decode("utf-8", "replace")
    return found


def leaks(folder: Path, units: list[GradedUnit]) -> list[str]:
    problems = []
    for path, text in texts(folder).items():
        flat = "\n".join(normalised_lines(text))
        if not ENGINE.search(str(path)):
            problems += [f"{path}: {m.group(0).strip()}" for m in MARKER.finditer(text)]
        for unit in units:
            if any(print_ in flat for print_ in fingerprints(unit)):
                problems.append(f"{path}: reference body of {unit.qualname} ({unit.assignment})")
    return problems


def later(assignment: str) -> list[GradedUnit]:
    index = ASSIGNMENTS.index(assignment)
    return [unit for unit in UNITS if ASSIGNMENTS.index(unit.assignment) >= index]


def test_fingerprints_find_a_body_and_ignore_the_rest(tmp_path: Path) -> None:
    unit = next(u for u in UNITS if len(normalised_lines(u.body)) > WINDOW)
    (tmp_path / "copy.py").write_text(
        "def f():\n" + "\n".join("        " + line for line in unit.body.splitlines())
    )
    (tmp_path / "other.py").write_text("def f():\n    return 1\n")
    assert leaks(tmp_path, [unit]) == [
        f"{tmp_path / 'copy.py'}: reference body of {unit.qualname} ({unit.assignment})"
    ]


def test_the_release_holds_no_solution_and_no_hidden_test() -> None:
    release = ROOT / "assignments"
    assert release.is_dir(), "assignments/ is missing: run `python -m autograder generate`"
    assert leaks(release, UNITS) == []
    for assignment in available():
        text = texts(release / assignment)[release / assignment / f"{assignment}.ipynb"]
        assert "hidden=True" not in text, assignment


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_student_bundle_holds_nothing_still_to_be_graded(
    assignment: str, tmp_path_factory
) -> None:
    if assignment not in available():
        pytest.skip(f"solutions/{assignment} does not exist yet")
    folder = bundle(tmp_path_factory, assignment)
    assert leaks(folder, later(assignment)) == []
    checks = load_checks(assignment)
    hidden = [case for case in checks.cases if case.hidden]
    everything = "\n".join(texts(folder).values())
    for case in hidden:
        assert case.title not in everything, f"hidden case {case.name!r} in the bundle"
    refs = folder / "autograder" / "refs" / f"{assignment}.zip"
    with zipfile.ZipFile(refs) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert set(manifest["cases"]) <= {case.name for case in checks.cases if not case.hidden}
    shipped = sorted(p.name for p in (folder / "autograder" / "checks").glob("a*.py"))
    assert shipped == [f"{assignment}.py"]
