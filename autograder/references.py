"""Expected outputs: computed live with the full course_lib, or read from a pinned file.

The grading process computes references by running each case with the reference function, on
inputs built by the same code the sandbox runs, from the same seeds. Students' self-checks have
only the student edition of course_lib, so the public references ship in a file written by
``python -m autograder refs <id> --out FILE``: a zip of ``manifest.json`` (the hash of the public
checks it was made for and the hash of the data) and ``references.zip`` (plain data, no pickle).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autograder import plaindata
from autograder.spec import Case, Checks, public_spec_hash
from course_lib.files import atomic_write

FORMAT = 1
PROGRESS_ENV = "COURSE_LIB_PROGRESS"
PACKAGE = Path(__file__).resolve().parent
_cache: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


class ReferenceUnavailable(RuntimeError):
    """No reference for a case: the full course_lib is missing and no valid file was given."""


def default_refs_path(assignment: str) -> Path:
    """Where a student bundle keeps the public references of ``assignment``."""
    return PACKAGE / "refs" / f"{assignment}.zip"


@contextlib.contextmanager
def deterministic(seed: int = 0) -> Iterator[None]:
    """Seeded RNGs and one thread (as in the sandbox); all global state restored afterwards."""
    threads = torch.get_num_threads()
    py_state, np_state = random.getstate(), np.random.get_state()
    progress = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = "0"  # no progress bars from reference code
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            random.setstate(py_state)
            np.random.set_state(np_state)
            if progress is None:
                os.environ.pop(PROGRESS_ENV, None)
            else:
                os.environ[PROGRESS_ENV] = progress


def compute_reference(checks: Checks, case: Case) -> Any:
    """The reference output of ``case`` as the grading process sees plain data."""
    function = checks.reference(case.function)
    with tempfile.TemporaryDirectory(prefix="autograder-ref-") as workdir, deterministic():
        inputs = case.inputs(Path(workdir))
        try:
            output = case.call(function, inputs)
        except NotImplementedError as error:
            raise ReferenceUnavailable(
                f"{case.name}: the installed course_lib is a student edition ({error})"
            ) from None
        return plaindata.roundtrip(output)


def live_references(checks: Checks, cases: Sequence[Case]) -> dict[str, Any]:
    """References of ``cases`` (those with ``reference=True``), cached for the process."""
    references = {}
    for case in cases:
        if not case.reference:
            continue
        key = (checks.assignment, case.name)
        with _lock:
            if key not in _cache:
                _cache[key] = compute_reference(checks, case)
            references[case.name] = _cache[key]
    return references


def write_refs(checks: Checks, path: Path | str) -> Path:
    """Write the public references of ``checks`` to ``path`` (atomically); the path."""
    cases = [case for case in checks.select(hidden=False) if case.reference]
    data = plaindata.pack(live_references(checks, cases))
    manifest = {
        "format": FORMAT,
        "assignment": checks.assignment,
        "spec_sha256": public_spec_hash(checks.assignment),
        "data_sha256": hashlib.sha256(data).hexdigest(),
        "cases": [case.name for case in cases],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
        archive.writestr("references.zip", data)
    return atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def read_refs(checks: Checks, path: Path | str) -> dict[str, Any]:
    """Public references from a file written by :func:`write_refs`, after checking its hashes."""
    path = Path(path)
    if not path.is_file():
        raise ReferenceUnavailable(
            f"no reference file {path}: the full course_lib is not installed either "
            f"(write one with: python -m autograder refs {checks.assignment} --out {path})"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            data = archive.read("references.zip")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise ReferenceUnavailable(f"{path} is not a reference file ({error})") from None
    if hashlib.sha256(data).hexdigest() != manifest.get("data_sha256"):
        raise ReferenceUnavailable(f"{path} is corrupted: its data does not match its hash")
    if manifest.get("spec_sha256") != public_spec_hash(checks.assignment):
        raise ReferenceUnavailable(
            f"{path} was written for other checks of {checks.assignment}: get the current "
            "reference file with the assignment (or regenerate it with python -m autograder refs)"
        )
    return plaindata.unpack(data)


def references_for(
    checks: Checks, cases: Sequence[Case], *, refs_file: Path | str | None = None
) -> dict[str, Any]:
    """Live references when the full course_lib is importable, else the public file's."""
    try:
        return live_references(checks, cases)
    except ReferenceUnavailable:
        if any(case.hidden for case in cases):
            raise
    references = read_refs(checks, refs_file or default_refs_path(checks.assignment))
    missing = [c.name for c in cases if c.reference and c.name not in references]
    if missing:
        raise ReferenceUnavailable(f"the reference file has no references for {missing}")
    return references
