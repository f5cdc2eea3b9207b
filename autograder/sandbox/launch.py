"""Starting sandbox processes: the jail description, user-id slots, and two launchers.

``ZygoteLauncher`` (namespaces mode): a fork server imports torch, the checks and the student
edition once, then forks each sandbox, which enters fresh namespaces and the jail before any
student code runs; a sandbox then starts in milliseconds instead of seconds.
``spawn`` (rlimits mode, e.g. macOS where forking after importing torch is unsafe): a new
interpreter per sandbox.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autograder.sandbox.limits import Limits

logger = logging.getLogger(__name__)

UID_BASE = 61000  # sandboxes run as uid/gid UID_BASE + slot, one slot per running sandbox
SLOTS = 64
WORKDIR = "/sandbox/work"
DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
SYSTEM_LIBS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32")


def environment(workdir: str) -> dict[str, str]:
    """The whole environment of a sandbox: fixed hash seed, one thread, no GPU, no bars."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{workdir}/.matplotlib",
        "COURSE_LIB_PROGRESS": "0",
    }


def python_paths() -> list[str]:
    """The interpreter's own folders and site-packages on ``sys.path`` (never project folders)."""
    base = os.path.realpath(sys.base_prefix)
    paths = []
    for entry in sys.path:
        real = os.path.realpath(entry or ".")
        inside = real.startswith(base + os.sep)
        if os.path.isdir(real) and (inside or os.path.basename(real).endswith("-packages")):
            paths.append(real)
    return list(dict.fromkeys(paths))


def closed_part(path: Path | str) -> Path | None:
    """The first folder on the way to ``path`` (or ``path``) other users cannot pass or read.

    None when any user can reach and read ``path``.
    """
    path = Path(path)
    for part in (*reversed(path.parents), path):
        need = stat.S_IXOTH if part != path or part.is_dir() else 0
        need |= stat.S_IROTH if part == path else 0
        try:
            if part.stat().st_mode & need != need:
                return part
        except OSError:
            return part
    return None


def readable_by_all(paths: list[str]) -> bool:
    """Whether any user can read ``paths`` (and reach them): then a sandbox may drop root."""
    return all(closed_part(path) is None for path in paths)


def check_unprivileged(protected: list[Path]) -> None:
    """RuntimeError unless a sandbox user can read Python and cannot read ``protected``.

    Without namespaces nothing hides files, so file modes must: the sandbox user (any uid
    other than root's) needs the Python installation and must not reach the checks, the full
    course_lib, the solutions or the submissions.
    """
    problems = []
    for path in python_paths():
        closed = closed_part(path)
        if closed is not None:
            problems.append(
                f"the sandbox user cannot read the Python installation at {path} ({closed} is "
                f"closed to other users): run `chmod o+x` on the folders above it and "
                f"`chmod -R o+rX {path}`, or install Python outside a private folder"
            )
    for path in protected:
        if path.exists() and _open_to_others(path):
            problems.append(
                f"the sandbox user could read {path}: run `chmod -R go-rwx {path}` "
                "(the Gradescope bundle's run_autograder does this for its folders)"
            )
    if problems:
        raise RuntimeError(
            "student code must not run as root, and cannot run as another user here: "
            + "; ".join(problems)
        )


def _open_to_others(path: Path) -> bool:
    """Whether other users can reach ``path``: read it (a file) or open files in it (a folder)."""
    for part in (*reversed(path.parents), path):
        if part.is_dir() and not part.stat().st_mode & stat.S_IXOTH:
            return False
    return path.is_dir() or bool(path.stat().st_mode & stat.S_IROTH)


def _outermost(paths: list[str]) -> list[str]:
    """``paths`` without those inside another one of them."""
    result: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path == p or path.startswith(p.rstrip("/") + "/") for p in result):
            result.append(path)
    return result


def jail_spec(root: Path, library: Path, uid: int | None, *, limits: Limits) -> dict[str, Any]:
    """What :func:`jail.enter` builds: read-only Python and libraries, the library, a scratch.

    The scratch folder (``WORKDIR``) is a tmpfs of the sandbox's own mount namespace, limited
    to ``limits.scratch_bytes`` and ``limits.scratch_inodes`` and owned by ``uid``: nothing of
    it reaches the host's disk or outlives the sandbox.
    """
    system = [p for p in SYSTEM_LIBS if os.path.isdir(p) and not os.path.islink(p)]
    python = _outermost([os.path.realpath(sys.base_prefix), *python_paths(), *system])
    binds = [[p, p, "ro"] for p in python]
    if os.path.isfile("/etc/ld.so.cache"):
        binds.append(["/etc/ld.so.cache", "/etc/ld.so.cache", "ro"])
    binds += [[d, d, "dev"] for d in DEVICES if os.path.exists(d)]
    binds.append([str(library), str(library), "ro"])
    links = [[p, os.readlink(p)] for p in ("/lib", "/lib64", "/lib32") if os.path.islink(p)]
    hide = [
        os.path.join(p, name)
        for p in python
        for name in ("course_lib", "autograder")
        if os.path.isdir(os.path.join(p, name))
    ]
    return {
        "root": str(root),
        "binds": binds,
        "symlinks": links,
        "hide": hide,
        "workdir": WORKDIR,
        "scratch": {"bytes": limits.scratch_bytes, "inodes": limits.scratch_inodes},
        "uid": uid,
    }


class Slot:
    """An exclusive sandbox user id, held through a lock file for the sandbox's lifetime."""

    def __init__(self) -> None:
        folder = Path(tempfile.gettempdir()) / "autograder-slots"
        folder.mkdir(mode=0o700, exist_ok=True)
        for slot in range(SLOTS):
            handle = open(folder / f"{slot}.lock", "w")  # noqa: SIM115 (held until release)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self.handle, self.uid = handle, UID_BASE + slot
            return
        raise RuntimeError(f"all {SLOTS} sandbox user ids are in use")

    def release(self) -> None:
        """Kill whatever still runs as this user (a fork bomb's stragglers), then unlock."""
        kill_user(self.uid)
        self.handle.close()


def kill_user(uid: int, *, timeout: float = 10.0) -> None:
    """SIGKILL every process of ``uid`` until none is left (or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [pid for pid in _pids() if _uid_of(pid) == uid]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)
    logger.warning("processes of sandbox user %d survived SIGKILL for %g s", uid, timeout)


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _uid_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def spawn(library: Path, fds: list[int], setup: dict[str, Any], cwd: Path) -> subprocess.Popen:
    """A new interpreter running ``bootstrap.py`` with ``fds`` (cmd, result, lifeline, log)."""
    bootstrap = library / "autograder" / "sandbox" / "bootstrap.py"
    cmd_r, res_w, life_r, log = fds
    return subprocess.Popen(
        [sys.executable, "-S", "-s", str(bootstrap), str(cmd_r), str(res_w), str(life_r)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        pass_fds=(cmd_r, res_w, life_r),
        env=environment(setup["workdir"]),
        cwd=cwd,
        start_new_session=True,
    )


class ZygoteLauncher:
    """A fork server for one assignment; each ``start`` returns the pid of a new sandbox.

    Creating one does not wait: the server imports torch while the caller goes on (extracting,
    computing references); the first ``start`` waits until it is ready.
    """

    def __init__(self, library: Path, *, startup: float, preload: Sequence[str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.lock = threading.Lock()
        self.ready = False
        self.preloaded: set[str] = set()
        self.startup = startup
        run = library.parent  # the grading process's own temporary folder
        self.log = tempfile.NamedTemporaryFile(prefix="zygote-", suffix=".log", dir=run)
        self.home = tempfile.TemporaryDirectory(prefix="zygote-", dir=run)
        env = {
            **environment(WORKDIR),
            "HOME": self.home.name,
            "TMPDIR": self.home.name,
            "MPLCONFIGDIR": self.home.name,
        }  # sandboxes switch to their scratch folder
        script = library / "autograder" / "sandbox" / "zygote.py"
        self.process = subprocess.Popen(
            [sys.executable, "-S", "-s", str(script), str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            pass_fds=(theirs.fileno(),),
            env=env,
            start_new_session=True,
        )
        theirs.close()
        self.socket = ours
        ours.send(json.dumps({"sys_path": [str(library), *python_paths()]}).encode())
        self.preload(preload)

    def _wait_ready(self) -> None:
        self.socket.settimeout(self.startup)
        try:
            reply = json.loads(self.socket.recv(1 << 16) or b"{}")
        except (OSError, ValueError) as error:
            reply = {"error": str(error)}
        if reply.get("kind") != "ready":
            self.log.seek(0)
            tail = self.log.read()[-3000:].decode(errors="replace")
            raise RuntimeError(f"the sandbox fork server did not start: {reply}\n{tail}")
        self.ready = True

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def preload(self, modules: Sequence[str]) -> None:
        """Have the server import ``modules`` (trusted names) next, without waiting for it.

        A server that is gone is left to its next ``start``, which says why.
        """
        with self.lock:
            fresh = sorted(set(modules) - self.preloaded)
            if fresh:
                with contextlib.suppress(OSError):
                    self.socket.send(json.dumps({"kind": "preload", "modules": fresh}).encode())
                self.preloaded.update(fresh)

    def start(self, fds: list[int], setup: dict[str, Any], cwd: Path) -> int:
        """Fork a sandbox that receives ``fds`` (cmd, result, lifeline, log) and ``setup``."""
        with self.lock:
            if not self.ready:
                self._wait_ready()
            socket.send_fds(self.socket, [json.dumps(setup).encode()], fds)
            reply = json.loads(self.socket.recv(1 << 16) or b"{}")
        if "pid" not in reply:
            raise RuntimeError(f"the sandbox fork server failed: {reply.get('error', reply)}")
        return int(reply["pid"])

    def close(self) -> None:
        self.socket.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()
        self.home.cleanup()


_zygotes: dict[str, ZygoteLauncher] = {}
_zygote_lock = threading.Lock()


def zygote(
    assignment: str, library: Path, *, startup: float, preload: Sequence[str]
) -> ZygoteLauncher:
    """The fork server of ``assignment`` in this process (started, or restarted, on demand).

    ``preload``: the modules it imports first, once for all its sandboxes.
    """
    with _zygote_lock:
        if not _zygotes:  # registered after the run folder's removal, so it runs before it
            atexit.register(_stop_zygotes)
        server = _zygotes.get(assignment)
        if server is None or not server.alive:
            server = _zygotes[assignment] = ZygoteLauncher(
                library, startup=startup, preload=preload
            )
        return server


def _stop_zygotes() -> None:
    for server in _zygotes.values():
        server.close()
