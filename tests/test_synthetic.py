"""Synthetic datasets: the real layouts, exact boxes, determinism, learnable classes."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from course_lib.data.synthetic import make_cacd, make_tiny_imagenet
from course_lib.data.synthetic.common import MARKER
from course_lib.data.synthetic.faces import draw_face
from course_lib.data.synthetic.objects import (
    COLOURS,
    MAX_CLASSES,
    class_description,
    class_spec,
    draw_object,
)
from data_tools.__main__ import main as data_tools_main

WNID = re.compile(r"n\d{8}")


def read_layout(root: Path) -> dict:
    """Parse a Tiny ImageNet folder with plain readers, checking every format rule on the way."""
    wnids = (root / "wnids.txt").read_text().splitlines()
    assert wnids and all(WNID.fullmatch(w) for w in wnids) and len(set(wnids)) == len(wnids)
    words = dict(line.split("\t") for line in (root / "words.txt").read_text().splitlines())
    assert all(WNID.fullmatch(w) for w in words) and set(wnids) < set(words)  # plus others
    boxes = {}
    for wnid in wnids:
        lines = (root / "train" / wnid / f"{wnid}_boxes.txt").read_text().splitlines()
        for line in lines:
            name, *coords = line.split("\t")
            assert re.fullmatch(rf"{wnid}_\d+\.JPEG", name)
            boxes[f"train/{wnid}/images/{name}"] = (wnid, *map(int, coords))
        assert len(lines) == len(list((root / "train" / wnid / "images").iterdir()))
    for line in (root / "val" / "val_annotations.txt").read_text().splitlines():
        name, wnid, *coords = line.split("\t")
        assert re.fullmatch(r"val_\d+\.JPEG", name) and wnid in wnids
        boxes[f"val/images/{name}"] = (wnid, *map(int, coords))
    assert len(list((root / "val" / "images").iterdir())) == sum(k[:3] == "val" for k in boxes)
    for path, (_, x0, y0, x1, y1) in boxes.items():
        assert (root / path).is_file() and 0 <= x0 <= x1 <= 63 and 0 <= y0 <= y1 <= 63, path
    tests = sorted((root / "test" / "images").iterdir())
    assert all(re.fullmatch(r"test_\d+\.JPEG", p.name) for p in tests)
    return {"wnids": wnids, "words": words, "boxes": boxes, "test": tests}


def test_layout_matches_real_format(tiny_imagenet, real_sample):
    ours, real = read_layout(tiny_imagenet), read_layout(real_sample)
    for layout, root in ((ours, tiny_imagenet), (real, real_sample)):
        assert layout["test"]  # unlabelled test images
        images = [root / p for p in layout["boxes"]] + layout["test"]
        infos = [Image.open(p) for p in images]
        assert {(im.format, im.size) for im in infos} == {("JPEG", (64, 64))}
        assert {im.mode for im in infos} == {"RGB", "L"}  # a few one-channel JPEGs, like real
    assert len(ours["wnids"]) == 4 and len(ours["boxes"]) == 4 * 12 + 4 * 4
    for wnid in ours["wnids"]:  # "first name, other name" like "goldfish, Carassius auratus"
        assert re.fullmatch(r"[a-z ]+, [a-z ]+", ours["words"][wnid])


def test_class_names_are_unique_and_specs_distinct():
    specs = [class_spec(i) for i in range(MAX_CLASSES)]
    firsts = [class_description(i).split(", ")[0] for i in range(MAX_CLASSES)]
    assert len(set(specs)) == len(set(firsts)) == MAX_CLASSES
    assert len({spec[0] for spec in specs[:10]}) == 10  # ten shapes among the first ten
    with pytest.raises(ValueError, match="num_classes"):
        make_tiny_imagenet(Path("unused"), num_classes=MAX_CLASSES + 1, seed=0)


@pytest.mark.parametrize("index", [0, 4, 6, 9, 104, 255])
def test_box_is_the_exact_extent_of_the_object(index):
    for k in range(20):
        image, mask, (x0, y0, x1, y1) = draw_object(index, np.random.default_rng(k))
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert not mask[:y0].any() and not mask[y1 + 1 :].any()
        assert not mask[:, :x0].any() and not mask[:, x1 + 1 :].any()
        assert mask[y0].any() and mask[y1].any() and mask[:, x0].any() and mask[:, x1].any()


def test_saved_boxes_hold_the_object_colour(tiny_imagenet):
    layout = read_layout(tiny_imagenet)
    inside, outside = [], []
    for path, (wnid, x0, y0, x1, y1) in layout["boxes"].items():
        image = Image.open(tiny_imagenet / path)
        if image.mode != "RGB":
            continue
        _, colour, _ = class_spec(layout["wnids"].index(wnid))
        near = np.abs(np.asarray(image, np.float32) - COLOURS[colour][1]).max(axis=2) < 40
        box = np.zeros_like(near)
        box[y0 : y1 + 1, x0 : x1 + 1] = True
        inside.append(near[box].mean())
        outside.append(near[~box].mean() if (~box).any() else 0.0)
    assert np.mean(inside) > 0.5 and np.mean(outside) < 0.05


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes_and_rerun_is_a_no_op(tmp_path):
    options = {"num_classes": 3, "train_per_class": 4, "val_per_class": 2, "seed": 5}
    first = make_tiny_imagenet(tmp_path / "a", **options)
    second = make_tiny_imagenet(tmp_path / "b", **options)
    assert files(first) == files(second)
    other = make_tiny_imagenet(tmp_path / "c", **{**options, "seed": 6})
    assert files(other).keys() != files(first).keys()  # other wnids
    stamp = (first / "wnids.txt").stat().st_mtime_ns
    make_tiny_imagenet(first, **options)  # complete already: nothing rewritten
    assert (first / "wnids.txt").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="not hold the synthetic dataset"):
        make_tiny_imagenet(first, **{**options, "num_classes": 2})


def test_interrupted_run_is_replaced(tmp_path):
    partial = tmp_path / ".data.partial"
    (partial / "train").mkdir(parents=True)
    (partial / "train" / "junk.JPEG").write_bytes(b"half")
    root = make_tiny_imagenet(
        tmp_path / "data", num_classes=2, train_per_class=2, val_per_class=1, seed=0
    )
    assert not partial.exists() and (root / MARKER).is_file()
    assert not (root / "train" / "junk.JPEG").exists()


def test_cacd_faces_match_metadata_and_are_reproducible(cacd, tmp_path):
    from course_lib.data.cacd import load_cacd_meta

    meta = load_cacd_meta(cacd / "celebrity2000_meta.mat")
    assert len(meta) == 6 * 5
    names = sorted(p.name for p in (cacd / "CACD2000").iterdir())
    assert names == sorted(meta["name"])
    assert all(
        name.startswith(f"{age}_") for age, name in zip(meta["age"], meta["name"], strict=True)
    )
    assert (meta["age"] == meta["year"] - meta["birth"]).all()
    assert Image.open(cacd / "CACD2000" / names[0]).size == (64, 64)
    again = make_cacd(tmp_path / "cacd", people=6, images_per_person=5, seed=0)
    assert files(again) == files(cacd)


def test_face_age_groups_are_learnable():
    """A linear model on 16 x 16 pixels tells the six decades apart far above chance."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import cross_val_score
    from threadpoolctl import threadpool_limits

    from course_lib.data.synthetic.faces import person_traits

    rng = np.random.default_rng(0)
    people = [person_traits(np.random.default_rng([9, p])) for p in range(30)]
    ages = rng.integers(10, 70, size=600)
    images = [draw_face(a, people[i % 30], np.random.default_rng(i)) for i, a in enumerate(ages)]
    x = np.stack([np.asarray(Image.fromarray(im).resize((16, 16)), np.float32) for im in images])
    with threadpool_limits(1):  # extra BLAS threads only wait on a busy shared CPU
        scores = cross_val_score(RidgeClassifier(alpha=10.0), x.reshape(600, -1) / 255, ages // 10)
    print(f"decade accuracy {scores.mean():.2f}")
    assert scores.mean() > 0.35  # chance is 1/6


def load_split(root: Path, layout: dict, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    items = [(p, w) for p, (w, *_) in layout["boxes"].items() if p.startswith(split)]
    images = [np.asarray(Image.open(root / p).convert("RGB")) for p, _ in items]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255  # (N, 3, 64, 64)
    y = torch.tensor([layout["wnids"].index(w) for _, w in items])
    return x, y


def test_small_cnn_learns_the_classes_quickly(tmp_path, one_thread):
    torch.manual_seed(0)
    root = make_tiny_imagenet(
        tmp_path / "t", num_classes=10, train_per_class=60, val_per_class=20, test_images=0, seed=1
    )
    layout = read_layout(root)
    (x, y), (x_val, y_val) = load_split(root, layout, "train"), load_split(root, layout, "val")
    model = nn.Sequential(
        nn.Conv2d(3, 12, 5, stride=2, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 12, 16, 16)
        nn.Conv2d(12, 24, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 24, 8, 8)
        nn.Conv2d(24, 48, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(48, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    start = time.perf_counter()
    for _ in range(6):
        for batch in torch.randperm(len(x)).split(32):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    with torch.no_grad():
        accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
    print(f"val accuracy {accuracy:.2f} after {time.perf_counter() - start:.1f} s of training")
    assert accuracy > 0.4  # chance is 0.1


def test_command_line_writes_both_datasets(tmp_path, capsys):
    tiny = [
        "synth",
        "tiny-imagenet",
        str(tmp_path / "t"),
        "--classes",
        "2",
        "--train-per-class",
        "3",
        "--val-per-class",
        "1",
        "--test-images",
        "2",
    ]
    assert data_tools_main(tiny) == 0
    assert len(list((tmp_path / "t" / "test" / "images").iterdir())) == 2
    cacd = ["synth", "cacd", str(tmp_path / "c"), "--people", "2", "--images-per-person", "2"]
    assert data_tools_main(cacd) == 0
    assert (tmp_path / "c" / "celebrity2000.mat").is_file()
    assert "synthetic CACD" in capsys.readouterr().out
    again = ["synth", "cacd", str(tmp_path / "c"), "--people", "2", "--images-per-person", "2"]
    assert data_tools_main(again) == 0  # through python -m data_tools; already complete


def test_course_reader_accepts_the_synthetic_layout(tiny_imagenet):
    from course_lib.data.tiny_imagenet import TinyImageNet
    from course_lib.data.verify import verify_tiny_imagenet

    report = verify_tiny_imagenet(tiny_imagenet, show_progress=False)
    assert report.ok, report.summary()
    assert report.counts["train"] == dict.fromkeys(sorted(read_layout(tiny_imagenet)["wnids"]), 12)
    assert report.grayscale
    val = TinyImageNet(tiny_imagenet, "val")
    wnids = [
        line.split("\t")[1]
        for line in (tiny_imagenet / "val" / "val_annotations.txt").read_text().splitlines()
    ]
    assert [val.classes[label] for _, label in val.samples] == wnids
    image, label = val[0]
    assert image.mode == "RGB" and image.size == (64, 64)
    assert (
        val.class_names[label]
        == class_description(read_layout(tiny_imagenet)["wnids"].index(val.classes[label])).split(
            ","
        )[0]
    )
