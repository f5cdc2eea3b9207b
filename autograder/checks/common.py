"""Helpers shared by the checks modules: seeded inputs and calling conventions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from autograder.spec import Inputs


def generator(seed: int) -> torch.Generator:
    """A torch generator seeded with ``seed`` (inputs never touch the global RNG)."""
    return torch.Generator().manual_seed(seed)


def positional(*names: str, **keywords: str) -> Callable[[Callable, Inputs], Any]:
    """A ``call`` passing the inputs ``names`` positionally and ``keywords`` by keyword.

    Students may name parameters differently; only keyword-only options go by name.
    """

    def call(function: Callable, inputs: Inputs) -> Any:
        args = [inputs[name] for name in names]
        kwargs = {key: inputs[name] for key, name in keywords.items()}
        return function(*args, **kwargs)

    return call
