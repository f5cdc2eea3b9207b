"""Stage 1 of article 001 (frozen VGG16, training the new head): the articles' loop vs ours.

Both sides train the same model (VGG16 features frozen, the 25088-512-512-C head, log-softmax
and NLLLoss) from the same initial weights, with Adam and CyclicLR stepped per batch, on the
same 95/5 split (seed 42) of the same images, with the same augmentation recipe, in float32.
One epoch = a training pass over the 95 % and an evaluation of the held-out 5 %.

* baseline: article 001's code: ``ImageFolder`` + ``random_split`` + per-sample PIL v2
  transforms in a ``DataLoader(num_workers=0)``, ``net.train()`` on the whole model, autograd on;
* ours: ``course_lib.train.fit`` over ``CachedLoader`` (images decoded once into a uint8 cache,
  augmentation applied to whole batches of tensors) with its defaults: the frozen backbone
  stays in eval mode, and weights and images are channels_last (NHWC), which ``fit`` turns on
  for CUDA and for CPUs with oneDNN (converting the weights once, when it starts); float32
  on the CPU (autocast is for CUDA only); the optimizer is the course's stage 1
  (``course_lib.stages.make_optimizer``: the same rates and schedule, fused Adam over the head);
* ours, NCHW: the same with ``channels_last=False`` (``fit``'s CPU default before NHWC).

Also reported: the time of the data alone on each path; one frozen-backbone forward pass in
train mode with autograd, in eval + inference mode, and in eval + inference mode with NHWC
weights; and checks that both loops make the same updates on the same batches (largest
parameter difference after two steps: NCHW, and ``fit``'s NHWC default against the article's
NCHW loop, where only float rounding differs).

A second part trains a small VGG-style net from scratch on the real sample
(``transfer_scratch_mini``) and reports its top-1 accuracy on the official val split.

    python -m benchmarks.bench_train [--root DIR] [--repeats 3] [--part stage1|scratch|all]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, random_split
from torchvision import datasets

from benchmarks.timing import timed
from course_lib import stages
from course_lib.configs import get_config
from course_lib.data.cache import CachedLoader, build_cache, load_cache
from course_lib.data.splits import TransformedSubset
from course_lib.data.tiny_imagenet import TinyImageNet
from course_lib.data.transforms import AugmentConfig, train_transform, val_transform
from course_lib.models import create_model
from course_lib.train import fit, train_one_epoch

DEFAULT_ROOT = Path(
    os.environ.get(
        "TINY_IMAGENET_SAMPLE",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "tiny-imagenet-200-sample",
    )
)
BATCH_SIZE = 64


def article_loaders(root: Path) -> dict[str, DataLoader]:
    """Article 001's data: ImageFolder, random_split 95/5 (seed 42), per-sample transforms."""
    dataset = datasets.ImageFolder(root / "train", transform=None)
    generator = torch.Generator().manual_seed(42)
    train, val = random_split(dataset, [0.95, 0.05], generator=generator)
    return {
        "train": DataLoader(
            TransformedSubset(dataset, train.indices, train_transform()),
            batch_size=BATCH_SIZE,
            shuffle=True,
        ),
        "val": DataLoader(
            TransformedSubset(dataset, val.indices, val_transform()),
            batch_size=BATCH_SIZE,
            shuffle=False,
        ),
    }


def cached_loaders(root: Path, work: Path) -> dict[str, CachedLoader]:
    """The same split from the decoded cache, augmented batch-wise."""
    cache = load_cache(build_cache(TinyImageNet(root, "train"), work, show_progress=False))
    train, val = random_split(
        range(len(cache)), [0.95, 0.05], generator=torch.Generator().manual_seed(42)
    )
    return {
        "train": CachedLoader(
            cache, batch_size=BATCH_SIZE, indices=list(train), shuffle=True, augment=AugmentConfig()
        ),
        "val": CachedLoader(cache, batch_size=BATCH_SIZE, indices=list(val)),
    }


def article_epoch(net, loaders, optimizer, scheduler) -> None:
    """Article 001's train() and test() loops (prints left out; scheduler stepped per batch)."""
    criterion = nn.NLLLoss()
    net.train()
    for data, target in loaders["train"]:
        optimizer.zero_grad()
        output = net(data)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()
        scheduler.step()
    net.eval()
    with torch.no_grad():
        for data, target in loaders["val"]:
            output = net(data)
            criterion(output, target).item()
            output.argmax(dim=1, keepdim=True).eq(target.view(-1, 1)).sum().item()


def make_optimizer(model: nn.Module):
    """Article 001's: Adam over every parameter, CyclicLR 1e-4..6e-4 (triangular2)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scheduler = torch.optim.lr_scheduler.CyclicLR(
        optimizer, base_lr=1e-4, max_lr=6e-4, step_size_up=1404, mode="triangular2"
    )
    return optimizer, scheduler


def stage_optimizer(model: nn.Module):
    """The course's stage 1 (the same rates and schedule): fused Adam over the head only."""
    stage = get_config("transfer_vgg16").stages[0]
    optimizer = stages.make_optimizer(model, stage)
    return optimizer, stages.make_scheduler(optimizer, stage)


def _data_seconds(loaders) -> float:
    return timed(lambda: [None for loader in loaders.values() for _ in loader])[1]


def same_updates(base: nn.Module, batches, *, channels_last: bool = False) -> float:
    """Largest parameter difference after the same two steps through both loops (0: the
    trainer computes exactly what the article's loop computes). With ``channels_last`` our
    side runs as ``fit`` runs by default on the CPU: NHWC weights and images."""
    models = [copy.deepcopy(base) for _ in range(2)]
    torch.manual_seed(0)  # the same dropout masks on both sides
    article_epoch(models[0], {"train": batches, "val": []}, *make_optimizer(models[0]))
    if channels_last:
        models[1].to(memory_format=torch.channels_last)
        batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]
    torch.manual_seed(0)
    optimizer, scheduler = make_optimizer(models[1])
    train_one_epoch(models[1], batches, optimizer, loss_fn=nn.NLLLoss(), scheduler=scheduler)
    pairs = zip(models[0].parameters(), models[1].parameters(), strict=True)
    return max((a - b).abs().max().item() for a, b in pairs)


def channels_last_difference(model: nn.Module, images: torch.Tensor) -> float:
    """Largest difference of the backbone's features in NHWC vs NCHW, relative to their size:
    the same function up to float rounding (different oneDNN kernels)."""
    features = copy.deepcopy(model.features).eval()
    with torch.inference_mode():
        reference = features(images)
        features.to(memory_format=torch.channels_last)
        other = features(images.contiguous(memory_format=torch.channels_last))
    return ((other - reference).abs().max() / reference.abs().max()).item()


def backbone_seconds(model: nn.Module, images: torch.Tensor) -> dict[str, float]:
    """One frozen-backbone forward pass (best of two): train mode + autograd vs eval +
    inference mode, NCHW, and eval + inference mode with the weights channels_last."""
    features = copy.deepcopy(model.features).to(memory_format=torch.contiguous_format)
    features.train()
    train_grad = min(timed(lambda: features(images))[1] for _ in range(2))
    features.eval()
    with torch.inference_mode():
        inference = min(timed(lambda: features(images))[1] for _ in range(2))
        features.to(memory_format=torch.channels_last)
        nhwc = min(timed(lambda: features(images))[1] for _ in range(2))
    return {
        "backbone_train_autograd_cpu_s": train_grad,
        "backbone_inference_cpu_s": inference,
        "backbone_inference_channels_last_cpu_s": nhwc,
    }


def run_stage1(root: Path, *, repeats: int = 2) -> dict:
    """Median epoch seconds of the baseline and our variants, interleaved, after a warm-up."""
    with tempfile.TemporaryDirectory() as work:
        article, cached = article_loaders(root), cached_loaders(root, Path(work))
        num_classes = len(article["train"].dataset.dataset.classes)
        torch.manual_seed(0)
        base = create_model("vgg16_transfer", num_classes=num_classes, weights=None)
        batches = list(cached["val"])[:1] * 2  # fixed, un-augmented tensors
        checks = {
            "max_update_difference": same_updates(base, batches),
            "max_update_difference_channels_last": same_updates(base, batches, channels_last=True),
            "channels_last_relative_difference": channels_last_difference(base, batches[0][0]),
        }
        variants = {
            "baseline": lambda m, o, s: article_epoch(m, article, o, s),
            "ours": lambda m, o, s: fit(m, cached, epochs=1, optimizer=o, scheduler=s),
            "ours_nchw": lambda m, o, s: fit(
                m, cached, epochs=1, optimizer=o, scheduler=s, channels_last=False
            ),
        }
        state = {name: (copy.deepcopy(base),) for name in variants}
        state = {
            name: (m, *(make_optimizer if name == "baseline" else stage_optimizer)(m))
            for name, (m,) in state.items()
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for repeat in range(repeats + 1):
            for name, epoch in variants.items():
                seconds = timed(lambda epoch=epoch, name=name: epoch(*state[name]))[:2]
                if repeat > 0:  # the first epoch warms caches and oneDNN kernels
                    times[name].append(seconds)
        data = {
            "baseline_data_cpu_s": _data_seconds(article),
            "ours_data_cpu_s": _data_seconds(cached),
        }
        images = next(iter(cached["train"]))[0]
        backbone = backbone_seconds(state["ours"][0], images)
    wall = {name: statistics.median(w for w, _ in values) for name, values in times.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in times.items()}
    return {
        "benchmark": "stage-1 epoch of VGG16 transfer (frozen backbone, head training)",
        "baseline": "article 001 loop: ImageFolder + per-sample PIL transforms, num_workers=0",
        "ours": "course_lib.train.fit (defaults: NHWC on CPU) + uint8 cache, batched augmentation",
        "train_images": len(article["train"].dataset),
        "val_images": len(article["val"].dataset),
        "batch_size": BATCH_SIZE,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "baseline_s": wall["baseline"],
        "ours_s": wall["ours"],
        "ours_nchw_s": wall["ours_nchw"],
        "baseline_cpu_s": cpu["baseline"],
        "ours_cpu_s": cpu["ours"],
        "ours_nchw_cpu_s": cpu["ours_nchw"],
        "speedup": cpu["baseline"] / cpu["ours"],
        "speedup_nchw": cpu["baseline"] / cpu["ours_nchw"],
        "speedup_wall": wall["baseline"] / wall["ours"],
        "speedup_nchw_wall": wall["baseline"] / wall["ours_nchw"],
        **data,
        **backbone,
        **checks,
        "load_average": os.getloadavg()[0],
    }


def run_scratch(root: Path, *, out_dir: str | os.PathLike | None = None) -> dict:
    """Train ``transfer_scratch_mini`` from scratch on CPU (its 12 epochs); top-1 on the
    official val split. ``out_dir`` keeps the run folder (curves, heatmap, history)."""
    from course_lib.pipelines.transfer import run_transfer

    with tempfile.TemporaryDirectory() as work:
        run_dir = Path(out_dir) if out_dir is not None else Path(work) / "run"
        start = time.perf_counter()
        summary = run_transfer("transfer_scratch_mini", data_root=root, out_dir=run_dir)
        seconds = time.perf_counter() - start
    return {
        "benchmark": "small VGG-style net from scratch on CPU (transfer_scratch_mini)",
        "epochs": summary["epochs"],
        "classes": summary["classes"],
        "chance_top1": summary["chance_top1"],
        "val_images": summary["test_images"],
        "val_top1": summary["test"]["top1"],
        "val_top5": summary["test"].get("top5"),
        "wall_s": seconds,
        "threads": torch.get_num_threads(),
    }


def run(
    root: str | os.PathLike = DEFAULT_ROOT,
    *,
    repeats: int = 2,
    part: str = "all",
    out_dir: str | os.PathLike | None = None,
) -> list[dict]:
    """Rows for BENCHMARKS.md: the stage-1 comparison and/or the from-scratch accuracy.

    Without the real sample a synthetic Tiny ImageNet of the same size stands in.
    """
    root = Path(root)
    with tempfile.TemporaryDirectory() as work:
        if not (root / "wnids.txt").is_file():
            from course_lib.data.synthetic import make_tiny_imagenet

            root = make_tiny_imagenet(Path(work) / "synthetic", num_classes=10, seed=0)
        rows = []
        if part in ("all", "stage1"):
            rows.append({"data": str(root), **run_stage1(root, repeats=repeats)})
        if part in ("all", "scratch"):
            rows.append({"data": str(root), **run_scratch(root, out_dir=out_dir)})
    return rows


def describe(row: dict) -> list[str]:
    """Printable lines for one result row."""
    if "speedup" not in row:
        return [
            f"from scratch: {row['epochs']} epochs in {row['wall_s']:.0f} s, val top-1 "
            f"{row['val_top1']:.3f} (chance {row['chance_top1']:.3f}), top-5 "
            f"{row['val_top5']:.3f} on {row['val_images']} images"
        ]
    lines = [
        f"{row['train_images']} + {row['val_images']} images, batch {row['batch_size']}, "
        f"{row['threads']} threads, median of {row['repeats']} epochs "
        f"(load average {row['load_average']:.1f}); seconds as CPU / wall"
    ]
    for name in ("baseline", "ours", "ours_nchw"):
        label = row.get(name, "ours with channels_last=False (NCHW)")
        lines.append(f"  {name:<19} {row[name + '_cpu_s']:7.2f} / {row[name + '_s']:7.2f}  {label}")
    return lines + [
        f"  data alone (CPU s): baseline {row['baseline_data_cpu_s']:.2f}, "
        f"ours {row['ours_data_cpu_s']:.2f}",
        f"  speedup (CPU time): {row['speedup']:.2f}x, {row['speedup_nchw']:.2f}x in NCHW "
        f"(wall: {row['speedup_wall']:.2f}x, {row['speedup_nchw_wall']:.2f}x)",
        f"  frozen backbone, one batch (CPU s): train mode + autograd "
        f"{row['backbone_train_autograd_cpu_s']:.2f}, eval + inference mode "
        f"{row['backbone_inference_cpu_s']:.2f}, the same with NHWC weights "
        f"{row['backbone_inference_channels_last_cpu_s']:.2f}",
        f"  same updates as the article's loop: max parameter difference "
        f"{row['max_update_difference']:.1e} in NCHW, "
        f"{row['max_update_difference_channels_last']:.1e} with fit's NHWC default; NHWC "
        f"changes the backbone output by {row['channels_last_relative_difference']:.1e}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_train", description=__doc__)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="Tiny ImageNet folder")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per variant")
    parser.add_argument("--part", choices=("all", "stage1", "scratch"), default="all")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, help="keep the from-scratch run folder here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("COURSE_LIB_PROGRESS", "0")
    for row in run(args.root, repeats=args.repeats, part=args.part, out_dir=args.out):
        print("\n".join(describe(row)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
