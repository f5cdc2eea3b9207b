"""Scale of the data tools: Tiny ImageNet at full size next to a tenth of it.

Every step runs in its own process, as a user runs it, on a synthetic Tiny ImageNet of the full
size (200 classes x 500 train images, 10 000 val and 10 000 test images) and of a tenth
(20 classes, the same counts per class):

* synth: ``python -m data_tools synth tiny-imagenet ROOT --classes C --train-per-class 500
  --val-per-class 50`` (val and test get 50 images per class, 10 000 each at full size);
* verify: ``python -m data_tools tiny-imagenet verify ROOT`` (every image decoded);
* cache train, cache val: ``python -m data_tools tiny-imagenet cache ROOT --split S --dest D``;
* epoch: one shuffled epoch of the train cache through ``CachedLoader`` with the training
  augmentation (batches of 64 on the CPU, one torch thread).

For each step: wall and CPU seconds; the peak anonymous memory of the process (``RssAnon``, its
own heap: sampled from ``/proc/PID/status`` every 10 ms, and after every batch by the epoch
process itself); the peak file-backed memory (``RssFile``, pages of files mapped into memory,
such as the memory-mapped cache, which the kernel can drop at any time); the peak resident set
(``ru_maxrss`` of the process from ``wait4``, both kinds together); and the disk the step writes
or reads (the dataset folder, the cache). A step scales when its anonymous memory stays flat
while the data grows: ``anon_ratio`` (full / small) near 1 next to a ``size_ratio`` of 10.

    python -m benchmarks.bench_scale [--classes 200] [--small-classes 20] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIB = 2**20
SAMPLE_S = 0.01  # how often the parent reads a step's /proc/PID/status
BYTES_PER_IMAGE = 20_000  # disk of one image: its JPEG file, its cache row, with room to spare
EPOCH_CODE = "import sys; from benchmarks.bench_scale import epoch_main; sys.exit(epoch_main())"


@dataclass(frozen=True)
class Step:
    name: str
    argv: list[str]
    images: int
    disk: Path  # the folder the step writes or reads


@dataclass(frozen=True)
class Measure:
    seconds: float
    cpu_seconds: float
    anon: int  # peak RssAnon, bytes
    file: int  # peak RssFile, bytes
    rss: int  # ru_maxrss, bytes
    disk: int  # bytes on disk of Step.disk


def _data_tools(*args: object) -> list[str]:
    return [sys.executable, "-m", "data_tools", *map(str, args)]


def steps(
    work: Path,
    *,
    classes: int,
    train_per_class: int,
    val_per_class: int,
    batch_size: int,
    threads: int,
) -> list[Step]:
    """The five steps on a dataset of ``classes`` classes written under ``work``."""
    root, cache = work / "tiny-imagenet", work / "cache"
    train, val = classes * train_per_class, classes * val_per_class
    synth = _data_tools(
        "synth", "tiny-imagenet", root, "--classes", classes,
        "--train-per-class", train_per_class, "--val-per-class", val_per_class,
    )  # fmt: skip
    epoch = [sys.executable, "-c", EPOCH_CODE, str(cache / "train"), str(batch_size), str(threads)]
    return [
        Step("synth", synth, train + 2 * val, root),
        Step("verify", _data_tools("tiny-imagenet", "verify", root), train + 2 * val, root),
        Step(
            "cache train",
            _data_tools(
                "tiny-imagenet", "cache", root, "--split", "train", "--dest", cache / "train"
            ),
            train,
            cache / "train",
        ),
        Step(
            "cache val",
            _data_tools("tiny-imagenet", "cache", root, "--split", "val", "--dest", cache / "val"),
            val,
            cache / "val",
        ),
        Step("epoch", epoch, train, cache / "train"),
    ]


def _status_bytes(status: str, field: str) -> int:
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # "RssAnon:   1234 kB"
    return 0


def _read_status(pid: int | str) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):  # exited between two samples
        return ""


def disk_bytes(folder: Path) -> int:
    """Bytes the files under ``folder`` take on disk (allocated blocks, as ``du``)."""
    total = 0
    for parent, _, names in os.walk(folder):
        total += sum(os.lstat(os.path.join(parent, name)).st_blocks * 512 for name in names)
    return total


def measure(step: Step, log: Path) -> Measure:
    """Run ``step`` in a child process; its time, memory peaks and disk."""
    env = {**os.environ, "COURSE_LIB_PROGRESS": "0", "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    with open(log, "wb") as out:
        child = subprocess.Popen(step.argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    anon = file = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        text = _read_status(child.pid)
        anon = max(anon, _status_bytes(text, "RssAnon"))
        file = max(file, _status_bytes(text, "RssFile"))
        time.sleep(SAMPLE_S)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    output = log.read_text(errors="replace")
    if child.returncode != 0:
        raise RuntimeError(
            f"step {step.name} failed with exit code {child.returncode}: {' '.join(step.argv)}\n"
            f"{output[-3000:]}"
        )
    if step.name == "epoch":  # the child's own per-batch peaks (its last line, JSON)
        own = json.loads(output.strip().splitlines()[-1])
        if own["images"] != step.images:
            raise RuntimeError(f"epoch gave {own['images']} images, expected {step.images}")
        anon, file = max(anon, own["peak_anon"]), max(file, own["peak_file"])
    return Measure(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        anon=anon,
        file=file,
        rss=usage.ru_maxrss * 1024,  # kB on Linux
        disk=disk_bytes(step.disk),
    )


def epoch_main(argv: list[str] | None = None) -> int:
    """The epoch step's process: ``CACHE_DIR BATCH_SIZE THREADS``; prints its peaks as JSON."""
    import torch

    from course_lib.data.cache import CachedLoader, load_cache
    from course_lib.data.transforms import AugmentConfig

    cache_dir, batch_size, threads = sys.argv[1:] if argv is None else argv
    if int(threads) > 0:
        torch.set_num_threads(int(threads))
    loader = CachedLoader(
        load_cache(cache_dir), batch_size=int(batch_size), shuffle=True, augment=AugmentConfig()
    )
    images = peak_anon = peak_file = 0
    for batch, _labels in loader:  # (B, 3, H, W) float32
        images += len(batch)
        status = _read_status("self")
        peak_anon = max(peak_anon, _status_bytes(status, "RssAnon"))
        peak_file = max(peak_file, _status_bytes(status, "RssFile"))
    print(json.dumps({"images": images, "peak_anon": peak_anon, "peak_file": peak_file}))
    return 0


def _measure_size(work: Path, **options: int) -> tuple[list[Step], list[Measure]]:
    plan = steps(work, **options)
    needed = plan[0].images * BYTES_PER_IMAGE
    free = shutil.disk_usage(work).free
    if free < needed:
        raise OSError(
            f"{work} has {free / MIB:.0f} MiB free, the run needs about {needed / MIB:.0f} MiB: "
            "pass --work DIR on a larger disk, or fewer --classes"
        )
    return plan, [measure(step, work / f"{step.name}.log") for step in plan]


def run(
    *,
    classes: int = 200,
    small_classes: int = 20,
    train_per_class: int = 500,
    val_per_class: int = 50,
    batch_size: int = 64,
    threads: int = 1,
    work: str | os.PathLike | None = None,
) -> list[dict]:
    """One row per step: both sizes side by side, with the ratios full / small.

    The data of each size lives in a temporary folder under ``work`` (default: the system's
    temporary folder), removed when the size is done. ``threads``: torch's CPU threads in the
    epoch (0: torch's default); one, the default, keeps the time steady on a shared machine.
    """
    if not 0 < small_classes < classes:
        raise ValueError(f"--small-classes {small_classes}: expected 1..{classes - 1}")
    results = {}
    for size in (small_classes, classes):
        with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=work) as folder:
            results[size] = _measure_size(
                Path(folder),
                classes=size,
                train_per_class=train_per_class,
                val_per_class=val_per_class,
                batch_size=batch_size,
                threads=threads,
            )
    (small_plan, small), (full_plan, full) = results[small_classes], results[classes]
    return [
        _row(s_step, f_step, s, f, f"{small_classes} / {classes}")
        for s_step, f_step, s, f in zip(small_plan, full_plan, small, full, strict=True)
    ]


def _row(small_step: Step, step: Step, small: Measure, full: Measure, classes: str) -> dict:
    return {
        "step": step.name,
        "classes": classes,
        "images": f"{small_step.images} / {step.images}",
        "size_ratio": step.images / small_step.images,
        "small_s": small.seconds,
        "full_s": full.seconds,
        "time_ratio": full.seconds / small.seconds,
        "small_cpu_s": small.cpu_seconds,
        "full_cpu_s": full.cpu_seconds,
        "full_images_per_s": step.images / full.seconds,
        "small_anon_mib": small.anon / MIB,
        "full_anon_mib": full.anon / MIB,
        "anon_ratio": full.anon / small.anon,
        "small_file_mib": small.file / MIB,
        "full_file_mib": full.file / MIB,
        "small_rss_mib": small.rss / MIB,
        "full_rss_mib": full.rss / MIB,
        "small_disk_mib": small.disk / MIB,
        "full_disk_mib": full.disk / MIB,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scale", description=__doc__)
    parser.add_argument("--classes", type=int, default=200, help="full size (default 200)")
    parser.add_argument("--small-classes", type=int, default=None, help="default: a tenth")
    parser.add_argument("--train-per-class", type=int, default=500, help="default 500")
    parser.add_argument("--val-per-class", type=int, default=50, help="val and test, default 50")
    parser.add_argument("--batch-size", type=int, default=64, help="of the epoch (default 64)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, 0: default")
    parser.add_argument("--work", type=Path, default=None, help="folder for the data (temporary)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = run(
        classes=args.classes,
        small_classes=args.small_classes or max(1, args.classes // 10),
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        batch_size=args.batch_size,
        threads=args.threads,
        work=args.work,
    )
    from benchmarks.__main__ import markdown_table  # imports torch: not in this process before

    print(markdown_table(rows))
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
