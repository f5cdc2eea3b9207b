"""Alternatives and mistakes of a1_data (see grading_corpus)."""

from grading_corpus import Alternative, Mistake

ALTERNATIVES: list[Alternative] = []
MISTAKES: list[Mistake] = []
