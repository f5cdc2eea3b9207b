"""What a sandbox may use, and what became of one case in it."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox process."""

    memory_bytes: int = 2 * 2**30  # heap and anonymous mappings (RLIMIT_DATA), imports included
    address_space_bytes: int = 24 * 2**30  # a backstop: torch alone maps about 4 GB
    cpu_seconds: int = 900
    processes: int = 64
    output_bytes: int = 8 * 2**20  # stdout + stderr, and any file written
    open_files: int = 256
    max_payload: int = 64 * 2**20  # one case's output
    startup_seconds: float = 120.0  # starting Python and importing torch
    cell_seconds: float = 15.0  # executing one cell's definitions
    scratch_bytes: int = 256 * 2**20  # the scratch folder (a tmpfs in namespaces mode)
    scratch_inodes: int = 10_000  # files and folders in the scratch folder

    def rlimits(self) -> dict[str, int]:
        return {
            "data": self.memory_bytes,
            "as": self.address_space_bytes,
            "cpu": self.cpu_seconds,
            "nproc": self.processes,
            "fsize": self.output_bytes,
            "nofile": self.open_files,
            "core": 0,
        }


@dataclass
class Outcome:
    """What became of one case in the sandbox.

    ``status``: ``ok`` (``payload`` holds the output), ``error`` (the code raised; ``error`` has
    type, message, traceback), ``missing`` (function not defined), ``timeout``, ``crashed``,
    ``protocol`` (unreadable or oversized output), ``unready`` (no folder for the case could be
    made: earlier cases spoilt the scratch), ``quota`` (the scratch grew past its limits) or
    ``not_run`` (the notebook could not load).
    """

    status: str
    payload: bytes = b""
    error: dict[str, str] = field(default_factory=dict)
    message: str = ""
    restart: bool = False  # the process is left in a state later cases must not inherit


class SandboxError(RuntimeError):
    """The sandbox process could not start."""


class CellLoadError(RuntimeError):
    """A cell of the notebook killed or hung the sandbox while it was executed."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index, self.reason = index, reason


def describe_exit(code: int) -> str:
    """A readable reason for a process exit status (negative: killed by that signal)."""
    if code >= 0:
        return f"exit status {code} (os._exit, or a fatal error in the interpreter)"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    reasons = {
        "SIGSEGV": "segmentation fault",
        "SIGBUS": "bus error",
        "SIGABRT": "aborted",
        "SIGKILL": "killed (memory or CPU-time limit)",
        "SIGXCPU": "CPU-time limit exceeded",
        "SIGXFSZ": "output limit exceeded",
        "SIGFPE": "arithmetic fault",
    }
    return f"{name} ({reasons.get(name, 'terminated')})"


#: Caps on text that comes from student code (it reaches results files and feedback).
MAX_TYPE_NAME = 60
MAX_MESSAGE = 500
MAX_TRACEBACK = 2000
_NOT_NAME = re.compile(r"[^\w.]")


def error_type(error: dict[str, str]) -> str:
    """The exception type name of an error frame: name characters only, at most 60 of them."""
    name = _NOT_NAME.sub("", str(error.get("type", "")))[:MAX_TYPE_NAME]
    return name or "Exception"


def error_text(error: dict[str, str], key: str, limit: int) -> str:
    """Field ``key`` of an error frame, cut to ``limit`` characters."""
    text = str(error.get(key, ""))
    return text if len(text) <= limit else text[:limit] + " [...]"
