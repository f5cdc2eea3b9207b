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
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Weights of torchvision's rgb_to_grayscale (ITU-R 601-2 luma), used by adjust_saturation.
_LUMA = (0.2989, 0.587, 0.114)

# Images per slice in apply_augment on the CPU (see there). 16 to 64 measured alike on 64x64
# batches of 64; 32 keeps the temporaries of a slice near 3 MB.
CPU_CHUNK = 32


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

    def part(self, index: slice) -> AugmentParams:
        """The parameters of the images ``index`` selects."""
        return replace(
            self,
            top=self.top[index],
            left=self.left[index],
            flip=self.flip[index],
            saturation=None if self.saturation is None else self.saturation[index],
            hue=None if self.hue is None else self.hue[index],
            hue_first=self.hue_first[index],
        )


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
    return apply_augment(images, params, size=config.size, mean=config.mean, std=config.std)


def apply_augment(
    images: Tensor,
    params: AugmentParams,
    *,
    size: int,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    chunk: int | None = None,
) -> Tensor:
    """Crop, mirror, resize and jitter uint8 images (N, 3, H, W); floats in [0, 1] out, or
    normalised with ``mean`` and ``std`` when they are given.

    On the CPU the batch goes through in slices of ``chunk`` images (default ``CPU_CHUNK``),
    each finished in place in its part of the output. The temporaries of a slice are small
    enough to be reused by the next slice and the next batch (and to stay in the CPU cache);
    batch-sized ones come back as fresh memory, paid in page faults, at every step.
    """
    if chunk is None:
        chunk = CPU_CHUNK if images.device.type == "cpu" else len(images)
    out = torch.empty(
        (len(images), images.shape[1], size, size), dtype=torch.float32, device=images.device
    )
    if mean is not None and std is not None:  # multiplying is about twice as fast as dividing
        mean_t = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
        inv_std = torch.tensor(std, device=images.device).reciprocal_().view(1, -1, 1, 1)
    step = max(chunk, 1)
    for start in range(0, len(images), step):
        part = slice(start, start + step)
        part_params = params.part(part)
        resized = crop_flip_resize(images[part], part_params, size=size)  # uint8
        jittered = color_jitter(out[part].copy_(resized).mul_(1 / 255), part_params, inplace=True)
        if mean is not None and std is not None:
            jittered.sub_(mean_t).mul_(inv_std)
    return out


def crop_flip_resize(images: Tensor, params: AugmentParams, *, size: int) -> Tensor:
    """The geometric part of the recipe on uint8 images (N, C, H, W); uint8 (N, C, size, size).

    All crops come out of one ``index_select`` over a strided view of the batch whose entry
    ``k`` is the crop starting at flat offset ``k`` (a view, nothing is copied). The uint8
    resize is the one torchvision uses on tensors; it rounds like PIL, so without jitter this
    path and the PIL one agree exactly. Mirroring after the resize gives the same pixels as
    before it (the bilinear grid is symmetric); each image is picked from the batch or its
    mirror image by one more ``index_select``.
    """
    images = images.contiguous()
    count, channels, height, width = images.shape
    crop = params.crop
    if count == 0:
        return images.new_empty((0, channels, size, size))
    reach = (channels - 1) * height * width + (crop - 1) * width + crop  # elements one crop spans
    windows = images.as_strided(
        (images.numel() - reach + 1, channels, crop, crop), (1, height * width, width, 1)
    )
    starts = torch.arange(count) * (channels * height * width) + params.top * width + params.left
    crops = windows.index_select(0, starts.to(images.device))  # (N, C, crop, crop)
    if crops.device.type == "cpu":  # what TF.resize runs for uint8 on the CPU, minus its checks
        resized = F.interpolate(crops, size=[size, size], mode="bilinear", antialias=True)
    else:
        resized = TF.resize(crops, [size, size], antialias=True)
    both = torch.cat([resized, resized.flip(-1)])  # (2N, C, size, size)
    chosen = torch.arange(count) + count * params.flip.long()
    return both.index_select(0, chosen.to(images.device))


def color_jitter(images: Tensor, params: AugmentParams, *, inplace: bool = False) -> Tensor:
    """Saturation then hue, or hue then saturation, per image (ColorJitter's random order).

    The whole batch goes through saturation, hue, saturation; each image's factor is 1 in the
    saturation step its order skips, which leaves it exactly unchanged. That costs one cheap
    step more than splitting the batch by order, and saves gathering and scattering it.
    """
    if not inplace:
        images = images.clone()
    saturation, hue = params.saturation, params.hue
    if saturation is not None and hue is not None:
        ones = torch.ones_like(saturation)
        adjust_saturation(images, torch.where(params.hue_first, ones, saturation), inplace=True)
        adjust_hue(images, hue, inplace=True)
        saturation = torch.where(params.hue_first, saturation, ones)
    elif hue is not None:
        adjust_hue(images, hue, inplace=True)
    if saturation is not None:
        adjust_saturation(images, saturation, inplace=True)
    return images


def adjust_saturation(images: Tensor, factors: Tensor, *, inplace: bool = False) -> Tensor:
    """Blend each image (N, 3, H, W) in [0, 1] with its grayscale version by its own factor.

    ``f * rgb + (1 - f) * gray`` is computed as ``rgb.lerp(gray, 1 - f)``: a factor of 1 leaves
    the image exactly as it was.
    """
    red, green, blue = images.unbind(dim=1)
    gray = red.mul(_LUMA[0]).add_(green, alpha=_LUMA[1]).add_(blue, alpha=_LUMA[2])  # (N, H, W)
    weights = (1 - factors).to(device=images.device, dtype=images.dtype).view(-1, 1, 1, 1)
    if inplace:
        return images.lerp_(gray.unsqueeze(1), weights).clamp_(0, 1)
    return torch.lerp(images, gray.unsqueeze(1), weights).clamp_(0, 1)


# Hue (in sixths of a turn) at which each channel (R, G, B) is the smallest (see adjust_hue).
_HUE_ANCHORS = (3.0, 5.0, 1.0)


def adjust_hue(images: Tensor, shifts: Tensor, *, inplace: bool = False) -> Tensor:
    """Rotate the HSV hue of each image (N, 3, H, W) in [0, 1] by its own shift (in turns).

    A hue rotation keeps each pixel's max and min channel, so only the hue ``h`` (in sixths of
    a turn, from -1 to 5) is computed, then each channel comes from the circular distance
    ``d`` between the rotated hue and the hue at which that channel is the smallest:
    ``channel = max - chroma * clamp(||h + 6 * shift - anchor| - 3| - 1, 0, 1)``, where
    ``||x| - 3|`` is ``3 - d`` for ``|x| <= 6``. The shift goes into the anchor (one number per
    image and channel, wrapped so that ``|h - anchor| < 6``), so no pixel needs a modulo.
    ``lerp`` with 0/1 float weights picks the hue formula of the largest channel: on the CPU
    bool masks and ``torch.where`` cost several times more than the arithmetic. Every
    (N, 3, H, W) step runs in place, in ``images`` itself when ``inplace``.
    """
    red, green, blue = images.unbind(dim=1)  # each (N, H, W)
    value, minimum = images.amax(dim=1), images.amin(dim=1)
    chroma = torch.sub(value, minimum, out=minimum)
    # hue * chroma from the formula of the largest channel (red wins ties, then green)
    hue6 = torch.sub(red, green).add_(chroma, alpha=4)  # blue
    other = torch.sub(blue, red).add_(chroma, alpha=2)  # green
    weight = torch.eq(value, green, out=torch.empty_like(value))  # 0/1 floats
    hue6.lerp_(other, weight)
    hue6.lerp_(torch.sub(green, blue, out=other), torch.eq(value, red, out=weight))  # red
    hue6.div_(torch.clamp(chroma, min=1e-12, out=weight))  # (N, H, W), from -1 to 5
    anchors = torch.tensor(_HUE_ANCHORS) + 1 - 6 * shifts.detach().float().cpu().view(-1, 1)
    anchors = anchors.remainder_(6).sub_(1).to(images.device, images.dtype)  # (N, 3) in [-1, 5)
    out = images if inplace else torch.empty_like(images)
    torch.sub(hue6.unsqueeze(1), anchors.view(-1, 3, 1, 1), out=out)  # (N, 3, H, W)
    out.abs_().sub_(3).abs_().clamp_(1, 2)  # 1 + clamp(||x| - 3| - 1, 0, 1)
    top = value.add_(chroma)  # max + chroma, so that top - chroma * out is the channel
    return torch.sub(top.unsqueeze(1), out.mul_(chroma.unsqueeze(1)), out=out)


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
