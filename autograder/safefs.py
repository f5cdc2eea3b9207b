"""Files a submission controls: read them without following links or blocking, and measure or
remove any tree it can make (deep, wide, unreadable, full of links) without recursion.

Trees are walked with one open folder descriptor at a time, whatever their depth: every step
down opens a name relative to its parent without following links, every step up opens ``..``,
and both check the folder's device and inode, so a tree that changes during the walk is never
left for somewhere else. Standard library only: the sandbox imports it too.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable, Iterator

logger = logging.getLogger(__name__)

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


class RefusedFileError(OSError):
    """A file that is not read; the message names it and says why."""


class NotRegularFileError(RefusedFileError):
    """A symbolic link, FIFO, device, socket or folder where a regular file was expected."""

    def __init__(self, name: str, mode: int) -> None:
        self.kind = _KINDS.get(stat.S_IFMT(mode), "an unknown kind of file")
        super().__init__(f"{name} is not a regular file ({self.kind})")


class FileTooLargeError(RefusedFileError):
    """A regular file over the size limit (``size`` and ``limit`` in bytes)."""

    def __init__(self, name: str, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(
            f"{name} is {megabytes(size)}; files above {megabytes(limit)} are not read"
        )


def megabytes(size: int) -> str:
    return f"{size / 2**20:.0f} MB"


def read_regular(path: str | os.PathLike[str], *, max_bytes: int) -> bytes:
    """The content of ``path`` if it is a regular file of at most ``max_bytes``.

    Links are not followed (the last component of ``path``), FIFOs and devices are never read
    or waited on, and the size is checked before reading. RefusedFileError says what is wrong;
    other OSErrors (a missing file) pass through.
    """
    name = os.path.basename(os.fspath(path))
    _check_regular(name, os.lstat(path), max_bytes)  # devices are not even opened
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:  # replaced by a link since lstat
            raise NotRegularFileError(name, stat.S_IFLNK) from None
        raise
    with open(fd, "rb", closefd=True) as handle:
        _check_regular(name, os.fstat(fd), max_bytes)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew since fstat
        raise FileTooLargeError(name, len(data), max_bytes)
    return data


def _check_regular(name: str, info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFileError(name, info.st_mode)
    if info.st_size > max_bytes:
        raise FileTooLargeError(name, info.st_size, max_bytes)


class _TreeChanged(OSError):
    """A folder was moved or replaced while the walk was in it."""


class _Folder:
    """A folder on the way down: its name, identity and the sub-folders still to visit."""

    __slots__ = ("name", "device", "inode", "subfolders")

    def __init__(self, name: str, info: os.stat_result, subfolders: list[str]) -> None:
        self.name, self.device, self.inode = name, info.st_dev, info.st_ino
        self.subfolders = subfolders


def _open_folder(parent: int, name: str, expected: os.stat_result, *, repair: bool) -> int:
    """A descriptor of folder ``name`` in ``parent``, the one ``expected`` describes.

    ``repair``: give the owner rwx first when it lacks it (a mode-000 folder of its own).
    """
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:
        if not repair:
            raise
        try:
            os.chmod(name, 0o700, dir_fd=parent, follow_symlinks=False)
        except NotImplementedError:
            raise PermissionError(errno.EACCES, f"{name} cannot be opened") from None
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) != (expected.st_dev, expected.st_ino):
        os.close(fd)
        raise _TreeChanged(f"{name} was replaced while the tree was walked")
    if repair and os.geteuid() != 0 and info.st_mode & 0o700 != 0o700:
        os.fchmod(fd, 0o700)
    return fd


def _walk(
    parent: int,
    name: str,
    scan: Callable[[int], list[str]],
    *,
    repair: bool,
    skipped: list[OSError] | None = None,
) -> Iterator[tuple[int, str]]:
    """Folders of the tree ``name`` in ``parent``, deepest first, as (their parent's fd, name).

    ``scan(fd)`` handles the entries of one folder and returns the names of its sub-folders.
    A sub-folder that cannot be entered (unreadable, replaced, another file system) raises
    OSError, or is left out and its error appended to ``skipped`` when that is a list. A folder
    moved during the walk always raises.
    """
    top = os.lstat(name, dir_fd=parent)
    fd = _open_folder(parent, name, top, repair=repair)
    try:
        stack = [_Folder(name, top, scan(fd))]
        while stack:
            folder = stack[-1]
            if folder.subfolders:
                child = folder.subfolders.pop()
                try:
                    info = os.lstat(child, dir_fd=fd)
                    if not stat.S_ISDIR(info.st_mode):
                        raise _TreeChanged(f"{child} stopped being a folder during the walk")
                    if info.st_dev != top.st_dev:
                        raise OSError(errno.EXDEV, f"{child} is a mount point; not entered")
                    down = _open_folder(fd, child, info, repair=repair)
                    try:
                        stack.append(_Folder(child, info, scan(down)))
                    except BaseException:
                        os.close(down)
                        raise
                except FileNotFoundError:  # removed since it was listed
                    continue
                except OSError as error:
                    if skipped is None:
                        raise
                    skipped.append(error)
                    continue
                os.close(fd)
                fd = down
                continue
            stack.pop()
            if stack:
                up = os.open("..", _DIR_FLAGS, dir_fd=fd)
                info = os.fstat(up)
                if (info.st_dev, info.st_ino) != (stack[-1].device, stack[-1].inode):
                    os.close(up)
                    raise _TreeChanged(f"{folder.name} was moved during the walk")
            else:
                up = parent
            os.close(fd)
            fd = up
            yield fd, folder.name
    finally:
        if fd != parent:
            os.close(fd)


def remove_tree(path: str | os.PathLike[str]) -> bool:
    """Remove ``path`` and everything under it (a link is removed, never followed).

    Never raises: what can be removed is, and a warning says what could not (then False).
    """
    parent, name = os.path.split(os.path.abspath(os.fspath(path)))
    if not name:
        logger.warning("not removing %s: it is a file system root", path)
        return False
    try:
        top = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except FileNotFoundError:
        return True
    except OSError as error:
        logger.warning("could not remove %s: %s", path, error)
        return False
    problems: list[OSError] = []
    try:
        _remove(top, name, problems)
    finally:
        os.close(top)
    if problems:
        logger.warning(
            "could not remove all of %s (%d problems; the first: %s)",
            path,
            len(problems),
            problems[0],
        )
    return not problems


def _remove(parent: int, name: str, problems: list[OSError]) -> None:
    """Remove ``name`` in ``parent`` as far as possible; what failed goes to ``problems``."""
    try:
        if not stat.S_ISDIR(os.lstat(name, dir_fd=parent).st_mode):
            os.unlink(name, dir_fd=parent)
            return
    except FileNotFoundError:  # already gone
        return
    except OSError as error:
        problems.append(error)
        return
    try:
        for fd, folder in _walk(
            parent, name, lambda fd: _clear(fd, problems), repair=True, skipped=problems
        ):
            try:
                os.rmdir(folder, dir_fd=fd)
            except FileNotFoundError:
                continue
            except OSError as error:
                if error.errno != errno.ENOTEMPTY or not problems:  # else already reported
                    problems.append(error)
    except OSError as error:
        problems.append(error)


def _clear(fd: int, problems: list[OSError]) -> list[str]:
    """Unlink every entry of folder ``fd`` but folders; the names of the folders."""
    folders = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.name)
                continue
            try:
                os.unlink(entry.name, dir_fd=fd)
            except IsADirectoryError:  # replaced by a folder since it was listed
                folders.append(entry.name)
            except FileNotFoundError:
                continue
            except OSError as error:
                problems.append(error)
    return folders


class _TooMany(Exception):
    """More entries than the caller wants counted."""


def tree_usage(path: str | os.PathLike[str], *, max_entries: int) -> tuple[int, int, bool]:
    """Bytes allocated and entries under folder ``path``, and whether the count is complete.

    Links are counted, not followed; hard links count once. Counting stops after
    ``max_entries`` entries, or at anything unreadable (then ``complete`` is False).
    """
    allocated = entries = 0
    inodes: set[int] = set()

    def count(fd: int) -> list[str]:
        nonlocal allocated, entries
        folders = []
        with os.scandir(fd) as listing:
            for entry in listing:
                entries += 1
                if entries > max_entries:
                    raise _TooMany
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    folders.append(entry.name)
                elif info.st_ino in inodes:
                    continue
                elif info.st_nlink > 1:
                    inodes.add(info.st_ino)
                allocated += info.st_blocks * 512
        return folders

    parent, name = os.path.split(os.path.abspath(os.fspath(path)))
    try:
        top = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except OSError:
        return 0, 0, False
    try:
        for _ in _walk(top, name, count, repair=False):
            pass
    except (OSError, _TooMany):
        return allocated, min(entries, max_entries), False
    finally:
        os.close(top)
    return allocated, entries, True
