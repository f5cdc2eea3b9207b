"""Families of cases per graded function, shared by the checks modules."""
