"""nbgrader preprocessors and settings of the course, applied by ``nbgrader_config.py``.

- ``configure``: every setting below, shared by the repository's config (which generates
  ``assignments/``) and the config of a course laid out by ``python -m autograder course``.
- ``ExecuteGradedCells``: nbgrader's ``Execute`` limited to what the test cells need (see
  ``runs_when_graded``): of training and plotting cells only the imports run, so autograding a
  notebook costs what its checks cost.
- ``RestoreHiddenTests``: nbgrader's ``OverwriteCells``, without its checksum warning for a
  test cell that is exactly as released (its hidden tests were removed by the release and are
  put back from the gradebook); an edited read-only cell is still reported and restored.
- ``StderrAsStdout``: nbgrader 0.9 gives 0 points to a grade cell with any stderr output, and
  torch warnings, tqdm bars and logging all write there. After execution, stderr streams are
  relabelled stdout: the text stays visible in the graded notebook and the feedback, and a cell
  still fails only by raising.
- ``NamedClearSolutions``: the stub left in a released solution cell raises a
  ``NotImplementedError`` that names the function to implement.
"""

from __future__ import annotations

import ast
import re
import warnings

from IPython.core.inputtransformer2 import TransformerManager
from nbconvert.exporters.exporter import ResourcesDict
from nbformat import v4
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback
from nbgrader.preprocessors import (
    ClearHiddenTests,
    ClearSolutions,
    Execute,
    GetGrades,
    NbGraderPreprocessor,
    OverwriteCells,
)
from traitlets import Dict, List
from traitlets.config import Config

_DEF = re.compile(r"^(\s*)(?:async\s+)?(?:def|class)\s+(\w+)")

COURSE_ID = "image-recognition-pytorch"
#: Tag of a code cell that ``ExecuteGradedCells`` runs in full (only its imports otherwise).
SETUP_TAG = "autograde"
SKIPPED_NOTE = "(when autograding, only the imports of this cell ran)\n"


def imports_of(source: str) -> str:
    """The top-level import statements of a code cell, one a line ("" when none)."""
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return ""
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    return "\n".join(ast.unparse(node) for node in imports)


def runs_when_graded(cell: NotebookNode) -> bool:
    """Whether ``ExecuteGradedCells`` runs all of a code cell: nbgrader solution and grade
    (test) cells, and cells tagged ``SETUP_TAG``. Of every other code cell only the top-level
    import statements run."""
    grader = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and (
        bool(grader.get("solution") or grader.get("grade"))
        or SETUP_TAG in cell.get("metadata", {}).get("tags", [])
    )


class ExecuteGradedCells(Execute):
    """nbgrader's ``Execute`` that runs only what test cells need (see ``runs_when_graded``).

    A cell of which only the imports ran gets a line of output that says so (and the error, if
    an import failed). The kernel does not import from the notebook's folder (``ignore_cwd``): a
    submission that carries the student edition of ``course_lib`` or the public-only
    ``autograder`` cannot shadow the instructor's packages.
    """

    extra_arguments = List(
        ["--InteractiveShellApp.ignore_cwd=True"], help="Extra arguments of the kernel"
    ).tag(config=True)

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        if cell.cell_type != "code" or runs_when_graded(cell):
            return super().preprocess_cell(cell, resources, index)
        source, cell.source = cell.source, imports_of(cell.source)
        if cell.source:
            cell, resources = super().preprocess_cell(cell, resources, index)
        cell.source = source
        cell.outputs = [v4.new_output("stream", name="stdout", text=SKIPPED_NOTE), *cell.outputs]
        return cell, resources


class RestoreHiddenTests(OverwriteCells):
    """``OverwriteCells`` that silently restores the hidden tests of an untouched test cell."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is not None and utils.is_locked(cell):
            try:
                source = self.gradebook.find_source_cell(
                    grade_id, self.notebook_id, self.assignment_id
                ).source
            except MissingEntry:
                source = None  # OverwriteCells reports it
            if source is not None and cell.source != source:
                released = v4.new_code_cell(source)
                ClearHiddenTests(parent=self)._remove_hidden_test_region(released)
                if cell.source == released.source:
                    cell.source = source
        return super().preprocess_cell(cell, resources, cell_index)


class StderrAsStdout(NbGraderPreprocessor):
    """Relabel every stderr stream output of a code cell as stdout."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        if cell.cell_type == "code":
            for output in cell.outputs:
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
        return cell, resources


def enclosing_name(lines: list[str], indent: str) -> str | None:
    """Dotted name of the def/class blocks that enclose a line indented by ``indent``."""
    names: list[str] = []
    limit = len(indent)
    for line in reversed(lines):
        match = _DEF.match(line)
        if match and len(match.group(1)) < limit:
            names.append(match.group(2))
            limit = len(match.group(1))
    return ".".join(reversed(names)) or None


class NamedClearSolutions(ClearSolutions):
    """``ClearSolutions`` whose code stub may name the enclosing function as ``{name}``."""

    code_stub = Dict(
        {
            "python": "# YOUR CODE HERE\n"
            'raise NotImplementedError("{name}: replace this line with your implementation")'
        },
        help="Code replacing a solution region; {name} is the enclosing function",
    ).tag(config=True)

    def _replace_solution_region(self, cell: NotebookNode, language: str) -> bool:
        if cell.cell_type != "code":
            return super()._replace_solution_region(cell, language)
        stub = self.code_stub[language]
        new_lines: list[str] = []
        in_solution = replaced = False
        for line in cell.source.split("\n"):
            if self.begin_solution_delimeter in line:
                if in_solution:
                    raise RuntimeError(f"nested solution regions in cell:\n{cell.source}")
                in_solution = replaced = True
                indent = re.match(r"\s*", line).group(0)
                name = enclosing_name(new_lines, indent) or "this cell"
                new_lines.extend(indent + s for s in stub.replace("{name}", name).split("\n"))
            elif self.end_solution_delimeter in line:
                in_solution = False
            elif not in_solution:
                new_lines.append(line)
        if in_solution:
            raise RuntimeError(f"no end of solution region in cell:\n{cell.source}")
        cell.source = "\n".join(new_lines)
        return replaced


def configure(c: Config, *, graded_cells_only: bool) -> None:
    """Apply the course's nbgrader settings to ``c``, the config of an ``nbgrader_config.py``.

    With ``graded_cells_only``, autograde runs ``ExecuteGradedCells`` instead of ``Execute``.
    """
    c.CourseDirectory.course_id = COURSE_ID
    # nbgrader 0.9's Gradebook builds a submission's rows before adding them to the session;
    # SQLAlchemy 2 warns when autoflush meets them, and nbgrader adds them right after.
    warnings.filterwarnings(
        "ignore", message=r"Object of type <\w+> not in session", module="nbgrader"
    )
    # Released solution cells raise a NotImplementedError that names the function to write.
    steps = list(GenerateAssignment.preprocessors.default())
    steps[steps.index(ClearSolutions)] = NamedClearSolutions
    c.GenerateAssignment.preprocessors = steps
    # Torch warnings, tqdm bars and logging go to stderr, and nbgrader gives 0 points to a grade
    # cell with stderr output: relabel it stdout right after execution, so only an exception
    # fails a cell.
    execute = ExecuteGradedCells if graded_cells_only else Execute
    steps = list(Autograde.autograde_preprocessors.default())
    steps[steps.index(Execute)] = execute
    steps.insert(steps.index(execute) + 1, StderrAsStdout)
    c.Autograde.autograde_preprocessors = steps
    # The default run of a notebook takes about a minute on 2 CPU cores; its slowest cell
    # (training) takes well under a minute, so 5 minutes per cell only stops a notebook that hangs.
    c.Execute.timeout = 300
    # Untouched hidden-test cells are restored without a checksum warning; edited ones warn.
    steps = list(Autograde.sanitize_preprocessors.default())
    steps[steps.index(OverwriteCells)] = RestoreHiddenTests
    c.Autograde.sanitize_preprocessors = steps
    # Feedback shows the graded notebook without the hidden tests (their outputs say only
    # passed/failed, never expected values).
    c.GenerateFeedback.preprocessors = [
        GetGrades,
        ClearHiddenTests,
        *GenerateFeedback.preprocessors.default()[1:],
    ]
