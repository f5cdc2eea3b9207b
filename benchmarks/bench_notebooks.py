"""Source notebooks: the default run of each, top to bottom, against its time budget.

Each ``solutions/<id>/<id>.ipynb`` runs as a student runs it (Run All in a fresh kernel, through
nbclient) from a temporary copy of its folder, with ``course_lib`` importable from the
repository root and an empty temporary folder (``TMPDIR``), so its synthetic data is written
afresh as on a first run. ``seconds`` is the time from the first cell's start to the last cell's
end (nbclient's cell metadata, what the notebook test measures); ``wall_s`` adds the kernel's
start; ``kernel_cpu_s`` is the CPU time of the kernel process, the steadier measure on a shared
machine (idle OpenMP threads sleep: ``OMP_WAIT_POLICY=PASSIVE`` unless set); ``load_1min`` is
the load average when the notebook finished. The budget is 20 s on a quiet 2-core CPU.

    python -m benchmarks.bench_notebooks [--only a2_transfer ...] [--budget 20] [--cells]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
#: Seconds one notebook may take, top to bottom, on a quiet 2-core CPU (default settings).
BUDGET_S = 20.0


def notebook_ids() -> list[str]:
    """The assignments with a source notebook ``solutions/<id>/<id>.ipynb``, sorted."""
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb") if p.stem == p.parent.name)


def execution_seconds(nb: nbformat.NotebookNode) -> float:
    """Seconds from the first code cell's start to the last one's end, from nbclient's
    execution metadata: what the notebook tests measure too."""
    stamps = [s for s in (_stamps(c) for c in nb.cells if c.cell_type == "code") if s]
    return (stamps[-1][1] - stamps[0][0]).total_seconds()


def cell_seconds(cell: nbformat.NotebookNode) -> float | None:
    """Seconds a code cell ran, from nbclient's execution metadata (None if it did not run)."""
    stamps = _stamps(cell)
    return None if stamps is None else (stamps[1] - stamps[0]).total_seconds()


def _stamps(cell: nbformat.NotebookNode) -> tuple[datetime, datetime] | None:
    timing = cell.get("metadata", {}).get("execution", {})
    if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
        return None
    start, end = (timing[key] for key in ("iopub.execute_input", "shell.execute_reply"))
    return tuple(datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end))


def _kernel_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["TMPDIR"] = str(tmp)  # fresh synthetic data, and nothing left behind
    # Idle OpenMP threads sleep instead of spinning (as in the notebook tests): on a shared CPU
    # spinning threads of the kernel and of other programs take each other's cores.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def execute(assignment: str, *, timeout: int = 600) -> tuple[nbformat.NotebookNode, float, float]:
    """Run ``solutions/<assignment>/<assignment>.ipynb`` top to bottom in a fresh kernel from a
    temporary copy; the executed notebook, the wall-clock seconds (kernel start included) and
    the CPU seconds of the kernel process."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{assignment}-") as work:
        folder = Path(work) / assignment
        shutil.copytree(SOLUTIONS / assignment, folder, ignore=shutil.ignore_patterns(".*"))
        tmp = Path(work) / "tmp"
        tmp.mkdir()
        nb = nbformat.read(folder / f"{assignment}.ipynb", as_version=4)
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": folder}}
        )
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        try:
            client.execute(env=_kernel_env(tmp))
        except Exception as error:
            raise RuntimeError(f"{assignment}: the notebook failed: {error}") from error
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel has been reaped
    cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return nb, wall, cpu


def measure(assignment: str, *, budget: float = BUDGET_S, timeout: int = 600) -> dict:
    """One row: the notebook's seconds against ``budget`` and its slowest cell."""
    nb, wall, cpu = execute(assignment, timeout=timeout)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    timed = [(cell_seconds(c), c) for c in cells if cell_seconds(c) is not None]
    seconds = execution_seconds(nb)
    slowest_s, slowest = max(timed, key=lambda pair: pair[0])
    return {
        "notebook": assignment,
        "seconds": seconds,
        "budget_s": budget,
        "within_budget": seconds <= budget,
        "slowest_cell": f"{slowest.get('id', '?')}: {_first_line(slowest.source)}",
        "slowest_cell_s": slowest_s,
        "wall_s": wall,
        "kernel_cpu_s": cpu,
        "load_1min": os.getloadavg()[0],
        "cells": [(c.get("id", "?"), _first_line(c.source), s) for s, c in timed],
    }


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip() and not line.startswith("%")]
    text = lines[0].strip() if lines else ""
    return text if len(text) <= 50 else text[:47] + "..."


def run(
    notebooks: list[str] | None = None, *, budget: float = BUDGET_S, timeout: int = 600
) -> list[dict]:
    """One row per source notebook (all of them by default), run one after the other."""
    rows = []
    for assignment in notebooks or notebook_ids():
        row = measure(assignment, budget=budget, timeout=timeout)
        row.pop("cells")
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_notebooks", description=__doc__
    )
    parser.add_argument("--only", nargs="+", choices=notebook_ids(), help="these notebooks")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds per notebook")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell at most")
    parser.add_argument("--cells", action="store_true", help="print every cell's seconds")
    args = parser.parse_args(argv)
    for assignment in args.only or notebook_ids():
        row = measure(assignment, budget=args.budget, timeout=args.timeout)
        verdict = "within" if row["within_budget"] else "OVER"
        print(
            f"{assignment}: {row['seconds']:.1f} s ({verdict} the {row['budget_s']:g} s budget; "
            f"{row['wall_s']:.1f} s with the kernel's start, kernel CPU {row['kernel_cpu_s']:.1f}"
            f" s, load {row['load_1min']:.2f}); slowest cell {row['slowest_cell']} "
            f"{row['slowest_cell_s']:.1f} s",
            flush=True,
        )
        if args.cells:
            for cell_id, line, seconds in row["cells"]:
                print(f"  {seconds:6.2f} s  {cell_id:<32} {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
