"""The Gradescope autograder bundle of one assignment.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once when building the
image, and ``/autograder/run_autograder`` for each submission, which must leave
``/autograder/results/results.json``. The bundle holds the full course_lib (the references) and
all checks, so it is for the staff only; the sandbox still gives student code the student
edition. ``AUTOGRADER_ROOT`` replaces ``/autograder`` and ``AUTOGRADER_PYTHON`` the interpreter,
which is how the bundle is tested locally.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from autograder.grading import default_source
from autograder.spec import load_checks
from course_lib.files import atomic_output

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # identical bundles for identical sources
SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints", "refs", "pinned"}
#: Installed by setup.sh beyond the project's own dependencies; the nbgrader stack is not needed.
NOT_NEEDED = {"nbgrader", "nbclient"}

SETUP = """\
#!/usr/bin/env bash
# Gradescope image setup: Python and the course's dependencies (CPU wheels of torch).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v python3 >/dev/null; then
  apt-get update && apt-get install -y python3 python3-pip
fi
python3 -m pip install --upgrade pip
python3 -m pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
"""

RUN = """\
#!/usr/bin/env bash
# Grades the submission of {assignment} into results/results.json (Gradescope's layout).
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-python3}}"
mkdir -p "$ROOT/results"
# Without namespaces (usual in Docker) the sandbox only drops root: hide the references from it.
chmod -R go-rwx "$ROOT/source" "$ROOT/submission" 2>/dev/null || true
cd "$ROOT/source"
exec "$PYTHON" -m autograder grade {assignment} "$ROOT/submission" \\
  --out "$ROOT/results/results.json"
"""


def requirements() -> str:
    """The project's dependencies, one per line, without the nbgrader stack."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(REPO / "pyproject.toml", "rb") as handle:
        dependencies = tomllib.load(handle)["project"]["dependencies"]
    kept = [d for d in dependencies if d.split(">")[0].split("=")[0].strip() not in NOT_NEEDED]
    return "\n".join(kept) + "\n"


def _files(folder: Path, assignment: str) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        parts = set(path.relative_to(folder).parts)
        if path.is_file() and not parts & SKIPPED_PARTS and path.suffix != ".pyc":
            if (
                path.parent.name == "checks"
                and path.stem.startswith("a")
                and (path.stem != assignment)
            ):
                continue  # other assignments' checks are not needed
            files.append(path)
    return files


def _add(archive: zipfile.ZipFile, name: str, data: bytes, *, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.external_attr = (0o755 if executable else 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_gradescope_bundle(assignment: str, out: Path | str) -> Path:
    """Write the bundle zip of ``assignment`` to ``out`` (atomically); its path."""
    load_checks(assignment)  # fails early on an unknown id
    source = default_source(assignment)
    with atomic_output(out) as temporary, zipfile.ZipFile(temporary, "w") as archive:
        _add(archive, "setup.sh", SETUP.encode(), executable=True)
        _add(archive, "run_autograder", RUN.format(assignment=assignment).encode(), executable=True)
        _add(archive, "requirements.txt", requirements().encode())
        for package in ("autograder", "course_lib"):
            for path in _files(REPO / package, assignment):
                _add(archive, path.relative_to(REPO).as_posix(), path.read_bytes())
        if source is not None:
            _add(archive, f"autograder/pinned/{assignment}.ipynb", source.read_bytes())
    return Path(out)
