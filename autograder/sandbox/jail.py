"""Inside fresh namespaces: build a minimal read-only root, enter it and drop privileges.

Runs in the sandbox process before any student code, as root of its mount namespace (started
by ``unshare``). Standard library only. The new root is a small tmpfs holding read-only bind
mounts of exactly what the sandbox needs (the Python installation, site-packages, system
libraries, a few devices, the sandbox's own library folder) and one writable scratch folder: a
tmpfs limited in size and inodes, so student code gets ENOSPC instead of filling a disk, and
whatever it leaves there disappears with the namespace.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from pathlib import Path
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
#: Mount flags the kernel refuses to clear on a bind remount (locked in user namespaces).
KEPT_FLAGS = MS_NOEXEC | 1024 | 2048 | 4096  # noexec, noatime, nodiratime, relatime
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = _libc.mount(
        source.encode() if source else None,
        target.encode(),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    )
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def unshare_namespaces(*, user: bool) -> None:
    """New mount, network, PID (for children), IPC and UTS namespaces; a user one if ``user``.

    In a user namespace the caller becomes root of it, mapped to its own uid and gid.
    """
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if _libc.unshare(flags | (CLONE_NEWUSER if user else 0)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare: {os.strerror(errno)}")
    if user:
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"0 {uid} 1"),
            ("gid_map", f"0 {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)


def die_with_parent() -> None:
    """Get SIGKILL when the parent process dies."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _bind(root: Path, source: str, target: str, mode: str) -> None:
    """Bind ``source`` at ``root/target``: mode ``ro``, ``rw`` or ``dev`` (read-only device)."""
    where = root / target.lstrip("/")
    if os.path.isdir(source):
        where.mkdir(parents=True, exist_ok=True)
    else:
        where.parent.mkdir(parents=True, exist_ok=True)
        where.touch(exist_ok=True)
    mount(source, str(where), None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (os.statvfs(source).f_flag & KEPT_FLAGS)
    if mode != "dev":
        flags |= MS_NODEV
    if mode != "rw":
        flags |= MS_RDONLY
    mount(None, str(where), None, flags)


def enter(spec: dict[str, Any]) -> None:
    """Build the root described by ``spec``, chroot into it and become ``spec["uid"]``.

    ``spec``: ``root`` (an empty host folder to mount the new root on), ``binds`` (``[source,
    target, mode]``), ``symlinks`` (``[path, target]``), ``hide`` (paths to cover with an
    empty folder), ``workdir`` (where the scratch tmpfs goes), ``scratch`` (its ``bytes`` and
    ``inodes``) and ``uid`` (who owns the scratch and runs the code; None to stay).
    A /proc of the new PID namespace is mounted when the kernel allows it.
    """
    root = Path(spec["root"])
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", str(root), "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    for source, target, mode in spec["binds"]:
        _bind(root, source, target, mode)
    _mount_scratch(root / spec["workdir"].lstrip("/"), spec["scratch"], spec.get("uid"))
    for path, target in spec["symlinks"]:
        link = root / path.lstrip("/")
        if not os.path.lexists(link):
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
    _mount_proc(root / "proc")
    empty = root / ".empty"
    empty.mkdir()
    for path in spec["hide"]:
        mount(str(empty), str(root / path.lstrip("/")), None, MS_BIND)
    mount(None, str(root), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chroot(root)
    os.chdir(spec["workdir"])
    uid = spec.get("uid")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _mount_scratch(target: Path, limits: dict[str, int], uid: int | None) -> None:
    """A private tmpfs at ``target`` of ``limits["bytes"]`` and ``limits["inodes"]``, mode 0700.

    Owned by ``uid`` (else by the caller, root of its user namespace).
    """
    target.mkdir(parents=True)
    options = f"size={limits['bytes']},nr_inodes={limits['inodes']},mode=0700"
    if uid is not None:
        options += f",uid={uid},gid={uid}"
    mount("tmpfs", str(target), "tmpfs", MS_NOSUID | MS_NODEV, options)


def _mount_proc(target: Path) -> None:
    """A /proc of the sandbox's own PID namespace (libraries read /proc/self/maps and cpuinfo).

    Optional: some containers refuse it, and the sandbox works without it.
    """
    target.mkdir()
    try:
        mount("proc", str(target), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        target.rmdir()


def set_limits(limits: dict[str, int]) -> None:
    """Apply resource limits by name (``cpu``, ``as``, ``nproc``, ``fsize``, ``nofile``...).

    A limit the platform does not support (``RLIMIT_AS`` on macOS) is skipped.
    """
    for name, value in limits.items():
        kind = getattr(resource, f"RLIMIT_{name.upper()}", None)
        if kind is None:
            continue
        _, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            continue
