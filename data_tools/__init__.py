"""Command-line tools over ``course_lib.data``: ``python -m data_tools COMMAND ...``.

Each command module (``tiny_imagenet``, ``synth``, ``cacd``) has ``add_parser(subparsers)``,
which registers the command and sets ``func`` to a handler returning an exit code.
"""
