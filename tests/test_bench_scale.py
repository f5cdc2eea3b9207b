"""``benchmarks.bench_scale``: the rows, the per-process measurement and a tiny real run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks import bench_scale

COLUMNS = {
    "step", "classes", "images", "size_ratio", "small_s", "full_s", "time_ratio", "small_cpu_s",
    "full_cpu_s", "full_images_per_s", "small_anon_mib", "full_anon_mib", "anon_ratio",
    "small_file_mib", "full_file_mib", "small_rss_mib", "full_rss_mib", "small_disk_mib",
    "full_disk_mib",
}  # fmt: skip

# A stand-in step: holds CLASSES MiB of its own memory (anonymous) and writes CLASSES MiB to disk.
FAKE = """
import sys, time
from pathlib import Path
mib = int(sys.argv[2])
held = bytearray(mib * 2**20)
held[::4096] = b"x" * len(held[::4096])  # touch every page
Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
(Path(sys.argv[1]) / "data.bin").write_bytes(held)
time.sleep(0.1)  # long enough for a few samples
"""


def fake_steps(work: Path, *, classes: int, train_per_class: int, **_) -> list[bench_scale.Step]:
    grows = [sys.executable, "-c", FAKE, str(work / "out"), str(8 * classes)]
    flat = [sys.executable, "-c", FAKE, str(work / "flat"), "8"]  # the same at any size
    return [
        bench_scale.Step("grows", grows, classes * train_per_class, work / "out"),
        bench_scale.Step("flat", flat, classes, work / "flat"),
    ]


def test_rows_put_both_sizes_side_by_side_and_see_memory_grow(monkeypatch, tmp_path):
    monkeypatch.setattr(bench_scale, "steps", fake_steps)
    rows = bench_scale.run(classes=4, small_classes=1, train_per_class=3, work=tmp_path)
    assert [row["step"] for row in rows] == ["grows", "flat"]
    assert all(set(row) == COLUMNS for row in rows)
    grows, flat = rows
    assert grows["classes"] == "1 / 4" and grows["images"] == "3 / 12"
    assert grows["size_ratio"] == 4
    assert grows["full_anon_mib"] - grows["small_anon_mib"] == pytest.approx(24, abs=6)
    assert grows["full_rss_mib"] >= grows["full_anon_mib"]
    assert grows["full_disk_mib"] == pytest.approx(32, abs=1)
    assert flat["anon_ratio"] == pytest.approx(1, abs=0.2)
    assert all(row["small_s"] > 0 and row["full_cpu_s"] >= 0 for row in rows)
    assert list(tmp_path.iterdir()) == []  # the data of both sizes is removed


def test_a_failing_step_names_itself_and_shows_its_output(tmp_path):
    argv = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    with pytest.raises(RuntimeError, match=r"(?s)step broken failed with exit code 3.*boom"):
        bench_scale.measure(bench_scale.Step("broken", argv, 1, tmp_path), tmp_path / "log")


def test_small_size_must_be_smaller():
    with pytest.raises(ValueError, match="--small-classes 5"):
        bench_scale.run(classes=5, small_classes=5)


@pytest.mark.slow
def test_real_steps_at_a_tiny_size(tmp_path):
    """The five real commands, each in its own process (about 10 starts of torch)."""
    rows = bench_scale.run(
        classes=2, small_classes=1, train_per_class=4, val_per_class=2, work=tmp_path
    )
    assert [row["step"] for row in rows] == ["synth", "verify", "cache train", "cache val", "epoch"]
    assert all(set(row) == COLUMNS for row in rows)
    assert [row["images"] for row in rows] == ["8 / 16", "8 / 16", "4 / 8", "2 / 4", "4 / 8"]
    for row in rows:
        assert row["size_ratio"] == 2
        assert 0 < row["small_anon_mib"] <= row["small_rss_mib"]
        assert 0 < row["full_anon_mib"] <= row["full_rss_mib"]
        assert 0.5 < row["anon_ratio"] < 1.5  # a few images more change nothing
        assert 0 < row["small_disk_mib"] < row["full_disk_mib"] < 1
    assert list(tmp_path.iterdir()) == []
