"""Grading engine of the course: checks per assignment, a sandbox, and reports.

How a notebook is graded (``python -m autograder --help`` lists the commands):

- ``extract``: the graded code is taken out of the notebook's solution cells (definitions only),
  with the imports it needs from the source notebook; problems become notes.
- ``sandbox``: that code runs in a separate, limited process (namespaces and a read-only jail
  where available) that never sees the checks: the grading process sends each case's inputs
  as data (``sandbox.transfer``) and gets the outputs back as plain data (``plaindata``).
- ``grading``: outputs are compared in this process with references computed from the full
  course_lib (``references``), using the assertions of ``asserts``.
- ``results`` (Gradescope results.json, gradebook CSV, tables), ``batch`` (grade-all),
  ``bundle`` (Gradescope zip), ``inkernel`` and ``cells`` (the same checks in a notebook's
  kernel, for nbgrader's test cells).

Importing this package is cheap: the sandbox imports parts of it before student code runs.
"""
