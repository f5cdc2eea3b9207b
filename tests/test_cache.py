"""The decoded uint8 cache: contents, atomic writes, reuse, corrupt images, the batch loader."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from course_lib.data import cache as cache_module
from course_lib.data.cache import (
    CachedLoader,
    build_cache,
    load_cache,
)
from course_lib.data.tiny_imagenet import TinyImageNet, load_rgb
from course_lib.data.transforms import AugmentConfig, augment_batch, val_transform


@pytest.fixture
def dataset(tiny_imagenet, tmp_path) -> TinyImageNet:
    """The synthetic train split, copied so that tests may damage it."""
    root = tmp_path / "data"
    shutil.copytree(tiny_imagenet, root)
    return TinyImageNet(root, "train")


@pytest.fixture
def built(dataset, tmp_path) -> Path:
    return build_cache(dataset, tmp_path / "cache")


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_cache_holds_every_decoded_image_and_label(dataset, built):
    cache = load_cache(built)
    assert cache.images.shape == (len(dataset), 3, 64, 64) and cache.images.dtype == torch.uint8
    assert cache.labels.tolist() == dataset.targets
    assert cache.classes == dataset.classes
    for index in (0, 13, len(dataset) - 1):
        expected = np.asarray(load_rgb(dataset.samples[index][0])).transpose(2, 0, 1)
        assert np.array_equal(cache.images[index].numpy(), expected)


def test_images_are_memory_mapped_and_never_written(built):
    before = _digest(built)
    cache = load_cache(built)
    assert isinstance(np.load(built / "images.npy", mmap_mode="r"), np.memmap)
    for _ in CachedLoader(cache, batch_size=16, shuffle=True, augment=AugmentConfig()):
        pass
    cache.images[0].zero_()  # copy-on-write: changes the mapping, not the file
    assert _digest(built) == before
    assert load_cache(built, mmap=False).images.shape == cache.images.shape


def test_complete_cache_is_reused(dataset, built, monkeypatch):
    def fail(path):
        raise AssertionError("decoded again")

    monkeypatch.setattr(cache_module, "load_rgb", fail)
    assert build_cache(dataset, built) == built
    with pytest.raises(AssertionError, match="decoded again"):
        build_cache(dataset, built, overwrite=True)


def test_interrupted_build_leaves_nothing_trusted_and_rerun_completes(dataset, tmp_path):
    out = tmp_path / "cache"
    build_cache(dataset, out)  # an older complete cache is there too
    decoded = []
    real_load = cache_module.load_rgb

    def interrupted(path):
        if len(decoded) == 20:
            raise KeyboardInterrupt
        decoded.append(path)
        return real_load(path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cache_module, "load_rgb", interrupted)
        with pytest.raises(KeyboardInterrupt):
            build_cache(dataset, out, overwrite=True)
    assert not (out / "meta.json").exists()
    assert not list(out.glob(".*.tmp"))
    with pytest.raises(FileNotFoundError, match="meta.json not found"):
        load_cache(out)
    build_cache(dataset, out)
    assert load_cache(out).labels.tolist() == dataset.targets


def test_corrupt_image_raises_or_is_skipped_and_listed(dataset, tmp_path, caplog):
    bad = Path(dataset.samples[5][0])
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(ValueError, match=rf"{bad.name}: cannot decode"):
        build_cache(dataset, tmp_path / "strict")
    assert not (tmp_path / "strict" / "meta.json").exists()
    with caplog.at_level(logging.WARNING):
        out = build_cache(dataset, tmp_path / "lenient", skip_corrupt=True)
    assert str(bad) in caplog.text
    cache = load_cache(out)
    assert len(cache) == len(dataset) - 1 and cache.meta["skipped"] == [str(bad)]
    assert cache.labels.tolist() == dataset.targets[:5] + dataset.targets[6:]
    expected = np.asarray(load_rgb(dataset.samples[6][0])).transpose(2, 0, 1)
    assert np.array_equal(cache.images[5].numpy(), expected)


def test_mismatched_files_are_refused(built):
    meta = json.loads((built / "meta.json").read_text())
    meta["shape"][0] += 1
    (built / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not match meta.json"):
        load_cache(built)


def test_loader_covers_each_index_once_per_epoch(built):
    cache = load_cache(built)
    loader = CachedLoader(cache, batch_size=10, shuffle=True, seed=3)
    assert len(loader) == -(-len(cache) // 10)
    first = [batch_labels for _, batch_labels in loader]
    assert sorted(torch.cat(first).tolist()) == sorted(cache.labels.tolist())
    second = torch.cat([labels for _, labels in loader])
    assert not torch.equal(torch.cat(first), second)  # reshuffled each epoch
    assert len(CachedLoader(cache, batch_size=10, drop_last=True)) == len(cache) // 10


def test_loader_without_augmentation_equals_the_pil_val_path(dataset, built):
    cache = load_cache(built)
    subset = [3, 17, 40]
    loader = CachedLoader(cache, batch_size=2, indices=subset)
    images, labels = (torch.cat(parts) for parts in zip(*loader, strict=True))
    assert labels.tolist() == [dataset.targets[i] for i in subset]
    expected = torch.stack([val_transform()(load_rgb(dataset.samples[i][0])) for i in subset])
    assert_close(images, expected, atol=1e-6, rtol=0)


def test_loader_augments_reproducibly_on_the_requested_device(built):
    cache = load_cache(built)

    def first_batch(seed):
        loader = CachedLoader(cache, batch_size=8, augment=AugmentConfig(), seed=seed, device="cpu")
        return next(iter(loader))

    images, labels = first_batch(0)
    assert images.shape == (8, 3, 64, 64) and images.dtype == torch.float32
    assert images.device.type == "cpu" and labels.dtype == torch.int64
    assert torch.equal(images, first_batch(0)[0]) and not torch.equal(images, first_batch(1)[0])


def test_loader_augments_its_batch_like_augment_batch(built):
    cache = load_cache(built)
    config = AugmentConfig()
    loader = CachedLoader(cache, batch_size=8, indices=range(3, 40), augment=config, seed=4)
    images, labels = next(iter(loader))
    expected = augment_batch(cache.images[3:11], generator=torch.Generator().manual_seed(4))
    assert torch.equal(images, expected)
    assert labels.tolist() == cache.labels[3:11].tolist()


def test_empty_dataset_is_refused(tmp_path):
    class Empty:
        samples: list = []
        classes = ["a"]

    with pytest.raises(ValueError, match="no samples"):
        build_cache(Empty(), tmp_path / "cache")
