"""Alternatives and mistakes of a4_age (see grading_corpus)."""

from grading_corpus import Alternative, Mistake

ALTERNATIVES: list[Alternative] = []
MISTAKES: list[Mistake] = []
