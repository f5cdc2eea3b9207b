"""The Gradescope bundle: its lock file, setup.sh (dry runs with a fake apt-get and Python),
run_autograder, and a local run of the whole bundle."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from autograder_corpus import solution_notebook, write

from autograder import lock
from autograder.__main__ import main

ASSIGNMENT = "a2_transfer"
#: System tools setup.sh and the fakes use; nothing else is on their PATH.
TOOLS = ("bash", "env", "dirname", "basename", "sed", "rm", "chmod", "mkdir", "cp", "cat", "touch")
FAKE_PYTHON = r"""#!/usr/bin/env bash
echo "$0 $*" >> "$FAKE_LOG"
if [[ $1 == -c ]]; then [[ -e $FAKE_STATE/python-installed ]]; exit; fi
if [[ $1 == -m && $2 == venv ]]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; exit; fi
if [[ $1 == -m && $2 == pip && $3 == install ]]; then [[ -z ${FAKE_PIP_INSTALL_FAILS:-} ]]; exit; fi
if [[ $1 == -m && $2 == pip && $3 == check ]]; then [[ -z ${FAKE_PIP_CHECK_FAILS:-} ]]; exit; fi
if [[ $1 == - ]]; then cat > "$FAKE_STATE/stdin.py"; [[ -z ${FAKE_IMPORT_FAILS:-} ]]; exit; fi
echo "Python 3 (fake)"
"""
FAKE_APT = r"""#!/usr/bin/env bash
echo "apt-get $*" >> "$FAKE_LOG"
if [[ $1 == install ]]; then
  [[ -z ${FAKE_APT_FAILS:-} ]] || exit 100
  touch "$FAKE_STATE/python-installed"
  cp "$FAKE_STATE/python" "$FAKE_BIN/python$FAKE_VERSION"
fi
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gradescope") / "bundle.zip"
    assert main(["gradescope", ASSIGNMENT, "--out", str(out)]) == 0
    return out


def unpack(bundle: Path, root: Path) -> Path:
    """The bundle unpacked as Gradescope does, into ``root/source``."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    return root / "source"


# The lock file


def test_lock_matches_the_tested_environment():
    differences = lock.lock_differences()
    assert not differences, (
        f"{lock.LOCK} is stale (- file, + this environment); regenerate it with "
        "`python -m autograder lock`:\n" + "\n".join(differences)
    )


def test_lock_check_fails_on_a_stale_lock(tmp_path, capsys):
    path = tmp_path / "gradescope.txt"
    assert main(["lock", "--out", str(path)]) == 0
    assert main(["lock", "--check", "--out", str(path)]) == 0
    numpy = importlib.metadata.version("numpy")
    text = path.read_text()
    assert f"\nnumpy=={numpy}\n" in text
    path.write_text(text.replace(f"numpy=={numpy}", "numpy==1.0.0"))
    capsys.readouterr()
    assert main(["lock", "--check", "--out", str(path)]) == 1
    out = capsys.readouterr().out
    assert "- numpy==1.0.0" in out and f"+ numpy=={numpy}" in out


def test_lock_pins_exact_versions_without_the_notebook_stack():
    text = lock.LOCK.read_text()
    assert lock.python_version(text) == f"{sys.version_info.major}.{sys.version_info.minor}"
    pins = dict(line.split("==") for line in text.splitlines() if "==" in line)
    assert {"nbformat", "ipython", "numpy", "scipy", "scikit-learn"} <= set(pins)
    assert not {"nbgrader", "nbclient", "ipykernel", "pytest", "ruff"} & set(pins)
    assert not [name for name in pins if lock.GPU_ONLY.match(name)]
    assert pins["torch"].endswith("+cpu") and pins["torchvision"].endswith("+cpu")
    assert f"--extra-index-url {lock.CPU_INDEX}" in text.splitlines()


def fake_metadata(monkeypatch, packages: dict[str, tuple[str, list[str]]]) -> None:
    """importlib.metadata in autograder.lock answers with ``packages`` (name: version, requires)."""

    def distribution(name: str) -> SimpleNamespace:
        if name not in packages:
            raise importlib.metadata.PackageNotFoundError(name)
        version, requires = packages[name]
        return SimpleNamespace(version=version, requires=requires)

    namespace = SimpleNamespace(
        distribution=distribution, PackageNotFoundError=importlib.metadata.PackageNotFoundError
    )
    monkeypatch.setattr(lock, "metadata", namespace)


def test_a_cuda_torch_is_locked_as_its_cpu_wheel_and_markers_are_followed(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="autograder.lock")
    fake_metadata(
        monkeypatch,
        {
            "torch": (
                "2.5.1+cu121",
                [
                    "filelock",
                    'nvidia-cudnn-cu12==9.1.0.70; platform_system == "Linux"',
                    'triton==3.1.0; platform_system == "Linux"',
                    'optree>=0.13.0; extra == "optree"',
                    'sympy==1.13.1; python_version >= "3.9"',
                    'old-backport; python_version < "3.0"',
                ],
            ),
            "torchvision": ("0.20.1+cu121", ["torch==2.5.1", "numpy"]),
            "filelock": ("3.16.1", []),
            "sympy": ("1.13.1", ["mpmath<1.4,>=1.1.0"]),
            "mpmath": ("1.3.0", []),
            "numpy": ("2.1.3", []),
            "tool": ("1.0", ['speedup; extra == "fast"', 'slowdown; extra == "slow"']),
            "speedup": ("0.5", []),
        },
    )
    versions = lock.installed_closure(["torch>=2.4", "torchvision", "tool[fast]"])
    assert versions == {
        "torch": "2.5.1+cu121",
        "torchvision": "0.20.1+cu121",
        "filelock": "3.16.1",
        "sympy": "1.13.1",
        "mpmath": "1.3.0",
        "numpy": "2.1.3",
        "tool": "1.0",
        "speedup": "0.5",
    }
    assert "torch 2.5.1+cu121 is a GPU build" in caplog.text
    assert "nvidia-cudnn-cu12, triton" in caplog.text
    pins = [line for line in lock.render_lock(versions).splitlines() if "==" in line]
    assert "torch==2.5.1+cpu" in pins and "torchvision==0.20.1+cpu" in pins
    assert pins == sorted(pins) and "numpy==2.1.3" in pins


def test_a_missing_or_mismatching_distribution_stops_the_lock(monkeypatch):
    fake_metadata(monkeypatch, {"seaborn": ("0.13.2", ["pandas>=1.2"]), "pandas": ("1.0", [])})
    with pytest.raises(RuntimeError, match=r"pandas 1.0 is installed, seaborn requires pandas>="):
        lock.installed_closure(["seaborn"])
    with pytest.raises(RuntimeError, match=r"h5py \(required by pyproject.toml\) is not installed"):
        lock.installed_closure(["h5py"])


# The bundle and its scripts


def test_bundle_ships_the_lock_and_executable_scripts(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        assert archive.read("requirements.txt") == lock.LOCK.read_bytes()
        for script in ("setup.sh", "run_autograder"):
            assert archive.getinfo(script).external_attr >> 16 == 0o755
    assert f"autograder/checks/{ASSIGNMENT}.py" in names and "course_lib/metrics.py" in names
    assert "autograder/checks/a1_data.py" not in names
    again = tmp_path / "again.zip"
    assert main(["gradescope", ASSIGNMENT, "--out", str(again)]) == 0
    assert again.read_bytes() == bundle.read_bytes()


def test_scripts_pass_shellcheck(bundle, tmp_path):
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    source = unpack(bundle, tmp_path)
    done = subprocess.run(
        ["shellcheck", "setup.sh", "run_autograder"], cwd=source, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def run_setup(source: Path, tmp_path: Path, *, python_installed: bool, **fakes: str):
    """setup.sh with a fake apt-get and Python; its process and the commands it ran."""
    bin_dir, state, root = tmp_path / "bin", tmp_path / "state", source.parent
    bin_dir.mkdir()
    state.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    version = lock.python_version(lock.LOCK.read_text())
    (state / "python").write_text(FAKE_PYTHON)
    (state / "python").chmod(0o755)
    (bin_dir / "apt-get").write_text(FAKE_APT)
    (bin_dir / "apt-get").chmod(0o755)
    if python_installed:
        (state / "python-installed").touch()
        shutil.copy(state / "python", bin_dir / f"python{version}")
    log = tmp_path / "calls.log"
    log.touch()
    env = {
        "PATH": str(bin_dir),
        "AUTOGRADER_ROOT": str(root),
        "FAKE_LOG": str(log),
        "FAKE_STATE": str(state),
        "FAKE_BIN": str(bin_dir),
        "FAKE_VERSION": version,
        **fakes,
    }
    done = subprocess.run(
        [shutil.which("bash"), str(source / "setup.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    calls = log.read_text().replace(str(root), "ROOT").replace(str(bin_dir), "BIN").splitlines()
    return done, calls, version


@pytest.mark.parametrize("python_installed", [False, True], ids=["bare image", "with Python"])
def test_setup_installs_the_locked_python_and_only_the_lock(bundle, tmp_path, python_installed):
    source = unpack(bundle, tmp_path / "autograder")
    done, calls, version = run_setup(source, tmp_path, python_installed=python_installed)
    assert done.returncode == 0, done.stderr
    python, venv = f"BIN/python{version}", "ROOT/venv/bin/python"
    apt = [
        "apt-get update",
        f"apt-get install -y --no-install-recommends python{version} python{version}-venv",
    ]
    probe = f"{python} -c import ensurepip, venv"
    expected = [probe] if python_installed else [*apt, probe]  # no python3.X on a bare image
    expected += [
        f"{python} -m venv ROOT/venv",
        f"{venv} -m pip install --no-deps --only-binary=:all: --no-cache-dir "
        "--disable-pip-version-check -r requirements.txt",
        f"{venv} -m pip check",
        f"{venv} -",
        f"{venv} --version",
        f"{venv} -m autograder refs {ASSIGNMENT} --store",  # every reference, in the image
    ]
    assert calls == expected
    script = (tmp_path / "state" / "stdin.py").read_text()
    assert "torch.version.cuda is None" in script and "check_unprivileged" in script
    assert (source.parent.stat().st_mode & 0o001) == 0o001


@pytest.mark.parametrize(
    ("fake", "message", "last_call"),
    [
        ("FAKE_APT_FAILS", "apt-get could not install python", "-venv"),
        ("FAKE_PIP_INSTALL_FAILS", "could not be installed", "-r requirements.txt"),
        ("FAKE_PIP_CHECK_FAILS", "requirements.txt misses the dependencies", "-m pip check"),
        ("FAKE_IMPORT_FAILS", "the grader cannot run with", "/venv/bin/python -"),
    ],
)
def test_setup_fails_loudly(bundle, tmp_path, fake, message, last_call):
    source = unpack(bundle, tmp_path / "autograder")
    done, calls, _ = run_setup(source, tmp_path, python_installed=False, **{fake: "1"})
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert calls[-1].endswith(last_call), calls  # nothing ran after the failing step


@pytest.mark.parametrize("lock_text", [None, "numpy==2.0.0\n"], ids=["no lock", "no Python line"])
def test_setup_refuses_a_bundle_without_a_usable_lock(bundle, tmp_path, lock_text):
    source = unpack(bundle, tmp_path / "autograder")
    (source / "requirements.txt").unlink()
    if lock_text is not None:
        (source / "requirements.txt").write_text(lock_text)
    done, calls, _ = run_setup(source, tmp_path, python_installed=True)
    expected = "no requirements.txt" if lock_text is None else "names no Python version"
    assert done.returncode != 0 and expected in done.stderr, done.stderr
    assert calls == [] and not (source.parent / "venv").exists()


def test_run_autograder_hides_the_sources_and_grades_with_the_venv(bundle, tmp_path):
    root = tmp_path / "autograder"
    source = unpack(bundle, root)
    (root / "submission").mkdir()
    (root / "submission" / f"{ASSIGNMENT}.ipynb").write_text("{}")
    python = root / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/usr/bin/env bash\necho "$PWD $*" > "$(dirname "$0")/called"\n')
    python.chmod(0o755)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root)}
    env.pop("AUTOGRADER_PYTHON", None)
    done = subprocess.run(
        ["bash", str(source / "run_autograder")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    called = (python.parent / "called").read_text().split()
    assert called == [
        str(source),
        "-m",
        "autograder",
        "grade",
        ASSIGNMENT,
        str(root / "submission"),
        "--out",
        str(root / "results" / "results.json"),
    ]
    for folder in (source, root / "submission"):
        for path in [folder, *folder.rglob("*")]:
            assert path.stat().st_mode & 0o077 == 0, path
    assert (root / "results").is_dir()


def test_run_autograder_without_setup_says_why(bundle, tmp_path):
    root = tmp_path / "autograder"
    source = unpack(bundle, root)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root)}
    env.pop("AUTOGRADER_PYTHON", None)
    done = subprocess.run(
        ["bash", str(source / "run_autograder")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1 and "did setup.sh run?" in done.stderr


@pytest.mark.slow
def test_gradescope_bundle_runs_locally(bundle, tmp_path):
    root = tmp_path / "autograder"
    unpack(bundle, root)
    (root / "submission").mkdir()
    write(solution_notebook(ASSIGNMENT), root / "submission" / f"{ASSIGNMENT}.ipynb")
    env = {
        **os.environ,
        "AUTOGRADER_ROOT": str(root),
        "AUTOGRADER_PYTHON": sys.executable,
        "PYTHONPATH": "",
    }
    subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        env=env,
        check=True,
        cwd=tmp_path,
        timeout=600,
    )
    data = json.loads((root / "results" / "results.json").read_text())
    max_score = sum(t["max_score"] for t in data["tests"])
    assert data["score"] == max_score > 0, data["output"]
