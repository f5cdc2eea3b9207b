"""``python -m autograder COMMAND``: every module here or in ``commands/`` with ``add_parser``.

A command module defines ``add_parser(subparsers)``, which adds its parser and sets
``func=run`` (``run(args) -> int`` calls one library function). Dropping such a module into
the package registers the command; nothing here needs editing.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
FOLDERS = ((PACKAGE, "autograder."), (PACKAGE / "commands", "autograder.commands."))


def command_modules() -> list[str]:
    """Names of the modules that define a command, sorted."""
    names = []
    for folder, prefix in FOLDERS:
        for path in sorted(folder.glob("*.py")):
            if path.stem.startswith("_"):
                continue
            if "\ndef add_parser(" in path.read_text(encoding="utf-8"):
                names.append(prefix + path.stem)
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder", description="Grading engine of the course."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in command_modules():
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


if __name__ == "__main__":
    raise SystemExit(main())
