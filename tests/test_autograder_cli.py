"""The commands: check, grade, refs and grade-all (resumable); the Gradescope bundle has
tests/test_autograder_bundle.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from autograder_corpus import REPO, release_notebook, solution_notebook, write

import autograder
from autograder.__main__ import COMMANDS, main
from autograder.student_edition import ASSIGNMENTS

ASSIGNMENT = "a2_transfer"


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("check", "grade", "grade-all", "stats", "gradescope", "lock", "course", "refs"):
        assert command in text


@pytest.mark.parametrize("command", ["check", "grade", "grade-all", "gradescope", "refs"])
def test_an_unknown_assignment_is_a_usage_error_naming_the_known_ones(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "a9_nosuch", "x", "--out", "x"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "unknown assignment 'a9_nosuch': expected one of " in error
    assert all(assignment in error for assignment in ASSIGNMENTS)


def test_every_module_with_a_parser_is_a_listed_command():
    package = Path(autograder.__file__).parent
    defining = {
        ".".join(("autograder", *path.relative_to(package).with_suffix("").parts))
        for path in package.rglob("*.py")
        if "\ndef add_parser(" in path.read_text(encoding="utf-8")
    }
    assert defining == set(COMMANDS)


def test_check_passes_a_solution_and_fails_a_release(a2_notebooks, capsys):
    source = ["--source", str(a2_notebooks["release"])]
    assert main(["check", ASSIGNMENT, str(a2_notebooks["solution"]), *source]) == 0
    table = capsys.readouterr().out
    assert "PASS" in table and "FAIL" not in table
    assert main(["check", ASSIGNMENT, str(a2_notebooks["release"]), *source]) == 1
    table = capsys.readouterr().out
    assert "FAIL" in table and "NotImplementedError" in table
    assert "log-probabilities, 200 classes" not in table  # hidden cases are not run


def test_grade_writes_gradescope_results(a2_notebooks, tmp_path):
    out = tmp_path / "results.json"
    assert (
        main(
            [
                "grade",
                ASSIGNMENT,
                str(a2_notebooks["release"]),
                "--out",
                str(out),
                "--source",
                str(a2_notebooks["release"]),
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert isinstance(data["score"], float) and data["score"] == 0.0
    assert isinstance(data["execution_time"], int) and isinstance(data["output"], str)
    assert data["tests"], "no tests"
    for test in data["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "visibility", "output"}
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert test["status"] in {"passed", "failed"}
        assert test["visibility"] in {"visible", "after_published"}
        function = test["name"].split(": ")[0]
        assert function in {"build_vgg16_head", "set_trainable", "train_one_epoch", "topk_accuracy"}
    assert {t["visibility"] for t in data["tests"]} == {"visible", "after_published"}


def test_grade_always_writes_results(tmp_path):
    out = tmp_path / "results.json"
    assert main(["grade", ASSIGNMENT, str(tmp_path / "nothing-here"), "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["score"] == 0.0 and "does not exist" in data["output"]


def test_refs_command_writes_a_pinned_file(tmp_path):
    out = tmp_path / "refs.zip"
    assert main(["refs", ASSIGNMENT, "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["assignment"] == ASSIGNMENT and len(manifest["spec_sha256"]) == 64
    assert all(": " in name for name in manifest["cases"])


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_score_full_marks_and_releases_zero(assignment, tmp_path):
    """The course's notebooks when they exist, else notebooks built from course_lib."""
    from autograder.grading import grade_notebook

    solution = REPO / "solutions" / assignment / f"{assignment}.ipynb"
    release = REPO / "assignments" / assignment / f"{assignment}.ipynb"
    if not (solution.exists() and release.exists()):
        release = write(release_notebook(assignment), tmp_path / "release.ipynb")
        solution = write(solution_notebook(assignment), tmp_path / "solution.ipynb")
    full = grade_notebook(assignment, solution, source=release)
    assert full.score == full.max_score > 0, [t.output for t in full.tests if not t.passed]
    empty = grade_notebook(assignment, release, source=release)
    assert empty.score == 0 and len(empty.tests) == len(full.tests)


@pytest.mark.slow
def test_student_bundle_checks_with_its_shipped_references(tmp_path):
    """A student bundle (student edition, public checks, reference file) runs ``check``."""
    release = pytest.importorskip("autograder.release")
    if not (REPO / "assignments" / ASSIGNMENT).is_dir():
        pytest.skip("no release of the assignment yet")
    bundle = release.build_bundle(ASSIGNMENT, tmp_path / "bundle")
    solution = tmp_path / "solution.ipynb"
    solution.write_bytes((REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes())
    env = {**os.environ, "PYTHONPATH": ""}
    for notebook, code in ((f"{ASSIGNMENT}.ipynb", 1), (str(solution), 0)):
        done = subprocess.run(
            [sys.executable, "-m", "autograder", "check", ASSIGNMENT, notebook],
            cwd=bundle,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == code, done.stdout + done.stderr


@pytest.mark.slow
def test_grade_all_resumes_after_being_killed(a2_notebooks, tmp_path, capsys):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for index in range(8):
        kind = "solution" if index % 2 else "release"
        (submissions / f"student{index}.ipynb").write_bytes(a2_notebooks[kind].read_bytes())
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "autograder",
        "grade-all",
        ASSIGNMENT,
        str(submissions),
        "--out",
        str(out),
        "--workers",
        "1",
        "--no-progress",
        "--source",
        str(a2_notebooks["release"]),
    ]
    process = subprocess.Popen(command, cwd=REPO, start_new_session=True)
    results = out / "results"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(results.glob("*.json")):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = list(results.glob("*.json"))
    assert 1 <= len(done) < 8
    assert not list(results.glob(".*tmp*")), "a partial results file was left behind"
    assert (
        main(
            [
                "grade-all",
                ASSIGNMENT,
                str(submissions),
                "--out",
                str(out),
                "--workers",
                "2",
                "--no-progress",
                "--source",
                str(a2_notebooks["release"]),
            ]
        )
        == 0
    )
    assert f"skipped {len(done)} (already graded)" in capsys.readouterr().out
    rows = (out / "gradebook.csv").read_text().splitlines()
    assert len(rows) == 9
    scores = {row.split(",")[0]: float(row.split(",")[1]) for row in rows[1:]}
    assert scores["student0"] == 0 and scores["student1"] > 0
    assert scores["student1"] == scores["student3"]
