"""The batched tensor augmentation against the per-sample PIL recipe (torchvision v2).

Random parameters are compared as distributions (chi-square / Kolmogorov-Smirnov tests at
fixed seeds, so the tests are deterministic), pixels are compared exactly where the two paths
must agree (no jitter), and the colour kernels against torchvision's own kernels.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats
from torch.testing import assert_close
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from course_lib.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentConfig,
    AugmentParams,
    adjust_hue,
    adjust_saturation,
    apply_augment,
    augment_batch,
    color_jitter,
    crop_flip_resize,
    crop_side,
    denormalize,
    normalize_batch,
    sample_params,
    train_transform,
    val_transform,
)

NO_JITTER = AugmentConfig(saturation=None, hue=None)
DRAWS = 20_000
P_MIN = 1e-3  # fixed seeds: a p-value this small would mean a real mismatch


def smooth_images(n: int, seed: int = 0) -> torch.Tensor:
    """Colourful uint8 images (n, 3, 64, 64): upsampled noise, like photos more than noise."""
    coarse = torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    images = torch.nn.functional.interpolate(coarse, size=64, mode="bicubic").clamp(0, 1)
    return (images * 255).round().to(torch.uint8)


def to_pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(image.permute(1, 2, 0).numpy())


def test_train_transform_is_the_article_recipe():
    crop, flip, jitter, to_image, to_float, normalize = train_transform().transforms
    assert isinstance(crop, v2.RandomResizedCrop) and tuple(crop.size) == (64, 64)
    assert crop.scale == (56 / 64, 56 / 64) and crop.ratio == (1.0, 1.0)
    assert isinstance(flip, v2.RandomHorizontalFlip) and flip.p == 0.5
    assert jitter.saturation == (0.5, 2.0) and jitter.hue == (-0.05, 0.05)
    assert jitter.brightness is None and jitter.contrast is None
    assert isinstance(to_image, v2.ToImage) and to_float.dtype == torch.float32
    assert normalize.mean == list(IMAGENET_MEAN) and normalize.std == list(IMAGENET_STD)
    assert len(val_transform().transforms) == 3


def test_crop_is_60_pixels_at_offsets_0_to_4_like_torchvision():
    # scale is an area fraction: 56/64 of 64*64 is a 60x60 square, not 56x56
    assert crop_side(64, 64, 56 / 64) == 60
    torch.manual_seed(0)
    crop = v2.RandomResizedCrop(64, scale=(56 / 64, 56 / 64), ratio=(1.0, 1.0))
    draws = [crop.make_params([torch.zeros(3, 64, 64)]) for _ in range(2000)]
    assert {(d["height"], d["width"]) for d in draws} == {(60, 60)}
    theirs = np.array([[d["top"], d["left"]] for d in draws])
    params = sample_params(DRAWS, 64, 64, generator=torch.Generator().manual_seed(0))
    ours = np.stack([params.top.numpy(), params.left.numpy()], axis=1)
    assert params.crop == 60
    for column in range(2):  # top, left
        ours_counts = np.bincount(ours[:, column], minlength=5)
        theirs_counts = np.bincount(theirs[:, column], minlength=5)
        assert len(ours_counts) == len(theirs_counts) == 5  # support 0..4, nothing else
        assert stats.chisquare(ours_counts).pvalue > P_MIN  # uniform
        assert stats.chisquare(theirs_counts).pvalue > P_MIN
        assert stats.chi2_contingency([ours_counts, theirs_counts]).pvalue > P_MIN  # same law


def test_flip_rate_is_one_half():
    params = sample_params(DRAWS, 64, 64, generator=torch.Generator().manual_seed(1))
    flips = int(params.flip.sum())
    assert stats.binomtest(flips, DRAWS, 0.5).pvalue > P_MIN
    torch.manual_seed(1)
    flip = v2.RandomHorizontalFlip(p=0.5)
    image = torch.arange(2).view(1, 1, 2)
    theirs = sum(int(flip(image)[0, 0, 0]) for _ in range(2000))
    assert stats.binomtest(theirs, 2000, 0.5).pvalue > P_MIN


def test_jitter_factors_within_range_and_distributed_like_color_jitter():
    params = sample_params(DRAWS, 64, 64, generator=torch.Generator().manual_seed(2))
    saturation, hue = params.saturation.numpy(), params.hue.numpy()
    assert saturation.min() >= 0.5 and saturation.max() <= 2.0
    assert hue.min() >= -0.05 and hue.max() <= 0.05
    assert stats.kstest(saturation, stats.uniform(0.5, 1.5).cdf).pvalue > P_MIN
    assert stats.kstest(hue, stats.uniform(-0.05, 0.1).cdf).pvalue > P_MIN
    assert stats.binomtest(int(params.hue_first.sum()), DRAWS, 0.5).pvalue > P_MIN
    torch.manual_seed(2)
    jitter = v2.ColorJitter(saturation=(0.5, 2.0), hue=0.05)
    draws = [jitter.make_params([]) for _ in range(2000)]
    theirs = np.array([d["saturation_factor"] for d in draws])
    assert stats.ks_2samp(saturation, theirs).pvalue > P_MIN
    theirs = np.array([d["hue_factor"] for d in draws])
    assert stats.ks_2samp(hue, theirs).pvalue > P_MIN
    hue_first = [d["fn_idx"].tolist().index(3) < d["fn_idx"].tolist().index(2) for d in draws]
    assert stats.binomtest(sum(hue_first), 2000, 0.5).pvalue > P_MIN


def test_without_jitter_tensor_path_equals_pil_path():
    images = smooth_images(12)
    params = sample_params(12, 64, 64, config=NO_JITTER, generator=torch.Generator().manual_seed(3))
    ours = normalize_batch(apply_augment(images, params, size=64))
    to_tensor = val_transform()
    for i, image in enumerate(images):
        top, left = int(params.top[i]), int(params.left[i])
        pil = TF.resized_crop(to_pil(image), top, left, 60, 60, [64, 64], antialias=True)
        if params.flip[i]:
            pil = TF.horizontal_flip(pil)
        assert_close(ours[i], to_tensor(pil), atol=1e-6, rtol=0)
    assert 0 < int(params.flip.sum()) < 12  # both branches were exercised


def test_hue_and_saturation_match_torchvision_kernels():
    generator = torch.Generator().manual_seed(4)
    images = torch.rand(8, 3, 16, 16, generator=generator)
    images[0, :, :4] = 0.5  # gray pixels: no hue
    shifts = torch.empty(8).uniform_(-0.5, 0.5, generator=generator)
    factors = torch.empty(8).uniform_(0.0, 3.0, generator=generator)
    hue_ref = torch.stack(
        [TF.adjust_hue(im, float(s)) for im, s in zip(images, shifts, strict=True)]
    )
    sat_ref = torch.stack(
        [TF.adjust_saturation(im, float(f)) for im, f in zip(images, factors, strict=True)]
    )
    assert_close(adjust_hue(images, shifts), hue_ref, atol=1e-5, rtol=0)
    assert_close(adjust_saturation(images, factors), sat_ref, atol=1e-6, rtol=0)


def test_hue_matches_torchvision_on_uint8_colours_with_ties():
    # pixels from uint8 images tie often (two channels equal, gray, pure primaries): the
    # formula of the largest channel must be chosen like torchvision chooses it
    levels = torch.tensor([0, 1, 64, 128, 254, 255], dtype=torch.float32) / 255
    grid = torch.cartesian_prod(levels, levels, levels).T.reshape(3, 12, 18)  # all 216 colours
    images = grid.expand(9, -1, -1, -1).contiguous()
    shifts = torch.tensor([-0.5, -0.3, -0.05, -1e-4, 0.0, 1e-4, 0.05, 0.3, 0.5])
    expected = torch.stack(
        [TF.adjust_hue(im, float(s)) for im, s in zip(images, shifts, strict=True)]
    )
    assert_close(adjust_hue(images, shifts), expected, atol=1e-5, rtol=0)
    photos = smooth_images(8, seed=10).float() / 255
    shifts = torch.linspace(-0.5, 0.5, 8)
    expected = torch.stack(
        [TF.adjust_hue(im, float(s)) for im, s in zip(photos, shifts, strict=True)]
    )
    assert_close(adjust_hue(photos, shifts), expected, atol=1e-5, rtol=0)


def test_in_place_kernels_equal_the_copying_ones_and_copies_leave_the_input():
    images = smooth_images(4, seed=11).float() / 255
    before = images.clone()
    shifts, factors = torch.tensor([0.1, -0.2, 0.5, 0.0]), torch.tensor([0.5, 1.0, 2.0, 0.0])
    for kernel, values in ((adjust_hue, shifts), (adjust_saturation, factors)):
        copied = kernel(images, values)
        assert torch.equal(images, before)  # the input is untouched
        work = images.clone()
        assert kernel(work, values, inplace=True) is work
        assert torch.equal(work, copied)


def test_saturation_factor_one_leaves_images_exactly_unchanged():
    # color_jitter relies on it: the saturation step an image's order skips has factor 1
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(12))
    assert torch.equal(adjust_saturation(images, torch.ones(3)), images)


@pytest.mark.parametrize(
    "config",
    [AugmentConfig(), AugmentConfig(hue=None), AugmentConfig(saturation=None), NO_JITTER],
    ids=["both", "saturation", "hue", "none"],
)
def test_color_jitter_matches_torchvision_for_each_enabled_op(config):
    images = smooth_images(6, seed=13).float() / 255
    params = sample_params(6, 64, 64, config=config, generator=torch.Generator().manual_seed(13))
    out = color_jitter(images, params)
    for i, image in enumerate(images):
        steps = []
        if params.saturation is not None:
            steps.append(lambda x, f=float(params.saturation[i]): TF.adjust_saturation(x, f))
        if params.hue is not None:
            steps.insert(
                len(steps) if not params.hue_first[i] else 0,
                lambda x, h=float(params.hue[i]): TF.adjust_hue(x, h),
            )
        expected = image
        for step in steps:
            expected = step(expected)
        assert_close(out[i], expected, atol=1e-5, rtol=0)


def test_slices_of_the_batch_give_the_same_images_as_the_whole_batch():
    images = smooth_images(11, seed=14)
    params = sample_params(11, 64, 64, generator=torch.Generator().manual_seed(14))
    whole = apply_augment(images, params, size=64, chunk=11)
    assert torch.equal(apply_augment(images, params, size=64, chunk=4), whole)
    assert torch.equal(apply_augment(images, params, size=64), whole)  # the default slices
    normalized = apply_augment(images, params, size=64, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    assert_close(normalized, normalize_batch(whole), atol=1e-6, rtol=0)


def test_crop_flip_resize_takes_any_strided_batch():
    images = smooth_images(6, seed=15)
    params = sample_params(3, 64, 64, generator=torch.Generator().manual_seed(15))
    strided = images[::2]  # not contiguous
    expected = crop_flip_resize(strided.contiguous(), params, size=64)
    assert torch.equal(crop_flip_resize(strided, params, size=64), expected)
    assert expected.dtype == torch.uint8 and expected.shape == (3, 3, 64, 64)


def test_color_jitter_applies_each_images_own_order():
    images = smooth_images(6, seed=5).float() / 255
    params = AugmentParams(
        crop=60,
        top=torch.zeros(6, dtype=torch.long),
        left=torch.zeros(6, dtype=torch.long),
        flip=torch.zeros(6, dtype=torch.bool),
        saturation=torch.tensor([0.5, 2, 1.5, 0.7, 1.9, 1]),
        hue=torch.tensor([0.05, -0.05, 0.03, -0.02, 0.04, 0.0]),
        hue_first=torch.tensor([True, False, True, False, False, True]),
    )
    out = color_jitter(images, params)
    for i, image in enumerate(images):
        s, h = float(params.saturation[i]), float(params.hue[i])
        if params.hue_first[i]:
            expected = TF.adjust_saturation(TF.adjust_hue(image, h), s)
        else:
            expected = TF.adjust_hue(TF.adjust_saturation(image, s), h)
        assert_close(out[i], expected, atol=1e-5, rtol=0)


def test_augmented_outputs_have_the_statistics_of_the_pil_path():
    images = smooth_images(10, seed=6)
    repeats = 100
    batch = images.repeat(repeats, 1, 1, 1)  # (1000, 3, 64, 64)
    ours = augment_batch(batch, generator=torch.Generator().manual_seed(6))
    torch.manual_seed(6)
    recipe = train_transform()
    pils = [to_pil(image) for image in images]
    theirs = torch.stack([recipe(pils[i % len(pils)]) for i in range(len(batch))])
    for reduce in (lambda x: x.mean(dim=(0, 2, 3)), lambda x: x.std(dim=(0, 2, 3))):
        assert_close(reduce(ours), reduce(theirs), atol=0.02, rtol=0.02)
    per_image = (ours.view(repeats, 10, 3, -1).mean(-1), theirs.view(repeats, 10, 3, -1).mean(-1))
    # the spread over draws of each image's mean colour (what the jitter changes) agrees
    assert_close(per_image[0].std(dim=0), per_image[1].std(dim=0), atol=0.03, rtol=0.25)
    # negative control: the same comparison rejects a weaker jitter
    weak = AugmentConfig(saturation=(0.9, 1.1), hue=None)
    wrong = augment_batch(batch, config=weak, generator=torch.Generator().manual_seed(6))
    with pytest.raises(AssertionError):
        spread = wrong.view(repeats, 10, 3, -1).mean(-1).std(dim=0)
        assert_close(spread, per_image[1].std(dim=0), atol=0.03, rtol=0.25)


def test_augment_batch_shape_and_determinism():
    images = smooth_images(5)
    first = augment_batch(images, generator=torch.Generator().manual_seed(7))
    again = augment_batch(images, generator=torch.Generator().manual_seed(7))
    other = augment_batch(images, generator=torch.Generator().manual_seed(8))
    assert first.shape == (5, 3, 64, 64) and first.dtype == torch.float32
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert images.dtype == torch.uint8  # input untouched


def test_normalize_and_denormalize_round_trip_like_val_transform():
    images = smooth_images(3)
    normalized = normalize_batch(images)
    expected = torch.stack([val_transform()(to_pil(image)) for image in images])
    assert_close(normalized, expected, atol=1e-6, rtol=0)
    assert_close(denormalize(normalized), images.float() / 255, atol=1e-6, rtol=0)
    assert_close(denormalize(normalized[0]), images[0].float() / 255, atol=1e-6, rtol=0)


def test_crop_larger_than_image_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        crop_side(64, 32, 1.0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_path_matches_cpu_path():
    images = smooth_images(16)
    params = sample_params(16, 64, 64, generator=torch.Generator().manual_seed(9))
    cpu = apply_augment(images, params, size=64)
    gpu = apply_augment(images.cuda(), params, size=64)
    assert gpu.device.type == "cuda"
    assert_close(gpu.cpu(), cpu, atol=2 / 255, rtol=0)
