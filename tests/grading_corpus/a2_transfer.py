"""Alternatives and mistakes of a2_transfer (see grading_corpus)."""

from grading_corpus import Alternative, Mistake

ALTERNATIVES: list[Alternative] = []
MISTAKES: list[Mistake] = []
