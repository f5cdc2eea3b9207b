"""nbgrader configuration of the course: sources in solutions/, the student release in assignments/.

Run nbgrader from the repository root (``python -m autograder generate`` does it for you).
"""

import os
import sys

# The course's own nbgrader extensions live next to this file, in the autograder package.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions, Execute, GetGrades  # noqa: E402

from autograder.nbgrader_ext import NamedClearSolutions, StderrAsStdout  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "image-recognition-pytorch"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# Released solution cells raise a NotImplementedError that names the function to write.
steps = list(GenerateAssignment.preprocessors.default())
steps[steps.index(ClearSolutions)] = NamedClearSolutions
c.GenerateAssignment.preprocessors = steps

# Torch warnings, tqdm bars and logging go to stderr, and nbgrader gives 0 points to a grade cell
# with stderr output: relabel it stdout right after execution, so only an exception fails a cell.
steps = list(Autograde.autograde_preprocessors.default())
steps.insert(steps.index(Execute) + 1, StderrAsStdout)
c.Autograde.autograde_preprocessors = steps

# The default run of a notebook takes about a minute on 2 CPU cores; its slowest cell (training)
# takes well under a minute, so 5 minutes per cell only stops a notebook that hangs.
c.Execute.timeout = 300

# Feedback shows the graded notebook without the hidden tests (their outputs say only
# passed/failed, never expected values).
c.GenerateFeedback.preprocessors = [
    GetGrades,
    ClearHiddenTests,
    *GenerateFeedback.preprocessors.default()[1:],
]
