"""The rlimits sandbox (no namespaces, as on Gradescope): never root, reads nothing hidden.

Without namespaces only file modes keep student code away from the checks, so as root the
grader runs it as an unprivileged user, and refuses to run it at all, saying how to fix the
installation, when that user could not read Python or could read what it must not.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from test_autograder_sandbox import ASSIGNMENT, CASE, cell, jobs

from autograder.sandbox.host import sandbox_mode
from autograder.sandbox.launch import check_unprivileged, closed_part, python_paths
from autograder.sandbox.library import protected_folders
from autograder.sandbox.session import run_cases

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def as_root():
    if os.geteuid() != 0:
        pytest.skip("the rlimits mode drops privileges only when the grader runs as root")


def test_a_private_python_is_refused_with_the_fix(as_root, monkeypatch):
    """As on Gradescope images with Python under /root (0700): nothing runs, the note says why."""
    private = Path(tempfile.mkdtemp())  # mkdtemp makes it 0700
    try:
        (private / "site-packages").mkdir()
        paths = [*python_paths(), str(private / "site-packages")]
        monkeypatch.setattr("autograder.sandbox.launch.python_paths", lambda: paths)
        probe = cell("import os\nreturn [float(os.getuid())]")
        result = run_cases(ASSIGNMENT, probe, jobs((CASE, 20)), mode="rlimits")
        outcome = result.outcomes[CASE]
        assert outcome.status == "not_run", outcome
        assert "must not run as root" in outcome.message
        assert f"{private} is closed to other users" in outcome.message
        assert "chmod o+x" in outcome.message
    finally:
        shutil.rmtree(private)


def test_readable_checks_are_refused_with_the_fix(as_root):
    folder = Path(tempfile.mkdtemp())
    try:
        os.chmod(folder, 0o755)
        with pytest.raises(RuntimeError, match=f"could read {folder}: run `chmod -R go-rwx"):
            check_unprivileged([folder])
        os.chmod(folder, 0o700)
        try:
            check_unprivileged([folder])
        except RuntimeError as error:  # other problems of this machine may remain
            assert f"could read {folder}" not in str(error)
    finally:
        shutil.rmtree(folder)


PROBE = """
import importlib, os
def attempt(path):
    try:
        with open(path, "rb") as handle:
            return "read %d bytes" % len(handle.read())
    except OSError as error:
        return type(error).__name__
try:
    importlib.import_module("autograder.checks.a2_transfer")
    checks = "imported"
except Exception as error:
    checks = type(error).__name__
return {"uid": os.getuid(), "checks": checks, "files": {
    name: attempt(path) for name, path in PATHS.items()}}
"""

RUN = """
import json, sys
sys.path.insert(0, {tests!r})
from autograder.sandbox.session import run_cases
from autograder import plaindata
from test_autograder_sandbox import ASSIGNMENT, CASE, cell, jobs
result = run_cases(ASSIGNMENT, cell({probe!r}), jobs((CASE, 60)), mode="rlimits")
outcome = result.outcomes[CASE]
print(json.dumps(plaindata.unpack(outcome.payload) if outcome.status == "ok" else repr(outcome)))
"""


def _overlay(closed: Path, inner: Path, copies: Path) -> str:
    """Shell lines that, in a private mount namespace, open ``closed`` to the way to ``inner``."""
    keep = copies / "keep"
    return textwrap.dedent(f"""
        mkdir -p {keep} && mount --bind {inner} {keep}
        mount -t tmpfs -o mode=0711 tmpfs {closed}
        mkdir -p {inner} && mount --move {keep} {inner}
    """)


@pytest.mark.slow
def test_student_code_runs_unprivileged_and_reads_nothing_hidden(as_root, tmp_path):
    """A Gradescope-like installation: Python readable, the grader's folders go-rwx.

    Built in a private mount namespace so that this machine's files keep their modes: the
    grader's folders are covered by go-rwx copies, a private folder above Python by a 0711 one.
    """
    if sandbox_mode() != "namespaces":
        pytest.skip("building the installation needs a private mount namespace")
    copies = Path(tempfile.mkdtemp())
    try:
        lines = ["set -e"]
        for path in python_paths():
            closed = closed_part(path)
            if closed is not None:
                inner = Path(path).parents[len(Path(path).parents) - len(closed.parts) - 1]
                if closed_part(inner) not in (None, closed):
                    pytest.skip(f"{path} is closed in more than one place")
                lines.append(_overlay(closed, inner, copies))
        for folder in protected_folders():
            if folder.exists():
                shutil.copytree(folder, copies / folder.name, symlinks=True)
                subprocess.run(["chmod", "-R", "go-rwx", str(copies / folder.name)], check=True)
                lines.append(f"mount --bind {copies / folder.name} {folder}")
        paths = {
            "checks": str(REPO / "autograder" / "checks" / "a2_transfer.py"),
            "course_lib": str(REPO / "course_lib" / "metrics.py"),
            "solution": str(REPO / "solutions" / "a2_transfer" / "a2_transfer.ipynb"),
        }
        probe = PROBE.replace("PATHS", repr(paths))
        script = RUN.format(tests=str(REPO / "tests"), probe=probe)
        lines.append(f"exec {sys.executable} -c {shlex.quote(script)}")
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "bash", "-c", "\n".join(lines)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert isinstance(seen, dict), seen
        assert seen["uid"] >= 61000
        assert seen["checks"] == "ModuleNotFoundError"
        assert seen["files"] == {name: "PermissionError" for name in paths}
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(copies)], check=False)
        shutil.rmtree(copies)
