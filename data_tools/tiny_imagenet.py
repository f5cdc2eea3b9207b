"""``python -m data_tools tiny-imagenet ACTION``: verify, restructure-val, subset and cache.

python -m data_tools tiny-imagenet verify tiny-imagenet-200
python -m data_tools tiny-imagenet restructure-val tiny-imagenet-200 --dest val-folders --link
python -m data_tools tiny-imagenet subset tiny-imagenet-200 --dest tiny-10 --classes 10 \\
    --per-class 100 --seed 0
python -m data_tools tiny-imagenet cache tiny-imagenet-200 --split train --dest cache/train

The source dataset is only read. Every output file is written under a temporary name and
moved into place, so a run that is killed half-way leaves no half-written file, and running
the same command again finishes the job (files already correct are skipped).
"""

from __future__ import annotations

import argparse
import filecmp
import logging
import os
import random
import shutil
from pathlib import Path

from course_lib.data.cache import build_cache
from course_lib.data.tiny_imagenet import (
    TinyImageNet,
    existing_dir,
    list_images,
    read_class_maps,
    read_train_boxes,
    read_val_annotations,
)
from course_lib.data.verify import verify_tiny_imagenet
from course_lib.files import atomic_output
from course_lib.utils import progress

logger = logging.getLogger(__name__)


def place_file(src: Path, dst: Path, *, link: bool = False, dry_run: bool = False) -> bool:
    """Make ``dst`` a copy of (or a symlink to) ``src`` unless it already is; True if written."""
    src = src.resolve()
    if link and dst.is_symlink() and Path(os.readlink(dst)) == src:
        return False
    if not link and dst.is_file() and not dst.is_symlink() and filecmp.cmp(src, dst, False):
        return False
    if dry_run:
        return True
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")  # not an image suffix: ImageFolder never reads it
    tmp.unlink(missing_ok=True)  # a leftover of an interrupted run
    if link:
        os.symlink(src, tmp)
    else:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    return True


def _outside(root: Path, dest: Path) -> Path:
    root, dest = root.resolve(), Path(dest).resolve()
    if dest == root or root in dest.parents or dest in root.parents:
        raise ValueError(
            f"--dest {dest} overlaps the dataset {root}: choose a folder outside it "
            "(the source is never written to)"
        )
    return dest


def restructure_val(
    root: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    link: bool = False,
    dry_run: bool = False,
    show_progress: bool | None = None,
) -> dict[str, int]:
    """Write ``val/`` as ``dest/<wnid>/<file>`` (ImageFolder layout), copies or symlinks.

    Idempotent: files that are already right are skipped, so a rerun after an interruption
    completes the job. Returns counts: ``images``, ``written`` (or to write) and ``up_to_date``.
    """
    root = existing_dir(root)
    dest = _outside(root, dest)
    wnids = set(read_class_maps(root).wnids)
    annotations_path = root / "val" / "val_annotations.txt"
    notes = read_val_annotations(annotations_path)
    for number, note in enumerate(notes, start=1):
        if note.wnid not in wnids:
            raise KeyError(f"{annotations_path}:{number}: wnid {note.wnid!r} not in wnids.txt")
    written = 0
    for note in progress(notes, desc="val images", enabled=show_progress):
        src = root / "val" / "images" / note.file_name
        if not src.is_file():
            raise FileNotFoundError(f"{src} not found: listed in {annotations_path}")
        written += place_file(src, dest / note.wnid / note.file_name, link=link, dry_run=dry_run)
    counts = {"images": len(notes), "written": written, "up_to_date": len(notes) - written}
    logger.info("restructure-val %s -> %s: %s%s", root, dest, counts, " (dry run)" * dry_run)
    return counts


def make_subset(
    root: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    num_classes: int,
    per_class: int,
    val_per_class: int | None = None,
    seed: int = 0,
) -> dict[str, int]:
    """Copy a random, seeded subset of classes and images into ``dest`` in the same layout.

    ``val_per_class`` defaults to ``per_class`` (capped by what the class has). ``wnids.txt``
    is written last: a subset interrupted before the end is not a readable dataset.
    """
    root = existing_dir(root)
    dest = _outside(root, dest)
    rng = random.Random(seed)
    all_wnids = list(read_class_maps(root).wnids)
    if not 0 < num_classes <= len(all_wnids):
        raise ValueError(f"--classes {num_classes}: expected 1..{len(all_wnids)} for {root}")
    wnids = sorted(rng.sample(all_wnids, num_classes))
    if (dest / "wnids.txt").is_file() and (dest / "wnids.txt").read_text().split() != wnids:
        raise ValueError(f"{dest} already holds a different subset: choose a new folder")
    place_file(root / "words.txt", dest / "words.txt")
    train_images = sum(_subset_train_class(root, dest, wnid, per_class, rng) for wnid in wnids)
    val_images = _subset_val(root, dest, wnids, per_class, rng, exact=val_per_class)
    with atomic_output(dest / "wnids.txt") as tmp:
        tmp.write_text("".join(f"{wnid}\n" for wnid in wnids))
    return {"classes": num_classes, "train_images": train_images, "val_images": val_images}


def _subset_train_class(root: Path, dest: Path, wnid: str, count: int, rng) -> int:
    folder = root / "train" / wnid / "images"
    files = list_images(folder) if folder.is_dir() else []
    if len(files) < count:
        raise ValueError(f"{folder} has {len(files)} images, fewer than --per-class {count}")
    chosen = sorted(rng.sample(files, count))
    for src in chosen:
        place_file(src, dest / "train" / wnid / "images" / src.name)
    boxes_path = root / "train" / wnid / f"{wnid}_boxes.txt"
    if boxes_path.is_file():
        boxes = read_train_boxes(boxes_path)
        lines = [f"{p.name}\t" + "\t".join(map(str, boxes[p.name])) for p in chosen]
        with atomic_output(dest / "train" / wnid / boxes_path.name) as tmp:
            tmp.write_text("".join(f"{line}\n" for line in lines))
    return count


def _subset_val(root: Path, dest: Path, wnids, cap: int, rng, *, exact: int | None) -> int:
    """Up to ``cap`` val images per class, or exactly ``exact`` when given."""
    notes = read_val_annotations(root / "val" / "val_annotations.txt")
    chosen = []
    for wnid in wnids:
        own = [i for i, note in enumerate(notes) if note.wnid == wnid]
        if exact is not None and len(own) < exact:
            raise ValueError(f"{wnid} has {len(own)} val images, fewer than --val-per-class")
        chosen += rng.sample(own, exact if exact is not None else min(cap, len(own)))
    chosen = [notes[i] for i in sorted(chosen)]  # keep the annotation file's order
    for note in chosen:
        name = note.file_name
        place_file(root / "val" / "images" / name, dest / "val" / "images" / name)
    lines = [f"{n.file_name}\t{n.wnid}\t" + "\t".join(map(str, n.box)) for n in chosen]
    with atomic_output(dest / "val" / "val_annotations.txt") as tmp:
        tmp.write_text("".join(f"{line}\n" for line in lines))
    return len(chosen)


def _verify(args: argparse.Namespace) -> int:
    report = verify_tiny_imagenet(args.root, decode=not args.no_decode)
    print(report.summary())
    return 0 if report.ok else 1


def _restructure_val(args: argparse.Namespace) -> int:
    counts = restructure_val(args.root, args.dest, link=args.link, dry_run=args.dry_run)
    verb = "would write" if args.dry_run else "wrote"
    print(
        f"{verb} {counts['written']} of {counts['images']} val images into {args.dest} "
        f"({counts['up_to_date']} already up to date)"
    )
    return 0


def _subset(args: argparse.Namespace) -> int:
    counts = make_subset(
        args.root,
        args.dest,
        num_classes=args.classes,
        per_class=args.per_class,
        val_per_class=args.val_per_class,
        seed=args.seed,
    )
    print(f"subset in {args.dest}: {counts}")
    return 0


def _cache(args: argparse.Namespace) -> int:
    dataset = TinyImageNet(args.root, args.split, skip_corrupt=args.skip_corrupt)
    out = build_cache(dataset, args.dest, skip_corrupt=args.skip_corrupt, overwrite=args.overwrite)
    print(f"{args.split} cache ({len(dataset)} images) in {out}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``tiny-imagenet`` with its actions."""
    parser = subparsers.add_parser(
        "tiny-imagenet",
        help="verify, restructure, subset or cache Tiny ImageNet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    verify = actions.add_parser("verify", help="counts per class, missing/corrupt/grayscale files")
    verify.add_argument("root", type=Path, help="dataset folder (with wnids.txt)")
    verify.add_argument("--no-decode", action="store_true", help="check the layout only")
    verify.set_defaults(func=_verify)

    restructure = actions.add_parser("restructure-val", help="val/ in ImageFolder layout")
    restructure.add_argument("root", type=Path, help="dataset folder (only read)")
    restructure.add_argument("--dest", type=Path, required=True, help="output folder")
    mode = restructure.add_mutually_exclusive_group()
    mode.add_argument("--link", action="store_true", help="symlink the images")
    mode.add_argument("--copy", action="store_true", help="copy the images (the default)")
    restructure.add_argument("--dry-run", action="store_true", help="only count what to write")
    restructure.set_defaults(func=_restructure_val)

    subset = actions.add_parser("subset", help="a smaller dataset in the same layout")
    subset.add_argument("root", type=Path, help="dataset folder (only read)")
    subset.add_argument("--dest", type=Path, required=True, help="output folder")
    subset.add_argument("--classes", type=int, required=True, help="number of classes")
    subset.add_argument("--per-class", type=int, required=True, help="train images per class")
    subset.add_argument("--val-per-class", type=int, default=None, help="default: --per-class")
    subset.add_argument("--seed", type=int, default=0, help="seed of the choice (default 0)")
    subset.set_defaults(func=_subset)

    cache = actions.add_parser("cache", help="decode a split once into a uint8 .npy cache")
    cache.add_argument("root", type=Path, help="dataset folder (only read)")
    cache.add_argument("--split", choices=("train", "val"), default="train")
    cache.add_argument("--dest", type=Path, required=True, help="cache folder")
    cache.add_argument("--skip-corrupt", action="store_true", help="leave unreadable images out")
    cache.add_argument("--overwrite", action="store_true", help="rebuild even if complete")
    cache.set_defaults(func=_cache)
    return parser
