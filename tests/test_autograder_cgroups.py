"""Cgroup limits of the sandbox, with real processes: shared memory, children, tmpfs, forks."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from autograder.sandbox import cgroups
from autograder.sandbox.cgroups import Cgroup

MB = 2**20
LIMIT = 256 * MB
#: Joins the cgroup, then refuses to go on unless /proc/self/cgroup shows it in every
#: hierarchy: the attacks below must never run without their limits.
PRELUDE = """
import os, sys
from autograder.sandbox.cgroups import join
join({procs!r})
lines = open("/proc/self/cgroup").read().splitlines()
if sum(line.endswith("/" + {name!r}) for line in lines) < len({procs!r}):
    sys.exit(99)
"""


def run_in(cgroup: Cgroup, body: str, *, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``body`` in a new Python process that first joins ``cgroup``; output in files, so
    that children left running do not hold a pipe open."""
    name = Path(cgroup.procs[0]).parent.name
    done = python(PRELUDE.format(procs=cgroup.procs, name=name) + textwrap.dedent(body), timeout)
    assert done.returncode != 99, "the process did not land in the cgroup"
    return done


def python(source: str, timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(
            [sys.executable, "-c", source], stdout=out, stderr=err, timeout=timeout
        )
        out.seek(0)
        err.seek(0)
        done.stdout, done.stderr = out.read(), err.read()
    return done


def members(cgroup: Cgroup) -> set[int]:
    """The processes in ``cgroup`` (in any of its hierarchies)."""
    return {pid for procs in cgroup.procs for pid in map(int, Path(procs).read_text().split())}


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


@pytest.fixture
def kind() -> str:
    """The cgroup version in use; skips where this process cannot create cgroups."""
    found = cgroups.available()
    if found is None:
        pytest.skip("cannot create cgroups with memory and pids here (needs root or delegation)")
    return found


@pytest.fixture
def cgroup(request, kind):
    made = Cgroup.create(request.node.name, memory_bytes=LIMIT, pids=16)
    assert made is not None
    yield made
    made.close()


def test_shared_mapping_and_children_share_one_memory_limit(cgroup):
    # 3 GB of shared anonymous memory (not counted by RLIMIT_DATA) touched page by page, and
    # two forked children touching 1 GB each: the cgroup holds them all to 256 MB together.
    done = run_in(
        cgroup,
        """
        import mmap, time
        shared = mmap.mmap(-1, 3 << 30, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
        for _ in range(2):
            if os.fork() == 0:
                own = bytearray(1 << 30)
                for i in range(0, len(own), mmap.PAGESIZE):
                    own[i] = 1
                time.sleep(60)
                os._exit(0)
        for i in range(0, len(shared), mmap.PAGESIZE):
            shared[i] = 1
        print("touched all", flush=True)
        """,
    )
    assert done.returncode == -signal.SIGKILL, done
    assert "touched all" not in done.stdout
    assert cgroup.oom_killed()
    peak = cgroup.peak_memory()
    if peak is not None:
        assert LIMIT // 2 < peak <= LIMIT


def test_fork_bomb_stops_at_the_process_limit(cgroup):
    # Every process forks two more, seven levels deep (at most 255 without a limit); each
    # fork reports '+' or, refused, '-'.
    done = run_in(
        cgroup,
        """
        import fcntl, time
        read, write = os.pipe()
        def bomb(depth):
            for _ in range(2):
                if depth == 7:
                    return
                try:
                    pid = os.fork()
                except BlockingIOError:
                    os.write(write, b"-")
                    continue
                if pid == 0:
                    os.write(write, b"+")
                    bomb(depth + 1)
                    time.sleep(60)
                    os._exit(0)
        bomb(0)
        time.sleep(1)
        fcntl.fcntl(read, fcntl.F_SETFL, os.O_NONBLOCK)
        print(os.read(read, 1 << 16).decode())
        """,
    )
    assert done.returncode == 0, done
    report = done.stdout.strip()
    assert "-" in report, report
    assert report.count("+") <= 15, report  # 16 processes, the first one included
    survivors = members(cgroup)
    assert 0 < len(survivors) <= 16
    cgroup.close()
    assert not any(map(running, survivors))


def test_tmpfs_files_count_against_the_limit(cgroup, tmp_path):
    # A private mount namespace with a 1 GB tmpfs; writing 512 MB into it must fail.
    done = run_in(
        cgroup,
        f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x00020000) or libc.mount(None, b"/", None, (1 << 14) | (1 << 18), None):
            sys.exit(77)
        if libc.mount(b"tmpfs", {str(tmp_path).encode()!r}, b"tmpfs", 0, b"size=1g"):
            sys.exit(77)
        written = 0
        with open({str(tmp_path / "big")!r}, "wb", buffering=0) as handle:
            while written < 512 << 20:
                written += handle.write(bytes(1 << 20))
                print(written, flush=True)
        """,
    )
    if done.returncode == 77:
        pytest.skip("cannot mount a tmpfs in a private mount namespace here")
    written = int(done.stdout.split()[-1]) if done.stdout.split() else 0
    assert done.returncode != 0 and written < LIMIT, done
    assert done.returncode == -signal.SIGKILL or "Error" in done.stderr, done
    peak = cgroup.peak_memory()
    if peak is not None:
        assert peak <= LIMIT


def test_a_sandbox_with_many_busy_processes_takes_one_share_of_the_cpu(cgroup):
    # Beside a cgroup running 32 busy processes, a single busy process gets about half the
    # machine (an equal share per cgroup); by process count it would get 1/33 of it.
    if "cpu" not in cgroup.folders:
        pytest.skip("the cpu controller cannot be used here: sandboxes share the CPU per process")
    hog = Cgroup.create("hog", memory_bytes=LIMIT, pids=64)
    name = Path(hog.procs[0]).parent.name
    busy = PRELUDE.format(procs=hog.procs, name=name) + textwrap.dedent(
        """
        import time
        for _ in range(5):
            os.fork()
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass
        """
    )
    try:
        process = subprocess.Popen([sys.executable, "-c", busy])
        deadline = time.monotonic() + 30
        while len(members(hog)) < 32 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(members(hog)) == 32
        done = run_in(
            cgroup,
            """
            import time
            end = time.monotonic() + 2
            while time.monotonic() < end:
                pass
            print(time.process_time())
            """,
        )
        process.kill()
    finally:
        hog.close()
    assert done.returncode == 0, done
    seconds = float(done.stdout)
    cores = min(os.cpu_count() or 1, 2)
    assert seconds > 2 * cores / 33 * 4, f"{seconds:.2f} s of CPU in 2 s beside 32 busy processes"


def test_close_kills_escaped_processes_and_removes_the_folders(cgroup):
    # A grandchild in a session of its own, orphaned: out of reach of process-group kills.
    done = run_in(
        cgroup,
        """
        import time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(120)
            os._exit(0)
        time.sleep(0.5)
        """,
    )
    assert done.returncode == 0, done
    folders = [Path(procs).parent for procs in cgroup.procs]
    left = members(cgroup)
    assert left and all(map(running, left))
    cgroup.close()
    cgroup.close()  # a second close is harmless
    assert not any(map(running, left))
    assert not any(folder.exists() for folder in folders)


def test_next_create_removes_a_cgroup_whose_grader_is_gone(kind):
    # A grading process makes a cgroup, puts a process in it and dies without closing it.
    script = f"""
    import os, time
    from autograder.sandbox.cgroups import Cgroup, join
    cgroup = Cgroup.create("stale", memory_bytes={LIMIT}, pids=8)
    if os.fork() == 0:
        join(cgroup.procs)
        time.sleep(120)
        os._exit(0)
    time.sleep(0.5)
    print(" ".join(cgroup.procs), flush=True)
    os._exit(0)
    """
    done = python(textwrap.dedent(script), 60)
    folders = [Path(procs).parent for procs in done.stdout.split()]
    assert folders and all(folder.exists() for folder in folders), done
    (member,) = map(int, (folders[0] / "cgroup.procs").read_text().split())
    assert running(member)
    fresh = Cgroup.create("fresh", memory_bytes=LIMIT, pids=8)
    assert fresh is not None
    fresh.close()
    deadline = time.monotonic() + 5
    while running(member) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(member)
    assert not any(folder.exists() for folder in folders)


def test_create_rejects_a_name_that_is_not_a_folder_name():
    with pytest.raises(ValueError, match="expected letters"):
        Cgroup.create("../escape", memory_bytes=LIMIT, pids=8)


def test_chain_lists_the_cgroups_from_the_mount_point_down_to_this_process():
    point = Path("/sys/fs/cgroup")
    assert cgroups._chain("/", point, "/a/b") == [point, point / "a", point / "a/b"]
    assert cgroups._chain("/", point, "/") == [point]
    assert cgroups._chain("/a", point, "/a/b") == [point, point / "b"]  # a subtree mounted
    assert cgroups._chain("/a", point, "/c") == []  # this process's cgroup is not visible
    assert cgroups._chain("/", point, None) == []


@pytest.mark.parametrize("cpu_refused", [False, True], ids=["cpu", "cpu refused"])
def test_v2_enables_cpu_where_it_can_and_never_loses_memory_and_pids(
    tmp_path, monkeypatch, cpu_refused
):
    # v2 refuses +cpu while a realtime process is outside the root cgroup (EINVAL): the
    # sandboxes must still get their memory and process limits.
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    for name in ("cgroup.subtree_control", "cgroup.procs"):
        (tmp_path / name).write_text("")
    monkeypatch.setattr(cgroups, "_mounts", lambda: [("cgroup2", "/", tmp_path, set())])
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: {"": "/"})
    enabled = []

    def enable(folder, controllers, *, evacuate):
        if cpu_refused and "cpu" in controllers:
            raise OSError(errno.EINVAL, "Invalid argument")
        enabled.append((folder, controllers))

    monkeypatch.setattr(cgroups, "_enable", enable)
    parents = cgroups._parent_v2()
    used = ("memory", "pids") if cpu_refused else ("memory", "pids", "cpu")
    assert parents == dict.fromkeys(used, tmp_path / "autograder")
    assert enabled == [(tmp_path, used), (tmp_path / "autograder", used)]
