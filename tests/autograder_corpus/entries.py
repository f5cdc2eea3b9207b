"""Broken and hostile submissions of a2_transfer, with the result each must get.

Each entry starts from the solution notebook (built from course_lib at test time) and replaces
solution cells or rewrites the file. Most hostile code sits in ``topk_accuracy``; ``TRIGGER``
entries misbehave only on the first public topk case and are correct otherwise, which checks
that one killed case never costs (or gives) the others anything. ``fails`` names the cases that
must fail: a graded function (all its cases) or one case name; everything else must pass.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder_corpus import build_notebook, solution_notebook, solution_sources, write

ASSIGNMENT = "a2_transfer"
FIRST_TOPK = "topk_accuracy: top-1 and top-5 on random logits"
ALL = ("build_vgg16_head", "set_trainable", "train_one_epoch", "topk_accuracy")


@dataclass(frozen=True)
class Entry:
    name: str
    fails: tuple[str, ...] = ()  # function names or case names
    message: str = ""  # must appear in the feedback of a failed case or in the notes
    cells: dict[str, str] = field(default_factory=dict)  # grade id -> new source
    writer: Callable[[Path], None] | None = None  # writes the notebook file itself
    isolation: bool = False  # meaningful (and safe) only with namespaces


def topk_with(hostile: str, *, always: bool = False) -> str:
    """A topk_accuracy cell that runs ``hostile`` (on the first public case, or always)."""
    reference = solution_sources(ASSIGNMENT)["topk_accuracy"]
    correct = re.sub(r"\bdef topk_accuracy\(", "def _correct_topk(", reference)
    condition = "True" if always else "tuple(output.shape) == (64, 10)"
    body = textwrap.indent(textwrap.dedent(hostile).strip(), " " * 8)
    return (
        f"{correct}\n\ndef topk_accuracy(output, target, topk=(1,)):\n"
        f"    if {condition}:\n{body}\n    return _correct_topk(output, target, topk)\n"
    )


def topk_returning(expression: str, prelude: str = "") -> str:
    """A wrong topk_accuracy that returns ``expression`` (after ``prelude``)."""
    prelude = textwrap.indent(textwrap.dedent(prelude).strip(), " " * 4)
    return f"def topk_accuracy(output, target, topk=(1,)):\n{prelude}\n    return {expression}\n"


def _notebook_file(transform: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def writer(path: Path) -> None:
        write(solution_notebook(ASSIGNMENT), path)
        path.write_bytes(transform(path.read_bytes()))

    return writer


def _edit_notebook(edit: Callable[[nbformat.NotebookNode], None]) -> Callable[[Path], None]:
    def writer(path: Path) -> None:
        notebook = solution_notebook(ASSIGNMENT)
        edit(notebook)
        write(notebook, path)

    return writer


def _cell(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


def _edit_locked(notebook: nbformat.NotebookNode) -> None:
    _cell(notebook, "imports").source += (
        "\nimport torch\ntorch.allclose = lambda *a, **k: True\n"
        "from course_lib.metrics import topk_accuracy as reference_topk\n"
    )


def _duplicate(notebook: nbformat.NotebookNode) -> None:
    cell = _cell(notebook, "topk_accuracy")
    wrong = nbformat.from_dict(dict(cell))
    wrong["id"] = "duplicate"
    wrong.source = topk_returning("[0.0 for _ in topk]")
    notebook.cells.insert(notebook.cells.index(cell), wrong)


def _remove(notebook: nbformat.NotebookNode) -> None:
    notebook.cells.remove(_cell(notebook, "topk_accuracy"))


def _strip_metadata(notebook: nbformat.NotebookNode) -> None:
    cell = _cell(notebook, "topk_accuracy")
    cell.metadata = {}


def _release(path: Path) -> None:
    write(build_notebook(ASSIGNMENT, {}), path)


def entries(canary: Path) -> list[Entry]:
    """The corpus; ``canary`` is a file of the grading machine no submission may touch."""
    return [
        Entry("solution"),
        Entry("release", fails=ALL, message="NotImplementedError", writer=_release),
        Entry(
            "infinite_loop",
            fails=(FIRST_TOPK,),
            message="time limit",
            cells={"topk_accuracy": topk_with("while True:\n    pass")},
        ),
        Entry(
            "long_sleep",
            fails=(FIRST_TOPK,),
            message="time limit",
            cells={"topk_accuracy": topk_with("import time\ntime.sleep(3600)")},
        ),
        Entry(
            "memory_bomb",
            fails=(FIRST_TOPK,),
            message="memory",
            cells={
                "topk_accuracy": topk_with(
                    "blocks = []\nwhile True:\n    blocks.append(bytearray(2**28))"
                )
            },
        ),
        Entry(
            "fork_bomb",
            fails=(FIRST_TOPK,),
            isolation=True,
            cells={"topk_accuracy": topk_with("import os\nwhile True:\n    os.fork()")},
        ),
        Entry(
            "sys_exit",
            fails=("topk_accuracy",),
            message="SystemExit",
            cells={"topk_accuracy": topk_with("import sys\nsys.exit(0)", always=True)},
        ),
        Entry(
            "os_exit",
            fails=(FIRST_TOPK,),
            message="exit status 3",
            cells={"topk_accuracy": topk_with("import os\nos._exit(3)")},
        ),
        Entry(
            "keyboard_interrupt",
            fails=("topk_accuracy",),
            message="KeyboardInterrupt",
            cells={"topk_accuracy": topk_with("raise KeyboardInterrupt", always=True)},
        ),
        Entry(
            "base_exception",
            fails=("topk_accuracy",),
            message="Escape",
            cells={
                "topk_accuracy": topk_with(
                    "class Escape(BaseException):\n    pass\nraise Escape()", always=True
                )
            },
        ),
        Entry(
            "segfault",
            fails=(FIRST_TOPK,),
            message="segmentation fault",
            cells={"topk_accuracy": topk_with("import ctypes\nctypes.string_at(0)")},
        ),
        Entry(
            "output_flood",
            fails=(FIRST_TOPK,),
            message="output limit",
            cells={
                "topk_accuracy": topk_with(
                    "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 2**20)"
                )
            },
        ),
        Entry(
            "warnings_on_stderr",
            cells={
                "topk_accuracy": topk_with(
                    "import sys, warnings\nwarnings.warn('deprecated', UserWarning)\n"
                    "print('noise ' * 1000, file=sys.stderr)",
                    always=True,
                )
            },
        ),
        # The patched torch also breaks the student's own train_one_epoch in the cases that
        # run after topk_accuracy in the same process: only the hidden one.
        Entry(
            "monkeypatch_comparisons",
            fails=tuple(
                f"topk_accuracy: {t}"
                for t in (
                    "top-1 and top-5 on random logits",
                    "ties at k=5",
                    "log-probabilities, 200 classes",
                    "one sample, probabilities",
                )
            )
            + ("train_one_epoch: log-probabilities with NLLLoss and Adam, device given",),
            cells={
                "topk_accuracy": topk_returning(
                    "[1.0 for _ in topk]",
                    """
                  import math, numpy, torch
                  torch.allclose = lambda *a, **k: True
                  torch.equal = lambda *a, **k: True
                  torch.testing.assert_close = lambda *a, **k: None
                  torch.Tensor.__eq__ = lambda *a, **k: True
                  numpy.allclose = numpy.array_equal = lambda *a, **k: True
                  numpy.testing.assert_allclose = lambda *a, **k: None
                  math.isclose = lambda *a, **k: True
              """,
                )
            },
        ),
        Entry(
            "read_grader_files",
            fails=("topk_accuracy",),
            message="FileNotFoundError",
            isolation=True,
            cells={
                "topk_accuracy": topk_returning(
                    "namespace['topk_accuracy'](output, target, topk)",
                    """
                  namespace = {}
                  source = open('/work/main/course_lib/metrics.py').read()
                  exec(source, namespace)
              """,
                )
            },
        ),
        Entry(
            "write_grader_files",
            isolation=True,
            cells={
                "topk_accuracy": topk_with(
                    f"""
                  for path in ['{canary}', '/sandbox/lib/autograder/checks/a2_transfer.py',
                               '/sandbox/lib/autograder/asserts.py']:
                      try:
                          open(path, 'w').write('hacked')
                      except OSError:
                          pass
              """,
                    always=True,
                )
            },
        ),
        Entry(
            "stack_and_gc_walk",
            fails=("topk_accuracy",),
            cells={
                "topk_accuracy": topk_returning(
                    "found or [0.5 for _ in topk]",
                    """
                  import gc, inspect
                  found = None
                  for frame in inspect.stack():
                      for key, value in frame.frame.f_locals.items():
                          if key in ('expected', 'reference', 'references'):
                              found = value
                  for obj in gc.get_objects():
                      if isinstance(obj, dict) and 'expected' in obj:
                          found = obj['expected']
              """,
                )
            },
        ),
        Entry(
            "network",
            fails=("topk_accuracy",),
            message="URLError",
            isolation=True,
            cells={
                "topk_accuracy": topk_with(
                    "import urllib.request\nurllib.request.urlopen('http://1.1.1.1', timeout=3)",
                    always=True,
                )
            },
        ),
        Entry(
            "delete_files",
            isolation=True,
            cells={
                "topk_accuracy": topk_with(
                    f"""
                  import os, shutil
                  for path in ['{canary}', '/sandbox/lib/autograder/checks/a2_transfer.py']:
                      try:
                          os.remove(path)
                      except OSError:
                          pass
                  shutil.rmtree('/sandbox/lib', ignore_errors=True)
              """,
                    always=True,
                )
            },
        ),
        Entry(
            "edited_locked_cell",
            message="read-only cell 'imports' was edited",
            writer=_edit_notebook(_edit_locked),
        ),
        Entry("duplicated_grade_id", message="appears in cells", writer=_edit_notebook(_duplicate)),
        Entry(
            "missing_function",
            fails=("topk_accuracy",),
            message="missing from the notebook",
            writer=_edit_notebook(_remove),
        ),
        Entry(
            "metadata_stripped",
            message="not its solution cell",
            writer=_edit_notebook(_strip_metadata),
        ),
        Entry(
            "syntax_error",
            fails=("topk_accuracy",),
            message="syntax error at line 2",
            cells={
                "topk_accuracy": "def topk_accuracy(output, target, topk=(1,)):\n"
                "    return [k for k in topk\n"
            },
        ),
        Entry(
            "wrong_type",
            fails=("topk_accuracy",),
            message="got torch.Tensor",
            cells={
                "topk_accuracy": topk_returning("torch.tensor([0.5 for _ in topk])", "import torch")
            },
        ),
        Entry(
            "scalar_tensors",
            fails=("topk_accuracy",),
            message=".item()",
            cells={
                "topk_accuracy": topk_returning("[torch.tensor(0.5) for _ in topk]", "import torch")
            },
        ),
        Entry(
            "wrong_shape",
            fails=("build_vgg16_head",),
            message="expected shape",
            cells={
                "build_vgg16_head": solution_sources(ASSIGNMENT)["build_vgg16_head"].replace(
                    "nn.Linear(hidden, num_classes)", "nn.Linear(hidden, num_classes + 1)"
                )
            },
        ),
        Entry(
            "nan_outputs",
            fails=("topk_accuracy",),
            message="NaN",
            cells={"topk_accuracy": topk_returning("[float('nan') for _ in topk]")},
        ),
        Entry(
            "import_reference",
            fails=("topk_accuracy",),
            message="NotImplementedError",
            cells={
                "topk_accuracy": topk_returning(
                    "reference(output, target, topk)",
                    "from course_lib.metrics import topk_accuracy as reference",
                )
            },
        ),
        Entry(
            "malformed_json",
            fails=ALL,
            message="JSON error",
            writer=_notebook_file(lambda data: b'{"cells": [{"cell_type": "code",, }'),
        ),
        Entry(
            "truncated_notebook",
            fails=ALL,
            message="may be truncated",
            writer=_notebook_file(lambda data: data[: len(data) // 2]),
        ),
        Entry(
            "not_utf8",
            fails=ALL,
            message="not UTF-8",
            writer=_notebook_file(lambda data: data.replace(b"# a2_transfer", b"# caf\xe9")),
        ),
        Entry(
            "not_a_notebook",
            fails=ALL,
            message="not a notebook",
            writer=_notebook_file(lambda data: b"[1, 2, 3]"),
        ),
        Entry(
            "magics_and_top_level_code",
            message="not run by the grader",
            cells={
                "topk_accuracy": "%matplotlib inline\n!ls /\n"
                + solution_sources(ASSIGNMENT)["topk_accuracy"]
                + "\nimport torch\nprint(topk_accuracy(torch.randn(4, 3), "
                "torch.tensor([0, 1, 2, 0]), (1, 2)))\nwhile True:\n    pass\n"
            },
        ),
        Entry(
            "exit_while_loading",
            fails=("topk_accuracy",),
            message="left out",
            cells={
                "topk_accuracy": "import os\n\n@(lambda f: os._exit(3))\n"
                "def topk_accuracy(output, target, topk=(1,)):\n"
                "    return [1.0 for _ in topk]\n"
            },
        ),
        Entry(
            "oversized_output",
            fails=(FIRST_TOPK,),
            message="larger than the",
            cells={"topk_accuracy": topk_with("return torch.zeros(10**8)")},
        ),
        Entry(
            "forged_frames",
            fails=("topk_accuracy",),
            cells={
                "topk_accuracy": topk_returning(
                    "[0.0 for _ in topk]",
                    """
                  import json, os, struct
                  for nonce in range(100):
                      body = json.dumps({'kind': 'result', 'nonce': str(nonce),
                                         'status': 'ok', 'size': 0}).encode()
                      for fd in range(3, 64):
                          try:
                              os.write(fd, struct.pack('>I', len(body)) + body)
                          except OSError:
                              pass
              """,
                )
            },
        ),
        Entry(
            "lingering_thread",
            cells={
                "topk_accuracy": topk_with(
                    """
                  import threading, time
                  threading.Thread(target=lambda: time.sleep(3600), daemon=True).start()
              """,
                    always=True,
                )
            },
        ),
        Entry(
            "signal_the_grader",
            fails=("topk_accuracy",),
            isolation=True,
            cells={
                "topk_accuracy": topk_returning(
                    "[0.0 for _ in topk]",
                    """
                  import os, signal
                  for action in (lambda: os.kill(os.getppid(), signal.SIGKILL),
                                 lambda: os.killpg(0, signal.SIGKILL),
                                 lambda: os.kill(-1, signal.SIGKILL)):
                      try:
                          action()
                      except OSError:
                          pass
              """,
                )
            },
        ),
    ]
