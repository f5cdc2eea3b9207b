"""Student code that fills its scratch folder: deep, wide, huge or unreadable trees.

Each case passes or fails on its own merits; what the code leaves behind must cost the next
cases and submissions nothing and be removed (the corpus test checks the temporary folder).
"""

from __future__ import annotations

from autograder_corpus.entry import FIRST_TOPK, Entry, topk_with


def _nested(depth: int) -> str:
    """Code making ``depth`` nested folders (one level at a time: no path is too long)."""
    return f"""
        import os
        start = os.open(".", os.O_RDONLY)
        try:
            for _ in range({depth}):
                os.mkdir("d")
                os.chdir("d")
        except OSError:
            pass
        os.fchdir(start)
        os.close(start)
    """


FLOOD = """
    import os
    os.mkdir("flood")
    try:
        for index in range(50000):
            os.close(os.open(f"flood/{index}", os.O_CREAT | os.O_WRONLY, 0o644))
    except OSError:
        pass
"""

WRITE_2_GB = """
    block = bytes(4 * 2**20)
    written = 0
    try:
        for index in range(512):
            with open(f"big{index}", "wb") as handle:
                handle.write(block)
            written += len(block)
    except OSError as error:
        raise RuntimeError(f"disk full after {written >> 20} MB") from error
    raise RuntimeError(f"wrote {written >> 20} MB")
"""

UNREADABLE = """
    import os
    for name in ("locked", "locked/inner"):
        os.mkdir(name)
        with open(f"{name}/file", "w") as handle:
            handle.write("x")
    os.chmod("locked/inner", 0)
    os.chmod("locked", 0)
"""

# The cases after this one start in a folder that no longer exists.
REMOVED_CWD = """
    import os
    os.mkdir("gone")
    os.chdir("gone")
    os.rmdir("../gone")
"""


def scratch_entries() -> list[Entry]:
    return [
        Entry("nested_1500_folders", cells={"topk_accuracy": topk_with(_nested(1500))}),
        Entry("nested_10000_folders", cells={"topk_accuracy": topk_with(_nested(10_000))}),
        Entry("flood_50000_files", cells={"topk_accuracy": topk_with(FLOOD)}),
        Entry("write_2_gb", fails=(FIRST_TOPK,), cells={"topk_accuracy": topk_with(WRITE_2_GB)}),
        Entry("unreadable_folders", cells={"topk_accuracy": topk_with(UNREADABLE)}),
        Entry("removed_working_folder", cells={"topk_accuracy": topk_with(REMOVED_CWD)}),
    ]
