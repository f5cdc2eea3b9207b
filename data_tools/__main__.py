"""``python -m data_tools COMMAND ...``: tiny-imagenet, synth and cacd."""

from __future__ import annotations

import argparse
import sys

from course_lib.cli import run_command
from data_tools import cacd, synth, tiny_imagenet

COMMANDS = (tiny_imagenet, synth, cacd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data_tools", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
