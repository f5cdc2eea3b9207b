"""Check families of the CACD functions: metadata files, decades, capped groups, split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autograder import asserts
from autograder.checks.common import close, family, positional
from autograder.spec import Context, Inputs

EXACT = close(rtol=0, atol=0)

# --- load_cacd_meta ------------------------------------------------------------------------


def _tables(seed: int, people: int, per_person: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CACD's two tables: ``celebrityImageData`` rows and ``celebrityData`` rows."""
    rng = np.random.default_rng(seed)
    names = [f"Person_{chr(65 + i)}{'é' if i % 3 == 0 else ''}" for i in range(people)]
    persons = pd.DataFrame(
        {
            "name": names,
            "identity": np.arange(1, people + 1),
            "birth": rng.integers(1950, 1990, people),
            "rank": rng.integers(1, 50, people),
            "lfw": rng.integers(0, 2, people),
        }
    )
    rows = []
    for person in persons.itertuples():
        for number, year in enumerate(np.sort(rng.integers(2004, 2014, per_person)), start=1):
            rows.append(
                {
                    "age": int(year - person.birth),
                    "identity": person.identity,
                    "year": int(year),
                    "rank": person.rank,
                    "lfw": person.lfw,
                    "birth": person.birth,
                    "name": f"{year - person.birth}_{person.name}_{number:04d}.jpg",
                }
            )
    return pd.DataFrame(rows), persons


def meta_inputs(workdir: Path, *, version: str, seed: int, people: int, per_person: int) -> Inputs:
    """A metadata file in MATLAB v5 (``celebrity2000_meta.mat``) or v7.3 (``celebrity2000.mat``)."""
    from course_lib.data.synthetic.matfiles import write_meta_v5, write_meta_v73

    images, persons = _tables(seed, people, per_person)
    if version == "5":
        path = workdir / "celebrity2000_meta.mat"
        write_meta_v5(path, images, persons)
    else:
        path = workdir / "celebrity2000.mat"
        write_meta_v73(path, images, persons)
    return {"path": str(path)}


def meta_compare(actual: Any, expected: Any, context: Context) -> None:
    """Columns in the documented order, int64 numbers, str names, one row per image in order."""
    asserts.assert_frame(actual, expected)


meta_case = family(
    "load_cacd_meta", meta_inputs, call=positional("path"), compare=meta_compare, timeout=20
)


# --- age_group -----------------------------------------------------------------------------


def ages_inputs(workdir: Path, *, ages: list[float]) -> Inputs:
    return {"ages": ages}


def ages_call(function, inputs: Inputs) -> Any:
    return [function(age) for age in inputs["ages"]]


age_case = family("age_group", ages_inputs, call=ages_call, compare=EXACT)


# --- select_per_group ----------------------------------------------------------------------


def select_inputs(workdir: Path, *, seed: int, n: int, per_group: int) -> Inputs:
    rng = np.random.default_rng(seed)
    ages = rng.integers(14, 75, n)
    meta = pd.DataFrame({"age": ages, "name": [f"{a}_img_{i:03d}.jpg" for i, a in enumerate(ages)]})
    return {"meta": meta, "per_group": per_group, "seed": seed}


select_case = family(
    "select_per_group",
    select_inputs,
    call=positional("meta", per_group="per_group", seed="seed"),
    compare=EXACT,
)


# --- stratified_split_indices --------------------------------------------------------------


def stratified_inputs(workdir: Path, *, seed: int, counts: list[int], test_size: float) -> Inputs:
    labels = [label for label, count in enumerate(counts) for _ in range(count)]
    order = np.random.default_rng(seed).permutation(len(labels))
    return {"labels": [labels[i] for i in order], "test_size": test_size, "seed": seed}


def same_as_sklearn(actual: Any, expected: Any, context: Context) -> None:
    """The same (train, test) indices as sklearn's train_test_split(stratify=labels)."""
    from sklearn.model_selection import train_test_split

    inputs = context.inputs
    indices = list(range(len(inputs["labels"])))
    train, test = train_test_split(
        indices,
        test_size=inputs["test_size"],
        stratify=inputs["labels"],
        random_state=inputs["seed"],
    )
    asserts.assert_close(actual, ([int(i) for i in train], [int(i) for i in test]), rtol=0, atol=0)


stratified_case = family(
    "stratified_split_indices",
    stratified_inputs,
    call=positional("labels", test_size="test_size", seed="seed"),
    compare=EXACT,
)
