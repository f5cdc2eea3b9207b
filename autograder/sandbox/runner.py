"""The sandbox side: load the submission's code, then run the jobs the grading process sends.

A job is a graded function's name and pickled inputs (:mod:`transfer`), never a case of the
checks: this process knows no case titles, parameters or references. Each job calls the
student's function and sends back its output as plain data. Anything the student code raises
(BaseException included) becomes an error frame; only the grading process compares outputs,
so nothing here decides a score.
"""

from __future__ import annotations

import errno
import linecache
import os
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
import types
from pathlib import Path
from typing import Any

from autograder.sandbox import protocol

MAX_MESSAGE = 500
CELL_FILE = re.compile(r"^<cell .*>$")


def serve(setup: dict[str, Any], *, cmd_fd: int, result_fd: int, lifeline_fd: int) -> None:
    """Answer ``load`` and ``run`` frames until the grading process closes the pipe."""
    _watch_lifeline(lifeline_fd)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the output limit: EFBIG, not death
    import numpy  # noqa: F401  (imported before student code so its cost is not a case's)
    import torch
    import tqdm

    torch.set_num_threads(1)
    # A thread left running after a case restarts the sandbox; tqdm's monitor thread, started
    # by the first progress bar, would cost a restart after every case that shows one.
    tqdm.tqdm.monitor_interval = 0
    from autograder import plaindata
    from autograder.sandbox import transfer

    workdir = os.getcwd()
    os.environ.update(HOME=workdir, TMPDIR=workdir, MPLCONFIGDIR=f"{workdir}/.matplotlib")
    tempfile.tempdir = None
    main_pid = os.getpid()
    threads = threading.active_count()
    module = types.ModuleType("submission")
    sys.modules["submission"] = module
    protocol.write_frame(result_fd, {"kind": "started"})
    while True:
        try:
            header, payload = protocol.read_frame_blocking(cmd_fd)
        except EOFError:
            return
        if header["kind"] == "load":
            for cell in header["cells"]:
                error = _exec_cell(cell, module)
                _check_pid(main_pid)
                protocol.write_frame(result_fd, {"kind": "loaded", "error": error})
            protocol.write_frame(result_fd, {"kind": "ready"})
        elif header["kind"] == "run":
            reply, output = _run_job(
                header["function"], payload, workdir, module, plaindata, transfer
            )
            _check_pid(main_pid)
            _clean_up(setup)
            reply.update(kind="result", nonce=header["nonce"])
            reply["threads_left"] = threading.active_count() - threads
            protocol.write_frame(result_fd, reply, output)


def _watch_lifeline(fd: int) -> None:
    """Exit as soon as the grading process is gone (its end of the lifeline pipe closes)."""

    def watch() -> None:
        while True:
            try:
                if not os.read(fd, 1):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        os._exit(70)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()


def _exec_cell(cell: dict[str, str], module: types.ModuleType) -> dict[str, str] | None:
    filename = f"<cell {cell['name']}>"
    lines = cell["source"].splitlines(keepends=True)
    linecache.cache[filename] = (len(cell["source"]), None, lines, filename)
    try:
        exec(compile(cell["source"], filename, "exec"), module.__dict__)
    except BaseException as error:  # noqa: B036 (student code may raise anything)
        return {"cell": cell["name"], **describe_error(error)}
    finally:
        _flush()
    return None


def _run_job(
    name: str, job: bytes, scratch: str, module: types.ModuleType, plaindata, transfer
) -> tuple[dict, bytes]:
    try:  # earlier cases may have filled the scratch folder, or removed it
        os.chdir(scratch)
        workdir = Path(tempfile.mkdtemp(prefix="case-", dir=scratch))
    except OSError as error:
        return {"status": "unready", "error": describe_error(error)}, b""
    try:
        call, inputs = transfer.unpack_job(job, workdir)
    except BaseException as error:  # noqa: B036 (student code may have broken the modules)
        return {"status": "error", "stage": "inputs", "error": describe_error(error)}, b""
    function = getattr(module, name, None)
    if function is None:
        message = f"{name} is not defined by the notebook's solution cells"
        return {"status": "missing", "error": {"type": "NameError", "message": message}}, b""
    start = time.perf_counter()
    try:
        output = call(function, inputs)
        payload = plaindata.pack(output)
    except BaseException as error:  # noqa: B036
        return {"status": "error", "stage": "call", "error": describe_error(error)}, b""
    finally:
        _flush()
    return {"status": "ok", "seconds": time.perf_counter() - start}, payload


def describe_error(error: BaseException) -> dict[str, str]:
    """Type, message and the student's part of the traceback of ``error``."""
    message = str(error)
    if isinstance(error, OSError) and error.errno == errno.EFBIG:
        message = "output limit exceeded: the code wrote too much to stdout/stderr or to files"
    elif isinstance(error, MemoryError):
        message = "memory limit exceeded"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if CELL_FILE.match(f.filename)]
    lines = traceback.format_list(frames)
    return {
        "type": type(error).__name__,
        "message": message[:MAX_MESSAGE],
        "traceback": "".join(lines)[-2000:],
    }


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: B036, S110 (a broken stream is the student's own)
            pass


def _check_pid(main_pid: int) -> None:
    """A process forked by student code must never answer for the sandbox."""
    if os.getpid() != main_pid:
        os._exit(0)


def _clean_up(setup: dict[str, Any]) -> None:
    """Kill processes left behind by student code (pid 1 of its own namespace) and reset the log."""
    if setup.get("jail") and os.getpid() == 1:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
    try:
        os.ftruncate(1, 0)
    except OSError:
        pass
