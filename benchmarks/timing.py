"""Timing shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall-clock and CPU seconds (this process, all threads) of ``fn()``, and its result.

    On a shared machine the CPU time of this process is the stable measure: it leaves out the
    time other programs had the cores.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def wall_seconds(fn: Callable[[], Any]) -> float:
    """Wall-clock seconds of ``fn()`` (for work done by other processes)."""
    return timed(fn)[0]
