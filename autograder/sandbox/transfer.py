"""A case's inputs on their way into the sandbox: built in the grading process, sent by pickle.

The sandbox never sees the checks of an assignment: no case titles, no parameters, no
references. For each case the grading process builds the inputs (from fixed seeds), and sends
what the graded function is called with: the case's ``call``, the inputs, the random-number
states right after they were built (those the reference was computed from), and the files the
inputs builder wrote, as bytes. Paths into the builder's folder travel as relative paths and
point into the sandbox's own case folder on arrival.

Pickle flows one way only, from the grading process into the sandbox; outputs come back as
plain data (:mod:`autograder.plaindata`) and are never unpickled.
"""

from __future__ import annotations

import io
import os
import pickle
import random
from pathlib import Path, PurePath
from typing import Any

MAX_FILE_BYTES = 16 * 2**20  # what one inputs builder may write (small test files)


class _Pickler(pickle.Pickler):
    """Pickles paths inside ``root`` as persistent ids relative to it."""

    def __init__(self, file: io.BytesIO, root: str) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.root = root

    def persistent_id(self, obj: Any) -> tuple[str, str] | None:
        if isinstance(obj, (str, PurePath)):
            text = os.fspath(obj)
            if text == self.root or text.startswith(self.root + os.sep):
                kind = "str" if isinstance(obj, str) else "path"
                return kind, os.path.relpath(text, self.root)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, root: Path) -> None:
        super().__init__(file)
        self.root = root

    def persistent_load(self, pid: tuple[str, str]) -> str | Path:
        kind, relative = pid
        path = self.root / relative
        return str(path) if kind == "str" else path


def _files(root: Path) -> dict[str, bytes]:
    """The regular files under ``root`` (the builder's own folder) by relative path."""
    files, total = {}, 0
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            total += len(data)
            if total > MAX_FILE_BYTES:
                raise ValueError(f"the inputs' files exceed {MAX_FILE_BYTES // 2**20} MB")
            files[path.relative_to(root).as_posix()] = data
    return files


def pack_job(call: Any, inputs: dict[str, Any], workdir: Path) -> bytes:
    """``call``, ``inputs`` (built under ``workdir``) and the current RNG states, pickled."""
    import numpy as np
    import torch

    states = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    buffer = io.BytesIO()
    _Pickler(buffer, os.fspath(workdir)).dump((call, inputs))
    job = {"payload": buffer.getvalue(), "rng": states, "files": _files(workdir)}
    return pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)


def unpack_job(data: bytes, folder: Path) -> tuple[Any, dict[str, Any]]:
    """``(call, inputs)`` of a job, its files written under ``folder``, its RNG states set."""
    import numpy as np
    import torch

    job = pickle.loads(data)  # the outer layer has no paths: files come first
    for relative, content in job["files"].items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    call, inputs = _Unpickler(io.BytesIO(job["payload"]), folder).load()
    random.setstate(job["rng"]["python"])
    np.random.set_state(job["rng"]["numpy"])
    torch.set_rng_state(job["rng"]["torch"])
    return call, inputs
