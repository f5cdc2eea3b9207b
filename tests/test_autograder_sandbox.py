"""The sandbox: isolation, limits, and a grading process that survives what runs inside."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder import plaindata
from autograder.grading import case_job
from autograder.sandbox.host import sandbox_mode
from autograder.sandbox.launch import check_unprivileged, python_paths
from autograder.sandbox.library import protected_folders
from autograder.sandbox.limits import Limits
from autograder.sandbox.session import Job, run_cases
from autograder.spec import load_checks

ASSIGNMENT = "a2_transfer"
CASE = "topk_accuracy: ties at k=5"
OTHER = "topk_accuracy: top-1 and top-5 on random logits"
REPO = Path(__file__).resolve().parent.parent

needs_namespaces = pytest.mark.skipif(
    sandbox_mode() != "namespaces", reason="Linux namespaces are not available here"
)


def cell(body: str) -> list[dict[str, str]]:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return [
        {
            "name": "topk_accuracy",
            "source": f"def topk_accuracy(output, target, topk=(1,)):\n{lines}\n",
        }
    ]


def jobs(*cases: tuple[str, float]) -> list[Job]:
    """The jobs of a2_transfer's cases ``(name, timeout)``, as the grading process makes them."""
    checks = load_checks(ASSIGNMENT)
    return [dataclasses.replace(case_job(checks, checks.case(n)), timeout=t) for n, t in cases]


def output(result, name: str = CASE):
    outcome = result.outcomes[name]
    assert outcome.status == "ok", outcome
    return plaindata.unpack(outcome.payload)


@needs_namespaces
def test_student_code_sees_only_its_jail():
    probe = """
import os, socket
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    network = "reachable"
except OSError as error:
    network = type(error).__name__
import course_lib.metrics
return {"uid": os.getuid(), "pid": os.getpid(), "root": sorted(os.listdir("/")),
        "repo": os.path.exists(REPO_LIB), "network": network, "cwd": os.getcwd(),
        "writable_lib": os.access(os.path.dirname(course_lib.metrics.__file__), os.W_OK)}
""".replace("REPO_LIB", repr(str(REPO / "course_lib")))
    seen = output(run_cases(ASSIGNMENT, cell(probe), jobs((CASE, 20))))
    assert seen["uid"] >= 61000 or os.geteuid() != 0
    assert seen["pid"] == 1 and seen["repo"] is False and seen["network"] == "OSError"
    assert "work" not in seen["root"] or seen["cwd"] == "/sandbox/work"
    python = [os.path.realpath(sys.base_prefix), *python_paths()]  # bound where they are
    allowed = {
        "sandbox",
        "usr",
        "lib",
        "lib64",
        "lib32",
        "tmp",
        "dev",
        "etc",
        "proc",
        ".empty",
        *(Path(path).parts[1] for path in python),
    }
    assert set(seen["root"]) <= allowed
    assert seen["writable_lib"] is False


@needs_namespaces
def test_student_edition_hides_reference_bodies():
    probe = """
import inspect, course_lib.metrics
return inspect.getsource(course_lib.metrics.topk_accuracy)
"""
    source = output(run_cases(ASSIGNMENT, cell(probe), jobs((CASE, 20))))
    assert "raise NotImplementedError" in source and "rivals" not in source


@pytest.mark.parametrize("mode", ["namespaces", pytest.param("rlimits", marks=pytest.mark.slow)])
def test_timeouts_and_crashes_fail_one_case_and_later_cases_still_run(mode):
    if mode == "namespaces" and sandbox_mode() != "namespaces":
        pytest.skip("Linux namespaces are not available here")
    if mode == "rlimits":
        skip_unless_rlimits_can_drop_root()
    body = """
import ctypes, time
if output.shape[0] == 48:
    time.sleep(60)
if output.shape[0] == 64:
    ctypes.string_at(0)
return [0.25 for _ in topk]
"""
    cases = [(CASE, 3), (OTHER, 20), ("topk_accuracy: log-probabilities, 200 classes", 20)]
    result = run_cases(ASSIGNMENT, cell(body), jobs(*cases), mode=mode)
    assert result.outcomes[CASE].status == "timeout"
    assert result.outcomes[OTHER].status == "crashed"
    assert "SIGSEGV" in result.outcomes[OTHER].message
    assert output(result, cases[2][0]) == [0.25, 0.25]
    assert result.starts == 3


def test_exceptions_of_any_kind_are_reported():
    body = """
if output.shape[0] == 48:
    raise SystemExit(3)
raise KeyboardInterrupt
"""
    result = run_cases(ASSIGNMENT, cell(body), jobs((CASE, 20), (OTHER, 20)))
    assert result.outcomes[CASE].error["type"] == "SystemExit"
    assert result.outcomes[OTHER].error["type"] == "KeyboardInterrupt"
    assert 'File "<cell topk_accuracy>", line 3' in result.outcomes[CASE].error["traceback"]
    assert result.starts == 1


@pytest.mark.parametrize(
    ("start", "starts"),
    [
        ("for _ in tqdm.tqdm(range(3)): pass", 1),  # no monitor thread is left to restart for
        ("threading.Thread(target=time.sleep, args=(60,), daemon=True).start()", 2),
    ],
)
def test_only_threads_left_by_student_code_restart_the_sandbox(start, starts):
    body = f"import threading, time, tqdm\n{start}\nreturn [0.5 for _ in topk]"
    result = run_cases(ASSIGNMENT, cell(body), jobs((CASE, 20), (OTHER, 20)))
    assert output(result, OTHER) == [0.5, 0.5]
    assert result.starts == starts


def test_a_cell_that_kills_the_process_while_loading_is_left_out():
    cells = [{"name": "bad", "source": "import os\nos._exit(5)\n"}, *cell("return [1.0]")]
    result = run_cases(ASSIGNMENT, cells, jobs((CASE, 20)))
    assert any("cell 'bad' ended the process (exit status 5" in note for note in result.notes)
    assert output(result) == [1.0]


def test_output_limit_and_stderr_noise():
    body = """
import sys, warnings
warnings.warn("noisy")
if output.shape[0] == 48:
    for _ in range(20):
        print("x" * 2**20)
return [0.5 for _ in topk]
"""
    result = run_cases(ASSIGNMENT, cell(body), jobs((CASE, 20), (OTHER, 20)))
    assert "output limit exceeded" in result.outcomes[CASE].error["message"]
    assert output(result, OTHER) == [0.5, 0.5]


def test_dropping_root_needs_readable_python(tmp_path):
    from autograder.sandbox.launch import readable_by_all

    root = Path(tempfile.mkdtemp())  # outside pytest's private (0700) folders
    try:
        os.chmod(root, 0o755)
        (root / "open").mkdir(mode=0o755)
        (root / "closed").mkdir(mode=0o700)
        (root / "closed" / "inner").mkdir(mode=0o755)
        assert readable_by_all([str(root / "open")])
        assert not readable_by_all([str(root / "closed")])
        assert not readable_by_all([str(root / "closed" / "inner")])
    finally:
        shutil.rmtree(root)


def skip_unless_rlimits_can_drop_root() -> None:
    """Skip, saying why, where the rlimits mode (rightly) refuses to run student code."""
    if os.geteuid() == 0:
        try:
            check_unprivileged(protected_folders())
        except RuntimeError as error:
            pytest.skip(f"the rlimits sandbox refuses to run here: {error}")


@pytest.mark.slow
def test_rlimits_mode_runs_student_code_as_another_user():
    if os.geteuid() != 0:
        pytest.skip("needs root (the sandbox user is made by dropping root)")
    skip_unless_rlimits_can_drop_root()
    result = run_cases(
        ASSIGNMENT, cell("import os\nreturn [float(os.getuid())]"), jobs((CASE, 60)), mode="rlimits"
    )
    assert output(result)[0] >= 61000


def test_loading_cells_is_charged_to_the_submission_budget():
    """30 cells that each sleep just under the per-cell limit cannot stretch a submission."""
    sleepy = [{"name": f"s{i}", "source": "import time\ntime.sleep(2.5)\n"} for i in range(30)]
    limits = Limits(startup_seconds=8, cell_seconds=3)
    start = time.monotonic()
    result = run_cases(ASSIGNMENT, [*sleepy, *cell("return [1.0]")], jobs((CASE, 2)), limits=limits)
    elapsed = time.monotonic() - start
    assert elapsed < 2 + 8 + 5, elapsed  # the budget, plus stopping the process
    assert result.outcomes[CASE].status == "not_run"
    assert "time budget" in result.outcomes[CASE].message


@needs_namespaces
def test_no_case_of_the_checks_enters_the_sandbox():
    """The sandbox gets inputs as data: no checks module, no case titles, no other case's data."""
    probe = """
import os, sys, importlib
import autograder.checks
try:
    importlib.import_module("autograder.checks.a2_transfer")
    imported = True
except ImportError:
    imported = False
modules = sorted(n for n, m in list(sys.modules.items()) if "CASES" in vars(m))
return {"files": sorted(os.listdir(os.path.dirname(autograder.checks.__file__))),
        "imported": imported, "with_cases": modules}
"""
    seen = output(run_cases(ASSIGNMENT, cell(probe), jobs((CASE, 20))))
    assert seen == {
        "files": ["__init__.py", "common.py", "families"],
        "imported": False,
        "with_cases": [],
    }
