"""``python -m benchmarks``: run every benchmark side by side and rewrite BENCHMARKS.md.

Each ``bench_<topic>.py`` measures ours and its named baseline in one run and returns rows
(dicts) from ``run()``; this command adds the machine and writes one table per benchmark.
``--only data train`` runs a subset (the other sections of BENCHMARKS.md are kept).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import re
import sys
import time
from pathlib import Path

import torch

TOPICS = ("notebooks", "data", "scale", "train", "explain", "compress", "grading")
OUTPUT = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = "# Benchmarks\n"
INTRO = (
    "Written by `make bench` (`python -m benchmarks`). Each section measures ours and the named "
    "baseline side by side in one run on the machine it names; ratios are baseline time / ours."
)


def machine() -> str:
    """One line naming the CPU, the cores, the GPU (if any) and the library versions."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = re.findall(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = names[0].strip() if names else cpu
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {gpu}; Python {platform.python_version()}, "
        f"torch {torch.__version__}, {platform.system()} {platform.release()}"
    )


def markdown_tables(rows: list[dict]) -> str:
    """One table per run of rows with the same columns (a benchmark may measure several
    things, each with its own columns)."""
    groups: list[list[dict]] = []
    for row in rows:
        if groups and list(groups[-1][0]) == list(row):
            groups[-1].append(row)
        else:
            groups.append([row])
    return "\n\n".join(markdown_table(group) for group in groups)


def markdown_table(rows: list[dict]) -> str:
    """Rows as a markdown table; columns in first-seen order, floats to 4 significant digits."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [row.get(column, "") for column in columns]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def section(topic: str) -> str:
    """Run ``benchmarks.bench_<topic>``; its docstring, the machine and its rows as markdown."""
    module = importlib.import_module(f"benchmarks.bench_{topic}")
    title, _, description = (module.__doc__ or topic).strip().partition("\n")
    started = time.perf_counter()
    rows = module.run()
    seconds = time.perf_counter() - started
    return (
        f"## {topic}: {title}\n\n{description.strip()}\n\n"
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()} by "
        f"`python -m benchmarks.bench_{topic}` ({seconds:.0f} s):\n\n{markdown_tables(rows)}\n"
    )


def _previous_sections(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    parts = re.split(r"(?m)^## ", path.read_text(encoding="utf-8"))[1:]
    return {part.split(":", 1)[0]: "## " + part.rstrip() + "\n" for part in parts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=TOPICS, default=list(TOPICS))
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sections = _previous_sections(args.out)
    for topic in args.only:
        print(f"benchmark {topic} ...", flush=True)
        sections[topic] = section(topic)
        print(sections[topic], flush=True)
    body = "\n".join(sections[topic] for topic in TOPICS if topic in sections)
    text = f"{HEADER}\n{INTRO}\n\n{body}"
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
