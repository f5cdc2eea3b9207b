"""Student code hunting for hidden cases and references, and text too long to show.

Whatever the code finds goes into what a student reads: a public case's error message, an
exception type name, a note on a cell that raised while loading. The corpus test checks that
no hidden case title or parameter, solution region or hidden-test block reaches any results
file, and that text from student code is capped. The markers the code looks for are split in
its source, so that a traceback line quoting the code never reads as a leak.
"""

from __future__ import annotations

from pathlib import Path

from autograder_corpus import REPO
from autograder_corpus.entry import FIRST_TOPK, Entry, topk_then, topk_with

CHECKS_MODULE = "autograder.checks.a2_transfer"

CASES_IN_MESSAGE = f"""
    import sys
    module = sys.modules.get("{CHECKS_MODULE}")
    hidden = [c for c in getattr(module, "CASES", ()) if getattr(c, "hidden", False)]
    seen = [c.title for c in hidden] + [repr(getattr(c.inputs, "keywords", "")) for c in hidden]
    raise RuntimeError("seen cases: " + " | ".join(seen))
"""

CASES_IN_TYPE_NAME = f"""
    try:
        import {CHECKS_MODULE} as checks
        seen = [c.title for c in checks.CASES if c.hidden]
    except Exception as error:
        seen = [type(error).__name__]
    raise type("Seen_" + "|".join(seen), (Exception,), {{}})()
"""

CHECKS_FILE = f"""
    import sys
    marker = "### BEGIN " + "HIDDEN" + " TESTS"
    module = sys.modules.get("{CHECKS_MODULE}")
    paths = [getattr(module, "__file__", None)]
    paths += [f"{{root}}/autograder/checks/a2_transfer.py" for root in sys.path]
    found = []
    for path in paths:
        try:
            text = open(path).read()
        except (OSError, TypeError):
            continue
        if marker in text:
            found.append(text[text.index(marker):][:400])
    raise RuntimeError("checks file: " + " ".join(found))
"""

CASES_AT_LOAD = f"""
    class _Probe:
        import sys
        _checks = sys.modules.get("{CHECKS_MODULE}")
        raise LookupError(
            "seen at load: "
            + " | ".join(c.title for c in getattr(_checks, "CASES", ()) if c.hidden)
        )
"""


def _repository_files(repo: Path) -> str:
    """Code reading the grader's own files (solutions, full course_lib, checks)."""
    paths = [
        repo / "solutions" / "a2_transfer" / "a2_transfer.ipynb",
        repo / "course_lib" / "metrics.py",
        repo / "autograder" / "checks" / "a2_transfer.py",
    ]
    return f"""
        found = []
        for path in {[str(p) for p in paths]!r}:
            try:
                text = open(path).read()
            except OSError as error:
                found.append(type(error).__name__)
                continue
            for marker in ("BEGIN " + "SOLUTION", "BEGIN " + "HIDDEN"):
                if marker in text:
                    found.append(text[text.index(marker):][:150])
        raise RuntimeError("repository files: " + " ".join(found))
    """


HUGE_TYPE_NAME = 'raise type("X" * 100_000, (Exception,), {})()'

# The sandbox's own error report replaced: the text arrives in the grading process unchecked.
FORGED_ERROR_TEXT = """
    import sys
    runner = sys.modules["autograder.sandbox.runner"]
    runner.describe_error = lambda error: {
        "type": "T" * 300_000, "message": "M" * 300_000, "traceback": "F" * 300_000
    }
    raise RuntimeError("forged error text")
"""


def leak_entries() -> list[Entry]:
    return [
        Entry(
            "hidden_cases_in_message",
            fails=(FIRST_TOPK,),
            message="seen cases:",
            cells={"topk_accuracy": topk_with(CASES_IN_MESSAGE)},
        ),
        Entry(
            "hidden_cases_in_type_name",
            fails=(FIRST_TOPK,),
            message="Seen_",
            cells={"topk_accuracy": topk_with(CASES_IN_TYPE_NAME)},
        ),
        Entry(
            "hidden_cases_from_checks_file",
            fails=(FIRST_TOPK,),
            message="checks file:",
            cells={"topk_accuracy": topk_with(CHECKS_FILE)},
        ),
        Entry(
            "hidden_cases_at_load",
            message="seen at load:",
            cells={"topk_accuracy": topk_then(CASES_AT_LOAD)},
        ),
        Entry(
            "repository_files",
            fails=(FIRST_TOPK,),
            message="repository files: FileNotFoundError",
            isolation=True,
            cells={"topk_accuracy": topk_with(_repository_files(REPO))},
        ),
        Entry(
            "huge_type_name",
            fails=("topk_accuracy",),
            cells={"topk_accuracy": topk_with(HUGE_TYPE_NAME, always=True)},
        ),
        Entry(
            "huge_type_name_at_load",
            message="cell 'topk_accuracy' raised",
            cells={"topk_accuracy": topk_then(f"class _Loud:\n    {HUGE_TYPE_NAME}")},
        ),
        Entry(
            "forged_error_text",
            fails=(FIRST_TOPK,),
            cells={"topk_accuracy": topk_with(FORGED_ERROR_TEXT)},
        ),
    ]
