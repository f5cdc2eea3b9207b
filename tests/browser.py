"""Headless Chromium for the tests that look at a page as a person would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def dump_dom(page: Path, profile: Path) -> subprocess.CompletedProcess:
    """Load ``page`` in headless Chromium (scripts run, 10 s of virtual time); its DOM on stdout.

    Skips the calling test, saying why, when Chromium is not installed.
    """
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    command = [chromium, *flags, f"--user-data-dir={profile}", "--virtual-time-budget=10000"]
    return subprocess.run(
        [*command, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
