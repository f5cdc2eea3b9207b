"""Seeding, device choice, logging and progress bars shared by the whole package."""

from __future__ import annotations

import logging
import os
import random
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

T = TypeVar("T")

#: "0" (or "false", "no", "off") turns every progress bar off, "1" (or "true", "yes", "on")
#: turns them on everywhere; unset, bars show only on a terminal or in a notebook.
PROGRESS_ENV = "COURSE_LIB_PROGRESS"
_OFF, _ON = {"0", "false", "no", "off"}, {"1", "true", "yes", "on"}


def seed_everything(seed: int, *, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a seeded generator for loaders.

    With ``deterministic`` torch is asked for deterministic algorithms (warning only where an
    operation has none), cuDNN benchmarking is turned off and cuBLAS gets a fixed workspace.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` for DataLoader: seed NumPy and ``random`` from torch's worker seed."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def get_device(preferred: str | None = None) -> torch.device:
    """The device to run on: ``preferred`` when given, else CUDA, then MPS, then CPU."""
    if preferred is not None:
        device = torch.device(preferred)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {preferred!r} was asked for but CUDA is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def setup_logging(level: int | str = logging.INFO) -> None:
    """Configure the root logger for scripts and notebooks (the library only gets loggers)."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )


def progress_enabled(enabled: bool | None = None, *, stream: TextIO | None = None) -> bool:
    """Whether bars are shown: an explicit flag wins, then the environment variable; else only
    when ``stream`` (default: stderr, where tqdm writes) is a terminal or code runs in a
    notebook, so logs of batch jobs get no bar lines."""
    if enabled is not None:
        return enabled
    value = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if value in _OFF | _ON:
        return value in _ON
    if value:
        raise ValueError(f"{PROGRESS_ENV}={value!r}: expected 0 or 1 (or unset for automatic)")
    stream = stream if stream is not None else sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) or in_notebook()


def in_notebook() -> bool:
    """Whether code runs in a Jupyter kernel (where tqdm draws a widget, not text lines)."""
    ipython = sys.modules.get("IPython")  # not imported here: a kernel has loaded it already
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in shell.config


def progress(
    iterable: Iterable[T], *, desc: str | None = None, enabled: bool | None = None, **kwargs
) -> Iterator[T]:
    """A tqdm bar over ``iterable`` (see :func:`progress_enabled` for when it is drawn); a
    disabled bar writes nothing and iterates as the iterable itself."""
    shown = progress_enabled(enabled, stream=kwargs.get("file"))
    return tqdm(iterable, desc=desc, disable=not shown, leave=False, **kwargs)
