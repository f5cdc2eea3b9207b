"""CACD (Cross-Age Celebrity Dataset): metadata in both .mat versions, decade folders, splits.

The metadata comes as ``celebrity2000_meta.mat`` (MATLAB v5: scipy reads it; a struct
``celebrityImageData`` whose fields are (N, 1) arrays and a cell array of file names) and as
``celebrity2000.mat`` (MATLAB v7.3, which is HDF5: h5py reads it; fields are (1, N) doubles and
the names are references to UTF-16 character arrays in ``#refs#``). ``load_cacd_meta`` reads
either into one table; the images are then copied into ``10s/ 20s/ ...`` folders and split.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io

from course_lib.data.splits import stratified_split_indices
from course_lib.utils import progress

logger = logging.getLogger(__name__)

IMAGE_STRUCT = "celebrityImageData"  # one entry per image
PEOPLE_STRUCT = "celebrityData"  # one entry per celebrity
META_COLUMNS = ("age", "identity", "year", "rank", "lfw", "birth", "name")
IMAGE_FIELDS = ("age", "identity", "year", "feature", "rank", "lfw", "birth", "name")  # file order
PEOPLE_FIELDS = ("name", "identity", "birth", "rank", "lfw")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_EXPECTED = "a CACD metadata file (celebrity2000_meta.mat or celebrity2000.mat)"


def mat_version(path: str | Path) -> str:
    """ "5" or "7.3", read from the 128-byte MATLAB header (v7.3 files are HDF5 behind it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected {_EXPECTED}")
    with path.open("rb") as file:
        header = file.read(128)
    if header.startswith(HDF5_SIGNATURE):  # HDF5 without the MATLAB header
        return "7.3"
    if len(header) == 128 and header.startswith(b"MATLAB"):
        order = "little" if header[126:128] == b"IM" else "big"
        version = int.from_bytes(header[124:126], order)
        if version in (0x0100, 0x0200):
            return "5" if version == 0x0100 else "7.3"
    raise ValueError(
        f"{path} is not a MATLAB v5 or v7.3 .mat file (it starts with {header[:16]!r}); "
        f"expected {_EXPECTED}"
    )


def image_struct(path: str | Path, container) -> h5py.Group | np.void:
    """``celebrityImageData`` from a ``scipy.io.loadmat`` dict or an open ``h5py.File``, checked
    for the fields of CACD; errors name the file and what it holds instead."""
    struct = container.get(IMAGE_STRUCT)
    if isinstance(struct, h5py.Group):
        fields = list(struct.keys())
    elif isinstance(struct, np.ndarray) and struct.dtype.names and struct.size == 1:
        struct, fields = struct.reshape(-1)[0], list(struct.dtype.names)
    else:
        found = sorted(key for key in container.keys() if not key.startswith(("__", "#")))
        raise KeyError(
            f"{path} has no struct {IMAGE_STRUCT!r} (it holds {found}); expected {_EXPECTED}"
        )
    missing = [key for key in META_COLUMNS if key not in fields]
    if missing:
        raise KeyError(
            f"struct {IMAGE_STRUCT!r} in {path} lacks the fields {missing} "
            f"(it has {sorted(fields)}); expected {list(META_COLUMNS)}"
        )
    lengths = {key: int(np.size(struct[key])) for key in META_COLUMNS}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"fields of {IMAGE_STRUCT!r} in {path} differ in length: {lengths}")
    return struct


def load_cacd_meta(path: str | Path) -> pd.DataFrame:
    """One row per image of a CACD .mat file (v5 or v7.3), in file order.

    Columns ``META_COLUMNS`` in this order: age, identity, year, rank, lfw, birth (int64) and
    name (str, decoded from UTF-16 in v7.3 files).
    """
    ### BEGIN SOLUTION a4_age
    path = Path(path)
    if mat_version(path) == "7.3":  # HDF5: numbers as (1, N) doubles, names as references
        with h5py.File(path, "r") as file:
            struct = image_struct(path, file)
            columns = {key: struct[key][()].ravel() for key in META_COLUMNS[:-1]}
            columns["name"] = [
                file[ref][()].ravel().astype("<u2").tobytes().decode("utf-16-le")
                for ref in struct["name"][()].ravel()
            ]
    else:  # MATLAB v5: a 1 x 1 struct of (N, 1) arrays; names a cell array of char arrays
        struct = image_struct(path, scipy.io.loadmat(path))
        columns = {key: struct[key].ravel() for key in META_COLUMNS[:-1]}
        columns["name"] = [str(cell.item()) for cell in struct["name"].ravel()]
    meta = pd.DataFrame(columns)
    return meta.astype({key: "int64" for key in META_COLUMNS[:-1]})
    ### END SOLUTION


def age_group(age: float) -> str:
    """The decade folder (a str) of an age: 23 -> "20s", 19.9 -> "10s" (fractions round down),
    100 and over -> "100s"."""
    ### BEGIN SOLUTION a4_age
    return f"{min(int(age) // 10 * 10, 100)}s"
    ### END SOLUTION


def select_per_group(
    meta: pd.DataFrame, *, per_group: int = 200, seed: int = 0
) -> dict[str, list[str]]:
    """At most ``per_group`` image names per age group, groups by ascending age.

    One ``np.random.default_rng(seed)`` serves all groups in that order: every group of n images
    (in file order), also one of at most ``per_group``, draws ``rng.permutation(n)`` and keeps its
    first ``per_group`` positions, listed in file order. Returns ``{group: names}`` with the
    groups (``age_group``) by ascending age, "100s" last.
    """
    ### BEGIN SOLUTION a4_age
    rng = np.random.default_rng(seed)
    groups = meta["age"].map(age_group)
    chosen = {}
    for group in sorted(groups.unique(), key=lambda name: int(name[:-1])):
        names = meta.loc[groups == group, "name"].tolist()
        keep = np.sort(rng.permutation(len(names))[:per_group])
        chosen[group] = [names[i] for i in keep]
    return chosen
    ### END SOLUTION


def _copy_all(out_dir: Path, pairs: list[tuple[Path, Path]], *, desc: str) -> None:
    """Copy every (source, target), each through a temporary file and ``os.replace``.

    Targets already there are complete (written atomically) and skipped, so a re-run after an
    interruption finishes the job. Files in ``out_dir`` that this run would not write mean it
    was filled with other options: that is an error, not something to mix with.
    """
    targets = {target for _, target in pairs}
    if out_dir.exists():
        strangers = [
            p
            for p in out_dir.rglob("*")
            if p.is_file() and not p.name.startswith(".") and p not in targets
        ]
        if strangers:
            raise FileExistsError(
                f"{out_dir} already holds {len(strangers)} files this run would not write "
                f"(e.g. {strangers[0]}); it was filled with other options. Use an empty folder."
            )
    for source, target in progress(pairs, desc=desc):
        if target.is_file() and target.stat().st_size == source.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.part")
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)


def organize_by_decade(
    meta: pd.DataFrame,
    image_dir: str | Path,
    out_dir: str | Path,
    *,
    per_group: int = 200,
    seed: int = 0,
    skip_missing: bool = False,
    select: Callable[..., dict[str, list[str]]] = select_per_group,
) -> dict[str, int]:
    """Copy at most ``per_group`` images per age group into ``out_dir/<group>/``; return counts.

    ``meta`` is the table from ``load_cacd_meta``; ``select`` chooses the names. Chosen images
    missing from ``image_dir`` are an error listing them, or with ``skip_missing`` a warning
    (their groups then hold fewer). Sources are only read; re-running finishes the job.
    """
    image_dir, out_dir = Path(image_dir), Path(out_dir)
    if not image_dir.is_dir():
        raise FileNotFoundError(f"{image_dir} is not a folder; expected the CACD2000 image folder")
    chosen = select(meta, per_group=per_group, seed=seed)
    missing = [
        name for names in chosen.values() for name in names if not (image_dir / name).is_file()
    ]
    if missing:
        listing = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        if not skip_missing:
            raise FileNotFoundError(
                f"{len(missing)} chosen images are missing from {image_dir}: {listing}. "
                "Point image_dir to the CACD2000 folder, or leave them out with "
                "skip_missing=True (--skip-missing)."
            )
        logger.warning("skipping %d images missing from %s: %s", len(missing), image_dir, listing)
        absent = set(missing)
        chosen = {group: [n for n in names if n not in absent] for group, names in chosen.items()}
    pairs = [(image_dir / n, out_dir / group / n) for group, names in chosen.items() for n in names]
    _copy_all(out_dir, pairs, desc="organize")
    return {group: len(names) for group, names in chosen.items()}


def split_train_val(
    src: str | Path,
    dst: str | Path,
    *,
    test_size: float = 0.2,
    seed: int = 42,
    split: Callable[..., tuple[list[int], list[int]]] = stratified_split_indices,
) -> dict[str, dict[str, int]]:
    """Copy ``src/<group>/*`` into ``dst/train/<group>/`` and ``dst/val/<group>/`` (ImageFolder
    layout), stratified by group; return the counts per subset and group."""
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"{src} is not a folder; expected <group>/ folders of images")
    if dst.resolve().is_relative_to(src.resolve()):
        raise ValueError(f"destination {dst} lies inside the source {src}; choose another place")
    groups = sorted(p.name for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not groups:
        raise FileNotFoundError(f"{src} has no group folders; expected {src}/<group>/<image>")
    files, labels = [], []
    for label, group in enumerate(groups):
        images = sorted(
            p for p in (src / group).iterdir() if p.is_file() and not p.name.startswith(".")
        )
        if len(images) < 2:
            raise ValueError(
                f"{src / group} holds {len(images)} image(s); a stratified split needs 2 per group"
            )
        files += images
        labels += [label] * len(images)
    train, val = split(labels, test_size=test_size, seed=seed)
    subsets = {"train": train, "val": val}
    pairs = [
        (files[i], dst / name / files[i].parent.name / files[i].name)
        for name, indices in subsets.items()
        for i in indices
    ]
    _copy_all(dst, pairs, desc="split")
    return {
        name: {g: sum(labels[i] == k for i in indices) for k, g in enumerate(groups)}
        for name, indices in subsets.items()
    }
