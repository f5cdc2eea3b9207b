"""``python -m data_tools cacd ...``: CACD metadata, decade folders and the train/val split.

python -m data_tools cacd inspect data/celebrity2000_meta.mat
python -m data_tools cacd organize data/celebrity2000_meta.mat data/CACD2000 data/sorted
python -m data_tools cacd split data/sorted data/sorted_split --test-size 0.2 --seed 42
"""

from __future__ import annotations

import argparse
from pathlib import Path

from course_lib.data.cacd import (
    age_group,
    load_cacd_meta,
    mat_version,
    organize_by_decade,
    split_train_val,
)


def _inspect(args: argparse.Namespace) -> int:
    meta = load_cacd_meta(args.mat)
    print(
        f"{args.mat}: MATLAB v{mat_version(args.mat)}, {len(meta)} images of "
        f"{meta['identity'].nunique()} people, ages {meta['age'].min()}-{meta['age'].max()}, "
        f"years {meta['year'].min()}-{meta['year'].max()}"
    )
    groups = meta["age"].map(age_group)
    for group in sorted(groups.unique(), key=lambda name: int(name[:-1])):
        print(f"  {group:>5}: {int((groups == group).sum())} images")
    return 0


def _organize(args: argparse.Namespace) -> int:
    counts = organize_by_decade(
        load_cacd_meta(args.mat),
        args.images,
        args.out,
        per_group=args.per_group,
        seed=args.seed,
        skip_missing=args.skip_missing,
    )
    print(f"{sum(counts.values())} images in {args.out}: {counts}")
    return 0


def _split(args: argparse.Namespace) -> int:
    counts = split_train_val(args.src, args.dst, test_size=args.test_size, seed=args.seed)
    for subset, groups in counts.items():
        print(f"{args.dst / subset}: {sum(groups.values())} images {groups}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``cacd`` with its actions ``inspect``, ``organize`` and ``split``."""
    parser = subparsers.add_parser(
        "cacd",
        help="CACD metadata, decade folders, train/val split",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    inspect = actions.add_parser("inspect", help="version, counts and age groups of a .mat file")
    inspect.add_argument("mat", type=Path, help="celebrity2000_meta.mat or celebrity2000.mat")
    inspect.set_defaults(func=_inspect)

    organize = actions.add_parser("organize", help="copy images into 10s/ 20s/ ... folders")
    organize.add_argument("mat", type=Path, help="celebrity2000_meta.mat or celebrity2000.mat")
    organize.add_argument("images", type=Path, help="the CACD2000 image folder (only read)")
    organize.add_argument("out", type=Path, help="output folder, new or from the same options")
    organize.add_argument("--per-group", type=int, default=200, help="cap per group (200)")
    organize.add_argument("--seed", type=int, default=0, help="seed of the choice (default 0)")
    organize.add_argument(
        "--skip-missing", action="store_true", help="warn about missing images instead of failing"
    )
    organize.set_defaults(func=_organize)

    split = actions.add_parser("split", help="stratified train/ and val/ in ImageFolder layout")
    split.add_argument("src", type=Path, help="folder of <group>/ folders (from organize)")
    split.add_argument("dst", type=Path, help="output folder for train/ and val/")
    split.add_argument("--test-size", type=float, default=0.2, help="val fraction (0.2)")
    split.add_argument("--seed", type=int, default=42, help="seed of the split (default 42)")
    split.set_defaults(func=_split)
    return parser
