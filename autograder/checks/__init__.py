"""Check specifications, one module per assignment (see :mod:`autograder.spec`)."""
