"""Grad-CAM figures: the CAM over the de-normalised image and the ``[image | cam | overlay]`` panel.

``overlay_cam`` is pytorch-grad-cam's ``show_cam_on_image(img, mask, use_rgb=True)`` without
OpenCV: the CAM coloured with OpenCV's JET map (``jet_colormap``, equal to ``COLORMAP_JET`` up
to one level in one entry), mixed with the image at ``image_weight`` 0.5, divided by its maximum.
``cam_panel`` puts image, grey CAM and overlay side by side as in the source article and
enlarges 64x64 images (nearest neighbour, so pixels stay visible).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from course_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD, denormalize

__all__ = ["cam_panel", "cam_title", "jet_colormap", "overlay_cam", "plot_cam_panels", "to_rgb"]


def jet_colormap() -> np.ndarray:
    """OpenCV's JET lookup table as (256, 3) uint8 RGB: piecewise linear ramps of slope 4."""
    x = 4 * np.arange(256)
    red = np.minimum(x - 382, 1148 - x)
    green = np.minimum(x - 128, 892 - x)
    blue = np.minimum(x + 128, 638 - x)
    return np.clip(np.stack([red, green, blue], axis=1), 0, 255).astype(np.uint8)


def to_rgb(
    image: Tensor | np.ndarray,
    *,
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from a normalised (3, H, W) tensor (``mean=None``: as is).

    NumPy arrays are taken as (H, W, 3) RGB already: uint8, or floats in [0, 1].
    """
    if isinstance(image, np.ndarray):
        array = image.astype(np.float32) / 255 if image.dtype == np.uint8 else image
        return np.clip(array, 0, 1).astype(np.float32)
    image = image.detach().cpu().float()
    if mean is not None:
        image = denormalize(image, mean=tuple(mean), std=tuple(std))
    return image.clamp(0, 1).permute(1, 2, 0).numpy()  # (H, W, 3)


def _as_array(cam: Tensor | np.ndarray) -> np.ndarray:
    cam = cam.detach().cpu().numpy() if isinstance(cam, Tensor) else np.asarray(cam)
    if cam.ndim != 2:
        raise ValueError(f"expected one CAM of shape (H, W), got {cam.shape}")
    return cam.astype(np.float32)


def overlay_cam(
    image: np.ndarray, cam: Tensor | np.ndarray, *, image_weight: float = 0.5
) -> np.ndarray:
    """(H, W, 3) uint8: the JET-coloured ``cam`` in [0, 1] over ``image`` (H, W, 3) in [0, 1]."""
    if not 0 <= image_weight <= 1:
        raise ValueError(f"image_weight must be in [0, 1], got {image_weight}")
    cam = _as_array(cam)
    if image.shape[:2] != cam.shape or image.max() > 1:
        raise ValueError(
            f"expected an (H, W, 3) image in [0, 1] matching the CAM {cam.shape}, "
            f"got shape {image.shape} with maximum {image.max():.3g}"
        )
    heatmap = jet_colormap()[np.uint8(255 * cam)].astype(np.float32) / 255  # (H, W, 3)
    mixed = (1 - image_weight) * heatmap + image_weight * image
    return np.uint8(255 * mixed / np.max(mixed))


def cam_panel(
    image: Tensor | np.ndarray,
    cam: Tensor | np.ndarray,
    *,
    scale: int | None = None,
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
) -> np.ndarray:
    """(s*H, 3*s*W, 3) uint8: image, grey CAM and overlay side by side, enlarged s times.

    ``scale`` defaults to 256 // H (4 for Tiny ImageNet's 64x64 images, 1 from 256 up).
    """
    rgb = to_rgb(image, mean=mean, std=std)
    grey = np.uint8(255 * _as_array(cam))
    panel = np.hstack([np.uint8(255 * rgb), np.dstack([grey] * 3), overlay_cam(rgb, cam)])
    scale = max(1, 256 // rgb.shape[0]) if scale is None else scale
    return panel.repeat(scale, axis=0).repeat(scale, axis=1)


def cam_title(
    predicted: str,
    true: str | None = None,
    *,
    correct: bool | None = None,
    probability: float | None = None,
) -> str:
    """``"pred: tabby (0.41) | true: Persian cat [wrong]"``: the title of one panel.

    ``correct`` defaults to comparing the names; pass it when names may repeat.
    """
    title = f"pred: {predicted}" + (f" ({probability:.2f})" if probability is not None else "")
    if true is not None:
        correct = predicted == true if correct is None else correct
        title += f" | true: {true} [{'correct' if correct else 'wrong'}]"
    return title


def plot_cam_panels(
    panels: Sequence[np.ndarray], titles: Sequence[str], *, width: float = 7.5
) -> Figure:
    """One panel per row, each titled (e.g. with ``cam_title``); returns the figure."""
    if len(panels) != len(titles) or not panels:
        raise ValueError(
            f"need one title per panel and at least one; got {len(panels)} panels "
            f"and {len(titles)} titles"
        )
    height = width * panels[0].shape[0] / panels[0].shape[1] + 0.35
    figure = Figure(figsize=(width, height * len(panels)), layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, panel, title in zip(axes, panels, titles, strict=True):
        ax.imshow(panel, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return figure
