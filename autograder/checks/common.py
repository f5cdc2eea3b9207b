"""Helpers shared by the checks modules: seeded inputs, calling conventions, case families."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from autograder import asserts
from autograder.plaindata import ModuleSummary
from autograder.spec import Case, Context, Inputs, default_call, default_compare, summary


def generator(seed: int) -> torch.Generator:
    """A torch generator seeded with ``seed`` (inputs never touch the global RNG)."""
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True, init=False)
class positional:  # noqa: N801 (used like a function: ``call=positional("output", "target")``)
    """A ``call`` passing the inputs ``names`` positionally and ``keywords`` by keyword.

    Students may name parameters differently; only keyword-only options go by name. A class
    rather than a closure: a case's ``call`` travels to the sandbox by pickle.
    """

    names: tuple[str, ...]
    keywords: tuple[tuple[str, str], ...]

    def __init__(self, *names: str, **keywords: str) -> None:
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "keywords", tuple(keywords.items()))

    def __call__(self, function: Callable, inputs: Inputs) -> Any:
        args = [inputs[name] for name in self.names]
        kwargs = {key: inputs[name] for key, name in self.keywords if name in inputs}
        return function(*args, **kwargs)


def close(*, rtol: float | None = None, atol: float | None = None, dtype: bool = True):
    """A comparison with the reference's output within ``rtol``/``atol``."""

    def compare(actual: Any, expected: Any, context: Context) -> None:
        asserts.assert_close(actual, expected, rtol=rtol, atol=atol, check_dtype=dtype)

    tolerance = "exactly" if rtol == atol == 0 else "within tolerance"
    what = "shapes, dtypes, values" if dtype else "shapes and values; dtypes not compared"
    compare.__doc__ = f"The same output as the reference, {tolerance} ({what})."
    return compare


def all_of(*compares: Callable) -> Callable:
    """Several comparisons in a row; the first paragraph of each docstring says what is checked."""

    def compare(actual: Any, expected: Any, context: Context) -> None:
        for each in compares:
            each(actual, expected, context)

    compare.__doc__ = " ".join(summary(c) for c in compares)
    return compare


def family(
    function: str,
    inputs: Callable,
    *,
    call: Callable = default_call,
    compare: Callable = default_compare,
    points: float = 1.0,
    timeout: float = 10.0,
    reference: bool = True,
) -> Callable[..., Case]:
    """A maker of cases of ``function`` that differ by title, inputs and visibility.

    ``make(title, options=None, *, hidden=False, compare=None, reference=None, points=None,
    **params)``: the inputs are ``inputs(workdir, **options, **params)``; ``compare``,
    ``reference`` and ``points`` replace the family's when given.
    """
    family_compare, family_points, family_reference = compare, points, reference

    def make(
        title: str,
        options: dict | None = None,
        *,
        hidden: bool = False,
        compare: Callable | None = None,
        reference: bool | None = None,
        points: float | None = None,
        **params: Any,
    ) -> Case:
        return Case(
            function,
            title,
            partial(inputs, **(options or {}), **params),
            call=call,
            compare=family_compare if compare is None else compare,
            points=family_points if points is None else points,
            hidden=hidden,
            timeout=timeout,
            reference=family_reference if reference is None else reference,
        )

    return make


def module_of(actual: Any, *, where: str = "output") -> ModuleSummary:
    """``actual`` as an ``nn.Module`` summary, or a failure saying what came back instead."""
    asserts.require(
        isinstance(actual, ModuleSummary),
        f"{where}: expected an nn.Module, got {asserts.describe(actual)}",
    )
    return actual


def layer_types(module: ModuleSummary) -> list[str]:
    """Class names of the direct children, in order."""
    return [child.type_name.rsplit(".", 1)[-1] for child in module.children.values()]


def hooks_left(model: torch.nn.Module) -> int:
    """Forward and backward hooks still registered anywhere in ``model``."""
    return sum(
        len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
        for m in model.modules()
    )
