"""Augmented training batches: ImageFolder + per-sample PIL transforms vs the decoded cache.

Both sides produce the same thing, one shuffled epoch of normalised, augmented (B, 3, 64, 64)
batches of the real Tiny ImageNet sample with the article 001 recipe (random 60px crop resized
to 64, flip, saturation and hue jitter in a random order per image, ImageNet normalisation):

* baseline: ``torchvision.datasets.ImageFolder(train/, transform=train_transform())`` in a
  ``DataLoader(num_workers=0)`` (the articles' setup): decode JPEG, crop, flip, jitter per image;
* ours: the split decoded once into a memory-mapped uint8 cache (timed apart, a one-off), then
  ``CachedLoader``: each batch is gathered from the cache with one ``index_select``, and
  ``augment_batch`` works on slices of 32 images: every crop comes from one ``index_select`` over
  a strided view, the uint8 resize is PIL-exact, the mirror is picked per image from the resized
  slice, then saturation, hue (exact HSV rotation, torchvision's ``adjust_hue``) and saturation
  again (factor 1 where an image's order skips it) and normalisation run in place in the output.

Both sides run on one core (torch threads = 1; the baseline has no workers). Times are the
median of interleaved epochs after one warm-up epoch each; the CPU time of this process is the
steadier figure on a shared machine.

    python -m benchmarks.bench_data [--root DIR] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets

from benchmarks.timing import timed
from course_lib.data.cache import CachedLoader, build_cache, load_cache
from course_lib.data.tiny_imagenet import TinyImageNet
from course_lib.data.transforms import AugmentConfig, train_transform

DEFAULT_ROOT = Path(
    os.environ.get(
        "TINY_IMAGENET_SAMPLE",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "tiny-imagenet-200-sample",
    )
)


def _epoch_seconds(loader, device: torch.device) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process, all threads) of one epoch."""

    def drain() -> None:
        for _batch in loader:
            if device.type == "cuda":
                torch.cuda.synchronize(device)

    wall, cpu, _ = timed(drain)
    return wall, cpu


def run(
    root: str | os.PathLike = DEFAULT_ROOT,
    *,
    batch_size: int = 64,
    repeats: int = 5,
    device: str = "cpu",
    threads: int | None = 1,
) -> list[dict]:
    """Median epoch time of both paths (interleaved repeats after one warm-up epoch each).

    ``threads`` sets torch's CPU threads for the run (None keeps the default). One thread is
    the fair default: the baseline with ``num_workers=0`` works on one core.
    """
    root = Path(root)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _measure(root, batch_size=batch_size, repeats=repeats, device=device)
    finally:
        torch.set_num_threads(previous_threads)


def _measure(root: Path, *, batch_size: int, repeats: int, device: str) -> list[dict]:
    if not (root / "wnids.txt").is_file():
        raise FileNotFoundError(f"{root}/wnids.txt not found: pass --root (a Tiny ImageNet folder)")
    target = torch.device(device)
    baseline = DataLoader(
        datasets.ImageFolder(root / "train", transform=train_transform()),
        batch_size=batch_size,
        shuffle=True,
        num_workers=0,
    )
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        build_cache(TinyImageNet(root, "train"), work, show_progress=False)
        build_seconds = time.perf_counter() - start
        ours = CachedLoader(
            load_cache(work),
            batch_size=batch_size,
            shuffle=True,
            augment=AugmentConfig(),
            device=target,
        )
        times: dict[str, list[tuple[float, float]]] = {"baseline": [], "ours": []}
        for repeat in range(repeats + 1):
            for name, loader in (("baseline", baseline), ("ours", ours)):
                seconds = _epoch_seconds(loader, target)
                if repeat > 0:  # the first epoch warms caches and kernels
                    times[name].append(seconds)
    images = len(baseline.dataset)
    (baseline_s, baseline_cpu), (ours_s, ours_cpu) = (
        (statistics.median(w for w, _ in times[k]), statistics.median(c for _, c in times[k]))
        for k in ("baseline", "ours")
    )
    return [
        {
            "benchmark": "augmented training batches, one epoch of the real sample",
            "baseline": "ImageFolder + per-sample PIL v2 transforms, num_workers=0",
            "ours": "memory-mapped uint8 cache + batched in-place tensor augmentation",
            "images": images,
            "batch_size": batch_size,
            "device": str(target),
            "threads": torch.get_num_threads(),
            "baseline_s": baseline_s,
            "ours_s": ours_s,
            "baseline_images_per_s": images / baseline_s,
            "ours_images_per_s": images / ours_s,
            "speedup": baseline_s / ours_s,
            "baseline_cpu_s": baseline_cpu,
            "ours_cpu_s": ours_cpu,
            "cpu_speedup": baseline_cpu / ours_cpu,
            "cache_build_s": build_seconds,
        }
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_data", description=__doc__)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="Tiny ImageNet folder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per path")
    parser.add_argument("--device", default="cpu", help="where the cached path augments")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads, 0: default")
    args = parser.parse_args(argv)
    (row,) = run(
        args.root,
        batch_size=args.batch_size,
        repeats=args.repeats,
        device=args.device,
        threads=args.threads or None,
    )
    print(
        f"{row['images']} images, batch {row['batch_size']}, {row['device']}, "
        f"{row['threads']} torch threads, median of {args.repeats} epochs"
    )
    print(
        f"  baseline  {row['baseline']}: {row['baseline_s']:.3f} s "
        f"({row['baseline_images_per_s']:.0f} images/s)"
    )
    print(
        f"  ours      {row['ours']}: {row['ours_s']:.3f} s "
        f"({row['ours_images_per_s']:.0f} images/s)"
    )
    print(f"  one-off cache build: {row['cache_build_s']:.2f} s")
    print(
        f"  speedup: {row['speedup']:.1f}x wall clock, {row['cpu_speedup']:.1f}x CPU time "
        f"({row['baseline_cpu_s']:.3f} s vs {row['ours_cpu_s']:.3f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
