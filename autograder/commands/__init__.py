"""Command modules of ``python -m autograder`` (each defines ``add_parser``)."""
