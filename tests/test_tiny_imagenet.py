"""Tiny ImageNet reader: class maps, val labels, boxes, grayscale, bad input, the real sample."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision import datasets

from course_lib.data.tiny_imagenet import (
    TinyImageNet,
    class_name_maps,
    load_rgb,
    load_val_labels,
    pick_per_class,
    read_class_maps,
    read_val_annotations,
)
from course_lib.data.verify import verify_tiny_imagenet

WORDS = {
    "n02000002": "tabby, tabby cat",
    "n01000001": "goldfish, Carassius auratus",
    "n03000003": "school bus",
    "n09999999": "entity",  # in words.txt but not a class, like most of the real file
}
WNIDS = ["n03000003", "n01000001", "n02000002"]  # unsorted on purpose
# val files listed in an order that interleaves the classes
VAL_WNIDS = ["n02000002", "n01000001", "n03000003", "n01000001", "n03000003", "n02000002"]
VAL = [(f"val_{i}.JPEG", wnid) for i, wnid in enumerate(VAL_WNIDS)]


def _jpeg(path: Path, seed: int, *, gray: bool = False) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    path.parent.mkdir(parents=True, exist_ok=True)
    (image.convert("L") if gray else image).save(path, quality=90)


def write_layout(root: Path, train_per_class: int = 3) -> Path:
    """A three-class Tiny ImageNet in the real layout, with one grayscale JPEG per split."""
    root.mkdir(parents=True)
    (root / "wnids.txt").write_text("".join(f"{w}\n" for w in WNIDS))
    (root / "words.txt").write_text("".join(f"{w}\t{d}\n" for w, d in WORDS.items()))
    for c, wnid in enumerate(WNIDS):
        lines = []
        for i in range(train_per_class):
            _jpeg(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", 10 * c + i, gray=i == 1)
            lines.append(f"{wnid}_{i}.JPEG\t{i}\t{c}\t{40 + i}\t{50 + c}\n")
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("".join(lines))
    notes = []
    for i, (name, wnid) in enumerate(VAL):
        _jpeg(root / "val" / "images" / name, 100 + i, gray=i == 4)
        notes.append(f"{name}\t{wnid}\t{i}\t1\t{30 + i}\t60\n")
    (root / "val" / "val_annotations.txt").write_text("".join(notes))
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_layout(tmp_path / "tiny")


def test_classes_and_samples_follow_imagefolder_on_train(root):
    dataset = TinyImageNet(root, "train")
    folder = datasets.ImageFolder(root / "train")
    assert dataset.classes == sorted(WNIDS) == folder.classes
    assert dataset.samples == folder.samples
    assert dataset.targets == folder.targets


def test_class_names_and_descriptions(root):
    dataset = TinyImageNet(root)
    assert dataset.class_names == ["goldfish", "tabby", "school bus"]
    assert dataset.descriptions[0] == "goldfish, Carassius auratus"
    maps = read_class_maps(root)
    assert maps.wnid_to_idx == {"n01000001": 0, "n02000002": 1, "n03000003": 2}
    assert maps.name_to_idx["school bus"] == 2


def test_val_labels_come_from_annotations(root):
    dataset = TinyImageNet(root, "val")
    class_to_idx = dataset.class_to_idx
    assert [Path(p).name for p, _ in dataset.samples] == [name for name, _ in VAL]
    assert dataset.targets == [class_to_idx[wnid] for _, wnid in VAL] == [1, 0, 2, 0, 2, 1]


def test_items_are_rgb_including_grayscale_files(root):
    for split in ("train", "val"):
        dataset = TinyImageNet(root, split)
        for index in range(len(dataset)):
            image, label = dataset[index]
            assert image.mode == "RGB" and image.size == (64, 64)
            assert label == dataset.targets[index]
    gray = load_rgb(root / "val" / "images" / "val_4.JPEG")
    red, green, blue = (np.asarray(gray)[..., c] for c in range(3))
    assert np.array_equal(red, green) and np.array_equal(green, blue)


def test_transform_is_applied(root):
    dataset = TinyImageNet(root, "val", transform=lambda image: image.size)
    assert dataset[0] == ((64, 64), 1)


def test_boxes_are_aligned_with_samples(root):
    train = TinyImageNet(root, "train")
    assert train.boxes()[:2] == [(0, 1, 40, 51), (1, 1, 41, 51)]  # goldfish: line 2 of wnids
    val = TinyImageNet(root, "val")
    assert val.boxes()[3] == (3, 1, 33, 60)


def test_class_name_maps_matches_the_article_recipe():
    wnids = sorted(WNIDS)
    idx_to_description, name_to_idx = class_name_maps(wnids, WORDS)
    # article 000: idx2explanation and explanation2idx
    idx2explanation = {idx: WORDS[wnid] for idx, wnid in enumerate(wnids)}
    explanation2idx = {v.split(",")[0]: k for k, v in idx2explanation.items()}
    assert idx_to_description == idx2explanation
    assert name_to_idx == explanation2idx == {"goldfish": 0, "tabby": 1, "school bus": 2}


def test_load_val_labels_in_file_order(root):
    class_to_idx = {w: i for i, w in enumerate(sorted(WNIDS))}
    labels = load_val_labels(root / "val" / "val_annotations.txt", class_to_idx)
    assert labels == [(name, class_to_idx[wnid]) for name, wnid in VAL]


def test_load_val_labels_names_file_and_line_of_unknown_wnid(root):
    path = root / "val" / "val_annotations.txt"
    with pytest.raises(KeyError, match=r"val_annotations.txt:3: unknown wnid 'n03000003'"):
        load_val_labels(path, {"n01000001": 0, "n02000002": 1})


def test_pick_per_class_first_n_of_each_class_in_ascending_order():
    labels = [2, 0, 1, 0, 2, 0, 1, 2, 2]
    assert pick_per_class(labels, 2) == [1, 3, 2, 6, 0, 4]
    assert pick_per_class(labels, 10) == [1, 3, 5, 2, 6, 0, 4, 7, 8]
    # equal class sizes in class order: the same as the article's reshape trick
    equal = np.repeat(np.arange(4), 6).tolist()
    article = np.arange(len(equal)).reshape(-1, 6)[:, :3].flatten().tolist()
    assert pick_per_class(equal, 3) == article


@pytest.mark.parametrize(
    ("broken", "error", "pattern"),
    [
        (lambda r: (r / "wnids.txt").unlink(), FileNotFoundError, r"wnids.txt not found"),
        (lambda r: (r / "words.txt").unlink(), FileNotFoundError, r"words.txt not found"),
        (
            lambda r: (r / "words.txt").write_text("n01000001\tgoldfish\n"),
            KeyError,
            r"words.txt has no description for \['n02000002', 'n03000003'\]",
        ),
        (lambda r: (r / "wnids.txt").write_text("\n"), ValueError, r"wnids.txt is empty"),
        (
            lambda r: [p.unlink() for p in (r / "train" / "n02000002" / "images").iterdir()],
            ValueError,
            r"n02000002/images is empty",
        ),
        (
            lambda r: (r / "train" / "n09999999" / "images").mkdir(parents=True),
            ValueError,
            r"not listed in wnids.txt: \['n09999999'\]",
        ),
    ],
)
def test_bad_train_layout_names_the_file(root, broken, error, pattern):
    broken(root)
    with pytest.raises(error, match=pattern):
        TinyImageNet(root, "train")


def test_bad_val_annotations_name_file_and_line(root):
    path = root / "val" / "val_annotations.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], "val_9.JPEG\tn07777777\t0\t0\t1\t1", *lines[2:]]))
    with pytest.raises(KeyError, match=r"val_annotations.txt:3: wnid 'n07777777'"):
        TinyImageNet(root, "val")
    path.write_text("val_0.JPEG n01000001 0 0\n")
    with pytest.raises(ValueError, match=r"val_annotations.txt:1: expected 'file wnid x0 y0"):
        read_val_annotations(path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match=r"val_annotations.txt not found"):
        TinyImageNet(root, "val")


def test_missing_root_and_bad_split(tmp_path, root):
    with pytest.raises(FileNotFoundError, match=r"nowhere: dataset folder not found"):
        TinyImageNet(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"split='test'"):
        TinyImageNet(root, "test")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_jpeg_raises_naming_the_file(root, damage):
    path = root / "train" / "n02000002" / "images" / "n02000002_2.JPEG"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a jpeg" * 50)
    dataset = TinyImageNet(root, "train")
    index = [p for p, _ in dataset.samples].index(str(path))
    with pytest.raises(ValueError, match=r"n02000002_2.JPEG: cannot decode the image"):
        dataset[index]


def test_skip_corrupt_leaves_unreadable_images_out_and_lists_them(root, caplog):
    bad = root / "val" / "images" / "val_3.JPEG"
    bad.write_bytes(bad.read_bytes()[:300])
    with caplog.at_level(logging.WARNING):
        dataset = TinyImageNet(root, "val", skip_corrupt=True)
    assert len(dataset) == len(VAL) - 1 and dataset.skipped == [str(bad)]
    assert str(bad) in caplog.text
    assert all(image.mode == "RGB" for image, _ in dataset)


def test_verify_counts_grayscale_and_problems(root):
    report = verify_tiny_imagenet(root)
    assert report.ok
    assert report.counts["train"] == dict.fromkeys(sorted(WNIDS), 3)
    assert report.counts["val"] == dict.fromkeys(sorted(WNIDS), 2)
    assert len(report.grayscale) == 4  # one per train class and one in val
    (root / "val" / "images" / "val_5.JPEG").unlink()
    bad = root / "train" / "n01000001" / "images" / "n01000001_0.JPEG"
    bad.write_bytes(b"\xff\xd8 broken")
    report = verify_tiny_imagenet(root)
    assert not report.ok
    assert report.corrupt == [str(bad)]
    assert any("val_5.JPEG: missing" in problem for problem in report.problems)
    assert "corrupt images: 1" in report.summary()


# The real sample: 10 classes, 100 train and 50 val images each, 14 grayscale JPEGs.


def test_real_sample_counts_and_labels(real_sample):
    train, val = TinyImageNet(real_sample, "train"), TinyImageNet(real_sample, "val")
    assert len(train.classes) == 10 and train.classes == val.classes
    assert np.bincount(train.targets).tolist() == [100] * 10
    assert np.bincount(val.targets).tolist() == [50] * 10
    notes = read_val_annotations(real_sample / "val" / "val_annotations.txt")
    assert val.targets == [val.class_to_idx[note.wnid] for note in notes]
    assert len(set(val.targets)) == 10  # not ImageFolder's all-zero labels
    assert train.class_names[0] == "goldfish"


def test_real_sample_every_image_is_rgb_64(real_sample):
    report = verify_tiny_imagenet(real_sample)
    assert report.ok, report.summary()
    assert len(report.grayscale) == 14
    for split in ("train", "val"):
        for image, _ in TinyImageNet(real_sample, split):
            assert image.mode == "RGB" and image.size == (64, 64)
    for path in report.grayscale:  # including the one in test/
        image = load_rgb(path)
        assert image.mode == "RGB" and image.size == (64, 64)
