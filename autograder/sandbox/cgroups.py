"""Control groups for sandboxes: one memory limit for a sandbox and everything it starts, and
one share of the CPU.

Resource limits (rlimits) are per process and count neither shared memory nor a process's
children: a shared anonymous mapping escapes ``RLIMIT_DATA``, and each forked child gets a
limit of its own. A cgroup counts every page its members touch (anonymous, shared, tmpfs,
page cache), allows no swap, and limits the number of processes. It is used wherever the
grading process can create cgroups (as root, or in a delegated subtree); elsewhere the
sandbox keeps its rlimits only.

Where the ``cpu`` controller can be used too, each sandbox cgroup gets the default CPU weight,
so that sandboxes graded side by side share the CPU equally however many processes each one
starts: without it, a submission running 64 busy processes takes 64 shares of the CPU, and
the submission graded beside it runs out of time.

Hierarchies are found in ``/proc/self/mountinfo``: cgroup v2 when its ``memory`` and ``pids``
controllers can be enabled, otherwise the cgroup v1 ``memory`` and ``pids`` hierarchies (and
``cpu`` in either, when it can be had). All sandbox cgroups live in one folder per hierarchy,
``autograder``, made when needed and removed at exit when empty. In v2 it goes in the highest
cgroup this process may write, from the mount point down to its own cgroup, with the
controllers enabled on the way. v2 allows no processes in a cgroup that enables controllers
for its children: when that cgroup is this process's own, its members first move into a leaf
beside ``autograder``, ``autograder-host``. In v1 the folder goes in this process's own cgroup
(limits nest), or the nearest writable ancestor.

Use: the grading process calls :meth:`Cgroup.create` before it starts a sandbox, hands
``cgroup.procs`` to it, reads :meth:`Cgroup.oom_killed` when the sandbox died and calls
:meth:`Cgroup.close` when done; the sandbox calls :func:`join` before it drops root, enters
namespaces or runs student code. Standard library only, cheap to import.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

CONTROLLERS = ("memory", "pids")  # required
OPTIONAL = ("cpu",)  # used where available: an equal CPU share per sandbox
FOLDER = "autograder"  # the parent of every sandbox cgroup, one per hierarchy
HOST_LEAF = "autograder-host"  # v2: where this cgroup's own processes move, if they must
NAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*")

_lock = threading.Lock()
_setup: list[tuple[str, dict[str, Path]] | None] = []  # cached: kind, controller -> parent


class Cgroup:
    """A cgroup (v2, or v1 ``memory`` + ``pids`` [+ ``cpu``]) holding one sandbox and its
    children.

    ``kind``: ``"cgroup v2"`` or ``"cgroup v1"``. ``procs``: the ``cgroup.procs`` files (one per
    hierarchy) that a process writes ``0`` to in order to join (see :func:`join`). Read
    :meth:`oom_killed` and :meth:`peak_memory` before :meth:`close`, which removes the files.
    """

    def __init__(self, kind: str, folders: dict[str, Path]) -> None:
        self.kind = kind
        self.folders = folders  # controller -> this cgroup's folder in its hierarchy
        self.closed = False

    @property
    def procs(self) -> list[str]:
        return [str(folder / "cgroup.procs") for folder in dict.fromkeys(self.folders.values())]

    @classmethod
    def create(cls, name: str, *, memory_bytes: int, pids: int) -> Cgroup | None:
        """A new cgroup ``<pid>-<name>`` limited to ``memory_bytes`` (no swap) and ``pids``.

        The memory limit counts shared memory and tmpfs files; in v2 an out-of-memory kill
        takes every member (``memory.oom.group``). None when no writable hierarchy has both
        controllers (the reason is logged once) or this cgroup could not be set up (logged).
        Cgroups left by grading processes that are gone are removed on the way.
        """
        if not NAME.fullmatch(name):
            raise ValueError(f"cgroup name {name!r}: expected letters, digits, '_', '.', '-'")
        setup = _prepared()
        if setup is None:
            return None
        kind, parents = setup
        cgroup = cls(kind, {})
        try:
            for controller, parent in parents.items():
                _make_parent(kind, parent, tuple(parents))
                _remove_stale(parent)
                folder = parent / f"{os.getpid()}-{name}"
                if folder not in cgroup.folders.values():
                    folder.mkdir()
                cgroup.folders[controller] = folder
            cgroup._limit(memory_bytes, pids)
        except OSError as error:
            logger.warning("could not set up the %s of %s: %s", kind, name, error)
            cgroup.close()
            return None
        return cgroup

    def _limit(self, memory_bytes: int, pids: int) -> None:
        memory, tasks = self.folders["memory"], self.folders["pids"]
        if self.kind == "cgroup v2":
            _write(memory / "memory.max", str(memory_bytes))
            _write_if_present(memory / "memory.swap.max", "0")
            _write_if_present(memory / "memory.oom.group", "1")
        else:  # memsw (memory + swap) may not be below the memory limit: set it second
            _write(memory / "memory.limit_in_bytes", str(memory_bytes))
            _write_if_present(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
        _write(tasks / "pids.max", str(pids))

    def oom_killed(self) -> bool:
        """Whether the kernel killed a member for lack of memory (v1 without an ``oom_kill``
        count: whether the limit was ever hit)."""
        memory = self.folders.get("memory")
        if memory is None:
            return False
        if self.kind == "cgroup v2":
            kills = _field(memory / "memory.events", "oom_kill")
        else:
            kills = _field(memory / "memory.oom_control", "oom_kill")
            if kills is None:  # before Linux 4.13
                kills = _number(memory / "memory.failcnt")
        return bool(kills)

    def peak_memory(self) -> int | None:
        """The most memory the members used at once, in bytes (None where the kernel does not
        say: v2 before Linux 5.19)."""
        memory = self.folders.get("memory")
        name = "memory.peak" if self.kind == "cgroup v2" else "memory.max_usage_in_bytes"
        if memory is None or not (memory / name).exists():
            return None
        return _number(memory / name)

    def close(self, *, timeout: float = 10.0) -> None:
        """Kill every member (and members of sub-cgroups), then remove the folders.

        Never raises: what survives ``timeout`` seconds is logged. Safe to call twice.
        """
        if self.closed:
            return
        self.closed = True
        for folder in dict.fromkeys(self.folders.values()):
            _destroy(folder, timeout=timeout)


def join(procs: list[str]) -> None:
    """Move the calling process into a cgroup: write ``0`` to each of ``Cgroup.procs``.

    Raises OSError (with the file's name) when a write fails: the caller must not go on
    without the limits.
    """
    for path in procs:
        try:
            _write(Path(path), "0")
        except OSError as error:
            raise OSError(error.errno, f"joining the cgroup {path}: {error.strerror}") from None


def available() -> str | None:
    """``"cgroup v2"`` or ``"cgroup v1"`` where sandboxes get cgroups, else None (cached).

    The first call prepares the hierarchy (see the module's docstring).
    """
    setup = _prepared()
    return None if setup is None else setup[0]


def _prepared() -> tuple[str, dict[str, Path]] | None:
    with _lock:
        if not _setup:
            _setup.append(_prepare())
        return _setup[0]


def _prepare() -> tuple[str, dict[str, Path]] | None:
    if sys.platform != "linux":
        logger.info("no cgroups (not Linux): sandbox memory limits are per process")
        return None
    reasons = []
    for kind, find in (("cgroup v2", _parent_v2), ("cgroup v1", _parents_v1)):
        try:
            parents = find()
        except LookupError as error:
            reasons.append(f"{kind}: {error}")
            continue
        logger.debug(
            "sandboxes get %s limits in %s (%s)", kind, sorted(set(parents.values())), reasons
        )
        atexit.register(_remove_parents, set(parents.values()))
        return kind, parents
    logger.warning(
        "no cgroup for sandboxes (%s): memory limits are per process, so shared memory and "
        "children escape them",
        "; ".join(reasons),
    )
    return None


def _mounts() -> list[tuple[str, str, Path, set[str]]]:
    """Cgroup mounts: (type, root inside the hierarchy, mount point, super options)."""
    mounts = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            fstype, options = fields[fields.index("-") + 1], fields[fields.index("-") + 3]
            if fstype in {"cgroup", "cgroup2"}:
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
                mounts.append((fstype, fields[3], Path(point), set(options.split(","))))
    return mounts


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under ``""`` its v2 one."""
    paths = {}
    with open("/proc/self/cgroup") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


def _chain(root: str, point: Path, own: str | None) -> list[Path]:
    """The folders from mount ``point`` down to the cgroup ``own``; empty when not visible."""
    if own is None:
        return []
    relative = os.path.relpath(own, root)
    if relative == ".":
        return [point]
    if relative.startswith(".."):
        return []
    parts = Path(relative).parts
    return [point.joinpath(*parts[:n]) for n in range(len(parts) + 1)]


def _writable(folder: Path, *files: str) -> bool:
    return os.access(folder, os.W_OK) and all(os.access(folder / f, os.W_OK) for f in files)


def _parent_v2() -> dict[str, Path]:
    own = _own_cgroups().get("")
    mounts = [m for m in _mounts() if m[0] == "cgroup2"]
    if not mounts:
        raise LookupError("not mounted")
    for _, root, point, _ in mounts:
        chain = _chain(root, point, own)
        for folder in chain:
            if not _writable(folder, "cgroup.subtree_control", "cgroup.procs"):
                continue
            have = _read(folder / "cgroup.controllers").split()
            if not set(CONTROLLERS) <= set(have):
                raise LookupError(f"{folder} has the controllers {have}, not {CONTROLLERS}")
            wanted = CONTROLLERS + tuple(c for c in OPTIONAL if c in have)
            # cpu may be refused (v2 enables it only while every realtime process is in the
            # root cgroup): then memory and pids alone, never no limits for want of cpu
            for controllers in dict.fromkeys((wanted, CONTROLLERS)):
                try:
                    _enable(folder, controllers, evacuate=folder == chain[-1])
                    _make_parent("cgroup v2", folder / FOLDER, controllers)
                except OSError as error:
                    logger.debug("cgroup v2: no %s in %s: %s", controllers, folder, error)
                    continue
                return dict.fromkeys(controllers, folder / FOLDER)
    raise LookupError("no writable cgroup that can enable memory and pids")


def _enable(folder: Path, controllers: tuple[str, ...], *, evacuate: bool) -> None:
    """Enable ``controllers`` for ``folder``'s children; with ``evacuate``, move its processes
    into ``HOST_LEAF`` when they are in the way."""
    missing = set(controllers) - set(_read(folder / "cgroup.subtree_control").split())
    if not missing:
        return
    request = " ".join(f"+{c}" for c in sorted(missing))
    try:
        _write(folder / "cgroup.subtree_control", request)
    except OSError as error:
        if error.errno != errno.EBUSY or not evacuate:
            raise
        leaf = folder / HOST_LEAF
        leaf.mkdir(exist_ok=True)
        moved = 0
        for _ in range(10):  # members may fork while they move
            pids = _pids(folder)
            if not pids:
                break
            for pid in pids:
                try:
                    _write(leaf / "cgroup.procs", str(pid))
                    moved += 1
                except ProcessLookupError:
                    continue
        logger.info("moved %d processes from %s into %s to enable %s", moved, folder, leaf, request)
        _write(folder / "cgroup.subtree_control", request)


def _parents_v1() -> dict[str, Path]:
    own = _own_cgroups()
    parents = {}
    for controller in CONTROLLERS + OPTIONAL:
        mounts = [m for m in _mounts() if m[0] == "cgroup" and controller in m[3]]
        chains = [_chain(root, point, own.get(controller)) for _, root, point, _ in mounts]
        usable = [f for chain in chains for f in reversed(chain) if _writable(f, "cgroup.procs")]
        reason = "no writable cgroup" if mounts else "not mounted"
        if usable:
            try:
                _make_parent("cgroup v1", usable[0] / FOLDER, ())
                parents[controller] = usable[0] / FOLDER
                continue
            except OSError as error:
                reason = str(error)
        if controller in CONTROLLERS:
            raise LookupError(f"{controller}: {reason}")
        logger.debug("cgroup v1 without %s: %s", controller, reason)
    return parents


def _make_parent(kind: str, parent: Path, controllers: tuple[str, ...]) -> None:
    """Make the folder of sandbox cgroups, if missing, with (v2) ``controllers`` enabled."""
    parent.mkdir(exist_ok=True)
    if kind == "cgroup v2":
        _enable(parent, controllers, evacuate=False)


def _remove_parents(parents: set[Path]) -> None:
    """At exit: remove the folders of sandbox cgroups that no grading process uses any more."""
    for parent in parents:
        try:
            parent.rmdir()
        except OSError:
            continue


def _remove_stale(parent: Path) -> None:
    """Remove the cgroups in ``parent`` whose grading process (the pid in the name) is gone."""
    for folder in parent.iterdir():
        owner = folder.name.split("-", 1)[0]
        if folder.is_dir() and owner.isdigit() and not alive(int(owner)):
            logger.info("removing the cgroup %s of a grading process that is gone", folder)
            _destroy(folder, timeout=5.0)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (the owner of a cgroup or a temporary folder)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _destroy(folder: Path, *, timeout: float) -> None:
    """SIGKILL the members of ``folder`` and its sub-cgroups until none is left, then remove
    them (bounded by ``timeout``; failures are logged)."""
    deadline = time.monotonic() + timeout
    try:
        _write_if_present(folder / "cgroup.kill", "1")  # v2, Linux 5.14+: the whole subtree
    except OSError as error:
        logger.debug("cgroup.kill of %s: %s", folder, error)
    while True:
        tree = [Path(top) for top, _, _ in os.walk(folder, topdown=False)]
        members = [pid for cgroup in tree for pid in _pids(cgroup)]
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
        try:
            if not members:
                for cgroup in tree:
                    cgroup.rmdir()
                return
        except FileNotFoundError:
            continue
        except OSError as error:
            if error.errno != errno.EBUSY:
                logger.warning("could not remove the cgroup %s: %s", folder, error)
                return
        if time.monotonic() > deadline:
            left = f"processes {members}" if members else "busy"
            logger.warning("cgroup %s still holds %s after %g s", folder, left, timeout)
            return
        time.sleep(0.01)


def _pids(cgroup: Path) -> list[int]:
    try:
        return [int(pid) for pid in _read(cgroup / "cgroup.procs").split()]
    except OSError:
        return []


def _read(path: Path) -> str:
    with open(path) as handle:
        return handle.read()


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _write_if_present(path: Path, text: str) -> None:
    if path.exists():
        _write(path, text)


def _number(path: Path) -> int:
    try:
        return int(_read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _field(path: Path, name: str) -> int | None:
    """The number after ``name`` in a flat-keyed file (``memory.events``); None when absent."""
    try:
        for line in _read(path).splitlines():
            key, _, value = line.partition(" ")
            if key == name:
                return int(value)
    except (OSError, ValueError):
        return None
    return None
