"""Seeding, device choice, logging and progress bars shared by the whole package."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

T = TypeVar("T")

#: Set to "0" (or "false", "no", "off") to turn every progress bar off.
PROGRESS_ENV = "COURSE_LIB_PROGRESS"


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


def progress_enabled(enabled: bool | None = None) -> bool:
    """Whether bars are shown: an explicit flag wins, else the environment variable."""
    if enabled is not None:
        return enabled
    value = os.environ.get(PROGRESS_ENV, "1").strip().lower()
    return value not in {"0", "false", "no", "off"}


def progress(
    iterable: Iterable[T], *, desc: str | None = None, enabled: bool | None = None, **kwargs
) -> Iterator[T]:
    """A tqdm bar over ``iterable``, or the iterable itself when bars are turned off."""
    return tqdm(iterable, desc=desc, disable=not progress_enabled(enabled), leave=False, **kwargs)
