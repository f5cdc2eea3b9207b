"""Alternatives and mistakes of a3_features (see grading_corpus)."""

from grading_corpus import Alternative, Mistake

ALTERNATIVES: list[Alternative] = []
MISTAKES: list[Mistake] = []
