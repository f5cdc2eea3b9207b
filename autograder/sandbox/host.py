"""The grading side of the sandbox: start it, ask for cases, enforce time limits, stop it.

Two modes. ``namespaces`` (Linux with unprivileged or root namespaces): the process gets its
own network (none), mount, PID, IPC and UTS namespaces, a minimal read-only root (see
:mod:`jail`) and, when the grader is root, a user id of its own, so ``RLIMIT_NPROC`` stops
fork bombs. ``rlimits`` (elsewhere, or when namespaces are refused): a plain child process
with resource limits only, logged as such. Either way the grading process only reads frames
with deadlines and size limits, and kills the sandbox (its whole PID namespace, or process
group) when a case overruns.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autograder.safefs import remove_tree, tree_usage
from autograder.sandbox import cgroups, launch, protocol
from autograder.sandbox.library import protected_folders, run_folder, sandbox_library
from autograder.sandbox.limits import (
    CellLoadError,
    Limits,
    Outcome,
    SandboxError,
    describe_exit,
)
from autograder.spec import sandbox_modules

logger = logging.getLogger(__name__)

MODE_ENV = "AUTOGRADER_SANDBOX"  # auto (default), namespaces or rlimits
#: What each mode guarantees, and what its memory and process limits cover (results say both).
GUARANTEES = {
    "namespaces": "no network, a read-only root holding only Python and the student edition, "
    "its own PID namespace and a size-limited scratch tmpfs, as an unprivileged user",
    "rlimits": "a separate process; when the grader is root, as an unprivileged user that cannot "
    "read the grader's files (it refuses to run otherwise); the host's network",
}
LIMITS = {
    "cgroup": "one memory limit (shared memory included) and one process limit for the code "
    "and every process it starts",
    "rlimits only": "memory and process limits per process (a forked child gets its own)",
}


def guarantees(description: str) -> str:
    """What the sandbox of ``description`` (``Sandbox.description``) guarantees, in words."""
    mode, _, limits = description.partition(" (")
    kind = "cgroup" if limits.startswith("cgroup") else "rlimits only"
    return f"{GUARANTEES.get(mode, mode)}; {LIMITS[kind]}"


RLIMITS_NOTE = (
    "sandbox without Linux namespaces (resource limits only): student code can read the "
    "files and use the network this process can"
)


class _Ended(Exception):
    """The sandbox process is gone; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@functools.lru_cache(maxsize=1)
def sandbox_mode() -> str:
    """``namespaces`` when namespaces can be made here, else ``rlimits`` (or what env forces)."""
    wanted = os.environ.get(MODE_ENV, "auto")
    if wanted not in {"auto", "namespaces", "rlimits"}:
        raise ValueError(f"{MODE_ENV}={wanted!r}: expected auto, namespaces or rlimits")
    if wanted != "auto":
        return wanted
    reason = "not Linux"
    if sys.platform == "linux":
        user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
        command = ["unshare", *user, "--net", "--mount", "--pid", "--fork", "true"]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=30)
            return "namespaces"
        except (OSError, subprocess.SubprocessError) as error:
            reason = str(error)
    logger.warning("%s (%s)", RLIMITS_NOTE, reason)
    return "rlimits"


def warm_up(assignment: str, *, limits: Limits | None = None, preload: Sequence[str] = ()) -> None:
    """Start the fork server of ``assignment`` now (in namespaces mode), and have it import
    ``preload`` (trusted names: the instructor's notebook's imports) next; without waiting."""
    if sandbox_mode() == "namespaces":
        _zygote(assignment, limits or Limits()).preload(preload)


def _zygote(assignment: str, limits: Limits) -> launch.ZygoteLauncher:
    preload = sandbox_modules(assignment)
    library = sandbox_library(assignment)
    return launch.zygote(assignment, library, startup=limits.startup_seconds, preload=preload)


class Sandbox:
    """One sandbox process holding one submission's code."""

    def __init__(
        self,
        assignment: str,
        *,
        limits: Limits,
        mode: str,
        protected: Sequence[Path] = (),
    ) -> None:
        self.assignment, self.limits, self.mode = assignment, limits, mode
        self.protected = list(protected)  # besides the grader's own: e.g. the submissions
        self.folder = Path(tempfile.mkdtemp(prefix="box-", dir=run_folder()))
        self.process: subprocess.Popen | None = None
        self.pid: int | None = None
        self.slot: launch.Slot | None = None
        self.cgroup: cgroups.Cgroup | None = None
        self.fds: list[int] = []

    def start(self, cells: list[dict[str, str]], *, deadline: float) -> list[dict[str, str]]:
        """Start the process and load ``cells`` before ``deadline``; errors of cells that raised."""
        library = sandbox_library(self.assignment)
        setup: dict[str, Any] = {
            "kind": "setup",
            "assignment": self.assignment,
            "limits": self.limits.rlimits(),
        }
        self.cgroup = cgroups.Cgroup.create(
            self.folder.name, memory_bytes=self.limits.memory_bytes, pids=self.limits.processes
        )
        if self.cgroup is not None:  # the sandbox joins it before it runs anything else
            setup["cgroup"] = self.cgroup.procs
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        life_r, life_w = os.pipe()
        log = os.open(self.folder / "output.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.fds = [cmd_w, res_r, life_w]
        child_fds = [cmd_r, res_w, life_r, log]
        try:
            if self.mode == "namespaces":
                uid = None
                if os.geteuid() == 0:
                    self.slot = launch.Slot()
                    uid = self.slot.uid
                (self.folder / "root").mkdir()
                setup.update(
                    jail=launch.jail_spec(self.folder / "root", library, uid, limits=self.limits),
                    workdir=launch.WORKDIR,
                )
                server = _zygote(self.assignment, self.limits)
                self.pid = server.start(child_fds, setup, self.folder)
            else:
                scratch = self.folder / "work"
                scratch.mkdir()
                uid = None
                if os.geteuid() == 0:  # never root: RuntimeError when no user fits
                    launch.check_unprivileged([*protected_folders(), *self.protected])
                    self.slot = launch.Slot()  # an unprivileged user: RLIMIT_NPROC applies
                    uid = self.slot.uid
                    os.chown(scratch, uid, uid)
                    os.chmod(self.folder, 0o711)
                setup.update(
                    jail=None,
                    workdir=str(scratch),
                    uid=uid,
                    sys_path=[str(library), *launch.python_paths()],
                )
                self.process = launch.spawn(library, child_fds, setup, self.folder)
                self.pid = self.process.pid
        except (OSError, RuntimeError) as error:
            raise SandboxError(str(error)) from None
        finally:
            for fd in child_fds:
                os.close(fd)
        self.reader = protocol.FrameReader(res_r, max_payload=self.limits.max_payload)
        started = min(deadline, time.monotonic() + self.limits.startup_seconds)
        try:
            if self.process is not None:
                self._send(setup, started)
            header, _ = self._read(started)
        except (_Ended, protocol.FrameTimeout, protocol.ProtocolError) as error:
            self._log_tail("sandbox failed to start")
            raise SandboxError(f"the sandbox did not start ({_reason(error)})") from None
        if header.get("kind") != "started":
            self._log_tail("sandbox failed to start")
            raise SandboxError(str(header.get("message", "the sandbox did not start")))
        return self._load(cells, deadline)

    @property
    def description(self) -> str:
        """The mode and its kind of limits, as results report it (see :func:`guarantees`)."""
        limits = self.cgroup.kind if self.cgroup is not None else "rlimits only"
        return f"{self.mode} ({limits})"

    def _load(self, cells: list[dict[str, str]], deadline: float) -> list[dict[str, str]]:
        """Execute ``cells`` one by one, each within ``limits.cell_seconds``; their errors.

        Loading is charged to the submission: past ``deadline`` it stops with SandboxError.
        """
        errors = []

        def cell_deadline() -> float:
            return min(deadline, time.monotonic() + self.limits.cell_seconds)

        self._send({"kind": "load", "cells": cells}, cell_deadline())
        for index, cell in enumerate(cells):
            try:
                header, _ = self._read(cell_deadline())
            except protocol.FrameTimeout:
                if time.monotonic() >= deadline:
                    raise SandboxError(
                        "the submission's time budget ran out while its cells were loaded"
                    ) from None
                raise CellLoadError(
                    index, f"took longer than {self.limits.cell_seconds:g} s"
                ) from None
            except (_Ended, protocol.ProtocolError) as error:
                raise CellLoadError(index, f"ended the process ({_reason(error)})") from None
            if isinstance(header.get("error"), dict):
                errors.append({**header["error"], "cell": cell["name"]})  # ours, not its
        try:
            self._read(cell_deadline())
        except (_Ended, protocol.FrameTimeout, protocol.ProtocolError):
            raise SandboxError("the sandbox stopped after loading the notebook's code") from None
        return errors

    def _send(self, header: dict[str, Any], deadline: float, payload: bytes = b"") -> None:
        view = memoryview(protocol.encode_frame(header, payload))
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self.fds[0]], [], left)[1]:
                raise protocol.FrameTimeout
            try:
                view = view[os.write(self.fds[0], view[: 1 << 16]) :]
            except BrokenPipeError:
                raise _Ended(self._exit_reason()) from None

    def _read(self, deadline: float) -> tuple[dict[str, Any], bytes]:
        """The next frame; _Ended when the process is gone (its last frame gives the status)."""
        try:
            header, payload = self.reader.read(deadline)
        except (EOFError, OSError):
            raise _Ended(self._exit_reason()) from None
        if header.get("kind") == "exit":  # the waiter's last word (or the code's forgery)
            status = header.get("status")
            if type(status) is not int:
                raise _Ended("it sent a malformed exit frame")
            raise _Ended(describe_exit(status))
        return header, payload

    def run(self, function: str, payload: bytes, timeout: float) -> Outcome:
        """Call ``function`` on a job's ``payload`` (:mod:`transfer`) within ``timeout``.

        After a timeout, death or garbage the sandbox is closed.
        """
        nonce = secrets.token_hex(8)  # frames not answering this request are ignored
        deadline = time.monotonic() + timeout
        try:
            header = {"kind": "run", "nonce": nonce, "function": function}
            self._send(header, deadline, payload)
            while True:
                header, payload = self._read(deadline)
                if header.get("kind") == "result" and header.get("nonce") == nonce:
                    break
        except protocol.FrameTimeout:
            message = f"did not finish within {timeout:g} s (time limit)"
            if self._out_of_memory():  # killed, or still being reclaimed, at the limit
                message += f", after it reached the {self._memory_limit()}"
            self.close()
            return Outcome("timeout", message=message)
        except _Ended as error:
            reason = str(error)
            if self._out_of_memory():
                reason = f"{self._memory_limit()} was exceeded"
            self.close()
            return Outcome("crashed", message=f"the process running the code ended: {reason}")
        except protocol.ProtocolError as error:
            self.close()
            return Outcome("protocol", message=str(error))
        status = str(header.get("status"))
        error = header.get("error") if isinstance(header.get("error"), dict) else {}
        if status not in {"ok", "error", "missing", "unready"}:
            status, error = "protocol", {}
        outcome = Outcome(status, payload=payload, error={k: str(v) for k, v in error.items()})
        # threads left behind by the code, or a folder it made unusable: a fresh process next
        outcome.restart = header.get("threads_left") != 0 or status == "unready"
        if status == "unready":
            outcome.message = (
                "the case could not be set up: the code filled or removed its scratch folder"
            )
        return outcome

    def _out_of_memory(self) -> bool:
        """Whether the code was killed for memory, or reached its limit (then, near it, the
        kernel reclaims the code's own pages, and it may run out of time before the kill)."""
        if self.cgroup is None:
            return False
        peak = self.cgroup.peak_memory()
        return self.cgroup.oom_killed() or (
            peak is not None and peak >= 0.95 * self.limits.memory_bytes
        )

    def _memory_limit(self) -> str:
        return (
            f"memory limit ({self.limits.memory_bytes / 2**30:g} GB for the code and every "
            "process it starts, shared memory included)"
        )

    def scratch_overused(self) -> str | None:
        """Why the scratch folder is over its quota, if it is (rlimits mode: no tmpfs there)."""
        if self.mode == "namespaces":
            return None  # a tmpfs of limits.scratch_bytes and limits.scratch_inodes
        limits = self.limits
        used, entries, complete = tree_usage(
            self.folder / "work", max_entries=limits.scratch_inodes
        )
        if complete and used <= limits.scratch_bytes:
            return None
        return (
            f"the code left more than {limits.scratch_bytes / 2**20:g} MB or "
            f"{limits.scratch_inodes} files in its folder (disk quota)"
        )

    def _exit_reason(self) -> str:
        if self.process is None:
            return "it stopped answering"
        try:
            return describe_exit(self.process.wait(timeout=5))
        except subprocess.TimeoutExpired:
            return "it stopped answering"

    def _log_tail(self, what: str) -> None:
        log = self.folder / "output.log"
        text = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        logger.warning("%s; its output ends with:\n%s", what, text)

    def close(self) -> None:
        """Stop the process (and everything it started) and delete its files."""
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []
        if self.pid is not None:
            try:  # a forked sandbox stops its namespace on SIGTERM; a spawned one is killed
                if self.process is None:
                    os.kill(self.pid, signal.SIGTERM)
                else:
                    os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if self.process is not None:
                self.process.wait()
            self.pid = None
        if self.slot is not None:
            self.slot.release()
            self.slot = None
        if self.cgroup is not None:
            self.cgroup.close()
            self.cgroup = None
        remove_tree(self.folder)


def _reason(error: Exception) -> str:
    if isinstance(error, protocol.FrameTimeout):
        return "no answer in time"
    return str(error)
