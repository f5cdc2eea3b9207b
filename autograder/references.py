"""Expected outputs: computed live with the full course_lib, stored, or read from a pinned file.

The grading process computes references by running each case with the reference function, on
inputs built by the same code the sandbox runs, from the same seeds. Computing them costs
seconds (scikit-learn's k-means, small trainings), so the grader keeps them in a store,
``autograder/store/<id>.zip`` (or the folder named by ``$AUTOGRADER_STORE``): written on first
use or by ``python -m autograder refs <id> --store``, and valid only for the exact checks,
course_lib source and library versions it was computed with (:func:`store_key`); anything else
is recomputed. The store holds hidden references: it is readable by its owner only and never
leaves the grading machine (the student release and the Gradescope zip skip it).

Students' self-checks have only the student edition of course_lib, so the public references ship
in a file written by ``python -m autograder refs <id> --out FILE``. Both files are a zip of
``manifest.json`` (what the data was made for, and the hash of the data) and ``references.zip``
(plain data, no pickle).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import logging
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
from autograder.sandbox.library import course_lib_folder
from autograder.spec import Case, Checks, grader_sha256, public_spec_hash
from course_lib.files import atomic_write

FORMAT = 1
PROGRESS_ENV = "COURSE_LIB_PROGRESS"
STORE_ENV = "AUTOGRADER_STORE"
PACKAGE = Path(__file__).resolve().parent
logger = logging.getLogger(__name__)
#: Libraries whose version can change a reference (a k-means, a random initialisation).
LIBRARIES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "tensorly")
_cache: dict[tuple[str, str], Any] = {}
_stored: dict[tuple, dict[str, Any]] = {}  # store file version -> references
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


def _write_archive(path: Path | str, manifest: dict[str, Any], references: dict) -> Path:
    """Write ``references`` with ``manifest`` (plus the data's hash) to ``path``, atomically,
    readable by its owner only."""
    data = plaindata.pack(references)
    manifest = {"format": FORMAT, **manifest, "data_sha256": hashlib.sha256(data).hexdigest()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
        archive.writestr("references.zip", data)

    def write(tmp: Path) -> None:
        tmp.write_bytes(buffer.getvalue())
        tmp.chmod(0o600)

    return atomic_write(path, write)


def _read_archive(path: Path) -> tuple[dict[str, Any], bytes]:
    """The manifest and data of a file written by :func:`_write_archive`, the data's hash
    checked; ReferenceUnavailable when it is unreadable or corrupted."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            data = archive.read("references.zip")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise ReferenceUnavailable(f"{path} is not a reference file ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ReferenceUnavailable(f"{path} is not a reference file of format {FORMAT}")
    if hashlib.sha256(data).hexdigest() != manifest.get("data_sha256"):
        raise ReferenceUnavailable(f"{path} is corrupted: its data does not match its hash")
    return manifest, data


def write_refs(checks: Checks, path: Path | str) -> Path:
    """Write the public references of ``checks`` to ``path`` (atomically); the path."""
    cases = [case for case in checks.select(hidden=False) if case.reference]
    manifest = {
        "assignment": checks.assignment,
        "spec_sha256": public_spec_hash(checks.assignment),
        "cases": [case.name for case in cases],
    }
    return _write_archive(path, manifest, live_references(checks, cases))


def read_refs(checks: Checks, path: Path | str) -> dict[str, Any]:
    """Public references from a file written by :func:`write_refs`, after checking its hashes."""
    path = Path(path)
    if not path.is_file():
        raise ReferenceUnavailable(
            f"no reference file {path}: the full course_lib is not installed either "
            f"(write one with: python -m autograder refs {checks.assignment} --out {path})"
        )
    manifest, data = _read_archive(path)
    if manifest.get("spec_sha256") != public_spec_hash(checks.assignment):
        raise ReferenceUnavailable(
            f"{path} was written for other checks of {checks.assignment}: get the current "
            "reference file with the assignment (or regenerate it with python -m autograder refs)"
        )
    return plaindata.unpack(data)


def store_folder() -> Path:
    """The folder of the grader's stores of references (see the module's docstring)."""
    return Path(os.environ.get(STORE_ENV) or PACKAGE / "store")


def store_path(assignment: str) -> Path:
    """The grader's store of ``assignment``'s references."""
    return store_folder() / f"{assignment}.zip"


def store_key(checks: Checks) -> str:
    """sha256 of what the references of ``checks`` depend on: the checks and reference modules
    (:func:`~autograder.spec.grader_sha256`), every course_lib source file (helpers included)
    and the versions of the libraries in ``LIBRARIES``."""
    digest = hashlib.sha256(grader_sha256(checks).encode())
    folder = course_lib_folder()
    for path in sorted(folder.rglob("*.py")):
        data = path.read_bytes()
        digest.update(f"{path.relative_to(folder).as_posix()}\0{len(data)}\0".encode() + data)
    for library in LIBRARIES:
        try:
            version = importlib.metadata.version(library)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{library}=={version}\0".encode())
    return digest.hexdigest()


def read_store(checks: Checks, key: str) -> dict[str, Any]:
    """The stored references of ``checks`` made under ``key``; empty when there are none (a
    store made under another key, or unreadable, is logged and ignored)."""
    path = store_path(checks.assignment)
    try:
        info = path.stat()
    except OSError:
        return {}
    version = (path, info.st_mtime_ns, info.st_size, key)
    with _lock:
        if version in _stored:  # unpacked once per process (a notebook checks many times)
            return dict(_stored[version])
    try:
        manifest, data = _read_archive(path)
        if manifest.get("key") != key or manifest.get("assignment") != checks.assignment:
            logger.info("the stored references %s are out of date: recomputing them", path)
            return {}
        references = plaindata.unpack(data)
    except (ReferenceUnavailable, plaindata.PlainDataError) as error:
        logger.warning("ignoring the stored references %s: %s", path, error)
        return {}
    with _lock:
        _stored[version] = references
    return dict(references)


def write_store(checks: Checks, key: str, references: dict[str, Any]) -> Path:
    """Store ``references`` of ``checks`` under ``key`` (folder and file readable by their
    owner only); the path."""
    path = store_path(checks.assignment)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    manifest = {"assignment": checks.assignment, "key": key, "cases": sorted(references)}
    return _write_archive(path, manifest, references)


def fill_store(checks: Checks) -> Path:
    """Store the references of every case of ``checks`` (those still valid are kept); the path."""
    key = store_key(checks)
    stored = read_store(checks, key)
    missing = [case for case in checks.cases if case.reference and case.name not in stored]
    return write_store(checks, key, {**stored, **live_references(checks, missing)})


def references_for(
    checks: Checks, cases: Sequence[Case], *, refs_file: Path | str | None = None
) -> dict[str, Any]:
    """References of ``cases``: from the grader's store when it was made for these checks,
    course_lib and libraries, else computed live with the full course_lib (and stored), else,
    for public cases only, from the public file (a student edition of course_lib)."""
    wanted = [case for case in cases if case.reference]
    key = store_key(checks)
    stored = read_store(checks, key)
    missing = [case for case in wanted if case.name not in stored]
    if not missing:
        return {case.name: stored[case.name] for case in wanted}
    try:
        computed = live_references(checks, missing)
    except ReferenceUnavailable:
        if any(case.hidden for case in cases):
            raise
    else:
        stored.update(computed)
        try:
            write_store(checks, key, stored)
        except OSError as error:  # each grading process computes them, then
            logger.warning("could not store the references of %s: %s", checks.assignment, error)
        return {case.name: stored[case.name] for case in wanted}
    references = read_refs(checks, refs_file or default_refs_path(checks.assignment))
    missing_names = [case.name for case in wanted if case.name not in references]
    if missing_names:
        raise ReferenceUnavailable(f"the reference file has no references for {missing_names}")
    return references
