"""Hostile files: reading without following links or blocking, removing and measuring any tree,
submissions that are links or FIFOs, and the sandbox's scratch quota."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from autograder_corpus import REPO, solution_notebook, write
from test_autograder_sandbox import CASE, cell, jobs, output

from autograder import safefs
from autograder.batch import discover
from autograder.notebook import SubmissionError, read_notebook_file
from autograder.safefs import (
    FileTooLargeError,
    NotRegularFileError,
    read_regular,
    remove_tree,
    tree_usage,
)
from autograder.sandbox.host import sandbox_mode
from autograder.sandbox.session import run_cases
from autograder.submissions import find_notebook, grade_to_file

ASSIGNMENT = "a2_transfer"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
NOBODY = 65534


def nest(base: Path, names: list[str]) -> None:
    """Folders ``names[0]/names[1]/...`` under ``base``, made through descriptors (any depth)."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd), "w") as leaf:
            leaf.write("x" * 5000)
    finally:
        os.close(fd)


@pytest.fixture
def canary(tmp_path) -> Path:
    """A folder outside the tree under test, with a file in it; both must survive."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "canary.txt").write_text("still here")
    return folder


def assert_alive(canary: Path) -> None:
    assert (canary / "canary.txt").read_text() == "still here"


def test_remove_tree_deeper_than_recursion_and_path_max(tmp_path):
    tree = tmp_path / "deep"
    tree.mkdir()
    nest(tree, ["d"] * 5000)  # shutil.rmtree hits RecursionError long before
    assert remove_tree(tree) and not tree.exists()
    tree.mkdir()
    nest(tree, ["n" * 250] * 40)  # paths of 10 000 characters, over PATH_MAX (4096)
    assert len(str(tree)) + 40 * 251 > os.pathconf("/", "PC_PATH_MAX")
    assert remove_tree(tree) and not tree.exists()


def test_remove_tree_wide_and_unreadable(tmp_path):
    tree = tmp_path / "wide"
    tree.mkdir()
    for index in range(10_000):
        (tree / f"f{index}").touch()
    locked = tree / "locked"
    nest(tree, ["locked", "inner"])
    (locked / "inner" / "leaf.txt").chmod(0o400)
    (locked / "inner").chmod(0o000)
    locked.chmod(0o000)
    (tree / "readonly.txt").write_text("x")
    (tree / "readonly.txt").chmod(0o400)
    assert remove_tree(tree) and not tree.exists()


def test_remove_tree_removes_links_not_their_targets(tmp_path, canary):
    tree = tmp_path / "links"
    (tree / "sub").mkdir(parents=True)
    (tree / "to_file").symlink_to(canary / "canary.txt")
    (tree / "to_folder").symlink_to(canary)
    (tree / "sub" / "up").symlink_to("../..")
    (tree / "sub" / "hard").hardlink_to(canary / "canary.txt")
    assert remove_tree(tree) and not tree.exists()
    assert_alive(canary)
    link = tmp_path / "link"
    link.symlink_to(canary)
    assert remove_tree(link) and not os.path.lexists(link)
    assert_alive(canary)
    assert remove_tree(tmp_path / "missing")


@contextlib.contextmanager
def on_listing(hook):
    """Run ``hook(fd)`` each time safefs lists a folder, before its entries are handled."""
    listing = os.scandir

    def scandir(target):
        entries = list(listing(target))
        hook(target)
        return contextlib.nullcontext(entries)

    safefs.os.scandir = scandir
    try:
        yield
    finally:
        safefs.os.scandir = listing


def test_remove_tree_never_leaves_a_tree_changed_under_it(tmp_path, canary, caplog):
    tree = tmp_path / "racy"
    (tree / "a").mkdir(parents=True)

    def swap(fd):  # after listing the top: "a" becomes a link to the canary's folder
        if os.path.samestat(os.fstat(fd), tree.stat()) and (tree / "a").is_dir():
            (tree / "a").rmdir()
            (tree / "a").symlink_to(canary)

    with on_listing(swap):
        assert remove_tree(tree) is False
    assert_alive(canary) and "could not remove all of" in caplog.text
    assert remove_tree(tree) and not tree.exists()

    (tree / "a" / "b" / "c").mkdir(parents=True)
    inner = (tree / "a" / "b").stat()

    def move(fd):  # inside a/b: a is moved out of the tree, next to the canary
        if os.path.samestat(os.fstat(fd), inner):
            (tree / "a").rename(canary / "a")

    with on_listing(move):
        assert remove_tree(tree) is False
    assert_alive(canary) and (canary / "a").is_dir()  # the walk stopped at the moved folder
    assert remove_tree(tree) and remove_tree(canary / "a")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to another user")
def test_remove_tree_as_owner_repairs_modes(canary):
    base = Path(tempfile.mkdtemp())
    try:
        tree = base / "tree"
        nest(base, ["tree", "a", "b"])
        (tree / "a" / "b" / "leaf.txt").chmod(0o400)
        (tree / "link").symlink_to(canary / "canary.txt")
        (tree / "ro").mkdir()
        (tree / "ro" / "f").touch()
        for path in [base, *tree.rglob("*"), tree]:
            os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
        (tree / "ro").chmod(0o500)
        (tree / "a" / "b").chmod(0o000)
        (tree / "a").chmod(0o000)
        pid = os.fork()
        if pid == 0:  # the child becomes the owner, without root's powers
            code = 1
            try:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                code = 0 if remove_tree(tree) and not os.path.lexists(tree) else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert_alive(canary)
    finally:
        shutil.rmtree(base)


def test_tree_usage_counts_without_following_links(tmp_path, canary):
    big = canary / "big.bin"
    big.write_bytes(os.urandom(1 << 20))
    tree = tmp_path / "usage"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "data.bin").write_bytes(os.urandom(300_000))
    (tree / "sub" / "again.bin").hardlink_to(tree / "sub" / "data.bin")
    (tree / "link").symlink_to(big)
    used, entries, complete = tree_usage(tree, max_entries=100)
    assert complete and entries == 4
    assert 300_000 <= used < 1 << 20  # the link's target is not counted, the hard link once
    nest(tree, ["d"] * 3000)
    used, entries, complete = tree_usage(tree, max_entries=1000)
    assert not complete and entries == 1000
    assert tree_usage(tree, max_entries=10_000)[1:] == (4 + 3001, True)
    assert remove_tree(tree)


def test_read_regular_refuses_what_is_not_a_regular_file(tmp_path, canary):
    link = tmp_path / "a2_transfer.ipynb"
    link.symlink_to(canary / "canary.txt")
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)
    cases = [
        (link, "a2_transfer.ipynb is not a regular file (a symbolic link)"),
        (fifo, "fifo.ipynb is not a regular file (a FIFO)"),
        (Path("/dev/zero"), "zero is not a regular file (a character device)"),
        (canary, "outside is not a regular file (a folder)"),
    ]
    for path, message in cases:
        errors = []

        def read(path=path, errors=errors):
            try:
                read_regular(path, max_bytes=1 << 20)
            except OSError as error:
                errors.append(error)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout=5)
        assert not reader.is_alive(), f"reading {path} blocked"
        assert isinstance(errors[0], NotRegularFileError) and str(errors[0]) == message
    assert read_regular(canary / "canary.txt", max_bytes=10) == b"still here"


def test_read_regular_checks_the_size_before_reading(tmp_path):
    huge = tmp_path / "huge.ipynb"
    with open(huge, "wb") as handle:
        handle.truncate(80 * 2**20)  # sparse: reading it all would take 80 MB of memory
    with pytest.raises(FileTooLargeError, match="huge.ipynb is 80 MB; files above 50 MB"):
        read_regular(huge, max_bytes=50 * 2**20)
    with pytest.raises(SubmissionError, match="notebooks above 50 MB are not graded"):
        read_notebook_file(huge)


@pytest.fixture(scope="module")
def solution(tmp_path_factory) -> Path:
    return write(solution_notebook(ASSIGNMENT), tmp_path_factory.mktemp("real") / NOTEBOOK)


def test_a_linked_notebook_gets_zero(tmp_path, solution):
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / NOTEBOOK).symlink_to(solution)
    with pytest.raises(SubmissionError, match=r"is not a regular file \(a symbolic link\)"):
        find_notebook(folder, ASSIGNMENT)
    data = grade_to_file(ASSIGNMENT, folder, tmp_path / "results.json")
    assert data["score"] == 0 and data["tests"]
    note = f"not graded: {NOTEBOOK} is not a regular file (a symbolic link)"
    assert note in data["output"]
    assert all(note in test["output"] for test in data["tests"])


def test_folder_submissions_are_searched_within_bounds(tmp_path, solution):
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / NOTEBOOK)
    with pytest.raises(SubmissionError, match=r"is not a regular file \(a FIFO\)"):
        find_notebook(fifo, ASSIGNMENT)
    deep = tmp_path / "deep"
    deep.mkdir()
    nest(deep, ["d"] * 1500)
    with pytest.raises(SubmissionError, match="no notebook"):
        find_notebook(deep, ASSIGNMENT)
    assert remove_tree(deep)  # pytest's own clean-up would hit RecursionError
    wide = tmp_path / "wide"
    wide.mkdir()
    shutil.copy(solution, wide / NOTEBOOK)
    assert find_notebook(wide, ASSIGNMENT) == wide / NOTEBOOK
    for index in range(10_001):
        (wide / f"f{index}").touch()
    with pytest.raises(SubmissionError, match="more than 10000 files and folders"):
        find_notebook(wide, ASSIGNMENT)


def test_discover_reports_links_and_special_files(tmp_path, solution):
    (tmp_path / "plain.ipynb").write_bytes(solution.read_bytes())
    (tmp_path / "linked.ipynb").symlink_to(solution)
    (tmp_path / "linked_folder").symlink_to(tmp_path)
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "notes.txt").write_text("not a submission")
    (tmp_path / "folder").mkdir()
    assert sorted(discover(tmp_path)) == ["folder", "linked", "linked_folder", "pipe", "plain"]


@pytest.mark.slow
def test_grade_all_finishes_with_a_fifo_in_the_batch(tmp_path, solution):
    submissions = tmp_path / "submissions"
    (submissions / "folder_link").mkdir(parents=True)
    (submissions / "folder_link" / NOTEBOOK).symlink_to(solution)
    os.mkfifo(submissions / "fifo.ipynb")
    (submissions / "honest.ipynb").write_bytes(solution.read_bytes())
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade-all", ASSIGNMENT, str(submissions)]
    command += ["--out", str(out), "--workers", "1", "--no-progress"]
    subprocess.run(command, cwd=REPO, check=True, timeout=900)
    results = {path.stem: json.loads(path.read_text()) for path in (out / "results").glob("*.json")}
    assert sorted(results) == ["fifo", "folder_link", "honest"]
    assert results["honest"]["score"] == sum(t["max_score"] for t in results["honest"]["tests"])
    assert results["honest"]["score"] > 0
    assert results["fifo"]["score"] == 0
    assert "not graded: fifo.ipynb is not a regular file (a FIFO)" in results["fifo"]["output"]
    assert results["folder_link"]["score"] == 0
    assert "is not a regular file (a symbolic link)" in results["folder_link"]["output"]


@pytest.mark.skipif(sandbox_mode() != "namespaces", reason="Linux namespaces are not available")
def test_scratch_folder_is_a_small_private_tmpfs():
    probe = """
import os
stat = os.stat(".")
written, full = 0, 0
chunk = b"x" * (1 << 20)
try:
    for index in range(1000):
        with open(f"fill{index}", "wb") as handle:
            for _ in range(4):
                handle.write(chunk)
                written += len(chunk)
except OSError as error:
    full = error.errno
for name in os.listdir("."):
    if name.startswith("fill"):
        os.remove(name)
files, out_of_inodes = 0, 0
try:
    os.mkdir("many")
    for index in range(100_000):
        open(f"many/{index}", "w").close()
        files += 1
except OSError as error:
    out_of_inodes = error.errno
return {"written": written, "full": full, "files": files, "out_of_inodes": out_of_inodes,
        "mode": stat.st_mode & 0o777, "mine": stat.st_uid == os.getuid()}
"""
    seen = output(run_cases(ASSIGNMENT, cell(probe), jobs((CASE, 60))))
    assert seen["full"] == errno.ENOSPC and 200 * 2**20 <= seen["written"] <= 256 * 2**20
    assert seen["out_of_inodes"] == errno.ENOSPC and 9_000 <= seen["files"] < 10_000
    assert seen["mode"] == 0o700 and seen["mine"]
