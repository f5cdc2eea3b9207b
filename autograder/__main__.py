"""``python -m autograder COMMAND``: the commands listed in ``COMMANDS``.

Each command module defines ``add_parser(subparsers)``, which adds its parser and sets
``func=run`` (``run(args) -> int`` calls one library function). A new command is a module with
``add_parser`` and one line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import logging
import os
import sys
from typing import NoReturn

#: Modules defining the commands, in the order ``--help`` lists them.
COMMANDS = (
    "autograder.commands.check",
    "autograder.commands.grade",
    "autograder.commands.grade_all",
    "autograder.commands.stats",
    "autograder.commands.gradescope",
    "autograder.commands.lock",
    "autograder.commands.course",
    "autograder.commands.refs",
    "autograder.release",
    "autograder.sync",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder", description="Grading engine of the course."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    # nbformat's JSON schema never uses the "iri" formats, whose optional validator builds a
    # grammar at import time (seconds); without it jsonschema simply skips those formats.
    sys.modules.setdefault("rfc3987_syntax", None)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args) or 0)


def exit_now(code: int) -> NoReturn:
    """Exit with ``code`` once the exit handlers ran (sandboxes stopped, temporary folders
    removed) and the output is flushed, skipping the interpreter's teardown of torch and the
    other loaded modules: half a second to a second that every cold grade would wait for."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
