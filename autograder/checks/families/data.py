"""Check families of the Tiny ImageNet data functions: maps, val labels, splits, subsets."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch

from autograder import asserts
from autograder.checks.common import all_of, close, family, generator, positional
from autograder.spec import Context, Inputs

EXACT = close(rtol=0, atol=0)


def _wnid(index: int) -> str:
    return f"n{1443537 + 7919 * index:08d}"


# --- class_name_maps -----------------------------------------------------------------------


def maps_inputs(
    workdir: Path, *, classes: int, extra: int = 0, single_names: bool = False
) -> Inputs:
    """``classes`` sorted wnids (as ``read_wnids`` gives them) and a words table with ``extra``
    unrelated entries, listed in another order."""
    wnids = [_wnid(i) for i in range(classes + extra)]
    words = {
        wnid: f"thing {i}" if single_names else f"thing {i}, other name {i}, third {i}"
        for i, wnid in reversed(list(enumerate(wnids)))
    }
    return {"wnids": sorted(wnids[:classes]), "words": words}


def maps_structure(actual: Any, expected: Any, context: Context) -> None:
    """Two dicts: index 0..C-1 -> a description of one of the wnids, and str name -> index."""
    wnids, words = context.inputs["wnids"], context.inputs["words"]
    asserts.require(
        isinstance(actual, (list, tuple)) and len(actual) == 2,
        f"output: expected a pair of dicts, got {asserts.describe(actual)}",
    )
    descriptions, names = actual
    asserts.require(
        not (isinstance(descriptions, dict) and all(isinstance(k, str) for k in descriptions)),
        "the two maps are swapped: return (index -> description, first name -> index)",
    )
    asserts.require(
        isinstance(descriptions, dict) and sorted(descriptions) == list(range(len(wnids))),
        f"output[0]: expected a dict with the class indices 0..{len(wnids) - 1} as keys, got "
        f"{asserts.describe(descriptions)}",
    )
    asserts.require(
        sorted(descriptions.values()) == sorted(words[wnid] for wnid in wnids),
        "output[0]: the values must be the full descriptions (words[wnid]) of the given wnids",
    )
    asserts.require(
        isinstance(names, dict)
        and all(isinstance(k, str) and type(v) is int for k, v in names.items()),
        f"output[1]: expected a dict of str names -> int class indices, got "
        f"{asserts.describe(names)}",
    )


def maps_order(actual: Any, expected: Any, context: Context) -> None:
    """Class ``i`` is ``wnids[i]``."""
    wnids, words = context.inputs["wnids"], context.inputs["words"]
    asserts.require(
        all(actual[0][i] == words[wnid] for i, wnid in enumerate(wnids)),
        "class i must be wnids[i] (wnids comes sorted): index -> words[wnids[i]]",
    )


maps_case = family(
    "class_name_maps",
    maps_inputs,
    call=positional("wnids", "words"),
    compare=all_of(maps_structure, maps_order, EXACT),
)


# --- load_val_labels -----------------------------------------------------------------------


def labels_inputs(
    workdir: Path, *, rows: int, classes: int, unknown_at: int | None = None
) -> Inputs:
    """``val_annotations.txt`` with ``rows`` lines (tab separated, box columns included)."""
    g = generator(rows)
    wnids = [_wnid(i) for i in range(classes)]
    lines = []
    for row in range(rows):
        wnid = wnids[int(torch.randint(0, classes, (1,), generator=g))]
        if row == unknown_at:
            wnid = "n99999999"
        lines.append(f"val_{row}.JPEG\t{wnid}\t0\t1\t60\t61\n")
    path = workdir / "val_annotations.txt"
    path.write_text("".join(lines))
    inputs = {"path": str(path), "class_to_idx": {w: i for i, w in enumerate(sorted(wnids))}}
    if unknown_at is not None:
        inputs["unknown_line"] = (unknown_at + 1, lines[unknown_at].rstrip("\n"))
    return inputs


def labels_call(function, inputs: Inputs) -> Any:
    """The labels, or the type and message of the KeyError raised."""
    try:
        return function(inputs["path"], inputs["class_to_idx"])
    except KeyError as error:
        return {"error": "KeyError", "message": str(error)[:1000]}


def labels_pairs(actual: Any, expected: Any, context: Context) -> None:
    """A list with a (file name, int label) pair per line, labels among class_to_idx's."""
    if isinstance(actual, dict) and actual.get("error") == "KeyError":
        asserts.require(
            "unknown_line" in context.inputs,
            "raised KeyError although every wnid of the file is in class_to_idx",
        )
        return
    labels = set(context.inputs["class_to_idx"].values())
    asserts.require(
        isinstance(actual, list),
        f"output: expected a list of pairs, got {asserts.describe(actual)}",
    )
    for index, pair in enumerate(actual):
        asserts.require(
            isinstance(pair, (list, tuple))
            and len(pair) == 2
            and isinstance(pair[0], str)
            and type(pair[1]) is int,
            f"output[{index}]: expected a (file name, int label) pair, got "
            f"{asserts.describe(pair)}",
        )
        asserts.require(
            pair[1] in labels, f"output[{index}]: the label must be a value of class_to_idx"
        )


def labels_values(actual: Any, expected: Any, context: Context) -> None:
    """The reference's pairs in file order; an unknown wnid raises a KeyError whose message
    names the file and the line (its number or its text)."""
    if "unknown_line" not in context.inputs:
        asserts.assert_close(actual, expected, rtol=0, atol=0)
        return
    asserts.require(
        isinstance(actual, dict) and actual.get("error") == "KeyError",
        "no KeyError for an unknown wnid: raise one naming the file and the line",
    )
    number, line = context.inputs["unknown_line"]
    message = actual["message"]
    asserts.require(
        Path(context.inputs["path"]).name in message,
        "the KeyError's message must name the file (val_annotations.txt)",
    )
    # the file's path (the sandbox's own folder, random digits included) does not name a line
    rest = re.sub(r"[^\s'\"]*" + re.escape(Path(context.inputs["path"]).name), "", message)
    asserts.require(
        re.search(rf"(?<!\d){number}(?!\d)", rest) is not None or line.split("\t")[0] in message,
        "the KeyError's message must name the line: its number (the first line is 1) or its text",
    )


labels_case = family(
    "load_val_labels",
    labels_inputs,
    call=labels_call,
    compare=all_of(labels_pairs, labels_values),
)


# --- pick_per_class ------------------------------------------------------------------------


def pick_inputs(
    workdir: Path, *, seed: int, n: int, classes: int, per_class: int, tensor: bool = False
) -> Inputs:
    labels = torch.randint(0, classes, (n,), generator=generator(seed))
    return {"labels": labels if tensor else labels.tolist(), "n_per_class": per_class}


def _labels(context: Context) -> list[int]:
    return [int(label) for label in context.inputs["labels"]]


def pick_indices(actual: Any, expected: Any, context: Context) -> None:
    """A list of distinct valid indices (Python ints) that picks every class at least once."""
    labels = _labels(context)
    asserts.require(
        isinstance(actual, list) and all(type(i) is int for i in actual),
        f"output: expected a list of Python ints, got {asserts.describe(actual)}",
    )
    asserts.require(
        all(0 <= i < len(labels) for i in actual),
        f"output: every index must lie in 0..{len(labels) - 1} (the positions in labels)",
    )
    asserts.require(len(set(actual)) == len(actual), "output: an index appears more than once")
    asserts.require(
        {labels[i] for i in actual} == set(labels),
        "output: every class in labels must get at least one index",
    )


def pick_grouped(actual: Any, expected: Any, context: Context) -> None:
    """Indices grouped by class in ascending class order, the first ones of each class."""
    labels = _labels(context)
    picked = [labels[i] for i in actual]
    first = True
    for cls in set(picked):
        chosen = [i for i in actual if labels[i] == cls]
        first &= chosen == [i for i, label in enumerate(labels) if label == cls][: len(chosen)]
    asserts.require(
        picked == sorted(picked) and first,
        "indices must be grouped by class in ascending class order, the first n of each class",
    )


pick_case = family(
    "pick_per_class",
    pick_inputs,
    call=positional("labels", "n_per_class"),
    compare=all_of(pick_indices, pick_grouped, EXACT),
)


# --- random_split_indices ------------------------------------------------------------------


def split_inputs(workdir: Path, *, n: int, fractions: tuple[float, ...], seed: int) -> Inputs:
    return {"n": n, "fractions": fractions, "seed": seed}


def same_as_random_split(actual: Any, expected: Any, context: Context) -> None:
    """The same index lists as torch.utils.data.random_split with a generator seeded by seed."""
    inputs = context.inputs
    parts = torch.utils.data.random_split(
        range(inputs["n"]),
        inputs["fractions"],
        generator=torch.Generator().manual_seed(inputs["seed"]),
    )
    asserts.assert_close(actual, [list(part.indices) for part in parts], rtol=0, atol=0)


def split_sizes(n: int, fractions: tuple[float, ...]) -> list[int]:
    """``floor(n * fraction)`` each, the remainder handed one by one to the first parts."""
    sizes = [math.floor(n * fraction) for fraction in fractions]
    for i in range(n - sum(sizes)):
        sizes[i % len(sizes)] += 1
    return sizes


def split_parts(actual: Any, expected: Any, context: Context) -> None:
    """One list of Python ints per fraction, sized as documented, together all of range(n)."""
    n, fractions = context.inputs["n"], context.inputs["fractions"]
    asserts.require(
        isinstance(actual, list)
        and len(actual) == len(fractions)
        and all(isinstance(part, list) for part in actual),
        f"output: expected a list of {len(fractions)} lists (one per fraction), got "
        f"{asserts.describe(actual)}",
    )
    asserts.require(
        all(type(i) is int for part in actual for i in part),
        "output: the indices must be Python ints (use .tolist())",
    )
    asserts.require(
        sorted(i for part in actual for i in part) == list(range(n)),
        f"output: the parts together must hold each of 0..{n - 1} exactly once",
    )
    asserts.require(
        [len(part) for part in actual] == split_sizes(n, fractions),
        "part sizes must be floor(n * fraction), the remainder handed one by one to the first "
        "parts",
    )


def split_order(actual: Any, expected: Any, context: Context) -> None:
    """The shuffled order of torch.randperm with a generator seeded by seed."""
    sizes_match = isinstance(actual, list) and [len(p) for p in actual] == [
        len(p) for p in expected
    ]
    asserts.require(
        not sizes_match or actual == expected,
        "the order must be torch.randperm(n, generator=torch.Generator().manual_seed(seed))",
    )


split_case = family(
    "random_split_indices",
    split_inputs,
    call=positional("n", "fractions", seed="seed"),
    compare=all_of(split_order, EXACT),
)


# --- TransformedSubset ---------------------------------------------------------------------


def double(image: torch.Tensor) -> torch.Tensor:
    return image * 2


def subset_inputs(workdir: Path, *, size: int, indices: list[int], transform: bool) -> Inputs:
    g = generator(size)
    dataset = [(torch.rand(3, 4, 4, generator=g), i % 3) for i in range(size)]
    return {"dataset": dataset, "indices": indices, "transform": double if transform else None}


def subset_call(cls, inputs: Inputs) -> Any:
    subset = cls(inputs["dataset"], inputs["indices"], inputs["transform"])
    return {"len": len(subset), "items": [subset[i] for i in range(len(subset))]}


def subset_items(actual: Any, expected: Any, context: Context) -> None:
    """As many items as indices, each an (image, label) pair."""
    size = len(context.inputs["indices"])
    asserts.require(
        isinstance(actual, dict) and actual.get("len") == size,
        f"len(subset) must be len(indices) = {size}",
    )
    for index, item in enumerate(actual["items"]):
        asserts.require(
            isinstance(item, (list, tuple))
            and len(item) == 2
            and isinstance(item[0], torch.Tensor),
            f"item {index}: expected an (image, label) pair, got {asserts.describe(item)}",
        )


def subset_sources(actual: Any, expected: Any, context: Context) -> None:
    """Item i comes from dataset[indices[i]], with or without the transform."""
    dataset, indices = context.inputs["dataset"], context.inputs["indices"]
    for index, item in enumerate(actual["items"]):
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            continue
        image, label = dataset[indices[index]]
        same = any(
            isinstance(item[0], torch.Tensor)
            and item[0].shape == candidate.shape
            and torch.equal(item[0], candidate)
            for candidate in (image, double(image))
        )
        asserts.require(same and item[1] == label, "item i must be dataset[indices[i]]")


subset_case = family(
    "TransformedSubset",
    subset_inputs,
    call=subset_call,
    compare=all_of(subset_sources, EXACT),
)
