"""The grader's store of references: computed once, reused while the checks, course_lib and
libraries are the same, recomputed otherwise, private to its owner, never given to students."""

from __future__ import annotations

import logging
import shutil
import stat

import pytest

from autograder import references
from autograder.__main__ import main
from autograder.references import (
    ReferenceUnavailable,
    fill_store,
    references_for,
    store_key,
    store_path,
)
from autograder.spec import load_checks

ASSIGNMENT = "a3_features"  # references of milliseconds: the store's logic, not its cost


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty store of this test; the process's cache of computed references emptied."""
    monkeypatch.setenv("AUTOGRADER_STORE", str(tmp_path / "store"))
    monkeypatch.setattr(references, "_cache", {})
    monkeypatch.setattr(references, "_stored", {})
    return tmp_path / "store"


def computed(monkeypatch) -> list[str]:
    """The names of the cases whose reference is computed from now on."""
    names: list[str] = []
    compute = references.compute_reference

    def counting(checks, case):
        names.append(case.name)
        return compute(checks, case)

    monkeypatch.setattr(references, "compute_reference", counting)
    return names


def same(a, b) -> bool:
    """Plain-data references equal (tensors compared by value)."""
    import torch

    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    return a == b


def test_references_are_computed_once_then_read_from_the_store(store, monkeypatch):
    checks = load_checks(ASSIGNMENT)
    names = computed(monkeypatch)
    first = references_for(checks, checks.cases)
    wanted = {case.name for case in checks.cases if case.reference}
    assert set(first) == wanted and sorted(names) == sorted(wanted)
    path = store_path(ASSIGNMENT)
    assert path.parent == store
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.stat().st_mode) == 0o700  # hidden references: owner only

    names.clear()
    monkeypatch.setattr(references, "_cache", {})  # as in a new grading process
    monkeypatch.setattr(references, "_stored", {})
    again = references_for(checks, checks.cases)
    assert names == [] and same(again, first)
    unpack = references.plaindata.unpack
    monkeypatch.setattr(references.plaindata, "unpack", None)  # read once per process
    assert same(references_for(checks, checks.cases), first)
    monkeypatch.setattr(references.plaindata, "unpack", unpack)


def test_a_store_made_for_other_checks_or_libraries_is_recomputed(store, monkeypatch, caplog):
    checks = load_checks(ASSIGNMENT)
    references_for(checks, checks.select(hidden=False))
    monkeypatch.setattr(references, "_cache", {})
    monkeypatch.setattr(references, "store_key", lambda checks: "another course_lib")
    names = computed(monkeypatch)
    with caplog.at_level(logging.INFO, logger="autograder.references"):
        references_for(checks, checks.select(hidden=False))
    assert names and "out of date" in caplog.text


def test_the_key_follows_course_lib_helpers_and_library_versions(tmp_path, monkeypatch):
    checks = load_checks(ASSIGNMENT)
    key = store_key(checks)
    assert store_key(checks) == key
    copy = tmp_path / "course_lib"
    shutil.copytree(references.course_lib_folder(), copy, ignore=shutil.ignore_patterns("*.pyc"))
    monkeypatch.setattr(references, "course_lib_folder", lambda: copy)
    assert store_key(checks) == key
    with (copy / "utils.py").open("a") as helper:  # no reference module, a helper of them
        helper.write("\n# changed\n")
    assert store_key(checks) != key
    monkeypatch.undo()
    version = references.importlib.metadata.version
    monkeypatch.setattr(
        references.importlib.metadata,
        "version",
        lambda name: "0.0" if name == "scikit-learn" else version(name),
    )
    assert store_key(checks) != key


def test_a_corrupted_store_is_ignored_with_a_warning(store, monkeypatch, caplog):
    checks = load_checks(ASSIGNMENT)
    fill_store(checks)
    path = store_path(ASSIGNMENT)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    monkeypatch.setattr(references, "_cache", {})
    names = computed(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="autograder.references"):
        result = references_for(checks, checks.cases)
    assert "ignoring the stored references" in caplog.text
    assert names and len(result) == len(names)


def test_refs_store_command_stores_every_case_hidden_ones_included(store, capsys):
    assert main(["refs", ASSIGNMENT, "--store"]) == 0
    assert str(store_path(ASSIGNMENT)) in capsys.readouterr().out
    checks = load_checks(ASSIGNMENT)
    stored = references.read_store(checks, store_key(checks))
    assert set(stored) == {case.name for case in checks.cases if case.reference}
    assert any(case.hidden for case in checks.cases if case.name in stored)


def test_a_student_edition_never_reads_hidden_references_from_a_store(store, monkeypatch):
    # With a store of other sources (the student edition's course_lib differs), hidden cases
    # still need the full course_lib.
    checks = load_checks(ASSIGNMENT)
    fill_store(checks)
    monkeypatch.setattr(references, "store_key", lambda checks: "student edition")
    monkeypatch.setattr(references, "_cache", {})

    def no_course_lib(checks, cases):
        raise ReferenceUnavailable("student edition")

    monkeypatch.setattr(references, "live_references", no_course_lib)
    with pytest.raises(ReferenceUnavailable):
        references_for(checks, checks.cases)


def test_an_unwritable_store_only_costs_time(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("AUTOGRADER_STORE", str(blocker / "store"))
    monkeypatch.setattr(references, "_cache", {})
    checks = load_checks(ASSIGNMENT)
    with caplog.at_level(logging.WARNING, logger="autograder.references"):
        result = references_for(checks, checks.select(hidden=False))
    assert result and "could not store the references" in caplog.text


def test_the_store_is_among_the_folders_the_sandbox_user_must_not_read(store):
    from autograder.sandbox.library import protected_folders

    assert store in protected_folders()
