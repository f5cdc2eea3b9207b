"""Check families of the CACD functions: metadata files, decades, capped groups, split.

Property comparisons (columns, types, the documented rules) run before the value comparisons,
with messages that name the usual mistake, and serve alone as ``reference=False`` cases worth
part of the points.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autograder import asserts
from autograder.checks.common import all_of, close, family, positional
from autograder.spec import Context, Inputs

EXACT = close(rtol=0, atol=0)

# --- load_cacd_meta ------------------------------------------------------------------------


def _tables(seed: int, people: int, per_person: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CACD's two tables: ``celebrityImageData`` rows and ``celebrityData`` rows."""
    rng = np.random.default_rng(seed)
    accents = ("é", "ł", "")  # one inside Latin-1, one outside it
    names = [f"Person_{chr(65 + i)}{accents[i % 3]}" for i in range(people)]
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
    return {"path": str(path), "rows": len(images)}


def meta_properties(actual: Any, expected: Any, context: Context) -> None:
    """A DataFrame of the documented columns in order, int64 numbers, str names, a row per image."""
    from course_lib.data.cacd import META_COLUMNS

    asserts.require(
        isinstance(actual, pd.DataFrame),
        f"output: expected a pandas DataFrame, got {asserts.describe(actual)}",
    )
    asserts.require(
        list(actual.columns) == list(META_COLUMNS),
        f"output: expected the columns {list(META_COLUMNS)} in this order, got "
        f"{[str(c) for c in actual.columns][:10]}",
    )
    rows = context.inputs["rows"]
    asserts.require(
        len(actual) == rows,
        f"output: expected one row per image, got {len(actual)} rows: v5 fields are (N, 1) and "
        "v7.3 fields (1, N) arrays; ravel() them to N values",
    )
    for name in META_COLUMNS[:-1]:
        dtype = str(actual[name].dtype)
        asserts.require(
            dtype == "int64",
            f"output[{name!r}]: expected int64, got {dtype}: cast the numbers "
            "(.astype('int64')); MATLAB stores them as doubles or small integers",
        )
    names = actual["name"].tolist()
    odd = next((v for v in names if not isinstance(v, str)), None)
    asserts.require(
        odd is None,
        f"output['name']: expected str values, got {asserts.describe(odd)}: take the text out "
        "of each cell (v5: cell.item(); v7.3: decode the UTF-16 codes)",
    )
    asserts.require(
        not any("\x00" in v for v in names),
        "output['name']: names contain NUL characters: the v7.3 codes are UTF-16, decode them "
        "with codes.astype('<u2').tobytes().decode('utf-16-le')",
    )


def _first_difference(got: list, want: list) -> str:
    index = next(i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
    return f"row {index}: expected {want[index]!r}, got {got[index]!r}"


def meta_values(actual: Any, expected: Any, context: Context) -> None:
    """The file's values, rows in file order."""
    for name in expected.columns:
        got, want = actual[name].tolist(), expected[name].tolist()
        if got == want:
            continue
        if sorted(got) == sorted(want):
            asserts.fail(f"output[{name!r}]: the right values in another order: keep file order")
        if name == "name":
            asserts.fail(
                "output['name']: some names are decoded wrongly: each v7.3 code is a 16-bit "
                "UTF-16 unit, decode with codes.astype('<u2').tobytes().decode('utf-16-le')",
                detail=f"first difference: {_first_difference(got, want)}",
            )
        asserts.assert_close(got, want, where=f"output[{name!r}]")


meta_case = family(
    "load_cacd_meta",
    meta_inputs,
    call=positional("path"),
    compare=all_of(meta_properties, meta_values),
    timeout=20,
)


# --- age_group -----------------------------------------------------------------------------


def ages_inputs(workdir: Path, *, ages: list[float]) -> Inputs:
    return {"ages": ages}


def ages_call(function, inputs: Inputs) -> Any:
    return [function(age) for age in inputs["ages"]]


def _shown(age: float, group: str, context: Context) -> str:
    """`` (age A gave 'G')`` on public cases, nothing on hidden ones."""
    return "" if context.case.hidden else f" (age {age} gave {group!r})"


def _age_groups(actual: Any, context: Context) -> list[int]:
    """The decade number of each output, after checking one str "<number>s" per age."""
    ages = context.inputs["ages"]
    asserts.require(
        isinstance(actual, list) and len(actual) == len(ages),
        f"output: expected one group per age, got {asserts.describe(actual)}",
    )
    decades = []
    for age, group in zip(ages, actual, strict=True):
        asserts.require(
            isinstance(group, str), f"expected a str such as '20s', got {asserts.describe(group)}"
        )
        match = re.fullmatch(r"(-?\d+)s", group)
        asserts.require(
            match is not None,
            f"expected the folder name of a decade such as '20s'{_shown(age, group, context)}",
        )
        decades.append(int(match[1]))
    return decades


def age_format(actual: Any, expected: Any, context: Context) -> None:
    """One str per age, each the folder name of a decade: a multiple of 10 and "s"."""
    ages = context.inputs["ages"]
    for age, group, decade in zip(ages, actual, _age_groups(actual, context), strict=True):
        asserts.require(
            decade >= 0 and decade % 10 == 0,
            "expected the folder name of a decade, a multiple of 10 followed by 's'"
            + _shown(age, group, context),
        )


def age_rules(actual: Any, expected: Any, context: Context) -> None:
    """A str "<decade>s" per age: its decade rounded down, 100 and over in "100s"."""
    ages = context.inputs["ages"]
    for age, group, decade in zip(ages, actual, _age_groups(actual, context), strict=True):
        shown = _shown(age, group, context)
        if age >= 100:
            asserts.require(decade == 100, f"ages of 100 and over all go to '100s'{shown}")
        elif decade != int(age) // 10 * 10:
            if decade == round(age) // 10 * 10:
                hint = "fractional ages round down (int(age) // 10 * 10)"
            elif decade == int(age) // 10 * 10 - 10:
                hint = "a decade starts at age // 10 * 10: 10 to 19 is '10s', not '0s'"
            else:
                hint = "the decade of an age is int(age) // 10 * 10: 20 to 29 is '20s'"
            asserts.fail(f"{hint}{shown}")


age_case = family("age_group", ages_inputs, call=ages_call, compare=all_of(age_rules, EXACT))


# --- select_per_group ----------------------------------------------------------------------


def select_inputs(workdir: Path, *, seed: int, n: int, per_group: int, oldest: int = 75) -> Inputs:
    rng = np.random.default_rng(seed)
    ages = rng.integers(14, oldest, n)
    meta = pd.DataFrame({"age": ages, "name": [f"{a}_img_{i:03d}.jpg" for i, a in enumerate(ages)]})
    return {"meta": meta, "per_group": per_group, "seed": seed}


def _decade(age: int) -> int:
    return min(int(age) // 10 * 10, 100)


def _groups(meta: pd.DataFrame) -> dict[str, list[str]]:
    """Every name by decade folder, in file order, decades ascending."""
    groups: dict[int, list[str]] = {}
    for age, name in zip(meta["age"], meta["name"], strict=True):
        groups.setdefault(_decade(age), []).append(name)
    return {f"{decade}s": groups[decade] for decade in sorted(groups)}


def select_properties(actual: Any, expected: Any, context: Context) -> None:
    """Every decade by ascending age, with min(per_group, n) of its names each, in file order."""
    inputs = context.inputs
    groups, cap = _groups(inputs["meta"]), inputs["per_group"]
    asserts.require(
        isinstance(actual, dict), f"output: expected a dict, got {asserts.describe(actual)}"
    )
    asserts.require(
        sorted(actual) == sorted(groups),
        "output: expected one key per decade present in the metadata, such as '20s'",
        detail=f"expected {list(groups)}, got {list(actual)[:12]}",
    )
    asserts.require(
        list(actual) == list(groups),
        "output: the groups must come by ascending age ('90s' before '100s'): sort them by their "
        "number, not as strings",
    )
    for group, names in actual.items():
        mine = groups[group]
        asserts.require(
            isinstance(names, list) and all(isinstance(n, str) for n in names),
            f"output[{group!r}]: expected a list of names (str), got {asserts.describe(names)}",
        )
        asserts.require(
            set(names) <= set(mine) and len(set(names)) == len(names),
            f"output[{group!r}]: holds names of other decades or repeats a name",
        )
        want = min(cap, len(mine))
        asserts.require(
            len(names) == want,
            f"output[{group!r}]: expected min(per_group, images of the group) names",
            detail=f"expected {want}, got {len(names)}",
        )
        order = [mine.index(n) for n in names]
        asserts.require(
            order == sorted(order),
            f"output[{group!r}]: the names are not in file order: sort the kept positions "
            "(np.sort) before taking the names",
        )


def _choose(
    meta: pd.DataFrame, cap: int, seed: int, *, shared: bool, permutation: bool, every: bool = True
) -> dict:
    """The documented choice (``shared`` generator, ``permutation`` drawn for ``every`` group) or
    a usual variant of it."""
    rng = np.random.default_rng(seed)
    chosen = {}
    for group, names in _groups(meta).items():
        rng = rng if shared else np.random.default_rng(seed)
        if not every and len(names) <= cap:
            keep = np.arange(len(names))
        elif permutation:
            keep = rng.permutation(len(names))[:cap]
        else:
            keep = rng.choice(len(names), min(cap, len(names)), replace=False)
        chosen[group] = [names[i] for i in np.sort(keep)]
    return chosen


def select_values(actual: Any, expected: Any, context: Context) -> None:
    """The names the documented generator keeps, group by group."""
    inputs = context.inputs
    if actual != expected:
        meta, cap, seed = inputs["meta"], inputs["per_group"], inputs["seed"]
        asserts.require(
            actual != _choose(meta, cap, seed, shared=False, permutation=True),
            "the choice matches a new default_rng(seed) for every group: one generator serves "
            "all groups in ascending order",
        )
        asserts.require(
            actual != _choose(meta, cap, seed, shared=True, permutation=False),
            "the choice matches rng.choice: keep the first per_group of rng.permutation(n)",
        )
        asserts.require(
            actual != _choose(meta, cap, seed, shared=True, permutation=True, every=False),
            "the choice matches drawing only for groups larger than per_group: draw "
            "rng.permutation(n) for every group, also one smaller than per_group, so that the "
            "later groups get the same draws",
        )
    asserts.assert_close(actual, expected, rtol=0, atol=0)


select_case = family(
    "select_per_group",
    select_inputs,
    call=positional("meta", per_group="per_group", seed="seed"),
    compare=all_of(select_properties, select_values),
)


# --- stratified_split_indices --------------------------------------------------------------


def stratified_inputs(workdir: Path, *, seed: int, counts: list[int], test_size: float) -> Inputs:
    labels = [label for label, count in enumerate(counts) for _ in range(count)]
    order = np.random.default_rng(seed).permutation(len(labels))
    return {"labels": [labels[i] for i in order], "test_size": test_size, "seed": seed}


def split_properties(actual: Any, expected: Any, context: Context) -> None:
    """Python int lists (train, test): disjoint, covering all, sklearn's size, class shares kept."""
    labels, test_size = context.inputs["labels"], context.inputs["test_size"]
    n = len(labels)
    asserts.require(
        isinstance(actual, (tuple, list)) and len(actual) == 2,
        f"output: expected a tuple (train, test), got {asserts.describe(actual)}",
    )
    for name, part in zip(("train", "test"), actual, strict=True):
        asserts.require(
            isinstance(part, list),
            f"{name}: expected a list, got {asserts.describe(part)}: convert with "
            "[int(i) for i in ...]",
        )
        asserts.require(
            all(isinstance(i, int) and not isinstance(i, bool) for i in part),
            f"{name}: expected Python ints, got {asserts.describe(next(iter(part), None))}",
        )
    train, test = actual
    want = math.ceil(test_size * n)
    if len(train) == want and len(test) == n - want:
        asserts.fail("the first list is the test part: return (train, test) in that order")
    asserts.require(
        sorted(train + test) == list(range(n)),
        "train and test must be disjoint and together hold every index 0 ... n-1 once (split "
        "the indices, not the labels)",
    )
    asserts.require(
        len(test) == want,
        "test: expected ceil(test_size * n) indices, as train_test_split gives",
        detail=f"expected {want}, got {len(test)}",
    )
    for label in sorted(set(labels)):
        count = sum(1 for y in labels if y == label)
        inside = sum(1 for i in test if labels[i] == label)
        asserts.require(
            abs(inside - test_size * count) <= 1,
            "a class's share of the test part differs from its share of the labels: pass "
            "stratify=labels",
            detail=f"class {label}: {inside} of its {count} indices in the test part",
        )


def split_values(actual: Any, expected: Any, context: Context) -> None:
    """The same (train, test) index lists as the reference, in its order."""
    for name, got, want in zip(("train", "test"), actual, expected, strict=True):
        asserts.require(
            got == want or sorted(got) != sorted(want),
            f"{name}: the right indices in another order: keep train_test_split's order "
            "(do not sort them)",
        )
    EXACT(actual, expected, context)


stratified_case = family(
    "stratified_split_indices",
    stratified_inputs,
    call=positional("labels", test_size="test_size", seed="seed"),
    compare=all_of(split_properties, split_values),
)
