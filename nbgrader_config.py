"""nbgrader configuration of the repository: sources in solutions/, the release in assignments/.

Run nbgrader from the repository root (``python -m autograder generate`` does it for you). A
course for a term lives outside the repository: ``python -m autograder course DIR`` writes its
own config, with the same settings (``autograder.nbgrader_ext.configure``).
"""

import os
import sys

# The course's own nbgrader extensions live next to this file, in the autograder package.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from autograder.nbgrader_ext import configure  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)
configure(c, graded_cells_only=False)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
