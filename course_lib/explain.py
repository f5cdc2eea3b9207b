"""Grad-CAM (Selvaraju et al. 2017) and scores of how well a CAM localises a known box.

``gradcam`` gives the same numbers as pytorch-grad-cam's ``GradCAM`` (package ``grad-cam``
1.5.x) on the same model, layer, images and targets:

1. the target is the model's output for the class (with a log-softmax head: log p_c);
2. channel weights are the spatial mean of the gradient of the target w.r.t. the layer output;
3. the CAM is ReLU(sum_k weight_k * activation_k), min-max normalised per image
   (``(cam - min) / (1e-7 + max)``), upsampled bilinearly to the input size (half-pixel centres,
   the interpolation of ``cv2.resize``) and normalised the same way again.

Differences that do not change the numbers: everything stays in torch (no per-image NumPy or
OpenCV work), the backward pass stops at the target layer (the layer output is detached and
made a leaf), so frozen weights (``requires_grad=False``) are fine and no ``.grad`` is left on
the parameters, and the model's train/eval flags are restored afterwards.

A layer followed by an in-place ReLU (VGG16 ``features[28]``, the conv before
``features[29] = ReLU(inplace=True)``): the ReLU overwrites the layer's output tensor. As in
pytorch-grad-cam, the activations are read after the forward pass, so they are the values
after the ReLU, while the gradient is taken w.r.t. the layer output before the ReLU (zero where
the ReLU cut). Hooking the ReLU itself (``features[29]``) takes both after the ReLU; the two
CAMs differ only in the channel weights.

Boxes are ``(x0, y0, x1, y1)`` in pixel coordinates of the CAM (= the input image). Tiny
ImageNet's ``*_boxes.txt`` and ``val_annotations.txt`` give inclusive corners (a box
``0 0 63 63`` covers the whole 64x64 image); pass ``inclusive=False`` for half-open boxes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "cam_correlation",
    "cam_mass_in_box",
    "default_cam_layer",
    "eval_mode",
    "find_layer",
    "gradcam",
    "normalize_cams",
    "pointing_game",
    "scale_boxes",
]

_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def find_layer(model: nn.Module, layer: nn.Module | str) -> nn.Module:
    """The submodule ``layer`` of ``model``, given as the module itself or a dotted name."""
    if isinstance(layer, nn.Module):
        if not any(module is layer for module in model.modules()):
            raise ValueError(
                f"target_layer {type(layer).__name__} is not a submodule of the model; pass one "
                "of model.modules() or its dotted name from model.named_modules()"
            )
        return layer
    if not isinstance(layer, str):
        raise TypeError(f"target_layer must be an nn.Module or a dotted name, got {type(layer)}")
    names = [name for name, _ in model.named_modules() if name]
    if layer not in names:
        close = difflib.get_close_matches(layer, names, n=5)
        hint = f"; close names: {close}" if close else f"; names start with: {names[:8]}"
        raise ValueError(f"target_layer {layer!r} is not a module of the model{hint}")
    return model.get_submodule(layer)


def default_cam_layer(model: nn.Module) -> str:
    """The last module of ``model.features`` that is not a pooling layer.

    VGG16: ``features.29`` (the ReLU after the last conv, the source article's choice);
    ConvNeXt: ``features.7`` (the last stage).
    """
    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential):
        raise ValueError("the model has no `features` Sequential; pass target_layer explicitly")
    for index in reversed(range(len(features))):
        if not isinstance(features[index], _POOLS):
            return f"features.{index}"
    raise ValueError("model.features has only pooling layers; pass target_layer explicitly")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode; restore each one's own flag on exit."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in flags:
            module.training = training


def normalize_cams(cams: Tensor) -> Tensor:
    """Min-max normalise each map of ``cams`` (N, H, W) to [0, 1] as pytorch-grad-cam does."""
    cams = cams - cams.amin(dim=(1, 2), keepdim=True)
    return cams / (1e-7 + cams.amax(dim=(1, 2), keepdim=True))


def check_targets(targets: Sequence[int] | Tensor | None, outputs: Tensor) -> Tensor:
    """Class indices (N,) on the outputs' device: ``targets``, or the argmax when None."""
    if targets is None:
        return outputs.argmax(dim=1)
    targets = torch.as_tensor(targets, device=outputs.device).long().reshape(-1)
    if targets.numel() != outputs.shape[0]:
        raise ValueError(
            f"targets has {targets.numel()} entries but there are {outputs.shape[0]} images; "
            "give one class index per image, or None for the predicted classes"
        )
    if targets.min() < 0 or targets.max() >= outputs.shape[1]:
        raise ValueError(f"targets must be class indices in [0, {outputs.shape[1]})")
    return targets


def gradcam(
    model: nn.Module,
    target_layer: nn.Module | str,
    images: Tensor,
    *,
    targets: Sequence[int] | Tensor | None = None,
) -> Tensor:
    """Grad-CAM maps (N, H, W) in [0, 1] of ``images`` (N, C, H, W) at ``target_layer``.

    ``targets`` are the class indices to explain (one per image); None explains the predicted
    classes. The model runs in eval mode; layers before ``target_layer`` may be frozen. Afterwards,
    also when the call fails, the hook is removed and every module's train/eval flag and every
    parameter's ``requires_grad`` are as they were.
    """
    ### BEGIN SOLUTION a5_explain_compress
    layer = find_layer(model, target_layer)
    saved = {}

    def hook(module: nn.Module, inputs: tuple, output: Tensor) -> Tensor:
        if not isinstance(output, Tensor) or output.ndim != 4:
            raise ValueError(f"target_layer {target_layer!r} must output (N, C, h, w) maps")
        # A leaf here stops the backward pass at this layer (frozen weights are fine).
        saved["leaf"] = output.detach().requires_grad_(True)
        # The rest of the network gets a copy; an in-place ReLU after the layer changes it.
        saved["activations"] = saved["leaf"].clone()
        return saved["activations"]

    handle = layer.register_forward_hook(hook)
    try:
        with eval_mode(model), torch.enable_grad():
            outputs = model(images)  # (N, num_classes)
            if "leaf" not in saved:
                raise ValueError(f"target_layer {target_layer!r} was not called by the model")
            targets = check_targets(targets, outputs)
            score = outputs.gather(1, targets[:, None]).sum()  # images are independent in eval
    finally:
        handle.remove()
    (gradients,) = torch.autograd.grad(score, saved["leaf"])  # (N, K, h, w)
    weights = gradients.mean(dim=(2, 3), keepdim=True)  # (N, K, 1, 1)
    cams = torch.relu((weights * saved["activations"].detach()).sum(dim=1))  # (N, h, w)
    cams = normalize_cams(cams)
    size = images.shape[-2:]
    cams = F.interpolate(cams[:, None], size=size, mode="bilinear", align_corners=False)
    return normalize_cams(cams[:, 0])  # (N, H, W)
    ### END SOLUTION


def _box_masks(boxes: Tensor, height: int, width: int, *, inclusive: bool) -> Tensor:
    """Boolean masks (N, H, W) of the boxes (N, 4) = (x0, y0, x1, y1) in pixels."""
    boxes = torch.as_tensor(boxes).reshape(-1, 4)
    x0, y0, x1, y1 = boxes.unbind(dim=1)
    if inclusive:
        x1, y1 = x1 + 1, y1 + 1
    if ((x1 <= x0) | (y1 <= y0)).any():
        raise ValueError("every box needs x0 <= x1 and y0 <= y1 (x0, y0, x1, y1 in pixels)")
    xs = torch.arange(width, device=boxes.device)
    ys = torch.arange(height, device=boxes.device)
    inside_x = (xs >= x0[:, None]) & (xs < x1[:, None])  # (N, W)
    inside_y = (ys >= y0[:, None]) & (ys < y1[:, None])  # (N, H)
    return inside_y[:, :, None] & inside_x[:, None, :]


def scale_boxes(
    boxes: Tensor, from_size: tuple[int, int], to_size: tuple[int, int], *, inclusive: bool = True
) -> Tensor:
    """Boxes (N, 4) given for images of ``from_size`` (H, W) moved to images of ``to_size``."""
    boxes = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4)
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    end = 1 if inclusive else 0  # inclusive corners: scale the pixel's far edge, step back
    x0, y0 = (boxes[:, 0] * sx).floor(), (boxes[:, 1] * sy).floor()
    x1 = ((boxes[:, 2] + end) * sx).ceil() - end
    y1 = ((boxes[:, 3] + end) * sy).ceil() - end
    return torch.stack([x0, y0, x1, y1], dim=1).long()


def _check_boxes(cams: Tensor, boxes: Tensor) -> Tensor:
    boxes = torch.as_tensor(boxes, device=cams.device).reshape(-1, 4)
    if boxes.shape[0] != cams.shape[0]:
        raise ValueError(f"got {boxes.shape[0]} boxes for {cams.shape[0]} CAMs; give one each")
    return boxes


def pointing_game(cams: Tensor, boxes: Tensor, *, inclusive: bool = True) -> Tensor:
    """Hit (N,) bool: the CAM's maximum lies inside the box.

    Upsampled CAMs have plateaus, so the maximum may be reached at several pixels: one of them
    inside the box is a hit. An all-zero CAM points nowhere (a miss).
    """
    boxes = _check_boxes(cams, boxes)
    masks = _box_masks(boxes, *cams.shape[-2:], inclusive=inclusive)
    peak = cams.amax(dim=(1, 2))  # (N,)
    peak_inside = cams.masked_fill(~masks, float("-inf")).amax(dim=(1, 2))
    return (peak_inside >= peak) & (peak > 0)


def cam_mass_in_box(cams: Tensor, boxes: Tensor, *, inclusive: bool = True) -> Tensor:
    """Fraction (N,) of each CAM's total mass that lies inside its box (0 for an empty CAM)."""
    boxes = _check_boxes(cams, boxes)
    masks = _box_masks(boxes, *cams.shape[-2:], inclusive=inclusive)
    total = cams.sum(dim=(1, 2))
    inside = (cams * masks).sum(dim=(1, 2))
    return torch.where(total > 0, inside / total.clamp_min(1e-12), torch.zeros_like(total))


def cam_correlation(cams_a: Tensor, cams_b: Tensor) -> Tensor:
    """Pearson correlation (N,) between matching maps of two (N, H, W) CAM batches.

    NaN where a map is constant (an all-zero CAM: the class had no positive evidence), where
    the correlation is undefined.
    """
    if cams_a.shape != cams_b.shape:
        raise ValueError(f"CAM shapes differ: {tuple(cams_a.shape)} vs {tuple(cams_b.shape)}")
    a = cams_a.flatten(1) - cams_a.flatten(1).mean(dim=1, keepdim=True)
    b = cams_b.flatten(1) - cams_b.flatten(1).mean(dim=1, keepdim=True)
    denominator = a.norm(dim=1) * b.norm(dim=1)
    correlation = (a * b).sum(dim=1) / denominator.clamp_min(1e-12)
    return torch.where(denominator > 0, correlation, torch.full_like(correlation, float("nan")))
