"""Student code that attacks its own process: memory, descriptors, signals, children, output."""

from __future__ import annotations

import hashlib
from pathlib import Path

from autograder_corpus.entry import FIRST_TOPK, Entry, topk_then, topk_with

# 3 GB of shared memory (which RLIMIT_DATA does not count), touched page by page (one byte
# every 4 KB, at numpy's speed): a third each by two children and the process, which then
# touches all of it.
SHARED_MEMORY = """
    import mmap, os
    # 3 GB of shared memory, populated by the kernel at once (no page-by-page faults, so the
    # limit is reached within the case's time limit even on a busy machine), then two children
    # that write to it too.
    flags = mmap.MAP_SHARED | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE
    area = mmap.mmap(-1, 3 * 2**30, flags=flags)
    children = [os.fork() for _ in range(2)]
    if 0 in children:
        area[:4096] = bytes(4096)
        os._exit(0)
    for pid in children:
        os.waitpid(pid, 0)
"""

CLOSE_ALL_FDS = "import os\nos.closerange(0, 256)"

IGNORE_SIGNALS = """
    import signal
    stops = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGXCPU}
    for number in stops:
        signal.signal(number, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    while True:
        pass
"""

# A frame of garbage through every descriptor reopened by its /proc path (a pipe's read end
# reopened for writing is a new write end); the output is wrong anyway.
PROC_FD_WRITES = """
    import os
    if not os.path.isdir("/proc/self/fd"):
        raise RuntimeError("no /proc/self/fd")
    for name in os.listdir("/proc/self/fd"):
        try:
            fd = os.open(f"/proc/self/fd/{name}", os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            os.write(fd, b"junk" * 4)
        except OSError:
            pass
        os.close(fd)
    return [0.0 for _ in topk]
"""

OUTPUT_AT_LOAD = """
    class _Noise:
        import sys
        for _ in range(20):
            sys.stdout.write("x" * 2**20)
        sys.stdout.flush()
"""


def daemon_name(canary: Path) -> str:
    """The process name of the daemon this corpus run starts (unique per run, 15 bytes max)."""
    return "corpus" + hashlib.sha256(str(canary).encode()).hexdigest()[:8]


def _daemon(name: str) -> str:
    """A detached grandchild that writes garbage into every descriptor for 15 minutes."""
    return f"""
        import ctypes, os, time
        child = os.fork()
        if child == 0:
            os.setsid()
            if os.fork() == 0:
                ctypes.CDLL(None).prctl(15, b"{name}", 0, 0, 0)
                time.sleep(1)
                for _ in range(900):
                    for fd in range(3, 64):
                        try:
                            os.write(fd, b"junk" * 4)
                        except OSError:
                            pass
                    time.sleep(1)
            os._exit(0)
        os.waitpid(child, 0)
    """


def process_entries(canary: Path) -> list[Entry]:
    """Entries attacking the sandbox process; ``canary`` names this run's daemon."""
    return [
        # Without namespaces there may be no cgroup either: the 3 GB would be real. The kernel
        # kills the code at the limit, unless a busy machine slows the writing down past the
        # case's 5 s: then the time limit stops it. Either way the cgroup holds it to 2 GB
        # (tests/test_autograder_cgroups.py shows that without any time limit).
        Entry(
            "shared_memory_3_gb",
            fails=(FIRST_TOPK,),
            message=("memory", "time limit"),
            isolation=True,
            cells={"topk_accuracy": topk_with(SHARED_MEMORY)},
        ),
        Entry(
            "close_all_fds",
            fails=(FIRST_TOPK,),
            cells={"topk_accuracy": topk_with(CLOSE_ALL_FDS)},
        ),
        Entry(
            "ignore_signals",
            fails=(FIRST_TOPK,),
            message="time limit",
            cells={"topk_accuracy": topk_with(IGNORE_SIGNALS)},
        ),
        Entry(
            "proc_fd_writes",
            fails=(FIRST_TOPK,),
            cells={"topk_accuracy": topk_with(PROC_FD_WRITES)},
        ),
        Entry(
            "lingering_daemon",
            isolation=True,
            cells={"topk_accuracy": topk_with(_daemon(daemon_name(canary)))},
        ),
        Entry(
            "output_flood_at_load",
            message="output limit",
            cells={"topk_accuracy": topk_then(OUTPUT_AT_LOAD)},
        ),
    ]
