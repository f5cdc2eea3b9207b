"""Student edition of course_lib, solution-cell sync, nbgrader release and student bundles."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from notebook_runs import available, bundle, course_run

from autograder.__main__ import main
from autograder.release import generate
from autograder.student_edition import (
    ASSIGNMENTS,
    build_student_edition,
    graded_units,
    marker_regions,
    student_source,
)
from autograder.sync import sync_solutions

ROOT = Path(__file__).resolve().parent.parent

FAKE = textwrap.dedent('''\
    """A fake library module."""

    import torch


    def double(x):
        """Twice x."""
        ### BEGIN SOLUTION a1_data
        return 2 * x
        ### END SOLUTION


    class Pairs:
        """Pairs of items."""

        def __init__(self, items):
            self.items = items

        def __getitem__(self, index):
            """The pair at index."""
            ### BEGIN SOLUTION a2_transfer
            item = self.items[index]
            return item, item
            ### END SOLUTION
    ''')

#: The graded functions the course was specified with, by assignment (qualified names). These
#: assignments keep grading exactly these; an assignment added later needs no entry, its graded
#: functions are pinned by its checks' FUNCTIONS (tests/test_autograder_checks.py).
CONTRACT = {
    "a1_data": {
        "class_name_maps",
        "load_val_labels",
        "random_split_indices",
        "TransformedSubset.__getitem__",
        "pick_per_class",
        "cluster_classes",
        "mean_pool",
    },
    "a2_transfer": {"build_vgg16_head", "set_trainable", "train_one_epoch", "topk_accuracy"},
    "a3_features": {
        "extract_features",
        "cosine_similarity_matrix",
        "most_similar",
        "canvas_positions",
    },
    "a4_age": {
        "stratified_split_indices",
        "replace_last_linear",
        "confusion_matrix",
        "normalize_per_class",
        "load_cacd_meta",
        "age_group",
        "select_per_group",
    },
    "a5_explain_compress": {"gradcam", "tt_svd", "tt_matrix_forward"},
}


@pytest.fixture
def fake_package(tmp_path: Path) -> Path:
    package = tmp_path / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "lib.py").write_text(FAKE)
    (package / "__pycache__" / "lib.cpython-311.pyc").write_bytes(b"return 2 * x")
    return package


def test_units_are_found_with_their_notebook_source(fake_package: Path) -> None:
    units = graded_units(fake_package)
    assert [(u.assignment, u.qualname, u.unit) for u in units] == [
        ("a1_data", "double", "double"),
        ("a2_transfer", "Pairs.__getitem__", "Pairs"),
    ]
    assert units[0].body == "return 2 * x\n"
    assert units[1].unit_source.startswith("class Pairs:")
    assert "### BEGIN SOLUTION\n" in units[1].unit_source
    assert units[1].unit_source.rstrip().endswith("### END SOLUTION")
    assert "a2_transfer" not in units[1].unit_source


def test_student_source_hides_current_and_later_bodies() -> None:
    first = student_source(FAKE, "a1_data")
    assert "return 2 * x" not in first and "return item, item" not in first
    assert 'raise NotImplementedError("double is graded in a1_data' in first
    assert 'raise NotImplementedError("Pairs.__getitem__ is graded in a2_transfer' in first

    second = student_source(FAKE, "a2_transfer")
    assert "        return 2 * x\n" not in second  # markers gone, body dedent kept as is
    assert "    return 2 * x\n" in second
    assert "return item, item" not in second
    assert "SOLUTION" not in second
    namespace: dict = {}
    exec(compile(second, "lib.py", "exec"), namespace)
    assert namespace["double"](4) == 8
    with pytest.raises(NotImplementedError, match="implement it in the notebook"):
        namespace["Pairs"]([1])[0]

    assert "SOLUTION" not in student_source(FAKE, "a5_explain_compress").replace(
        "NotImplementedError", ""
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", "needs the"),
        ("def f():\n    ### BEGIN SOLUTION a9\n    return 1\n    ### END SOLUTION\n", "unknown"),
        ("def f():\n    ### BEGIN SOLUTION a1_data\n    return 1\n", "never closed"),
        ("def f():\n    return 1\n    ### END SOLUTION\n", "without a BEGIN"),
        ("def f():\n    ### BEGIN SOLUTION a1_data\n    ### BEGIN SOLUTION a1_data\n", "inside"),
    ],
)
def test_bad_markers_name_the_line(source: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        marker_regions(source, path="lib.py")


def test_region_must_hold_the_whole_body(tmp_path: Path) -> None:
    (tmp_path / "lib.py").write_text(
        "def f(x):\n    y = x\n    ### BEGIN SOLUTION a1_data\n    return y\n    ### END SOLUTION\n"
    )
    with pytest.raises(ValueError, match="whole body"):
        graded_units(tmp_path)


def test_student_edition_is_a_clean_importable_copy(fake_package: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "pkg"
    build_student_edition(fake_package, dest, "a2_transfer")
    build_student_edition(fake_package, dest, "a2_transfer")  # replaces the previous copy
    assert sorted(p.name for p in dest.iterdir()) == ["__init__.py", "lib.py"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["pkg"]  # no staging left
    sys.path.insert(0, str(dest.parent))
    try:
        lib = importlib.import_module("pkg.lib")
        assert lib.double(3) == 6
        with pytest.raises(NotImplementedError, match="graded in a2_transfer"):
            lib.Pairs([1])[0]
    finally:
        sys.path.remove(str(dest.parent))
        for name in ("pkg", "pkg.lib"):
            sys.modules.pop(name, None)


def test_course_lib_marks_exactly_the_contract_functions() -> None:
    assert set(CONTRACT) <= set(ASSIGNMENTS), "every assignment of the contract is still taught"
    found: dict[str, set[str]] = {assignment: set() for assignment in ASSIGNMENTS}
    for unit in graded_units(ROOT / "course_lib"):
        found[unit.assignment].add(unit.qualname)
    assert {assignment: found[assignment] for assignment in CONTRACT} == CONTRACT


def test_sync_command_reports_no_difference() -> None:
    assert main(["sync-solutions", "--check"]) == 0


def test_solution_cells_equal_course_lib() -> None:
    problems = [str(difference) for difference in sync_solutions(write=False)]
    assert problems == [], "run `python -m autograder sync-solutions`:\n" + "\n".join(problems)


def test_sync_rewrites_a_stale_cell(fake_package: Path, tmp_path: Path) -> None:
    solutions = tmp_path / "solutions"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("def double(x):\n    return x + x")
    cell.metadata["nbgrader"] = {
        "grade": False,
        "solution": True,
        "locked": False,
        "grade_id": "double",
        "schema_version": 3,
    }
    nb.cells = [cell]
    path = solutions / "a1_data" / "a1_data.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    found = sync_solutions(
        solutions=solutions, package=fake_package, write=False, with_checks=False
    )
    assert [(str(d), d.fixable) for d in found] == [
        (f"{path}: cell 'double' differs from its source", True),
        (f"{solutions / 'a2_transfer' / 'a2_transfer.ipynb'}: missing (1 graded functions)", False),
    ]
    sync_solutions(
        solutions=solutions, package=fake_package, assignments=("a1_data",), with_checks=False
    )
    source = nbformat.read(path, as_version=4).cells[0].source
    assert source == (
        'def double(x):\n    """Twice x."""\n    ### BEGIN SOLUTION\n'
        "    return 2 * x\n    ### END SOLUTION"
    )
    again = sync_solutions(
        solutions=solutions,
        package=fake_package,
        write=False,
        assignments=("a1_data",),
        with_checks=False,
    )
    assert again == []


def test_generate_refuses_stale_solutions(fake_package: Path, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(fake_package, root / "course_lib")
    nb = nbformat.v4.new_notebook()
    path = root / "solutions" / "a1_data" / "a1_data.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="sync-solutions"):
        generate(["a1_data"], root=root, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_committed_release_equals_a_fresh_nbgrader_run(tmp_path_factory) -> None:
    run = course_run(tmp_path_factory)
    committed = ROOT / "assignments"
    assert sorted(p.name for p in committed.iterdir()) == sorted(run.assignments)
    for assignment in run.assignments:
        fresh = sorted(p.name for p in (run.released / assignment).iterdir())
        assert sorted(p.name for p in (committed / assignment).iterdir()) == fresh
        for name in fresh:
            new = (run.released / assignment / name).read_bytes()
            old = (committed / assignment / name).read_bytes()
            assert new == old, (
                f"assignments/{assignment}/{name} differs from a fresh nbgrader release: "
                "run `python -m autograder generate`"
            )


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_bundle_holds_notebook_student_library_and_self_check(
    assignment: str, tmp_path_factory
) -> None:
    if assignment not in available():
        pytest.skip(f"solutions/{assignment} does not exist yet")
    folder = bundle(tmp_path_factory, assignment)
    released = ROOT / "assignments" / assignment / f"{assignment}.ipynb"
    assert (folder / f"{assignment}.ipynb").read_bytes() == released.read_bytes()
    assert (folder / "README.md").is_file()
    index = ASSIGNMENTS.index(assignment)
    library = "\n".join(p.read_text() for p in (folder / "course_lib").rglob("*.py"))
    for unit in graded_units(ROOT / "course_lib"):
        replaced = f'"{unit.qualname} is graded in {unit.assignment}' in library
        assert replaced == (ASSIGNMENTS.index(unit.assignment) >= index), unit.qualname
    assert not (folder / "autograder" / "release.py").exists()
    done = subprocess.run(
        [sys.executable, "-c", "import course_lib, autograder; print(course_lib.__file__)"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(done.stdout.strip()).resolve().is_relative_to(folder.resolve())


def self_check(bundle_folder: Path, notebook: Path, workdir: Path) -> subprocess.CompletedProcess:
    """``python -m autograder check`` run by a student in a copy of the bundle."""
    folder = workdir / bundle_folder.name
    shutil.copytree(bundle_folder, folder)
    shutil.copy(notebook, folder / "mine.ipynb")
    return subprocess.run(
        [sys.executable, "-m", "autograder", "check", folder.name, "mine.ipynb"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_students_self_check_passes_the_solution(
    assignment: str, tmp_path_factory, tmp_path: Path
) -> None:
    if assignment not in available():
        pytest.skip(f"solutions/{assignment} does not exist yet")
    folder = bundle(tmp_path_factory, assignment)
    solution = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    done = self_check(folder, solution, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "note:" not in done.stdout, done.stdout


@pytest.mark.slow
def test_students_self_check_fails_the_untouched_release(tmp_path_factory, tmp_path: Path) -> None:
    assignment = available()[0]
    folder = bundle(tmp_path_factory, assignment)
    done = self_check(folder, folder / f"{assignment}.ipynb", tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NotImplementedError" in done.stdout
