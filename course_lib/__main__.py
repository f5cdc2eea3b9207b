"""``python -m course_lib COMMAND ...``: the demo and each pipeline of the course.

Commands: ``demo`` (every pipeline on the embedded synthetic data, or on real data, with a
report), ``data`` (verify, split, grid, cache), ``train`` (a named or YAML config: transfer or
age groups), ``features`` (similarity search, PCA/t-SNE, thumbnail canvas, class clusters),
``explain`` (Grad-CAM panels) and ``compress`` (tensor-train head, fine-tuning, table).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from course_lib.cli import run_command
from course_lib.configs import config_names, load_config
from course_lib.utils import get_device


def _print_summary(summary: dict) -> int:
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _data(args: argparse.Namespace) -> int:
    from course_lib.pipelines.data import run_data_pipeline

    return _print_summary(
        run_data_pipeline(args.root, args.out, seed=args.seed, skip_corrupt=args.skip_corrupt)
    )


def _train(args: argparse.Namespace) -> int:
    from course_lib.pipelines.age import run_age
    from course_lib.pipelines.transfer import run_transfer

    config = load_config(args.config)
    run = run_transfer if config.task == "transfer" else run_age
    summary = run(
        config,
        data_root=args.data,
        out_dir=args.out,
        device=get_device(args.device),
        epochs=args.epochs,
        overwrite=args.overwrite,
        resume=args.resume,
    )
    return _print_summary(summary)


def _features(args: argparse.Namespace) -> int:
    from course_lib.pipelines.features import feature_model, run_features

    device = get_device(args.device)
    model = feature_model(checkpoint=args.checkpoint, weights=args.weights, device=device)
    return _print_summary(
        run_features(args.data, args.out, model=model, device=device, overwrite=args.overwrite)
    )


def _explain(args: argparse.Namespace) -> int:
    from course_lib.pipelines.explain import run_explain_checkpoint

    return _print_summary(
        run_explain_checkpoint(
            args.checkpoint,
            args.data,
            args.out,
            indices=args.indices,
            target_layer=args.layer,
            device=get_device(args.device),
            overwrite=args.overwrite,
        )
    )


def _compress(args: argparse.Namespace) -> int:
    from course_lib.pipelines.compress import run_compress_checkpoint

    return _print_summary(
        run_compress_checkpoint(
            args.checkpoint,
            args.data,
            args.out,
            max_rank=args.max_rank,
            eps=args.eps,
            finetune_epochs=args.finetune_epochs,
            device=get_device(args.device),
            overwrite=args.overwrite,
        )
    )


def _demo(args: argparse.Namespace) -> int:
    from course_lib.pipelines.demo import run_demo

    summary = run_demo(
        args.out,
        data_root=args.data,
        cacd_root=args.cacd,
        device=get_device(args.device),
        overwrite=args.overwrite,
        quick=args.quick,
    )
    print(f"\nDemo finished in {sum(summary['seconds'].values()):.0f} s")
    print(f"  transfer (test): {summary['transfer_test']}")
    print(f"  age groups (test): {summary['age_test']}")
    print(f"  compression: {summary['compression'][-1]}")
    print(f"  grading: {summary['grading']}")
    print(f"report: {Path(summary['report']).resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(func=handler)
        return sub

    demo = command("demo", _demo, "run every pipeline and write report.html")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--data", type=Path, help="real Tiny ImageNet root (default: synthetic)")
    demo.add_argument("--cacd", type=Path, help="real CACD folder (default: synthetic)")
    demo.add_argument("--quick", action="store_true", help="smoke run: less data, 1 epoch")

    data = command("data", _data, "verify a Tiny ImageNet folder, split, draw the grid, cache")
    data.add_argument("root", type=Path)
    data.add_argument("--out", type=Path, required=True)
    data.add_argument("--seed", type=int, default=42)
    data.add_argument("--skip-corrupt", action="store_true", help="leave unreadable images out")

    train = command("train", _train, "train a config on Tiny ImageNet or CACD age groups")
    train.add_argument(
        "--config", required=True, help=f"a YAML/JSON file or one of: {', '.join(config_names())}"
    )
    train.add_argument("--data", type=Path, required=True, help="dataset root")
    train.add_argument("--epochs", type=int, help="override the epochs of every stage")
    train.add_argument("--out", type=Path, required=True, help="run folder")
    train.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")

    for sub in (demo, train, *_add_model_commands(command)):
        sub.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
        sub.add_argument("--overwrite", action="store_true", help="write over an existing folder")
    return parser


def _add_model_commands(command) -> list[argparse.ArgumentParser]:
    """The commands that read a trained model: features, explain and compress."""
    features = command("features", _features, "similarity search, PCA/t-SNE, canvas, clusters")
    features.add_argument("--data", type=Path, required=True, help="Tiny ImageNet root")
    features.add_argument("--out", type=Path, required=True)
    source = features.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="a trained model's checkpoint")
    source.add_argument("--weights", help="pretrained VGG16 weights, e.g. IMAGENET1K_V1 (fc7)")

    explain = command("explain", _explain, "Grad-CAM panels of a trained model")
    explain.add_argument("--checkpoint", type=Path, required=True)
    explain.add_argument("--data", type=Path, required=True, help="Tiny ImageNet root (val)")
    explain.add_argument("--out", type=Path, required=True)
    explain.add_argument("--indices", type=int, nargs="+", help="val images to draw")
    explain.add_argument("--layer", help="target layer (default: last conv block)")

    compress = command("compress", _compress, "tensor-train compression of the head")
    compress.add_argument("--checkpoint", type=Path, required=True)
    compress.add_argument("--data", type=Path, required=True, help="Tiny ImageNet root")
    compress.add_argument("--out", type=Path, required=True)
    ranks = compress.add_mutually_exclusive_group(required=True)
    ranks.add_argument("--max-rank", type=int, help="cap on every TT rank")
    ranks.add_argument("--eps", type=float, help="relative Frobenius error bound per layer")
    compress.add_argument("--finetune-epochs", type=int, default=1)
    return [features, explain, compress]


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
