"""The check specifications: complete, passed by the references, failed by wrong code."""

from __future__ import annotations

import ast
import zipfile

import pytest
import torch
from autograder_corpus import REPO, units

from autograder.inkernel import run_checks
from autograder.references import ReferenceUnavailable, read_refs, references_for, write_refs
from autograder.spec import (
    CHECKS_DIR,
    families_of,
    graded_functions,
    load_checks,
    sandbox_modules,
    strip_hidden_tests,
)
from autograder.student_edition import ASSIGNMENTS

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_every_graded_function_has_public_and_hidden_cases():
    for assignment in ASSIGNMENTS:
        checks = load_checks(assignment)
        graded = {unit.unit for unit in units(assignment)}
        assert set(checks.functions) == graded, assignment
        for name in graded:
            cases = [c for c in checks.cases if c.function == name]
            assert any(not c.hidden for c in cases) and any(c.hidden for c in cases), name
            assert all(c.name.startswith(f"{name}: ") for c in cases)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_references_pass_all_their_cases(assignment):
    checks = load_checks(assignment)
    for name in checks.functions:
        results = run_checks(assignment, name, checks.reference(name), which="all")
        failed = [f"{r.name}: {r.output}" for r in results if not r.passed]
        assert not failed, failed


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_literals_read_without_import_match_the_loaded_checks(assignment):
    checks = load_checks(assignment)
    assert graded_functions(assignment) == list(checks.functions)
    families = {f"autograder.checks.families.{path.stem}" for path in families_of(assignment)}
    preload = set(getattr(checks.module, "PRELOAD", ()))
    assert set(sandbox_modules(assignment)) == {*preload, *families}
    used = {case.call.__module__ for case in checks.cases}
    # every case's call is preloaded or in the sandbox library (common.py: imported by every
    # family; spec.py: default_call)
    assert used <= families | {"autograder.checks.common", "autograder.spec"}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_tests_strip_to_a_valid_public_module(assignment):
    text = (CHECKS_DIR / f"{assignment}.py").read_text()
    public = strip_hidden_tests(text)
    assert "### BEGIN HIDDEN TESTS" in text and "HIDDEN" not in public
    tree = ast.parse(public)
    namespace: dict = {}
    exec(compile(tree, f"{assignment}-public", "exec"), namespace)  # noqa: S102
    hidden = [c.name for c in load_checks(assignment).cases if c.hidden]
    assert all(not case.hidden for case in namespace["CASES"])
    assert not {c.name for c in namespace["CASES"]} & set(hidden)


def wrong_topk(output, target, topk=(1,)):
    return [  # the k lowest scores
        (output.topk(k, 1, largest=False).indices == target[:, None]).any(1).float().mean().item()
        for k in topk
    ]


def wrong_confusion(preds, targets, num_classes):
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for p, t in zip(preds.reshape(-1), targets.reshape(-1), strict=True):
        matrix[p, t] += 1  # transposed: rows are the predictions
    return matrix


def wrong_cosine(features):
    x = torch.as_tensor(features).float()
    return x @ x.T  # not normalised


def wrong_age_group(age):
    return f"{int(age) // 10 * 10}s"  # no 100s cap


def wrong_tt_svd(tensor, *, ranks=None, max_rank=None, eps=None):
    return [tensor.reshape(1, *tensor.shape, 1)]  # one core


@pytest.mark.parametrize(
    ("assignment", "name", "function", "failing"),
    [
        ("a2_transfer", "topk_accuracy", wrong_topk, ["top-1 and top-5 on random logits"]),
        ("a4_age", "confusion_matrix", wrong_confusion, ["rows are the actual classes"]),
        ("a3_features", "cosine_similarity_matrix", wrong_cosine, ["random features"]),
        ("a4_age", "age_group", wrong_age_group, ["decades, 100 and over"]),
        ("a5_explain_compress", "tt_svd", wrong_tt_svd, ["exact decomposition of a 3-D tensor"]),
    ],
)
def test_wrong_implementations_fail_with_feedback(assignment, name, function, failing):
    results = {r.name: r for r in run_checks(assignment, name, function, which="public")}
    for title in failing:
        result = results[f"{name}: {title}"]
        assert not result.passed and "Failed: " in result.output


def test_public_reference_file_round_trip_and_pinning(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_STORE", str(tmp_path / "store"))  # an empty store
    checks = load_checks("a2_transfer")
    path = write_refs(checks, tmp_path / "a2.zip")
    refs = read_refs(checks, path)
    public = [c for c in checks.cases if not c.hidden and c.reference]
    assert set(refs) == {c.name for c in public}
    results = run_checks(
        "a2_transfer", "build_vgg16_head", checks.reference("build_vgg16_head"), refs_file=path
    )
    assert all(r.passed for r in results)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names == ["manifest.json", "references.zip"]
        assert all(
            not n.endswith(".pkl")
            for n in zipfile.ZipFile(
                __import__("io").BytesIO(archive.read("references.zip"))
            ).namelist()
        )

    monkeypatch.setattr("autograder.references.live_references", _no_course_lib)
    head = checks.reference("build_vgg16_head")  # modules come back from the file intact
    assert all(
        r.passed for r in run_checks("a2_transfer", "build_vgg16_head", head, refs_file=path)
    )
    assert references_for(checks, checks.select(hidden=False), refs_file=path).keys() == refs.keys()
    with pytest.raises(ReferenceUnavailable):
        references_for(checks, checks.cases, refs_file=path)  # hidden cases need course_lib

    monkeypatch.setattr("autograder.references.public_spec_hash", lambda assignment: "other")
    with pytest.raises(ReferenceUnavailable, match="other checks"):
        read_refs(checks, path)


def _no_course_lib(checks, cases):
    raise ReferenceUnavailable("student edition")


def test_checks_use_no_graded_course_lib_code_in_inputs():
    student_side = REPO / "autograder" / "checks"
    graded = {unit.unit for assignment in ASSIGNMENTS for unit in units(assignment)}
    for path in student_side.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_lib"):
                assert not {alias.name for alias in node.names} & graded, path
