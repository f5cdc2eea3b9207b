"""Hostile code: what a submission may do to the process, the machine or the grader."""

from __future__ import annotations

from pathlib import Path

from autograder_corpus.entry import (
    FIRST_TOPK,
    Entry,
    topk_returning,
    topk_with,
)


def hostile_entries(canary: Path) -> list[Entry]:
    """Entries whose code attacks; ``canary`` is a grader-side file none may touch."""
    return [
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
        Entry(  # killed at the limit, or stopped by the time limit on a busy machine
            "memory_bomb",
            fails=(FIRST_TOPK,),
            message=("memory", "time limit"),
            cells={
                "topk_accuracy": topk_with(
                    "blocks = []\nwhile True:\n    blocks.append(bytearray(2**30))"
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
        # run after topk_accuracy in the same process: the hidden ones.
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
            + (
                "train_one_epoch: log-probabilities with NLLLoss and Adam, device given",
                "train_one_epoch: mixed precision with a GradScaler",
            ),
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
