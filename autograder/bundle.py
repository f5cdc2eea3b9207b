"""The Gradescope autograder bundle of one assignment.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once when building the
image, and ``/autograder/run_autograder`` for each submission, which must leave
``/autograder/results/results.json``. The bundle holds the full course_lib (the references) and
all checks, so it is for the staff only; the sandbox still gives student code the student
edition. Its requirements.txt is the lock file (:mod:`autograder.lock`); setup.sh installs it,
and the Python version it was made with, into ``/autograder/venv``. ``AUTOGRADER_ROOT`` replaces
``/autograder`` and ``AUTOGRADER_PYTHON`` the interpreter (default: that venv's), which is how
the bundle is tested locally.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from autograder.grading import default_source
from autograder.lock import LOCK, python_version
from autograder.spec import load_checks
from course_lib.files import atomic_output

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # identical bundles for identical sources
SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints", "refs", "pinned", "store"}

SETUP = """\
#!/usr/bin/env bash
# Gradescope image setup, run once as root: the Python version the lock was generated with and
# exactly the versions in requirements.txt, in the virtual environment $ROOT/venv that
# run_autograder uses. It stops, saying what is missing, rather than grade with other libraries.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="$ROOT/venv"
LOCK=requirements.txt
umask 022 # the sandbox's user, not root, must read Python and the libraries

fail() {
  echo "setup.sh: $*" >&2
  exit 1
}

[[ -f $LOCK ]] || fail "no $LOCK beside setup.sh: rebuild the bundle"
VERSION="$(sed -n 's/^# python: \\([0-9]*\\.[0-9]*\\)$/\\1/p' "$LOCK")"
[[ -n $VERSION ]] || fail "$LOCK names no Python version (a line '# python: X.Y' was expected)"
PYTHON="python$VERSION"

if ! "$PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
  command -v apt-get >/dev/null || fail "$PYTHON (with venv) is missing and apt-get is not here"
  echo "setup.sh: installing $PYTHON and $PYTHON-venv with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update || fail "apt-get update failed"
  apt-get install -y --no-install-recommends "$PYTHON" "$PYTHON-venv" ||
    fail "apt-get could not install $PYTHON and $PYTHON-venv: choose a base image with" \\
      "Python $VERSION, or regenerate the lock with the Python of this image"
  "$PYTHON" -c "import ensurepip, venv" || fail "$PYTHON cannot create virtual environments"
fi

chmod o+x "$ROOT" # the sandbox's user passes through it to the venv, and reads nothing more
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" || fail "$PYTHON -m venv $VENV failed"
# --no-deps: only what the lock names (pip check below fails when it misses a dependency);
# wheels only: the tested binaries, nothing compiled here.
"$VENV/bin/python" -m pip install --no-deps --only-binary=:all: --no-cache-dir \\
  --disable-pip-version-check -r "$LOCK" || fail "a package of $LOCK could not be installed"
"$VENV/bin/python" -m pip check || fail "$LOCK misses the dependencies listed above"
"$VENV/bin/python" - <<'PY' || fail "the grader cannot run with $VENV (see above)"
import torch, torchvision, IPython.core.inputtransformer2, autograder.grading
from autograder.sandbox.launch import check_unprivileged
assert torch.version.cuda is None, f"torch {torch.__version__} is not the CPU build"
check_unprivileged([])  # the sandbox's user can read this Python and its libraries
PY
echo "setup.sh: $("$VENV/bin/python" --version) and $LOCK installed in $VENV"
"""

#: Appended to SETUP: every reference computed once in the image, not at each submission.
STORE = """\
"$VENV/bin/python" -m autograder refs {assignment} --store ||
  fail "the references of {assignment} could not be computed (see above)"
"""

RUN = """\
#!/usr/bin/env bash
# Grades the submission of {assignment} into results/results.json (Gradescope's layout).
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
if ! command -v "$PYTHON" >/dev/null; then
  echo "run_autograder: no Python at $PYTHON (did setup.sh run?)" >&2
  exit 1
fi
mkdir -p "$ROOT/results"
# Without namespaces (usual in Docker) the sandbox only drops root: hide the references from it.
chmod -R go-rwx "$ROOT/source" "$ROOT/submission" 2>/dev/null || true
cd "$ROOT/source" || exit 1
exec "$PYTHON" -m autograder grade {assignment} "$ROOT/submission" \\
  --out "$ROOT/results/results.json"
"""


def requirements() -> str:
    """The bundle's requirements.txt: the committed lock file (see :mod:`autograder.lock`)."""
    if not LOCK.is_file():
        raise FileNotFoundError(f"no lock file at {LOCK}: run `python -m autograder lock`")
    text = LOCK.read_text(encoding="utf-8")
    python_version(text)  # setup.sh installs that version: fail here, not on Gradescope
    return text


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
        setup = SETUP + STORE.format(assignment=assignment)
        _add(archive, "setup.sh", setup.encode(), executable=True)
        _add(archive, "run_autograder", RUN.format(assignment=assignment).encode(), executable=True)
        _add(archive, "requirements.txt", requirements().encode())
        for package in ("autograder", "course_lib"):
            for path in _files(REPO / package, assignment):
                _add(archive, path.relative_to(REPO).as_posix(), path.read_bytes())
        if source is not None:
            _add(archive, f"autograder/pinned/{assignment}.ipynb", source.read_bytes())
    return Path(out)
