"""The whole course in one run: every pipeline, a graded assignment and ``report.html``.

On the embedded default (synthetic Tiny ImageNet and CACD written in their real layouts) the
pipelines use small models and finish in a few minutes on a laptop CPU. Given real dataset
folders they use the articles' settings (VGG16 transfer, pretrained fc7 features, ConvNeXt-Tiny).
The grading step runs the standalone autograder as a separate command, as an instructor would.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from course_lib.checkpoint import model_from_checkpoint
from course_lib.cli import add_run_options
from course_lib.data.synthetic import make_cacd, make_tiny_imagenet
from course_lib.data.tiny_imagenet import TinyImageNet
from course_lib.data.transforms import val_transform
from course_lib.files import prepare_out_dir
from course_lib.models import load_torchvision
from course_lib.pipelines.age import run_age
from course_lib.pipelines.compress import run_compress_checkpoint
from course_lib.pipelines.data import run_data_pipeline
from course_lib.pipelines.explain import run_explain
from course_lib.pipelines.features import run_features
from course_lib.pipelines.training import pipeline_device
from course_lib.pipelines.transfer import run_transfer
from course_lib.report import Section, write_report
from course_lib.utils import get_device

log = logging.getLogger(__name__)

#: What a demo writes in its folder; ``overwrite`` replaces these and leaves anything else.
DEMO_OUTPUTS = (
    "data",
    "data_pipeline",
    "transfer",
    "features",
    "age",
    "explain",
    "compress",
    "grading",
    "report.html",
)
#: The assignment whose student bundle the demo builds and grades.
DEMO_ASSIGNMENT = "a2_transfer"
REPO_ROOT = Path(__file__).resolve().parents[2]


def run_demo(
    out_dir: str | os.PathLike,
    *,
    data_root: str | os.PathLike | None = None,
    cacd_root: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    overwrite: bool = False,
    quick: bool = False,
) -> dict[str, Any]:
    """Run every pipeline into ``out_dir``; return the report's path and the key figures.

    ``quick`` is a smoke run (smaller synthetic data, one epoch per training stage) that
    checks every step and the report in a fraction of the time. An existing non-empty
    ``out_dir`` needs ``overwrite``, which replaces what a demo writes there and nothing else.
    ``device`` defaults to the CPU.
    """
    out = prepare_demo_dir(out_dir, overwrite=overwrite)
    tiny, cacd = _datasets(out / "data", data_root, cacd_root, quick=quick)
    results, seconds = _run_steps(
        out,
        tiny,
        cacd,
        device=pipeline_device(device),
        epochs=1 if quick else None,
        real_tiny=data_root is not None,
        real_cacd=cacd_root is not None,
    )
    sections = [
        _data_section(results["data"]),
        _training_section("2. Transfer learning", out / "transfer", results["transfer"]),
        _features_section(results["features"]),
        _training_section("4. Age groups (CACD)", out / "age", results["age"]),
        _explain_section(out / "explain", results["explain"]),
        _compress_section(out / "compress", results["compress"]),
        results["grading"],
        Section("Run", tables=[("seconds per step", pd.DataFrame(seconds, columns=["step", "s"]))]),
    ]
    report = write_report(sections, out / "report.html", title="Image recognition course demo")
    return {
        "report": report,
        "seconds": dict(seconds),
        "transfer_test": results["transfer"]["test"],
        "age_test": results["age"]["test"],
        "compression": results["compress"]["table"],
        "grading": results["grading"].tables[0][0],
    }


def _run_steps(
    out: Path,
    tiny: Path,
    cacd: Path,
    *,
    device: torch.device,
    epochs: int | None,
    real_tiny: bool,
    real_cacd: bool,
) -> tuple[dict[str, Any], list[tuple[str, float]]]:
    """Run each pipeline in turn (the articles' models on real data, small ones on synthetic
    data); return their results by step name and the seconds each took."""
    results: dict[str, Any] = {}
    seconds: list[tuple[str, float]] = []

    def step(name: str, run: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        log.info("demo: %s ...", name)
        results[name] = run(*args, **kwargs)
        seconds.append((name, round(time.perf_counter() - started, 1)))

    step("data", run_data_pipeline, tiny, out / "data_pipeline")
    config = "transfer_vgg16" if real_tiny else "transfer_demo"
    training = {"device": device, "epochs": epochs}
    options = {**training, "cache_dir": out / "data_pipeline" / "cache"}
    step("transfer", run_transfer, config, data_root=tiny, out_dir=out / "transfer", **options)
    checkpoint = out / "transfer" / "checkpoints" / "last.pt"
    model, _ = model_from_checkpoint(checkpoint, device=device)
    feature_model = load_torchvision("vgg16", weights="IMAGENET1K_V1") if real_tiny else model
    options = {"device": device, "num_clusters": 30 if real_tiny else 4}
    step("features", run_features, tiny, out / "features", model=feature_model, **options)
    config = "age_convnext_tiny" if real_cacd else "age_demo"
    step("age", run_age, config, data_root=cacd, out_dir=out / "age", **training)
    val = TinyImageNet(tiny, "val", transform=val_transform())
    step("explain", run_explain, model, val, out / "explain", device=device)
    options = {"device": device, **({"eps": 0.3} if real_tiny else {"max_rank": 16})}
    step("compress", run_compress_checkpoint, checkpoint, tiny, out / "compress", **options)
    step("grading", grade_assignment, out / "grading")
    return results, seconds


def prepare_demo_dir(out_dir: str | os.PathLike, *, overwrite: bool) -> Path:
    """Create the demo folder; with ``overwrite``, first remove a previous demo's outputs."""
    out = Path(out_dir)
    if overwrite:
        for name in DEMO_OUTPUTS:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    return prepare_out_dir(out, overwrite=overwrite)


def _datasets(
    folder: Path,
    data_root: str | os.PathLike | None,
    cacd_root: str | os.PathLike | None,
    *,
    quick: bool,
) -> tuple[Path, Path]:
    """The dataset folders: the given real ones, else synthetic ones written under ``folder``."""
    tiny = Path(data_root) if data_root is not None else folder / "tiny-imagenet"
    cacd = Path(cacd_root) if cacd_root is not None else folder / "cacd"
    per_class = 30 if quick else 100
    if data_root is None:
        make_tiny_imagenet(
            tiny, num_classes=10, train_per_class=per_class, val_per_class=20, seed=0
        )
    if cacd_root is None:
        make_cacd(cacd, people=24 if quick else 48, images_per_person=12, seed=0)
    return tiny, cacd


def grade_assignment(out: Path, *, assignment: str = DEMO_ASSIGNMENT) -> Section:
    """Build the student bundle of ``assignment`` and grade the solution and the untouched
    release with the standalone grader, as separate commands."""
    out.mkdir(parents=True, exist_ok=True)
    bundle = out / "bundle"
    _autograder("release", assignment, "--out", str(bundle))
    tables = []
    for name, notebook in (
        ("solution", REPO_ROOT / "solutions" / assignment / f"{assignment}.ipynb"),
        ("release, unmodified", bundle / f"{assignment}.ipynb"),
    ):
        results = out / f"results_{name.split(',')[0]}.json"
        _autograder("grade", assignment, str(notebook), "--out", str(results))
        graded = json.loads(results.read_text(encoding="utf-8"))
        rows = [(t["name"], t["score"], t["max_score"]) for t in graded["tests"]]
        total = f"{graded['score']:g} / {sum(t['max_score'] for t in graded['tests']):g}"
        tables.append((f"{name}: {total}", pd.DataFrame(rows, columns=["test", "score", "max"])))
    return Section(
        f"6. Grading ({assignment})",
        text=f"Student bundle built in {bundle}; the solution notebook and the unmodified "
        "release graded by `python -m autograder grade` in a sandboxed process.",
        tables=tables,
    )


def _autograder(*args: str) -> None:
    command = [sys.executable, "-m", "autograder", *args]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: graded, but not every case passed
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def _data_section(data: dict[str, Any]) -> Section:
    keys = ("num_classes", "train_images", "val_images", "grayscale_images", "skipped_images")
    counts = pd.DataFrame([(key, data[key]) for key in keys], columns=["", "count"])
    return Section(
        "1. Tiny ImageNet layout",
        text="Val labels recovered from val_annotations.txt; 95/5 seeded split of train.",
        figures=[Path(data["grid"])],
        tables=[("dataset", counts)],
    )


def _training_section(title: str, run_dir: Path, summary: dict[str, Any]) -> Section:
    test = {key: round(value, 4) for key, value in summary["test"].items()}
    metrics = pd.DataFrame([{"chance top-1": round(summary["chance_top1"], 4), **test}])
    figures = [run_dir / name for name in summary["files"].values() if name.endswith(".png")]
    return Section(
        title,
        text=f"{summary['config']} ({summary['model']}), {summary['epochs']} epochs, "
        f"{summary['train_seconds']} s of training, tested on {summary['test_split']}.",
        figures=figures,
        tables=[("test metrics", metrics)],
    )


def _features_section(result: dict[str, Any]) -> Section:
    figures = [*result["similar"], result["pca"], result["tsne"], result["canvas"]]
    if result.get("descriptions_tsne"):
        figures.append(result["descriptions_tsne"])
    retrieval = {
        "k": result["k"],
        "precision@k": round(result["precision_at_k"], 4),
        "chance": round(result["chance_precision"], 4),
        "layer": result["layer"],
    }
    clusters = Path(result["clusters"]).read_text() if result.get("clusters") else ""
    return Section(
        "3. Feature similarity and class-description clusters",
        figures=[Path(f) for f in figures],
        tables=[("retrieval by cosine similarity", pd.DataFrame([retrieval]))],
        preformatted=clusters,
    )


def _explain_section(folder: Path, result: dict[str, Any]) -> Section:
    scores = {k: result[k] for k in ("top1", "pointing_game", "mass_in_box") if k in result}
    return Section(
        "5a. Grad-CAM",
        text=f"Target layer {result['target_layer']}: correct and wrong predictions.",
        figures=[folder / "cams.png"],
        tables=[("localisation", pd.DataFrame([scores]).round(4))],
    )


def _compress_section(folder: Path, result: dict[str, Any]) -> Section:
    scores = ("correlation", "pointing", "mass")
    cams = [
        {"model": model, **{score: result.get(f"cam_{score}_{model}_mean") for score in scores}}
        for model in ("original", "compressed", "finetuned")
    ]
    return Section(
        "5b. Tensor-train compression of the head",
        text=f"{result['classifier_reduction']:.1f}x fewer classifier parameters; top-1 "
        f"changed by {-result['top1_drop']:+.3f} once the head was fine-tuned. Grad-CAMs of "
        "the true class: correlation with the original's, pointing game, mass in the box.",
        figures=[folder / "cams.png"],
        tables=[
            ("parameters, size and top-1", pd.DataFrame(result["table"])),
            ("Grad-CAM agreement (mean over images)", pd.DataFrame(cams).round(3)),
        ],
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """``python -m course_lib demo``."""
    text = "run every pipeline and write report.html"
    parser = subparsers.add_parser("demo", help=text, description=text)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--data", type=Path, help="real Tiny ImageNet root (default: synthetic)")
    parser.add_argument("--cacd", type=Path, help="real CACD folder (default: synthetic)")
    parser.add_argument("--quick", action="store_true", help="smoke run: less data, 1 epoch")
    add_run_options(parser)
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
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
