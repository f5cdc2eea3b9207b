"""Assertions of the checks: structure, shape, dtype and values with per-dtype tolerances.

A failed assertion raises :class:`CheckFailure`. Its ``message`` says what was checked and what
is wrong (shapes, dtypes, how many values are off) and never contains expected values nor an
error size, which together with the student's own output would give the expected value away;
``detail`` holds both and is shown for public cases only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import torch

from autograder.plaindata import ModuleSummary, Unsupported

#: ``(rtol, atol)`` by dtype, as in ``torch.testing.assert_close``.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "complex64": (1.3e-6, 1e-5),
    "complex128": (1e-7, 1e-7),
}
FLOAT_TOLERANCE = (1e-7, 1e-7)  # Python floats


class CheckFailure(AssertionError):
    """An output that does not meet a check; ``detail`` (may reveal expected values) is public."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def fail(message: str, *, detail: str | None = None) -> NoReturn:
    raise CheckFailure(message, detail=detail)


def require(condition: bool, message: str, *, detail: str | None = None) -> None:
    """Fail with ``message`` unless ``condition``."""
    if not condition:
        fail(message, detail=detail)


def describe(value: Any) -> str:
    """Short description of a value's type, shape and dtype: ``torch.Tensor (4, 10) float32``."""
    if isinstance(value, torch.Tensor):
        return f"torch.Tensor {tuple(value.shape)} {_dtype(value)}"
    if isinstance(value, np.ndarray):
        return f"numpy.ndarray {tuple(value.shape)} {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of length {len(value)}"
    if isinstance(value, dict):
        return f"dict with {len(value)} keys"
    if isinstance(value, ModuleSummary):
        return f"nn.Module {value.type_name.rsplit('.', 1)[-1]}"
    if isinstance(value, Unsupported):
        return value.type_name
    return type(value).__name__


def _dtype(value: torch.Tensor | np.ndarray) -> str:
    return str(value.dtype).removeprefix("torch.")


def tolerance(dtype: str, rtol: float | None = None, atol: float | None = None) -> tuple:
    """``(rtol, atol)`` for ``dtype`` (exact for integers and bools) unless given."""
    default = TOLERANCES.get(dtype, (0.0, 0.0))
    return (default[0] if rtol is None else rtol, default[1] if atol is None else atol)


def relative_error(actual: Any, expected: Any, *, atol: float = 0.0) -> float:
    """Largest ``|actual - expected| / |expected|`` over the elements where ``|expected| > atol``.

    Elements whose expected value is (nearly) 0 have no meaningful relative error: their
    absolute error is reported instead (:func:`error_sizes`).
    """
    a, e = _as_float_array(actual), _as_float_array(expected)
    scale = np.abs(e) > max(atol, 0.0)
    if not scale.any():
        return 0.0
    return float(np.max(np.abs(a - e)[scale] / np.abs(e)[scale]))


def error_sizes(actual: Any, expected: Any, *, atol: float = 0.0) -> str:
    """``"max absolute error A, max relative error R"`` for a public case's detail."""
    a, e = _as_float_array(actual), _as_float_array(expected)
    finite = np.isfinite(a) & np.isfinite(e)
    if not finite.any():
        return "no finite values to compare"
    largest = float(np.max(np.abs(a - e)[finite]))
    text = f"max absolute error {largest:.3g}"
    if (np.abs(e[finite]) > atol).any():
        text += f", max relative error {relative_error(a[finite], e[finite], atol=atol):.3g}"
    return text


def _as_float_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.float() if value.dtype == torch.bfloat16 else value).numpy()
    return np.asarray(value)


def assert_tensor(
    actual: Any,
    *,
    shape: Sequence[int] | None = None,
    dtype: str | None = None,
    kind: type = torch.Tensor,
    where: str = "output",
) -> Any:
    """``actual`` is a ``kind`` (tensor or ndarray) with the given shape and dtype."""
    if not isinstance(actual, kind):
        hint = " (convert it with torch.as_tensor)" if kind is torch.Tensor else ""
        fail(f"{where}: expected a {_kind_name(kind)}, got {describe(actual)}{hint}")
    if shape is not None and tuple(actual.shape) != tuple(shape):
        fail(f"{where}: expected shape {tuple(shape)}, got {tuple(actual.shape)}")
    if dtype is not None and _dtype(actual) != dtype:
        fail(f"{where}: expected dtype {dtype}, got {_dtype(actual)}")
    return actual


def _kind_name(kind: type) -> str:
    return "torch.Tensor" if kind is torch.Tensor else f"{kind.__module__}.{kind.__name__}"


def assert_finite(actual: Any, *, where: str = "output") -> None:
    """No NaN or infinity in a tensor or array."""
    values = _as_float_array(actual)
    if values.dtype.kind in "fc":
        bad = int(np.size(values) - np.isfinite(values).sum())
        require(bad == 0, f"{where}: {bad} of {values.size} values are NaN or infinite")


def assert_in_range(actual: Any, low: float, high: float, *, where: str = "output") -> None:
    """Every value of a tensor or array lies in ``[low, high]``."""
    values = _as_float_array(actual)
    assert_finite(values, where=where)
    if values.size:
        lo, hi = float(values.min()), float(values.max())
        require(
            low <= lo and hi <= high,
            f"{where}: values must lie in [{low:g}, {high:g}], found [{lo:.4g}, {hi:.4g}]",
        )


def assert_close(
    actual: Any,
    expected: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    check_dtype: bool = True,
    where: str = "output",
) -> None:
    """``actual`` has the structure of ``expected`` and values within tolerance (NaN == NaN)."""
    if isinstance(expected, (torch.Tensor, np.ndarray)):
        _close_arrays(actual, expected, rtol, atol, check_dtype, where)
    elif isinstance(expected, bool) or expected is None or isinstance(expected, str):
        require(
            type(actual) is type(expected),
            f"{where}: expected {describe(expected)}, got {describe(actual)}",
        )
        require(actual == expected, f"{where}: wrong value", detail=_values(actual, expected))
    elif isinstance(expected, (int, float)):
        _close_numbers(actual, expected, rtol, atol, where)
    elif isinstance(expected, (list, tuple)):
        require(
            isinstance(actual, (list, tuple)),
            f"{where}: expected a {type(expected).__name__}, got {describe(actual)}",
        )
        require(
            len(actual) == len(expected),
            f"{where}: expected length {len(expected)}, got {len(actual)}",
        )
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(
                a, e, rtol=rtol, atol=atol, check_dtype=check_dtype, where=f"{where}[{index}]"
            )
    elif isinstance(expected, Mapping):
        assert_same_keys(actual, expected, where=where)
        for key in expected:
            assert_close(
                actual[key],
                expected[key],
                rtol=rtol,
                atol=atol,
                check_dtype=check_dtype,
                where=f"{where}[{key!r}]",
            )
    else:
        raise TypeError(f"assert_close cannot compare expected values of type {describe(expected)}")


def assert_same_keys(actual: Any, expected: Mapping, *, where: str = "output") -> None:
    """``actual`` is a dict with exactly the keys of ``expected``."""
    require(isinstance(actual, Mapping), f"{where}: expected a dict, got {describe(actual)}")
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected]
    if missing or extra:
        fail(
            f"{where}: {len(missing)} expected keys missing, {len(extra)} unexpected keys",
            detail=f"missing {missing[:10]}, unexpected {extra[:10]}",
        )


def _close_numbers(actual: Any, expected: float, rtol, atol, where: str) -> None:
    is_number = isinstance(actual, (int, float)) and not isinstance(actual, bool)
    if not is_number:
        hint = " (use .item() to get a Python number)" if isinstance(actual, torch.Tensor) else ""
        fail(f"{where}: expected a {type(expected).__name__}, got {describe(actual)}{hint}")
    if isinstance(expected, int) and not isinstance(actual, int):
        fail(f"{where}: expected an int, got {describe(actual)}")
    rtol, atol = (
        FLOAT_TOLERANCE[0] if rtol is None else rtol,
        FLOAT_TOLERANCE[1] if atol is None else atol,
    )
    if isinstance(expected, int):
        rtol = atol = 0.0
    if actual != actual and expected == expected:
        fail(f"{where}: got NaN where a number was expected")
    both_nan = actual != actual and expected != expected
    ok = both_nan or abs(actual - expected) <= atol + rtol * abs(expected)
    if not ok:
        fail(
            f"{where}: wrong value (outside the tolerance rtol={rtol:g}, atol={atol:g})",
            detail=f"{_values(actual, expected)}; {error_sizes(actual, expected, atol=atol)}",
        )


def _values(actual: Any, expected: Any) -> str:
    return f"expected {expected!r}, got {actual!r}"


def _close_arrays(actual, expected, rtol, atol, check_dtype: bool, where: str) -> None:
    kind = torch.Tensor if isinstance(expected, torch.Tensor) else np.ndarray
    assert_tensor(actual, shape=tuple(expected.shape), kind=kind, where=where)
    if check_dtype:
        assert_tensor(actual, dtype=_dtype(expected), kind=kind, where=where)
    a, e = _as_float_array(actual), _as_float_array(expected)
    if e.dtype.kind not in "fc" and a.dtype.kind not in "fc":
        wrong = a != e
        count = int(np.count_nonzero(wrong))
        if count:
            index = tuple(int(i) for i in np.argwhere(wrong)[0])
            fail(
                f"{where}: {count} of {e.size} values differ",
                detail=f"first at index {index}: expected {e[index]!r}, got {a[index]!r}",
            )
        return
    rtol, atol = tolerance(_dtype(expected), rtol, atol)
    a64, e64 = (
        a.astype(np.complex128 if a.dtype.kind == "c" else np.float64),
        e.astype(np.complex128 if e.dtype.kind == "c" else np.float64),
    )
    nan_a, nan_e = np.isnan(a64), np.isnan(e64)
    bad_nan = nan_a != nan_e
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(a64 - e64)
        inf_same = np.isinf(a64) & (a64 == e64)
        wrong = ~(nan_a & nan_e) & ~inf_same & ~(error <= atol + rtol * np.abs(e64))
    count = int(np.count_nonzero(wrong))
    if not count:
        return
    if bad_nan.any():
        fail(
            f"{where}: {int(nan_a.sum())} of {e.size} values are NaN where numbers were expected"
            if nan_a.any()
            else f"{where}: NaN expected at {int(nan_e.sum())} places"
        )
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    fail(
        f"{where}: {count} of {e.size} values out of tolerance (rtol={rtol:g}, atol={atol:g})",
        detail=f"first at index {index}: expected {e[index]!r}, got {a[index]!r}; "
        f"{error_sizes(a64[wrong], e64[wrong], atol=atol)}",
    )


def assert_frame(actual: Any, expected: Any, *, where: str = "output") -> None:
    """A DataFrame with the expected columns (in order), dtypes, length and values."""
    import pandas as pd

    require(
        isinstance(actual, pd.DataFrame),
        f"{where}: expected a pandas DataFrame, got {describe(actual)}",
    )
    require(
        list(actual.columns) == list(expected.columns),
        f"{where}: expected {len(expected.columns)} columns in the documented order, got "
        f"{len(actual.columns)}",
        detail=f"expected {list(expected.columns)}, got {list(actual.columns)}",
    )
    require(
        len(actual) == len(expected), f"{where}: expected {len(expected)} rows, got {len(actual)}"
    )
    for name in expected.columns:
        want, got = expected[name], actual[name]
        require(
            str(got.dtype) == str(want.dtype),
            f"{where}[{name!r}]: expected dtype {want.dtype}, got {got.dtype}",
        )
        assert_close(got.tolist(), want.tolist(), where=f"{where}[{name!r}]")
