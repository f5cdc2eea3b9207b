"""Plain data between sandbox and grader: round trips, and nothing but plain data accepted."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from autograder import plaindata
from autograder.plaindata import ModuleSummary, PlainDataError, Unsupported


def test_round_trip_keeps_types_shapes_and_dtypes():
    value = {
        "floats": [0.5, float("nan"), float("inf")],
        "tensor": torch.arange(6, dtype=torch.int32).reshape(2, 3),
        "half": torch.ones(2, dtype=torch.bfloat16),
        "array": np.linspace(0, 1, 5),
        "pair": (1, "two"),
        3: None,
        "flags": [True, False],
        "numpy_scalar": np.float32(1.5),
    }
    back = plaindata.roundtrip(value)
    assert back.keys() == value.keys()
    assert back["tensor"].dtype == torch.int32 and torch.equal(back["tensor"], value["tensor"])
    assert back["half"].dtype == torch.bfloat16
    np.testing.assert_array_equal(back["array"], value["array"])
    assert back["pair"] == (1, "two") and isinstance(back["pair"], tuple)
    assert back[3] is None and back["flags"] == [True, False]
    assert back["floats"][0] == 0.5 and np.isnan(back["floats"][1]) and back["floats"][2] == np.inf
    assert back["numpy_scalar"] == 1.5 and type(back["numpy_scalar"]) is float


def test_modules_become_summaries():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    model[0].weight.requires_grad_(False)
    summary = plaindata.roundtrip(model)
    assert isinstance(summary, ModuleSummary) and summary.type_name == "torch.Sequential"
    params = summary.named_parameters()
    assert set(params) == {"0.weight", "0.bias", "1.weight", "1.bias"}
    torch.testing.assert_close(params["0.weight"], model[0].weight.detach())
    assert summary.named_requires_grad()["0.weight"] is False
    assert "running_mean" in summary.children["1"].buffers
    again = plaindata.roundtrip(summary)  # stored references are decoded values
    assert again.type_name == summary.type_name
    assert again.named_requires_grad() == summary.named_requires_grad()
    assert all(torch.equal(again.named_parameters()[k], v) for k, v in params.items())
    assert plaindata.roundtrip(Unsupported("x.Y")) == Unsupported("x.Y")


def test_dataframes_round_trip():
    frame = pd.DataFrame({"age": [20, 31], "name": ["a", "b"]})
    back = plaindata.roundtrip(frame)
    pd.testing.assert_frame_equal(back, frame)


def test_other_objects_are_named_not_pickled():
    back = plaindata.roundtrip([object(), (x for x in ()), {1, 2}])
    assert back == [Unsupported("object"), Unsupported("generator"), Unsupported("set")]
    assert plaindata.roundtrip(np.array([object()], dtype=object)) == Unsupported(
        "numpy.ndarray of objects"
    )


def test_pickled_arrays_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", '{"value": {"$ndarray": "a0"}}')
        with archive.open("a0.npy", "w") as member:
            np.lib.format.write_array(member, np.array([object()]), allow_pickle=True)
    with pytest.raises(PlainDataError):
        plaindata.unpack(buffer.getvalue())


def test_compressed_and_oversized_archives_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", '{"value": 1}')
    with pytest.raises(PlainDataError, match="compressed"):
        plaindata.unpack(buffer.getvalue())
    big = plaindata.pack(torch.zeros(1000))
    with pytest.raises(PlainDataError, match="larger"):
        plaindata.unpack(big, max_bytes=1000)
    with pytest.raises(PlainDataError, match="larger than the"):
        plaindata.pack([torch.zeros(100), torch.zeros(100)], max_bytes=600)


@pytest.mark.parametrize(
    "payload",
    [b"", b"not a zip", pickle.dumps([1, 2]), b"PK\x03\x04garbage"],
)
def test_garbage_is_refused(payload):
    with pytest.raises(PlainDataError):
        plaindata.unpack(payload)


def test_unknown_tags_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", '{"value": {"$pickle": "x"}}')
    with pytest.raises(PlainDataError, match="unknown tag"):
        plaindata.unpack(buffer.getvalue())
