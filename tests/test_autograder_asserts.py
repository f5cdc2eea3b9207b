"""The assertion library: what it accepts, and messages that never show expected values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder import asserts
from autograder.asserts import CheckFailure


def failure(actual, expected, **options) -> CheckFailure:
    with pytest.raises(CheckFailure) as info:
        asserts.assert_close(actual, expected, **options)
    return info.value


def test_equal_structures_pass():
    value = {"a": [1, 2.5, "x", None, True], "t": torch.ones(2, 3), "n": np.arange(3)}
    asserts.assert_close(
        value, {"a": [1, 2.5, "x", None, True], "t": torch.ones(2, 3), "n": np.arange(3)}
    )


def test_float32_tolerance_follows_torch_testing():
    expected = torch.tensor([1.0, 2.0, 3.0])
    asserts.assert_close(expected * (1 + 1e-6), expected)
    error = failure(expected * (1 + 1e-3), expected)
    assert "3 of 3 values out of tolerance" in error.message
    assert "relative error" not in error.message and "expected" not in error.message
    assert "max relative error 0.001" in error.detail
    torch.testing.assert_close(expected * (1 + 1e-6), expected)  # same decision as torch


def test_messages_name_shapes_and_dtypes_without_values():
    error = failure(torch.zeros(3, 2), torch.full((2, 3), 0.123456))
    assert error.message == "output: expected shape (2, 3), got (3, 2)"
    error = failure(torch.zeros(2, dtype=torch.float64), torch.full((2,), 0.123456))
    assert error.message == "output: expected dtype float32, got float64"
    error = failure(torch.zeros(2), torch.full((2,), 0.123456))
    assert "0.123456" not in error.message and "0.123456" in error.detail


def test_kinds_are_not_mixed():
    assert (
        "expected a torch.Tensor, got numpy.ndarray" in failure(np.zeros(2), torch.zeros(2)).message
    )
    assert ".item()" in failure(torch.tensor(0.5), 0.5).message
    assert "expected a list, got dict" in failure({}, [1]).message
    assert "expected an int, got float" in failure(3.0, 3).message


def test_nan_is_reported_and_matches_only_nan():
    assert "NaN" in failure(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 1.0])).message
    asserts.assert_close(torch.tensor([float("nan"), 1.0]), torch.tensor([float("nan"), 1.0]))
    asserts.assert_close([float("nan")], [float("nan")])


def test_dict_keys_are_counted_and_named_only_in_detail():
    error = failure({"a": 1, "c": 2}, {"a": 1, "b": 2})
    assert error.message == "output: 1 expected keys missing, 1 unexpected keys"
    assert "'b'" in error.detail and "'b'" not in error.message


def test_integer_tensors_compare_exactly():
    error = failure(torch.tensor([1, 2, 4]), torch.tensor([1, 2, 3]))
    assert error.message == "output: 1 of 3 values differ"


def test_range_and_finite_checks():
    asserts.assert_in_range(torch.tensor([0.0, 1.0]), 0, 1)
    with pytest.raises(CheckFailure, match=r"must lie in \[0, 1\]"):
        asserts.assert_in_range(torch.tensor([0.0, 1.5]), 0, 1)
    with pytest.raises(CheckFailure, match="1 of 2 values are NaN or infinite"):
        asserts.assert_finite(torch.tensor([0.0, float("inf")]))


def test_relative_error():
    assert asserts.relative_error(torch.tensor([1.1, 2.0]), torch.tensor([1.0, 2.0])) == (
        pytest.approx(0.1, rel=1e-5)
    )


def test_error_sizes_stay_in_the_detail_and_skip_zero_expectations():
    error = failure(0.004, 0.0)
    assert error.message == "output: wrong value (outside the tolerance rtol=1e-07, atol=1e-07)"
    assert "max absolute error 0.004" in error.detail and "relative" not in error.detail
    error = failure(torch.tensor([1e-3, 2.0]), torch.tensor([0.0, 1.0]))
    assert "max relative error 1" in error.detail and "e+" not in error.detail
