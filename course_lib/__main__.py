"""``python -m course_lib COMMAND ...``: the demo and each pipeline of the course.

Commands: ``demo`` (every pipeline on the embedded synthetic data, or on real data, with a
report), ``data`` (verify, split, grid, cache), ``train`` (a named or YAML config: transfer or
age groups), ``features`` (similarity search, PCA/t-SNE, thumbnail canvas, class clusters),
``explain`` (Grad-CAM panels) and ``compress`` (tensor-train head, fine-tuning, table). Each is
defined by ``add_parser`` in the pipeline module that runs it.
"""

from __future__ import annotations

import argparse
import sys

from course_lib.cli import run_command
from course_lib.pipelines import compress, data, demo, explain, features, training

COMMANDS = (demo, data, training, features, explain, compress)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
