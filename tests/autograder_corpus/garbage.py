"""Garbage for the grading process: forged outputs and frames, cells too big, deep or slow.

Forged outputs replace the sandbox's encoder (``autograder.plaindata.pack``, wherever a module
holds it) for one call, so the grading process decodes what the student wrote. Forged frames go
straight into every descriptor, the result pipe among them; the function's output is wrong as
well, so the case fails whether the frame is refused or ignored.
"""

from __future__ import annotations

from autograder_corpus.entry import FIRST_TOPK, Entry, topk_then, topk_with

QUICK = 60.0  # seconds: a submission whose one case is garbage

FORGE = """
    import io, sys, types, zipfile
    original = sys.modules["autograder.plaindata"].pack
    holders = [
        m for m in list(sys.modules.values())
        if isinstance(m, types.ModuleType) and vars(m).get("pack") is original
    ]

    def forged(value, **options):
        for holder in holders:
            holder.pack = original
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("manifest.json", manifest)
            for name, data in members.items():
                archive.writestr(name, data)
        return buffer.getvalue()

    for holder in holders:
        holder.pack = forged
"""

HUGE_FLOAT = """
    manifest = '{"value": [{"$float": 1' + "0" * 400 + '}, 0.5]}'
    members = {}
"""

HUGE_ARRAY_HEADER = """
    import io
    import numpy as np
    header = io.BytesIO()
    shape = {"descr": "<f8", "fortran_order": False, "shape": (10**13,)}
    np.lib.format.write_array_header_1_0(header, shape)
    manifest = '{"value": {"$ndarray": "a0"}}'
    members = {"a0.npy": header.getvalue()}
"""

DEEP_LIST = """
    manifest = '{"value": ' + "[" * 10_000 + "]" * 10_000 + "}"
    members = {}
"""

# Every key hashes to 0: building the dict takes quadratic time.
COLLIDING_KEYS = """
    import json
    pairs = [[k * (2**61 - 1), 0] for k in range(120_000)]
    manifest = json.dumps({"value": {"$dict": pairs}})
    members = {}
"""


def _forged(output: str) -> str:
    return topk_with(output + FORGE)


def _frame(body: bytes) -> str:
    """Code writing one frame with header ``body`` to every descriptor, then a wrong output."""
    return f"""
        import os, struct
        frame = struct.pack(">I", {len(body)}) + {body!r}
        for fd in range(3, 64):
            try:
                os.write(fd, frame)
            except OSError:
                pass
        return [0.0 for _ in topk]
    """


GIANT_CONSTANT = f'BLOB = "{"x" * 4 * 2**20}"'
DEEP_EXPRESSION = "DEPTH = " + " + ".join(["1"] * 10_000)


def garbage_entries() -> list[Entry]:
    forged = {
        "forged_huge_float": HUGE_FLOAT,
        "forged_huge_array_header": HUGE_ARRAY_HEADER,
        "forged_deep_list": DEEP_LIST,
        "forged_colliding_keys": COLLIDING_KEYS,
    }
    frames = {
        "malformed_frame": b"{not json",
        "frame_size_overflow": b'{"kind": "result", "size": 1e400}',
        "forged_exit_frame": b'{"kind": "exit", "status": "none"}',
    }
    return [
        *(
            Entry(name, fails=(FIRST_TOPK,), cells={"topk_accuracy": _forged(code)}, seconds=QUICK)
            for name, code in forged.items()
        ),
        *(
            Entry(name, fails=(FIRST_TOPK,), cells={"topk_accuracy": topk_with(_frame(body))})
            for name, body in frames.items()
        ),
        Entry(
            "giant_constant",
            fails=("topk_accuracy",),
            message="cell 'topk_accuracy'",
            cells={"topk_accuracy": topk_then(GIANT_CONSTANT)},
        ),
        Entry(
            "deep_expression",
            fails=("topk_accuracy",),
            message="cell 'topk_accuracy'",
            cells={"topk_accuracy": topk_then(DEEP_EXPRESSION)},
        ),
    ]
