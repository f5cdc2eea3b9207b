"""Grading a corpus with ``grade-all`` in a process of its own, watched from outside.

A batch that waits on a FIFO is unblocked (and says so) once every other submission has its
results; a batch that runs past ``BATCH_LIMIT`` is killed.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from autograder_corpus import REPO
from autograder_corpus.entry import ASSIGNMENT

BATCH_LIMIT = 900.0  # seconds before a stuck batch is killed
STALL = 30.0  # seconds a batch may go on once every submission but the FIFOs has results


def _fifos(submissions: Path) -> dict[Path, str]:
    """FIFOs under ``submissions`` (links not followed), with the submission each belongs to."""
    found = {}
    for path in submissions.rglob("*"):
        if stat.S_ISFIFO(path.lstat().st_mode):
            first = path.relative_to(submissions).parts[0]
            found[path] = first.removesuffix(".ipynb")
    return found


def _unblock(fifo: Path) -> bool:
    """Open ``fifo`` for writing and close it: a reader waiting on it gets end-of-file."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # no reader
        return False
    return True


def grade_all_process(
    submissions: Path, out: Path, release: Path, names: list[str], log: Path
) -> tuple[int, int | None, list[str]]:
    """Run ``grade-all`` in a process of its own: its pid, exit status and FIFOs unblocked."""
    command = [sys.executable, "-m", "autograder", "grade-all", ASSIGNMENT, str(submissions)]
    command += ["--workers", "2", "--out", str(out), "--source", str(release), "--no-progress"]
    fifos = _fifos(submissions)
    others = [out / "results" / f"{n}.json" for n in names if n not in fifos.values()]
    unblocked: set[str] = set()
    start, settled = time.monotonic(), None
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        while process.poll() is None:
            now = time.monotonic()
            if now - start > BATCH_LIMIT:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return process.pid, None, sorted(unblocked)
            if settled is None and all(path.exists() for path in others):
                settled = now
            if settled is not None and now - settled > STALL:
                unblocked.update(name for fifo, name in fifos.items() if _unblock(fifo))
            time.sleep(0.5)
    return process.pid, process.returncode, sorted(unblocked)


def processes_named(name: str) -> list[int]:
    """Pids of the processes called ``name`` (as ``prctl(PR_SET_NAME)`` sets it)."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                pids.append(int(comm.parent.name))
        except OSError:
            continue
    return pids
