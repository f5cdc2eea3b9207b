"""The nbgrader course: configuration, preprocessors, and real autograde/feedback runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils
from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback
from nbgrader.preprocessors import ClearHiddenTests, Execute, OverwriteCells
from notebook_runs import course_run
from traitlets.config.loader import PyFileConfigLoader

from autograder.nbgrader_ext import (
    NamedClearSolutions,
    RestoreHiddenTests,
    StderrAsStdout,
    enclosing_name,
)
from autograder.spec import load_checks

ROOT = Path(__file__).resolve().parent.parent


def grade_cell(outputs: list) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("check(topk_accuracy)", outputs=outputs)
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "points": 3,
        "grade_id": "test_topk_accuracy",
        "schema_version": 3,
    }
    return cell


def test_a_warning_on_stderr_no_longer_zeroes_a_grade_cell() -> None:
    warning = nbformat.v4.new_output(
        "stream",
        name="stderr",
        text="/tmp/ipykernel_1/1.py:3: UserWarning: To copy construct from a tensor...\n",
    )
    bar = nbformat.v4.new_output("stream", name="stderr", text="train:  40%|####  | 2/5\r")
    cell = grade_cell([warning, bar])
    assert utils.determine_grade(cell) == (0, 3.0)  # nbgrader's own rule
    cell, _ = StderrAsStdout().preprocess_cell(cell, {}, 0)
    assert utils.determine_grade(cell) == (3.0, 3.0)
    assert [o.name for o in cell.outputs] == ["stdout", "stdout"]
    assert "UserWarning" in cell.outputs[0].text


def test_an_error_still_zeroes_a_grade_cell() -> None:
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])
    cell, _ = StderrAsStdout().preprocess_cell(grade_cell([error]), {}, 0)
    assert utils.determine_grade(cell) == (0, 3.0)


def test_partial_credit_is_the_cells_value() -> None:
    result = nbformat.v4.new_output("execute_result", data={"text/plain": "2.0"}, execution_count=1)
    assert utils.determine_grade(grade_cell([result])) == (2.0, 3.0)


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION", "f"),
        (
            "class A:\n    def g(self):\n        '''Doc.'''\n        ### BEGIN SOLUTION\n"
            "        return 1\n        ### END SOLUTION",
            "A.g",
        ),
        ("x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION", "this cell"),
    ],
)
def test_released_stub_names_the_function(source: str, name: str) -> None:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": False,
        "solution": True,
        "locked": False,
        "grade_id": "x",
        "schema_version": 3,
    }
    cell, _ = NamedClearSolutions().preprocess_cell(cell, {"language": "python"}, 0)
    assert "SOLUTION" not in cell.source and "return" not in cell.source
    assert f'raise NotImplementedError("{name}: replace this line' in cell.source
    compile(cell.source, "cell", "exec")


def test_enclosing_name_ignores_closed_blocks() -> None:
    lines = ["class A:", "    def f(self):", "        pass", "    def g(self):", "        x = 1"]
    assert enclosing_name(lines, " " * 8) == "A.g"
    assert enclosing_name(lines, " " * 4) == "A"
    assert enclosing_name(lines, "") is None


def test_course_config_wires_the_preprocessors() -> None:
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "assignments"
    steps = config.Autograde.autograde_preprocessors
    assert steps[steps.index(Execute) + 1] is StderrAsStdout
    assert len(steps) == len(Autograde.autograde_preprocessors.default()) + 1
    sanitize = config.Autograde.sanitize_preprocessors
    assert RestoreHiddenTests in sanitize and OverwriteCells not in sanitize
    assert NamedClearSolutions in config.GenerateAssignment.preprocessors
    assert len(config.GenerateAssignment.preprocessors) == len(
        GenerateAssignment.preprocessors.default()
    )
    assert ClearHiddenTests in config.GenerateFeedback.preprocessors
    assert (
        len(config.GenerateFeedback.preprocessors)
        == len(GenerateFeedback.preprocessors.default()) + 1
    )
    assert 60 <= config.Execute.timeout <= 600


def grade_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]


@pytest.mark.slow
def test_solutions_get_full_marks_with_torch_warnings_in_the_output(tmp_path_factory) -> None:
    run = course_run(tmp_path_factory)
    for assignment in run.assignments:
        score, max_score = run.scores["solution", assignment]
        assert max_score > 0
        assert score == max_score, assignment
        outputs = [
            o for c in grade_cells(run.autograded("solution", assignment)) for o in c.outputs
        ]
        warned = [o for o in outputs if "UserWarning" in o.get("text", "")]
        assert warned, f"{assignment}: the graded functions' warnings are missing"
        assert not [o for o in outputs if o.get("name") == "stderr"]


@pytest.mark.slow
def test_unmodified_releases_get_zero(tmp_path_factory) -> None:
    run = course_run(tmp_path_factory)
    for assignment in run.assignments:
        score, max_score = run.scores["release", assignment]
        assert (score, max_score) == (0, run.scores["solution", assignment][1]), assignment


@pytest.mark.slow
def test_feedback_shows_no_hidden_test(tmp_path_factory) -> None:
    run = course_run(tmp_path_factory)
    for assignment in run.assignments:
        titles = [case.title for case in load_checks(assignment).cases if case.hidden]
        for student in ("solution", "release"):
            html = run.feedback(student, assignment)
            assert "HIDDEN TESTS" not in html and "hidden=True" not in html, assignment
            assert "points" in html  # the graded cells' outputs are there
        # Outputs never name hidden cases (the solution's own code may share their words).
        outputs = json.dumps(
            [c.get("outputs", []) for c in run.autograded("solution", assignment).cells]
        )
        release = run.feedback("release", assignment)
        leaked = [title for title in titles if title in outputs or title in release]
        assert not leaked, f"{assignment} feedback names hidden cases {leaked}"


@pytest.mark.slow
def test_releases_run_until_a_not_implemented_error_that_names_the_function(
    tmp_path_factory,
) -> None:
    run = course_run(tmp_path_factory)
    for assignment in run.assignments:
        nb = run.autograded("release", assignment)
        errors = [
            (index, o)
            for index, c in enumerate(nb.cells)
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "error"
        ]
        assert errors, f"{assignment}: the release ran without raising"
        index, first = errors[0]
        assert first.ename == "NotImplementedError", (assignment, index, first.evalue)
        assert re.fullmatch(r"[\w.]+: replace this line with your implementation", first.evalue)
