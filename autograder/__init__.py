"""Grading engine of the course: checks per assignment, a sandbox, and reports.

``python -m autograder --help`` lists the commands. Importing this package is cheap: the sandbox
imports parts of it before student code runs.
"""
