"""Alternatives and mistakes of a5_explain_compress (see grading_corpus)."""

from grading_corpus import Alternative, Mistake

ALTERNATIVES: list[Alternative] = []
MISTAKES: list[Mistake] = []
