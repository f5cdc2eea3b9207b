"""Tensor-train layers: forward time and parameters vs the dense layer, and a trained model.

Layers: ``TTLinear`` (cores of the given rank cap, automatic modes) against ``nn.Linear`` of
the same size, batch 64, for VGG16's head layers 25088 -> 512 and 512 -> 512, plus the
25088 -> 512 layer decomposed on its pooled inputs (64x64 images: 512 x 2 x 2 maps pooled to
7 x 7), whose TT ranks at the two spatial modes are at most 4 and 2. Timing only needs the
shapes, so the cores are random.

Trained (``--trained``, minutes on a CPU): the article's VGG16 transfer model (random
backbone weights: no download) has its head trained on the real Tiny ImageNet sample, then
``run_compress_checkpoint`` compresses classifier.0 (25088 -> 512, decomposed on its pooled
inputs) with TT ranks capped at 200, evaluates, fine-tunes the head for one epoch and
evaluates again on the official val split; a control fine-tunes the uncompressed model alike.
The defaults follow what was measured on this model: classifier.4 (512 -> 512) has no low-rank
structure after a short training (at eps 0.3 its TT form is larger than the dense layer), and
the recipe's head learning rate (Adam 1e-4) alone drops the control from 0.40 to 0.27 top-1,
so the fine-tuning epoch uses 1e-5.

    python -m benchmarks.bench_compress [--ranks 8 32 128] [--trained [--epochs 3]]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from course_lib.compress import TTLinear
from course_lib.configs import StageConfig, get_config
from course_lib.tt import choose_modes, split_into_factors

DEFAULT_ROOT = Path(
    os.environ.get(
        "TINY_IMAGENET_SAMPLE",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "tiny-imagenet-200-sample",
    )
)
LAYERS = {
    "25088->512": (25088, 512, choose_modes(25088, 512)),
    "25088->512 on pooled inputs": (
        25088,
        512,
        ((*split_into_factors(512, 4), 7, 7), (*split_into_factors(512, 4), 1, 1)),
    ),
    "512->512": (512, 512, choose_modes(512, 512)),
}


def random_tt_linear(in_modes, out_modes, max_rank: int, *, pooled: bool = False) -> TTLinear:
    """A TTLinear with random cores whose ranks are the full ranks capped at ``max_rank``."""
    sizes = [m * n for m, n in zip(in_modes, out_modes, strict=True)]
    ranks = [1]
    for k in range(1, len(sizes)):
        full = min(math.prod(sizes[:k]), math.prod(sizes[k:]))
        ranks.append(min(full, max_rank))
    ranks.append(1)
    if pooled:  # the spatial ranks of a 2x2 -> 7x7 pooling (4 and 2)
        ranks[-3:-1] = [min(ranks[-3], 4), min(ranks[-2], 2)]
    cores = [
        torch.randn(r0, m, n, r1) / math.sqrt(m * r0)
        for r0, m, n, r1 in zip(ranks[:-1], in_modes, out_modes, ranks[1:], strict=True)
    ]
    return TTLinear(cores, torch.zeros(math.prod(out_modes)))


def _median_seconds(layer: nn.Module, x: torch.Tensor, repeats: int) -> float:
    times = []
    with torch.no_grad():
        layer(x)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            layer(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_layers(
    *, ranks=(8, 32, 128), batch_size: int = 64, repeats: int = 20, threads: int | None = 1
) -> list[dict]:
    """Forward time and parameters of TT layers vs the dense layer, per shape and rank cap.

    One thread by default: the many small operations of a TT product time badly when threads
    of a shared CPU wait for each other.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    rows = []
    try:
        for name, (in_features, out_features, (in_modes, out_modes)) in LAYERS.items():
            dense = nn.Linear(in_features, out_features)
            x = torch.randn(batch_size, in_features)
            dense_s = _median_seconds(dense, x, repeats)
            for rank in ranks:
                tt = random_tt_linear(in_modes, out_modes, rank, pooled="pooled" in name)
                tt_s = _median_seconds(tt, x, repeats)
                dense_parameters = sum(p.numel() for p in dense.parameters())
                rows.append(
                    {
                        "benchmark": f"TTLinear forward, batch {batch_size}",
                        "layer": name,
                        "in_modes": in_modes,
                        "out_modes": out_modes,
                        "ranks": tt.ranks,
                        "dense_parameters": dense_parameters,
                        "tt_parameters": tt.num_parameters(),
                        "compression": dense_parameters / tt.num_parameters(),
                        "dense_ms": 1000 * dense_s,
                        "tt_ms": 1000 * tt_s,
                        "speedup": dense_s / tt_s,
                        "threads": torch.get_num_threads(),
                    }
                )
    finally:
        torch.set_num_threads(previous)
    return rows


def run_trained(
    root: str | os.PathLike = DEFAULT_ROOT,
    *,
    work_dir: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    epochs: int = 3,
    weights: str | None = None,
    layers: tuple[str, ...] = ("classifier.0",),
    max_rank: int | None = 200,
    eps: float | None = None,
    finetune_epochs: int = 1,
    finetune_lr: float = 1e-5,
    device: str = "cpu",
) -> list[dict]:
    """Train the VGG16 head on the real sample (unless ``checkpoint``), compress, fine-tune.

    ``weights="IMAGENET1K_V1"`` starts from the pretrained backbone, as the article did (the
    file must be in torch hub's cache); the default ``None`` uses random backbone weights.

    A control fine-tunes the uncompressed model the same way: on this small, weakly trained
    model one epoch of fine-tuning alone moves top-1 by several points.
    """
    from course_lib.pipelines.compress import run_compress_checkpoint
    from course_lib.pipelines.transfer import run_transfer

    if not (Path(root) / "wnids.txt").is_file():
        raise FileNotFoundError(f"{root}/wnids.txt not found: pass --root (a Tiny ImageNet folder)")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(work_dir) if work_dir is not None else Path(scratch)
        train_s = None
        if checkpoint is None:
            base = get_config("transfer_vgg16")
            head = dataclasses.replace(base.stages[0], epochs=epochs)
            config = dataclasses.replace(
                base, name="transfer_vgg16_sample", weights=weights, stages=(head,)
            )
            start = time.perf_counter()
            run_transfer(
                config, data_root=root, out_dir=work / "train", device=device, overwrite=True
            )
            train_s = time.perf_counter() - start
            checkpoint = work / "train" / "checkpoints" / "last.pt"
        start = time.perf_counter()
        result = run_compress_checkpoint(
            checkpoint,
            root,
            work / f"compress-{max_rank}-{eps}",
            device=device,
            layers=list(layers),
            max_rank=max_rank,
            eps=eps,
            finetune_epochs=finetune_epochs,
            stage=StageConfig("finetune_tt", finetune_epochs, ("classifier",), lr=finetune_lr),
            control=True,
            overwrite=True,
        )
        compress_s = time.perf_counter() - start
    original, compressed, finetuned, control = result["table"]
    return [
        {
            "benchmark": "VGG16 head TT-compressed on the real Tiny ImageNet sample",
            "layers": list(layers),
            "max_rank": max_rank,
            "eps": eps,
            "finetune_epochs": finetune_epochs,
            "finetune_lr": finetune_lr,
            "classifier_parameters_before": original["classifier_parameters"],
            "classifier_parameters_after": finetuned["classifier_parameters"],
            "classifier_reduction": result["classifier_reduction"],
            "parameters_before": original["parameters"],
            "parameters_after": finetuned["parameters"],
            "state_dict_MB_before": original["state_dict_MB"],
            "state_dict_MB_after": finetuned["state_dict_MB"],
            "top1_before": original["top1"],
            "top1_compressed": compressed["top1"],
            "top1_finetuned": finetuned["top1"],
            "top1_drop_points": 100 * result["top1_drop"],
            "top1_control": control["top1"],
            "cam_correlation_compressed": result["cam_correlation_compressed_mean"],
            "cam_correlation_finetuned": result["cam_correlation_finetuned_mean"],
            "pointing_game_original": result.get("cam_pointing_original_mean"),
            "pointing_game_finetuned": result.get("cam_pointing_finetuned_mean"),
            "train_s": train_s,
            "compress_s": compress_s,
        }
    ]


def run(*, trained: bool | None = None, **kwargs) -> list[dict]:
    """The layer timings and the trained-model compression (minutes on a CPU); ``trained``
    defaults to whether the real sample (``root``) is there."""
    layer_keys = {"ranks", "batch_size", "repeats", "threads"}
    rows = run_layers(**{k: v for k, v in kwargs.items() if k in layer_keys})
    if trained is None:
        trained = (Path(kwargs.get("root", DEFAULT_ROOT)) / "wnids.txt").is_file()
    if trained:
        rows += run_trained(**{k: v for k, v in kwargs.items() if k not in layer_keys})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_compress", description=__doc__
    )
    parser.add_argument("--ranks", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads, 0: default")
    parser.add_argument("--trained", action="store_true", help="also train, compress, fine-tune")
    parser.add_argument("--no-layers", action="store_true", help="skip the layer timings")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="Tiny ImageNet folder")
    parser.add_argument("--checkpoint", type=Path, help="a trained checkpoint to compress")
    parser.add_argument("--work-dir", type=Path, help="keep the training and compression runs")
    parser.add_argument("--epochs", type=int, default=3, help="head training epochs")
    parser.add_argument("--weights", help="pretrained backbone weights, e.g. IMAGENET1K_V1")
    parser.add_argument("--layers", nargs="+", default=["classifier.0"])
    ranks = parser.add_mutually_exclusive_group()
    ranks.add_argument("--max-rank", type=int, default=200)
    ranks.add_argument("--eps", type=float)
    parser.add_argument("--finetune-lr", type=float, default=1e-5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    rows = (
        []
        if args.no_layers
        else run_layers(
            ranks=args.ranks,
            batch_size=args.batch_size,
            repeats=args.repeats,
            threads=args.threads or None,
        )
    )
    if rows:
        print(f"TTLinear vs nn.Linear forward, batch {args.batch_size}, median of {args.repeats}")
    for row in rows:
        print(
            f"  {row['layer']:<28} ranks {str(row['ranks']):<28} "
            f"params {row['tt_parameters']:>9,} vs {row['dense_parameters']:>10,} "
            f"({row['compression']:7.1f}x)  {row['tt_ms']:7.2f} ms vs {row['dense_ms']:7.2f} ms "
            f"({row['speedup']:.2f}x)"
        )
    if args.trained:
        (row,) = run_trained(
            args.root,
            work_dir=args.work_dir,
            checkpoint=args.checkpoint,
            epochs=args.epochs,
            weights=args.weights,
            layers=tuple(args.layers),
            max_rank=None if args.eps else args.max_rank,
            eps=args.eps,
            finetune_lr=args.finetune_lr,
            device=args.device,
        )
        print(f"{row['benchmark']}: {row['layers']}, max_rank {row['max_rank']}, eps {row['eps']}")
        print(
            f"  classifier parameters {row['classifier_parameters_before']:,} -> "
            f"{row['classifier_parameters_after']:,} ({row['classifier_reduction']:.1f}x); "
            f"state dict {row['state_dict_MB_before']} MB -> {row['state_dict_MB_after']} MB"
        )
        print(
            f"  top-1 {row['top1_before']:.4f} -> {row['top1_compressed']:.4f} (compressed) -> "
            f"{row['top1_finetuned']:.4f} (fine-tuned): drop {row['top1_drop_points']:.2f} "
            f"points; control (original fine-tuned alike) {row['top1_control']:.4f}"
        )
        print(
            f"  Grad-CAM correlation with the original: {row['cam_correlation_compressed']} "
            f"compressed, {row['cam_correlation_finetuned']} fine-tuned; pointing game "
            f"{row['pointing_game_original']} -> {row['pointing_game_finetuned']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
