"""``python -m data_tools tiny-imagenet``: restructure-val, subset, verify, cache; the pipeline."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision import datasets

import data_tools.tiny_imagenet as tools
from course_lib.data.cache import load_cache
from course_lib.data.splits import random_split_indices
from course_lib.data.tiny_imagenet import TinyImageNet, read_val_annotations
from course_lib.data.verify import verify_tiny_imagenet
from course_lib.pipelines.data import run_data_pipeline
from course_lib.viz.grids import save_class_grid
from data_tools.__main__ import main as data_tools_main


@pytest.fixture
def root(tiny_imagenet, tmp_path) -> Path:
    copy = tmp_path / "source"
    shutil.copytree(tiny_imagenet, copy)
    return copy


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (symlinks followed) under ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_val_folders_match_annotations(root: Path, dest: Path) -> None:
    notes = read_val_annotations(root / "val" / "val_annotations.txt")
    folder = datasets.ImageFolder(dest)
    got = {Path(path).name: folder.classes[label] for path, label in folder.samples}
    assert got == {note.file_name: note.wnid for note in notes}
    for note in notes:
        copy = dest / note.wnid / note.file_name
        assert copy.read_bytes() == (root / "val" / "images" / note.file_name).read_bytes()


@pytest.mark.parametrize("link", [False, True])
def test_restructure_val_writes_imagefolder_layout_and_is_idempotent(root, tmp_path, link):
    before = tree_digest(root)
    dest = tmp_path / "val-folders"
    counts = tools.restructure_val(root, dest, link=link)
    assert counts == {"images": 16, "written": 16, "up_to_date": 0}
    assert_val_folders_match_annotations(root, dest)
    assert all(p.is_symlink() == link for p in dest.rglob("*.JPEG"))
    assert tools.restructure_val(root, dest, link=link)["written"] == 0  # second run: nothing
    assert tree_digest(root) == before  # the source is byte-identical


def test_dry_run_writes_nothing(root, tmp_path):
    counts = tools.restructure_val(root, tmp_path / "dest", dry_run=True)
    assert counts["written"] == 16 and not (tmp_path / "dest").exists()


def test_restructure_val_survives_an_interruption(root, tmp_path, monkeypatch):
    before = tree_digest(root)
    dest = tmp_path / "dest"
    copied = []
    real_copyfile = shutil.copyfile

    def copy_then_die(src, dst):
        if len(copied) == 5:  # killed while writing the sixth file: half of it is on disk
            Path(dst).write_bytes(Path(src).read_bytes()[:100])
            raise KeyboardInterrupt
        copied.append(src)
        real_copyfile(src, dst)

    monkeypatch.setattr(tools.shutil, "copyfile", copy_then_die)
    with pytest.raises(KeyboardInterrupt):
        tools.restructure_val(root, dest)
    monkeypatch.undo()
    assert len(list(dest.rglob("*.JPEG"))) == 5  # the half-written file is not under its name
    assert len(list(dest.rglob(".*.tmp"))) == 1
    counts = tools.restructure_val(root, dest)
    assert counts == {"images": 16, "written": 11, "up_to_date": 5}
    assert not list(dest.rglob(".*.tmp"))
    assert_val_folders_match_annotations(root, dest)
    assert tree_digest(root) == before


def test_a_damaged_copy_is_rewritten(root, tmp_path):
    dest = tmp_path / "dest"
    tools.restructure_val(root, dest)
    victim = next(dest.rglob("*.JPEG"))
    victim.write_bytes(b"changed")
    assert tools.restructure_val(root, dest)["written"] == 1
    assert_val_folders_match_annotations(root, dest)


def test_destination_inside_the_source_is_refused(root):
    with pytest.raises(ValueError, match="overlaps the dataset"):
        tools.restructure_val(root, root / "val" / "folders")


def test_subset_is_seeded_readable_and_keeps_boxes(root, tmp_path):
    before = tree_digest(root)
    counts = tools.make_subset(root, tmp_path / "a", num_classes=3, per_class=5, seed=1)
    assert counts == {"classes": 3, "train_images": 15, "val_images": 12}
    tools.make_subset(root, tmp_path / "b", num_classes=3, per_class=5, seed=1)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    tools.make_subset(root, tmp_path / "c", num_classes=3, per_class=5, seed=2)
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "c")
    train = TinyImageNet(tmp_path / "a", "train")
    val = TinyImageNet(tmp_path / "a", "val")
    assert len(train) == 15 and len(val) == 12 and len(train.boxes()) == 15
    source = TinyImageNet(root)
    original = dict(zip([Path(p).name for p, _ in source.samples], source.boxes(), strict=True))
    subset_boxes = dict(zip([Path(p).name for p, _ in train.samples], train.boxes(), strict=True))
    assert subset_boxes == {name: original[name] for name in subset_boxes}
    assert tree_digest(root) == before
    with pytest.raises(ValueError, match="already holds a different subset"):
        tools.make_subset(root, tmp_path / "a", num_classes=3, per_class=5, seed=2)


def test_subset_checks_its_arguments(root, tmp_path):
    with pytest.raises(ValueError, match="--classes 9: expected 1..4"):
        tools.make_subset(root, tmp_path / "s", num_classes=9, per_class=2)
    with pytest.raises(ValueError, match="fewer than --per-class 50"):
        tools.make_subset(root, tmp_path / "s", num_classes=2, per_class=50)
    with pytest.raises(ValueError, match="fewer than --val-per-class"):
        tools.make_subset(root, tmp_path / "s", num_classes=2, per_class=2, val_per_class=9)


def test_cli_verify_restructure_subset_and_cache(root, tmp_path, capsys):
    assert data_tools_main(["tiny-imagenet", "verify", str(root)]) == 0
    assert "train: 48 images in 4 classes (12 per class)" in capsys.readouterr().out
    argv = ["restructure-val", str(root), "--dest", str(tmp_path / "v"), "--link"]
    assert data_tools_main(["tiny-imagenet", *argv]) == 0
    assert "wrote 16 of 16 val images" in capsys.readouterr().out
    argv = [
        "subset",
        str(root),
        "--dest",
        str(tmp_path / "s"),
        "--classes",
        "2",
        "--per-class",
        "3",
        "--seed",
        "0",
    ]
    assert data_tools_main(["tiny-imagenet", *argv]) == 0
    argv = ["cache", str(tmp_path / "s"), "--split", "val", "--dest", str(tmp_path / "c")]
    assert data_tools_main(["tiny-imagenet", *argv]) == 0
    assert len(load_cache(tmp_path / "c")) == 6


def test_cli_reports_bad_input_in_one_line(root, tmp_path, capsys):
    assert data_tools_main(["tiny-imagenet", "verify", str(tmp_path / "missing")]) == 2
    assert "missing: dataset folder not found" in capsys.readouterr().err
    bad = root / "train" / "n02079146" / "images"
    Image.new("RGB", (64, 64)).save(bad / "extra.JPEG")
    (bad / "extra.JPEG").write_bytes(b"truncated")
    assert data_tools_main(["tiny-imagenet", "verify", str(root)]) == 1
    assert "corrupt images: 1" in capsys.readouterr().out


def test_data_pipeline_end_to_end(root, tmp_path):
    picks = []

    def pick(labels, n):
        picks.append(n)
        return list(range(n))

    grid = save_class_grid(
        TinyImageNet(root, "train"), tmp_path / "grid.png", n_per_class=2, pick=pick
    )
    assert picks == [2] and grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = run_data_pipeline(root, tmp_path / "run", seed=3)
    assert out["num_classes"] == 4 and out["train_images"] == 48 and out["val_images"] == 16
    assert out["split_sizes"] == [46, 2]
    splits = json.loads(Path(out["splits"]).read_text())
    assert splits["parts"] == random_split_indices(48, seed=3)
    assert Path(out["grid"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(load_cache(out["train_cache"])) == 48
    assert load_cache(out["val_cache"]).labels.tolist() == TinyImageNet(root, "val").targets
    assert run_data_pipeline(root, tmp_path / "run", seed=3)["train_images"] == 48  # rerun


def test_data_pipeline_stops_on_problems_unless_only_corrupt_images_are_skipped(root, tmp_path):
    bad = root / "val" / "images" / "val_3.JPEG"
    bad.write_bytes(bad.read_bytes()[:150])
    with pytest.raises(ValueError, match="failed verification"):
        run_data_pipeline(root, tmp_path / "run")
    out = run_data_pipeline(root, tmp_path / "run", skip_corrupt=True)
    assert out["val_images"] == 15 and out["skipped_images"] == 1


def test_cli_cache_skipping_corrupt_images_cuts_the_file_in_place(root, tmp_path):
    """Rows are streamed to images.npy; skipped images shrink it without a copy of the data."""
    bad = sorted((sorted((root / "train").iterdir())[1] / "images").iterdir())[0]
    bad.write_bytes(bad.read_bytes()[:100])
    dest = tmp_path / "cache"
    argv = ["tiny-imagenet", "cache", str(root), "--dest", str(dest), "--skip-corrupt"]
    assert data_tools_main(argv) == 0
    images = np.load(dest / "images.npy")  # a plain .npy: every reader accepts it
    assert images.shape == (47, 3, 64, 64) and images.dtype == np.uint8
    assert (dest / "images.npy").stat().st_size == 128 + images.nbytes  # no rows left behind
    kept = [path for path, _ in TinyImageNet(root, "train").samples if path != str(bad)]
    for row, path in ((0, kept[0]), (12, kept[12]), (46, kept[46])):
        assert np.array_equal(
            images[row], np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)
        )


def test_verify_streams_the_images_and_counts_every_split(root):
    """verify checks files as it lists them; counts and problems are the same as listed."""
    first = sorted((root / "train").iterdir())[0] / "images"
    first.rename(root.parent / "moved")
    report = verify_tiny_imagenet(root, show_progress=False)
    assert sorted(report.counts["train"].values()) == [0, 12, 12, 12]
    assert sum(report.counts["val"].values()) == 16
    assert len(report.problems) == 1 and "missing or empty" in report.problems[0]
