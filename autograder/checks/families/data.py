"""Check families of the Tiny ImageNet data functions: maps, val labels, splits, subsets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from autograder import asserts
from autograder.checks.common import close, family, generator, positional
from autograder.spec import Context, Inputs

EXACT = close(rtol=0, atol=0)


def _wnid(index: int) -> str:
    return f"n{1443537 + 7919 * index:08d}"


# --- class_name_maps -----------------------------------------------------------------------


def maps_inputs(
    workdir: Path, *, classes: int, extra: int = 0, single_names: bool = False
) -> Inputs:
    """``classes`` wnids (not sorted) and a words table with ``extra`` unrelated entries."""
    wnids = [_wnid(i) for i in range(classes + extra)]
    words = {
        wnid: f"thing {i}" if single_names else f"thing {i}, other name {i}, third {i}"
        for i, wnid in enumerate(wnids)
    }
    chosen = wnids[:classes][::-1]
    return {"wnids": chosen, "words": words}


maps_case = family("class_name_maps", maps_inputs, call=positional("wnids", "words"), compare=EXACT)


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
    return {"path": str(path), "class_to_idx": {w: i for i, w in enumerate(sorted(wnids))}}


def labels_call(function, inputs: Inputs) -> Any:
    """The labels, or how the KeyError for an unknown wnid is reported."""
    try:
        return function(inputs["path"], inputs["class_to_idx"])
    except KeyError as error:
        text = str(error)
        rest = text.replace(inputs["path"], "")
        return {
            "error": "KeyError",
            "names_file": "val_annotations.txt" in text,
            "names_line": re.search(r"\b3\b", rest) is not None,
        }


labels_case = family("load_val_labels", labels_inputs, call=labels_call, compare=EXACT)


# --- pick_per_class ------------------------------------------------------------------------


def pick_inputs(
    workdir: Path, *, seed: int, n: int, classes: int, per_class: int, tensor: bool = False
) -> Inputs:
    labels = torch.randint(0, classes, (n,), generator=generator(seed))
    return {"labels": labels if tensor else labels.tolist(), "n_per_class": per_class}


pick_case = family(
    "pick_per_class", pick_inputs, call=positional("labels", "n_per_class"), compare=EXACT
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


split_case = family(
    "random_split_indices",
    split_inputs,
    call=positional("n", "fractions", seed="seed"),
    compare=EXACT,
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


subset_case = family("TransformedSubset", subset_inputs, call=subset_call, compare=EXACT)
