"""Running student code in a separate, limited process (see :mod:`autograder.sandbox.host`)."""
