"""Grad-CAM of a batch: pytorch-grad-cam's GradCAM vs ``course_lib.explain.gradcam``.

Same model (the article's VGG16 transfer model, random weights), same layer (``features.29``,
the ReLU after the last conv), same batch of 64x64 images and the same target classes; both
must give the same maps (the largest difference is printed). pytorch-grad-cam needs every
parameter trainable (the article unfroze VGG16 for it) and back-propagates through the whole
network, then scales each map in NumPy/OpenCV; ours detaches the layer output, so the backward
pass stops at the layer, and keeps everything in torch. A third row times ours on the frozen
model (the transfer model as trained), which pytorch-grad-cam cannot explain.

    python -m benchmarks.bench_explain [--batch-size 64] [--repeats 3] [--layer features.29]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from benchmarks.timing import timed
from course_lib.explain import gradcam
from course_lib.models import create_model


def run(
    *,
    model_name: str = "vgg16_transfer",
    layer: str = "features.29",
    batch_size: int = 64,
    image_size: int = 64,
    num_classes: int = 200,
    repeats: int = 3,
    device: str = "cpu",
    threads: int | None = None,
) -> list[dict]:
    """Median wall and CPU seconds of both implementations (interleaved, after a warm-up)."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        target = torch.device(device)
        model = create_model(model_name, num_classes=num_classes).to(target).eval()
        images = torch.randn(batch_size, 3, image_size, image_size, device=target)
        targets = torch.arange(batch_size) % num_classes

        def baseline():
            with GradCAM(model=model, target_layers=[model.get_submodule(layer)]) as cam:
                classes = [ClassifierOutputTarget(int(t)) for t in targets]
                return cam(input_tensor=images, targets=classes)

        def ours():
            return gradcam(model, layer, images, targets=targets).cpu()

        frozen = {name: p.requires_grad for name, p in model.named_parameters()}
        times, maps = {"baseline": [], "ours": [], "ours_frozen": []}, {}
        for repeat in range(repeats + 1):  # the first round warms up
            for p in model.parameters():
                p.requires_grad_(True)  # what pytorch-grad-cam needs
            for name, function in (("baseline", baseline), ("ours", ours)):
                wall, cpu, maps[name] = timed(function)
                times[name] += [(wall, cpu)] if repeat else []
            for name, p in model.named_parameters():
                p.requires_grad_(frozen[name])
            wall, cpu, _ = timed(ours)
            times["ours_frozen"] += [(wall, cpu)] if repeat else []
        difference = (torch.as_tensor(maps["baseline"]) - maps["ours"]).abs().max().item()
    finally:
        torch.set_num_threads(previous)
    wall = {key: statistics.median(w for w, _ in value) for key, value in times.items()}
    cpu = {key: statistics.median(c for _, c in value) for key, value in times.items()}
    return [
        {
            "benchmark": f"Grad-CAM of {batch_size} images",
            "model": model_name,
            "layer": layer,
            "image_size": image_size,
            "device": str(target),
            "threads": threads or previous,
            "baseline": "pytorch-grad-cam GradCAM (all parameters trainable)",
            "ours": "course_lib.explain.gradcam",
            "baseline_s": wall["baseline"],
            "ours_s": wall["ours"],
            "ours_frozen_s": wall["ours_frozen"],
            "speedup": wall["baseline"] / wall["ours"],
            "baseline_cpu_s": cpu["baseline"],
            "ours_cpu_s": cpu["ours"],
            "cpu_speedup": cpu["baseline"] / cpu["ours"],
            "max_abs_difference": difference,
        }
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_explain", description=__doc__)
    parser.add_argument("--model", default="vgg16_transfer", help="a course_lib model name")
    parser.add_argument("--layer", default="features.29")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads, 0: default")
    args = parser.parse_args(argv)
    (row,) = run(
        model_name=args.model,
        layer=args.layer,
        batch_size=args.batch_size,
        image_size=args.image_size,
        repeats=args.repeats,
        device=args.device,
        threads=args.threads or None,
    )
    print(
        f"{row['benchmark']}, {row['model']} at {row['layer']}, {row['image_size']}px, "
        f"{row['device']}, {row['threads']} threads, median of {args.repeats}"
    )
    print(f"  baseline  {row['baseline']}: {row['baseline_s']:.3f} s")
    print(f"  ours      {row['ours']}: {row['ours_s']:.3f} s")
    print(f"  ours on the frozen model: {row['ours_frozen_s']:.3f} s")
    print(
        f"  speedup: {row['speedup']:.2f}x wall clock, {row['cpu_speedup']:.2f}x CPU time; "
        f"largest difference of the maps {row['max_abs_difference']:.2e}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
