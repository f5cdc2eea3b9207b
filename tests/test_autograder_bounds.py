"""Bounded work on untrusted data in the grading process: decoding outputs, extracting code.

Every attack is refused quickly with PlainDataError (decoding) or a note that costs one cell
(extraction); every output the encoder writes still decodes unchanged.
"""

from __future__ import annotations

import io
import json
import random
import re
import struct
import time
import zipfile
from contextlib import contextmanager

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from autograder_corpus import build_notebook, solution_sources, write
from torch import nn

from autograder import plaindata, plaindecode
from autograder.extract import MAX_CELL_BYTES, MAX_NOTEBOOK_CODE, extract
from autograder.plaindata import ModuleSummary, PlainDataError, Unsupported

ASSIGNMENT = "a2_transfer"
GRADED = ("build_vgg16_head", "set_trainable", "train_one_epoch", "topk_accuracy")
SECONDS = 2.0  # generous: every refusal below takes well under a second


@contextmanager
def within(seconds: float = SECONDS):
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.1f} s"


def archive(value: object = None, *, manifest: bytes | None = None, **members: bytes) -> bytes:
    """A stored zip of a manifest (``{"value": value}`` unless given) and ``name=bytes`` members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
        out.writestr("manifest.json", manifest or json.dumps({"value": value}).encode())
        for name, data in members.items():
            out.writestr(f"{name}.npy", data)
    return buffer.getvalue()


def npy(header: str, data: bytes = b"", *, version: int = 1) -> bytes:
    """A hand-written ``.npy`` member: magic, version, header length, header, data."""
    text = header.encode("latin1")
    length = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + length + text + data


def refused(payload: bytes, match: str) -> None:
    with within(), pytest.raises(PlainDataError, match=match):
        plaindata.unpack(payload)


# --- forged and malformed outputs ---------------------------------------------------------


def test_a_float_tag_holding_a_huge_int_is_refused():
    refused(archive({"$float": 10**400}), r"\$float must be one of")
    refused(archive({"$float": "1e5"}), r"\$float must be one of")
    refused(archive({"$float": "inf", "extra": 1}), r"\$float expects the fields")


TENSOR = {"$tensor": "a0", "dtype": "float32"}
FLOATS = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", b"\0" * 8)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"$tensor": 5, "dtype": "float32"}, "an array name must be str"),
        ({"$tensor": "a0", "dtype": "float128"}, "unknown tensor dtype"),
        ({"$tensor": "a0", "dtype": "int64"}, "a int64 tensor stored as float32"),
        ({"$ndarray": "a7"}, "missing or used twice"),
        ([{"$ndarray": "a0"}, {"$ndarray": "a0"}], "missing or used twice"),
        ({"$dict": 5}, r"\$dict must be list"),
        ({"$dict": [[1]]}, "2-element lists"),
        ({"$dict": [[[1], 2]]}, "dictionary key list is not accepted"),
        ({"$tuple": {"a": 1}}, r"\$tuple must be list"),
        ({"$unsupported": ["x"]}, r"\$unsupported must be str"),
        ({"$pickle": "x"}, "unknown tag"),
        ({"$float": "inf", "$tuple": []}, "unknown tag"),
        ({}, "unknown tag"),
        (
            {"$module": "m", "training": 1, "children": [], "parameters": [], "buffers": []},
            "training must be bool",
        ),
        (
            {"$module": "m", "training": True, "children": [["c", 1]], "parameters": []},
            r"\$module expects the fields",
        ),
        (
            {
                "$module": "m",
                "training": True,
                "children": [["c", 1]],
                "parameters": [],
                "buffers": [],
            },
            "child 'c' is not a module",
        ),
        (
            {
                "$module": "m",
                "training": True,
                "children": [],
                "parameters": [["w", TENSOR, "yes"]],
                "buffers": [],
            },
            "requires_grad must be bool",
        ),
        ({"$frame": [["age", "int64", 5]], "index": [0]}, "a column must be"),
        ({"$frame": [["age", "int64", {"$dict": [["list", [1, 2]]]}]], "index": [0]}, "2 rows"),
        ({"$frame": [], "index": [{"$tuple": [1, 2]}]}, "index must hold only"),
        ({"$frame": [[0.5, "int64", {"$dict": [["list", [1]]]}]], "index": [0]}, "key float"),
        ({"$frame": 3, "index": []}, r"\$frame must be list"),
    ],
)
def test_malformed_tags_fail_with_plain_data_errors(value, match):
    refused(archive(value, a0=FLOATS), match)


@pytest.mark.parametrize(
    ("manifest", "match"),
    [
        (b"{", "not valid JSON"),
        (b"[1]", 'the one key "value"'),
        (b'{"value": 1, "more": 2}', 'the one key "value"'),
        (b'{"value": NaN}', "holds NaN"),
        (b'{"value": ' + b"1" * 5000 + b"}", "not valid JSON"),
        (b'{"value": "\xff"}', "unreadable manifest"),
        (b'{"value": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "nested deeper than 104"),
        (b'{"value": ' + b"{" * 10_000 + b"}", "nested deeper than 104"),
        (b'{"value": [' + b"0," * 1_700_000 + b"0]}", "more than 1600000 values"),
        (b'{"value": "' + b"x" * (9 * 2**20) + b'"}', "at most 8 MB"),
    ],
)
def test_malformed_manifests_fail_with_plain_data_errors(manifest, match):
    refused(archive(manifest=manifest), match)


def test_nesting_and_item_caps_are_checked_while_decoding():
    deep = []
    for _ in range(40):  # 40 levels: within the JSON bound, beyond MAX_DEPTH
        deep = [deep]
    refused(archive(deep), "nested deeper than 32 levels")
    refused(archive([0] * 150_000), "more than 100000 items")


def test_brackets_and_quotes_inside_strings_do_not_count_as_nesting():
    text = '[{"\\' * 20_000 + '\\\\"'
    assert plaindata.roundtrip([text, {"k": "]" * 5}]) == [text, {"k": "]" * 5}]


@pytest.mark.parametrize(
    ("member", "match"),
    [
        (
            npy("{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000000,), }"),
            "header says",
        ),
        (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (-2, -3), }", b"\0" * 48), "says"),
        (npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8), "dtype"),
        (
            npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", b"1234"),
            "not acc",
        ),
        (npy("{'descr': '|V0', 'fortran_order': False, 'shape': (1000000000000,), }"), "dtype"),
        (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", version=3), "version"),
        (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", b"\0" * 4), "says"),
        (npy("{'descr': '<f4', 'shape': (1,), }", b"\0" * 4), "not a plain .npy array"),
        (npy("{'descr': " + "[" * 3000 + "]" * 3000 + "}"), "not a plain .npy array"),
        (b"\x93NUMPY", "not a plain .npy array"),
    ],
)
def test_forged_npy_headers_are_refused_before_allocating(member, match):
    refused(archive({"$ndarray": "a0"}, a0=member), match)


def test_archive_level_forgeries_are_refused():
    refused(archive({"$ndarray": "a0"}, **{"../a0": FLOATS}), "unexpected or repeated members")
    no_manifest = io.BytesIO()
    with zipfile.ZipFile(no_manifest, "w") as out:
        out.writestr("a0.npy", FLOATS)
    refused(no_manifest.getvalue(), "no manifest.json")
    refused(b"PK\x01\x02" * 100_002, "more than 100000 members")


def test_mutated_and_random_payloads_raise_only_plain_data_errors():
    """Byte flips and cuts of real payloads, and tags with random fields, never escape."""
    rng = random.Random(0)
    samples = [
        plaindata.pack(v)
        for v in (
            {"a": torch.ones(3), "b": [1.5, float("nan")], 3: (None,)},
            nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)),
            pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}),
        )
    ]
    atoms = [None, True, 0, 2**70, 0.5, "a0", "inf", "float32", "list", [], {}]

    def random_value(depth: int = 0) -> object:
        if depth > 3 or rng.random() < 0.3:
            return rng.choice(atoms)
        if rng.random() < 0.3:
            return [random_value(depth + 1) for _ in range(rng.randint(0, 3))]
        tag = rng.choice(list(plaindecode.TAG_FIELDS))
        return {f: random_value(depth + 1) for f in plaindecode.TAG_FIELDS[tag]}

    decoded = 0
    for number in range(3000):
        if number % 2:
            payload = archive(random_value(), a0=FLOATS)
        else:
            data = bytearray(rng.choice(samples))
            at = rng.randrange(len(data))
            data[at : at + rng.randint(0, 3)] = bytes([rng.randrange(256)])
            payload = bytes(data)
        try:
            plaindata.unpack(payload)
            decoded += 1
        except PlainDataError:
            pass
    assert 0 < decoded < 3000


# --- dictionary keys: decoding stays linear ------------------------------------------------


def test_colliding_int_keys_are_refused_quickly():
    """120 000 keys k * (2**61 - 1) all hash to 0: quadratic (minutes) if a dict were built."""
    entries = [[k * (2**61 - 1), k] for k in range(120_000)]
    refused(archive({"$dict": entries}), "dictionary key int is not accepted")


@pytest.mark.parametrize(
    "key",
    [0.5, 2.0**-62, {"$tuple": [1, 2]}, 2**61 - 1, -(2**61 - 1), {"$tuple": ["a"] * 5}],
)
def test_keys_whose_hash_an_output_could_choose_are_refused(key):
    assert hash(0.5) == hash(2.0**-62)  # why floats are refused
    refused(archive({"$dict": [[key, 1]]}), "is not accepted")


def test_safe_keys_decode_in_linear_time_even_when_structured():
    """Distinct hashes sharing their low 40 bits probe a few extra slots each, no more."""
    keys = {k << 40: k for k in range(45_000)}
    with within():
        assert plaindata.unpack(plaindata.pack(keys)) == keys
    mixed = {"a": 1, 2: "b", True: None, None: 3, ("x", None, False): 4, -(2**61 - 2): 5}
    assert plaindata.roundtrip(mixed) == mixed


# --- what the encoder writes still decodes unchanged ---------------------------------------


TENSORS = [
    torch.tensor([True, False]),
    *(torch.arange(-3, 3, dtype=d) for d in (torch.int8, torch.int16, torch.int32, torch.int64)),
    *(
        torch.tensor([0, 7, 255], dtype=d)
        for d in (torch.uint8, torch.uint16, torch.uint32, torch.uint64)
    ),
    *(torch.linspace(-1, 1, 5, dtype=d) for d in (torch.float16, torch.bfloat16)),
    *(torch.linspace(-1, 1, 5, dtype=d) for d in (torch.float32, torch.float64)),
    torch.tensor([1 + 2j, -1j], dtype=torch.complex64),
    torch.tensor([1 + 2j], dtype=torch.complex128),
    torch.arange(12.0).reshape(3, 4).T,  # not contiguous
    torch.tensor(3.5),  # 0-d
    torch.zeros(0, 5),
    torch.eye(3).to_sparse(),
]
ARRAYS = [
    np.arange(12, dtype=np.int32).reshape(3, 4),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    np.array(["ab", "c"]),
    np.array([b"x", b"yz"]),
    np.array(["2024-01-02"], dtype="datetime64[D]"),
    np.array([1, 2], dtype=">i4"),
    np.zeros((2, 0)),
    np.array([True]),
]


def assert_same(back: object, value: object) -> None:
    """Equal values of the same types; tensors keep dtype and values, arrays dtype and shape."""
    if isinstance(value, torch.Tensor):
        assert isinstance(back, torch.Tensor) and back.dtype == value.dtype
        expected = value.to_dense() if value.layout != torch.strided else value
        assert torch.equal(back, expected)
    elif isinstance(value, np.ndarray):
        assert isinstance(back, np.ndarray) and back.dtype == value.dtype
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, (list, tuple)):
        assert type(back) is type(value) and len(back) == len(value)
        for b, v in zip(back, value, strict=True):
            assert_same(b, v)
    elif isinstance(value, dict):
        assert isinstance(back, dict) and list(back) == list(value)
        for key in value:
            assert_same(back[key], value[key])
    elif isinstance(value, float) and np.isnan(value):
        assert isinstance(back, float) and np.isnan(back)
    else:
        assert back == value and type(back) is type(value)


@pytest.mark.parametrize("value", TENSORS + ARRAYS, ids=lambda v: f"{type(v).__name__}-{v.dtype}")
def test_every_tensor_and_array_dtype_round_trips(value):
    assert_same(plaindata.roundtrip(value), value)


def test_containers_numbers_and_records_round_trip_unchanged():
    value = {
        "floats": [0.5, float("inf"), float("-inf"), float("nan"), -0.0, 1e308],
        "ints": [0, -1, 2**70, np.int64(5)],
        "nested": (1, [2, (3, {"four": [None, True]})], {}),
        7: "seven",
        ("a", None): [],
        "unsupported": [Unsupported("x.Y"), object(), {1, 2}],
    }
    back = plaindata.roundtrip(value)
    value["ints"][-1] = 5
    value["unsupported"] = [Unsupported("x.Y"), Unsupported("object"), Unsupported("set")]
    assert_same(back, value)


def test_modules_and_summaries_round_trip_unchanged():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.Sequential(nn.ReLU()))
    model[0].weight.requires_grad_(False)
    model.eval()
    summary = plaindata.roundtrip(model)
    again = plaindata.roundtrip(summary)
    for back in (summary, again):
        assert isinstance(back, ModuleSummary) and back.training is False
        assert back.named_requires_grad() == {
            n: p.requires_grad for n, p in model.named_parameters()
        }
        assert_same(back.named_parameters(), dict(model.named_parameters()) | {})
        assert set(back.children["1"].buffers) == {
            "running_mean",
            "running_var",
            "num_batches_tracked",
        }
        assert back.children["2"].children["0"].type_name == "torch.ReLU"


def test_dataframes_round_trip_unchanged():
    frame = pd.DataFrame(
        {
            "age": np.array([20, 31, 45]),
            "score": [0.5, float("nan"), 2.0],
            "name": ["a", "b", None],
            "flag": [True, False, True],
        },
        index=[10, 11, 12],
    )
    pd.testing.assert_frame_equal(plaindata.roundtrip(frame), frame)


def test_the_deepest_and_largest_encodable_outputs_still_decode():
    deepest: object = nn.Linear(2, 2)
    for _ in range(plaindata.MAX_DEPTH):  # dicts nest deepest in JSON: 3 levels each
        deepest = {"$float": deepest}
    back = plaindata.roundtrip(deepest)
    for _ in range(plaindata.MAX_DEPTH):
        back = back["$float"]
    assert isinstance(back, ModuleSummary)
    with pytest.raises(PlainDataError, match="nested deeper"):
        plaindata.pack([deepest])
    largest = [0] * (plaindata.MAX_ITEMS - 1)  # the list itself is one item
    assert plaindata.roundtrip(largest) == largest
    with pytest.raises(PlainDataError, match="more than 100000 items"):
        plaindata.pack(largest + [0])
    with pytest.raises(PlainDataError, match="non-array part"):
        plaindata.pack("x" * (9 * 2**20))
    structured = np.zeros(2, dtype=[("a", "<f4")])
    assert plaindata.roundtrip(structured) == Unsupported("numpy.ndarray of [('a', '<f4')]")


# --- extraction: bounded, one cell at a time ------------------------------------------------


def notebook_with(tmp_path, **cells: str):
    """A solution notebook of a2_transfer whose ``cells`` (grade id -> source) are replaced."""
    sources = {**solution_sources(ASSIGNMENT), **cells}
    return write(build_notebook(ASSIGNMENT, sources), tmp_path / "submission.ipynb")


def extracted(path):
    with within():
        return extract(path, GRADED)


def test_an_oversized_cell_is_a_note_and_the_rest_is_graded(tmp_path):
    table = "TABLE = [" + ", ".join(["123"] * (2**20)) + "]\n"  # 5.0 MB of constants
    path = notebook_with(
        tmp_path, topk_accuracy=table + solution_sources(ASSIGNMENT)["topk_accuracy"]
    )
    result = extracted(path)
    assert "cell 'topk_accuracy' is 5.0 MB; solution cells above 200 KB are not graded" in (
        result.notes
    )
    assert result.defined >= set(GRADED) - {"topk_accuracy"} and "TABLE" not in result.defined


@pytest.mark.parametrize(
    ("source", "note"),
    [
        ("X = " + "-" * 10_000 + "1\n", " cannot be parsed (MemoryError"),
        ("X = " + "+".join(["1"] * 10_000) + "\n", " cannot be parsed (RecursionError"),
        ("X = a" + ".b" * 10_000 + "\n", " cannot be parsed (RecursionError"),
        ("X = " + "(" * 10_000 + ")" * 10_000 + "\n", ": syntax error at line 1 (too many nested"),
        ("X = 1\0\n", ": syntax error at line None (source code string cannot contain null"),
    ],
)
def test_a_cell_too_deep_for_the_parser_costs_only_that_cell(tmp_path, source, note):
    result = extracted(notebook_with(tmp_path, set_trainable=source))
    assert any(n.startswith("cell 'set_trainable'" + note) for n in result.notes), result.notes
    assert result.defined >= set(GRADED) - {"set_trainable"}


def test_a_cell_too_deep_to_regenerate_costs_only_that_cell(tmp_path):
    """Statements sharing a line are regenerated with ast.unparse, which recurses."""
    deep = "X = " + "+".join(["1"] * 600) + "; print(X)\n"
    path = notebook_with(tmp_path, set_trainable=deep)
    result = extracted(path)
    assert any("cell 'set_trainable' cannot be rewritten" in note for note in result.notes)
    assert result.defined >= set(GRADED) - {"set_trainable"}


def test_ipython_syntax_is_rewritten_in_linear_time(tmp_path):
    magics = ("%time x\n" * 25_000)[: MAX_CELL_BYTES - 100]  # IPython itself: minutes
    reference = solution_sources(ASSIGNMENT)["topk_accuracy"]
    path = notebook_with(
        tmp_path,
        set_trainable=magics,
        topk_accuracy="%matplotlib inline\nx = !ls\n" + reference + "topk_accuracy?\n",
    )
    result = extracted(path)
    assert any("more than 100 lines of IPython syntax" in note for note in result.notes)
    assert "topk_accuracy" in result.defined and "set_trainable" not in result.defined
    assert any("line(s) 1, 2" in note for note in result.notes)


def solution_cell(grade_id: str, source: str):
    meta = {"grade_id": grade_id, "solution": True, "grade": False, "locked": False}
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


def test_the_code_read_from_one_notebook_is_capped(tmp_path):
    filler = "".join(f"C{i} = {i}\n" for i in range(14_000))  # 190 KB of constants
    notebook = build_notebook(ASSIGNMENT, solution_sources(ASSIGNMENT))
    for number in range(3):  # 570 KB before the graded cells
        notebook.cells.insert(1, solution_cell(f"constants{number}", filler))
    with within(5.0):  # parsing 512 KB of code, the most one notebook costs
        result = extract(write(notebook, tmp_path / "submission.ipynb"), GRADED)
    assert MAX_NOTEBOOK_CODE == 512 * 2**10 and len(filler) < MAX_CELL_BYTES
    assert (
        "cell 'constants0' is not graded: with it the notebook's code would pass the 512 KB "
        "limit" in result.notes
    )
    assert result.defined >= set(GRADED)  # they fit in what is left


def test_an_oversized_cell_elsewhere_is_skipped_with_a_note(tmp_path):
    sources = solution_sources(ASSIGNMENT)
    notebook = build_notebook(ASSIGNMENT, {**sources, "topk_accuracy": "# moved below"})
    huge = "X = '" + "x" * (3 * 2**20) + "'  # topk_accuracy"
    notebook.cells += [nbformat.v4.new_code_cell(s) for s in (huge, sources["topk_accuracy"])]
    result = extracted(write(notebook, tmp_path / "moved.ipynb"))
    last = len(notebook.cells)
    assert f"cell {last - 1} is 3.0 MB; other cells above 200 KB are not read" in result.notes
    assert any(note.startswith(f"topk_accuracy was found in cell {last}") for note in result.notes)
    assert "topk_accuracy" in result.defined


def test_line_numbers_follow_python_not_str_splitlines(tmp_path):
    source = (
        'S = "a\x0cb\u2028c"\ntrain()\ndef set_trainable(model, *, train_features):\n    return S\n'
    )
    result = extracted(notebook_with(tmp_path, set_trainable=source))
    cell = next(c for c in result.cells if c["name"] == "set_trainable")
    assert "train()" not in cell["source"] and cell["source"].startswith('S = "a\x0cb\u2028c"\n\n')


# --- grading: a forged output costs its own cases only --------------------------------------

FORGED = {
    "huge float": (archive({"$float": 10**400}), r"\$float must be one of"),
    "malformed manifest": (archive(manifest=b'{"value": {"$frame": [[1, 2, 3]]}}'), "fields"),
    "npy header": (
        archive(
            {"$ndarray": "a0"},
            a0=npy("{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000000,), }"),
        ),
        "header says",
    ),
    "deep list": (archive(manifest=b'{"value": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"), "deep"),
    "colliding keys": (
        archive({"$dict": [[k * (2**61 - 1), k] for k in range(120_000)]}),
        "key int is not accepted",
    ),
}


@pytest.mark.parametrize("attack", FORGED)
def test_a_forged_output_fails_its_case_with_a_reason(attack):
    from autograder.grading import judge
    from autograder.sandbox.limits import Outcome
    from autograder.spec import load_checks

    checks = load_checks(ASSIGNMENT)
    case = next(c for c in checks.cases if c.function == "topk_accuracy" and not c.hidden)
    payload, reason = FORGED[attack]
    with within():
        result = judge(checks, case, Outcome("ok", payload=payload), None)
    assert not result.passed and "the output could not be read (" in result.output
    assert re.search(reason, result.output)


FORGER = '''
def topk_accuracy(output, target, topk=(1,)):
    """Returns a harmless value, but makes the sandbox send a forged frame instead."""
    import io, json, sys, zipfile
    keys = [[k * (2**61 - 1), k] for k in range(120_000)]  # all hash to 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"value": {"$dict": keys}}))
    module = sys.modules["autograder.plaindata"]
    honest = module.pack

    def forged(value, **options):
        module.pack = honest
        return buffer.getvalue()

    module.pack = forged
    return [1.0 for _ in topk]
'''


@pytest.mark.slow
def test_grading_a_notebook_with_one_forged_output_grades_the_others(tmp_path):
    from autograder.grading import grade_notebook

    release = write(build_notebook(ASSIGNMENT, {}), tmp_path / "release.ipynb")
    path = notebook_with(tmp_path, topk_accuracy=FORGER)
    report = grade_notebook(ASSIGNMENT, path, hidden=False, source=release)
    forged = [t for t in report.tests if t.function == "topk_accuracy"]
    others = [t for t in report.tests if t.function != "topk_accuracy"]
    assert forged and others and {t.function for t in others} == set(GRADED) - {"topk_accuracy"}
    for test in forged:
        assert not test.passed and "could not be read (dictionary key int" in test.output
    assert all(t.passed for t in others), [t.output for t in others if not t.passed]
