"""nbgrader preprocessors of the course, plugged in by ``nbgrader_config.py``.

- ``StderrAsStdout``: nbgrader 0.9 gives 0 points to a grade cell with any stderr output, and
  torch warnings, tqdm bars and logging all write there. After execution, stderr streams are
  relabelled stdout: the text stays visible in the graded notebook and the feedback, and a cell
  still fails only by raising.
- ``NamedClearSolutions``: the stub left in a released solution cell raises a
  ``NotImplementedError`` that names the function to implement.
"""

from __future__ import annotations

import re

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearSolutions, NbGraderPreprocessor
from traitlets import Dict

_DEF = re.compile(r"^(\s*)(?:async\s+)?(?:def|class)\s+(\w+)")


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
