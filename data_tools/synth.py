"""``python -m data_tools synth DATASET ROOT``: write a synthetic dataset in the real layout.

python -m data_tools synth tiny-imagenet data/tiny-synth --classes 10 --train-per-class 100
python -m data_tools synth cacd data/cacd-synth --people 40 --images-per-person 15
"""

from __future__ import annotations

import argparse
from pathlib import Path

from course_lib.data.synthetic import make_cacd, make_tiny_imagenet


def _tiny_imagenet(args: argparse.Namespace) -> int:
    root = make_tiny_imagenet(
        args.root,
        num_classes=args.classes,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        test_images=args.test_images,
        seed=args.seed,
    )
    print(f"synthetic Tiny ImageNet in {root}")
    return 0


def _cacd(args: argparse.Namespace) -> int:
    root = make_cacd(
        args.root,
        people=args.people,
        images_per_person=args.images_per_person,
        seed=args.seed,
        image_size=args.image_size,
    )
    print(f"synthetic CACD in {root} (CACD2000/, celebrity2000_meta.mat, celebrity2000.mat)")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``synth`` with its datasets ``tiny-imagenet`` and ``cacd``."""
    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic dataset in the real layout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    datasets = parser.add_subparsers(dest="dataset", required=True, metavar="DATASET")

    tiny = datasets.add_parser("tiny-imagenet", help="objects with exact boxes, 64x64 JPEGs")
    tiny.add_argument("root", type=Path, help="folder to create (must be new or empty)")
    tiny.add_argument("--classes", type=int, default=10, help="number of classes (default 10)")
    tiny.add_argument("--train-per-class", type=int, default=100, help="default 100")
    tiny.add_argument("--val-per-class", type=int, default=50, help="default 50")
    tiny.add_argument("--test-images", type=int, default=None, help="default: as many as val")
    tiny.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    tiny.set_defaults(func=_tiny_imagenet)

    cacd = datasets.add_parser("cacd", help="faces that age, with both .mat metadata files")
    cacd.add_argument("root", type=Path, help="folder to create (must be new or empty)")
    cacd.add_argument("--people", type=int, default=40, help="default 40")
    cacd.add_argument("--images-per-person", type=int, default=15, help="default 15")
    cacd.add_argument("--image-size", type=int, default=64, help="side in pixels (default 64)")
    cacd.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    cacd.set_defaults(func=_cacd)
    return parser
