"""The training recipe of the course, per sample (PIL, torchvision v2) and batched (tensors).

Both paths are built from one :class:`AugmentConfig`, so they cannot drift apart:

* :func:`train_transform` / :func:`val_transform` are the article's per-sample pipelines, used
  with ``ImageFolder``-style datasets.
* :func:`augment_batch` applies the same random crop, flip and colour jitter to a whole uint8
  batch at once (CPU or GPU), with per-sample random parameters drawn like torchvision draws
  them. It is the fast path used with the decoded cache (``course_lib.data.cache``).

Note on the crop: ``RandomResizedCrop(64, scale=(56/64, 56/64), ratio=(1, 1))`` keeps 56/64 of
the *area*, so the square it cuts is ``round(sqrt(64 * 64 * 56 / 64)) = 60`` pixels wide (not
56), at an offset drawn uniformly from ``0..4`` in each direction, then resized back to 64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Weights of torchvision's rgb_to_grayscale (ITU-R 601-2 luma), used by adjust_saturation.
_LUMA = (0.2989, 0.587, 0.114)


@dataclass(frozen=True)
class AugmentConfig:
    """Parameters of the training augmentation; ``None`` turns a colour jitter off."""

    size: int = 64
    scale: float = 56 / 64  # area fraction kept by the square crop
    flip_p: float = 0.5
    saturation: tuple[float, float] | None = (0.5, 2.0)
    hue: float | None = 0.05  # hue shift drawn from [-hue, hue], in turns of the colour wheel
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


def crop_side(height: int, width: int, scale: float) -> int:
    """Side of the square crop RandomResizedCrop takes for a fixed area ``scale`` (ratio 1)."""
    side = int(round(math.sqrt(height * width * scale)))
    if not 0 < side <= min(height, width):
        raise ValueError(f"scale={scale} gives a {side}px crop that does not fit {height}x{width}")
    return side


def train_transform(*, config: AugmentConfig = AugmentConfig()) -> v2.Compose:
    """Per-sample training pipeline of article 001 (PIL image in, normalised tensor out)."""
    steps = [
        v2.RandomResizedCrop(config.size, scale=(config.scale, config.scale), ratio=(1.0, 1.0)),
        v2.RandomHorizontalFlip(p=config.flip_p),
    ]
    if config.saturation is not None or config.hue is not None:
        steps.append(v2.ColorJitter(saturation=config.saturation, hue=config.hue))
    return v2.Compose([*steps, *_to_normalized_tensor(config)])


def val_transform(*, config: AugmentConfig = AugmentConfig()) -> v2.Compose:
    """Per-sample evaluation pipeline: no augmentation, only conversion and normalisation."""
    return v2.Compose(_to_normalized_tensor(config))


def _to_normalized_tensor(config: AugmentConfig) -> list[v2.Transform]:
    return [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(config.mean), std=list(config.std)),
    ]


@dataclass(frozen=True)
class AugmentParams:
    """Random parameters of one batch, one entry per image (all tensors have shape (B,))."""

    crop: int  # side of the square crop, the same for every image
    top: Tensor
    left: Tensor
    flip: Tensor  # bool
    saturation: Tensor | None  # factor, 1 = unchanged
    hue: Tensor | None  # shift in turns
    hue_first: Tensor  # bool: ColorJitter applies its enabled ops in a random order


def sample_params(
    batch_size: int,
    height: int,
    width: int,
    *,
    config: AugmentConfig = AugmentConfig(),
    generator: torch.Generator | None = None,
) -> AugmentParams:
    """Draw per-image parameters on the CPU, with the distributions torchvision uses."""
    crop = crop_side(height, width, config.scale)

    def uniform(low: float, high: float) -> Tensor:
        return torch.empty(batch_size).uniform_(low, high, generator=generator)

    return AugmentParams(
        crop=crop,
        top=torch.randint(0, height - crop + 1, (batch_size,), generator=generator),
        left=torch.randint(0, width - crop + 1, (batch_size,), generator=generator),
        flip=torch.rand(batch_size, generator=generator) < config.flip_p,
        saturation=None if config.saturation is None else uniform(*config.saturation),
        hue=None if config.hue is None else uniform(-config.hue, config.hue),
        hue_first=torch.rand(batch_size, generator=generator) < 0.5,
    )


def augment_batch(
    images: Tensor,
    *,
    config: AugmentConfig = AugmentConfig(),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Augment and normalise a uint8 batch (N, 3, H, W) on its own device; float32 out."""
    params = sample_params(len(images), *images.shape[-2:], config=config, generator=generator)
    augmented = apply_augment(images, params, size=config.size)  # a new tensor: normalise in place
    mean = torch.tensor(config.mean, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(config.std, device=images.device).view(1, -1, 1, 1)
    return augmented.sub_(mean).div_(std)


def apply_augment(images: Tensor, params: AugmentParams, *, size: int) -> Tensor:
    """Crop, mirror, resize and jitter uint8 images (N, 3, H, W); floats in [0, 1] out.

    Mirroring before the resize gives the same pixels as after it (the bilinear grid is
    symmetric) and is cheaper on the small uint8 crops. The uint8 resize is the one torchvision
    uses on tensors; it rounds like PIL, so without jitter the two paths agree exactly.
    """
    crop = params.crop
    crops = [
        image[:, top : top + crop, left : left + crop]
        for image, top, left in zip(images, params.top.tolist(), params.left.tolist(), strict=True)
    ]
    crops = [c.flip(-1) if flip else c for c, flip in zip(crops, params.flip.tolist(), strict=True)]
    resized = TF.resize(torch.stack(crops), [size, size], antialias=True)  # (N, 3, size, size)
    return color_jitter(resized.float().div_(255), params)


def color_jitter(images: Tensor, params: AugmentParams) -> Tensor:
    """Saturation then hue, or hue then saturation, per image (ColorJitter's random order)."""
    if params.saturation is None and params.hue is None:
        return images
    out = torch.empty_like(images)
    for hue_first in (False, True):
        index = torch.nonzero(params.hue_first == hue_first).squeeze(1)  # CPU, like the params
        part = images.index_select(0, index.to(images.device))
        if hue_first and params.hue is not None:
            part = adjust_hue(part, params.hue[index])
        if params.saturation is not None:
            part = adjust_saturation(part, params.saturation[index])
        if not hue_first and params.hue is not None:
            part = adjust_hue(part, params.hue[index])
        out.index_copy_(0, index.to(images.device), part)
    return out


def adjust_saturation(images: Tensor, factors: Tensor) -> Tensor:
    """Blend each image (N, 3, H, W) in [0, 1] with its grayscale version by its own factor.

    The blend ``f * rgb + (1 - f) * gray`` is linear in RGB, so it is one 3x3 matrix per image.
    """
    luma = torch.tensor(_LUMA, device=images.device)
    factors = factors.to(images.device).view(-1, 1, 1)
    eye = torch.eye(3, device=images.device)
    matrices = factors * eye + (1 - factors) * luma  # (N, 3, 3), each row blends towards gray
    mixed = torch.bmm(matrices, images.flatten(2))  # (N, 3, H * W)
    return mixed.view_as(images).clamp_(0, 1)


# Offset of each output channel (R, G, B) in the HSV -> RGB closed form (see adjust_hue).
_HUE_OFFSETS = (6.0, 4.0, 2.0)


def adjust_hue(images: Tensor, shifts: Tensor) -> Tensor:
    """Rotate the HSV hue of each image (N, 3, H, W) in [0, 1] by its own shift (in turns).

    A hue rotation keeps each pixel's max and min channel, so only the hue ``h`` (in sixths of
    a turn) is computed, shifted, and turned back into RGB with the closed form
    ``channel = min + chroma * clamp(|(h + offset) mod 6 - 3| - 1, 0, 1)``.
    Steps run in place where they can, and ``lerp`` with a 0/1 weight selects: on the CPU a
    fresh (N, 3, H, W) buffer per step, or ``torch.where``, costs more than the arithmetic.
    """
    red, green, blue = images.unbind(dim=1)  # each (N, H, W)
    value, minimum = images.amax(dim=1), images.amin(dim=1)
    chroma = value - minimum
    # hue * chroma from the formula of the largest channel (red wins ties, then green)
    hue6 = torch.lerp(red - green + 4 * chroma, blue - red + 2 * chroma, (value == green).float())
    hue6 = torch.lerp(hue6, green - blue, (value == red).float())
    hue6.div_(chroma.clamp(min=1e-12)).add_(6 * shifts.to(images.device).view(-1, 1, 1))
    offsets = torch.tensor(_HUE_OFFSETS, device=images.device).view(1, 3, 1, 1)
    k = (hue6[:, None] + offsets).remainder_(6)  # (N, 3, H, W)
    k.sub_(3).abs_().sub_(1).clamp_(0, 1)
    return k.mul_(chroma[:, None]).add_(minimum[:, None])


def normalize_batch(
    images: Tensor,
    *,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Tensor:
    """(N, C, H, W) uint8 or floats in [0, 1] -> float32 normalised per channel."""
    images = images.float().div_(255) if not images.is_floating_point() else images.float()
    mean_t = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    return torch.sub(images, mean_t).div_(std_t)


def denormalize(
    images: Tensor,
    *,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Tensor:
    """Undo :func:`normalize_batch` for display: floats in [0, 1], shape unchanged."""
    shape = (-1, 1, 1) if images.dim() == 3 else (1, -1, 1, 1)
    mean_t = torch.tensor(mean, device=images.device).view(shape)
    std_t = torch.tensor(std, device=images.device).view(shape)
    return (images * std_t + mean_t).clamp(0, 1)
