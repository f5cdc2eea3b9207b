"""Models by name: the VGG16 transfer model (article 001), the ConvNeXt age model (article 003)
and small CPU-friendly versions of both for tests, notebooks and the demo.

Every model comes from one registry::

    model = create_model("vgg16_transfer", num_classes=200, weights="IMAGENET1K_V1")

Models whose output is log-probabilities carry ``outputs_log_probs = True``; the trainer then
uses ``NLLLoss`` (``CrossEntropyLoss`` otherwise), so softmax is never applied twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from http.client import HTTPException
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchvision.models.convnext import CNBlockConfig, ConvNeXt

log = logging.getLogger(__name__)

ModelBuilder = Callable[..., nn.Module]
_REGISTRY: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator adding a builder ``fn(*, num_classes, weights, **kwargs)`` to the registry."""

    def decorator(builder: ModelBuilder) -> ModelBuilder:
        if name in _REGISTRY:
            raise ValueError(f"a model called {name!r} is already registered")
        _REGISTRY[name] = builder
        return builder

    return decorator


def model_names() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, *, num_classes: int, weights: str | None = None, **kwargs) -> nn.Module:
    """Build the registered model ``name`` for ``num_classes`` classes.

    ``weights`` names pretrained backbone weights of torchvision (``"IMAGENET1K_V1"`` or
    ``"DEFAULT"``); ``None`` starts from random weights and never needs a network.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(model_names())}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return _REGISTRY[name](num_classes=num_classes, weights=weights, **kwargs)


def uses_log_probs(model: nn.Module) -> bool:
    """Whether the model's output is log-probabilities (pair with NLLLoss, not CrossEntropy)."""
    return bool(getattr(model, "outputs_log_probs", False))


# ---------------------------------------------------------------- graded building blocks


def build_vgg16_head(
    num_classes: int, *, in_features: int = 25088, hidden: int = 512, dropout: float = 0.5
) -> nn.Sequential:
    """The new classifier of article 001: two hidden blocks (Linear, ReLU, BatchNorm1d, Dropout)
    and a last Linear; Linear weights He-initialised (kaiming uniform), biases 0, BatchNorm 1/0."""
    ### BEGIN SOLUTION a2_transfer
    head = nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        nn.BatchNorm1d(hidden),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.BatchNorm1d(hidden),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )
    for layer in head:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm1d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
    return head
    ### END SOLUTION


def set_trainable(model: nn.Module, prefixes: str | Sequence[str], trainable: bool) -> int:
    """Set ``requires_grad`` of every parameter whose name starts with one of ``prefixes``;
    return how many parameter tensors changed: those whose ``requires_grad`` was different
    before the call (a tensor that already had the asked value is not counted, so a repeated
    call returns 0). A prefix matching no parameter raises ``ValueError``.

    Names are those of ``model.named_parameters()``; ``""`` matches all of them. The test is a
    plain ``str.startswith``: ``"features.1"`` also matches ``"features.10.weight"`` (write
    ``"features.1."`` for exactly one layer).
    """
    ### BEGIN SOLUTION a2_transfer
    prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name in names):
            raise ValueError(f"no parameter name starts with {prefix!r}; names: {names[:8]}...")
    changed = 0
    for name, param in model.named_parameters():
        if name.startswith(prefixes) and param.requires_grad != trainable:
            param.requires_grad_(trainable)
            changed += 1
    return changed
    ### END SOLUTION


def replace_last_linear(
    model: nn.Module, num_classes: int, *, path: str = "classifier.2"
) -> nn.Module:
    """Replace the ``nn.Linear`` at ``path`` (ConvNeXt: ``classifier.2``) by a new one with the
    same inputs and ``num_classes`` outputs (default initialisation, a bias when the old layer
    had one, the old layer's device and dtype); return the same model object. Any other module
    at ``path`` raises ``TypeError``."""
    ### BEGIN SOLUTION a4_age
    parent_path, _, child = path.rpartition(".")
    parent = model.get_submodule(parent_path)
    old = parent.get_submodule(child)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"{path!r} is a {type(old).__name__}, expected an nn.Linear")
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    setattr(parent, child, new.to(device=old.weight.device, dtype=old.weight.dtype))
    return model
    ### END SOLUTION


# ---------------------------------------------------------------- model classes


class TransferNet(nn.Module):
    """A convolutional backbone and a new classifier; the output is log-probabilities.

    ``features -> avgpool -> flatten -> classifier -> log_softmax``, with the attribute names of
    torchvision's VGG, so ``model.features`` (e.g. for Grad-CAM) and ``model.classifier`` (fc7,
    TT compression) are where they are in VGG16. While every parameter of ``features`` is
    frozen, ``model.train()`` leaves ``features`` in eval mode (as mmdetection's frozen stages
    do): a frozen backbone behaves as the pretrained one whatever layers it has. VGG16's
    features have no BatchNorm or Dropout, so for it this changes nothing.
    """

    outputs_log_probs = True

    def __init__(self, features: nn.Module, avgpool: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.avgpool = avgpool
        self.classifier = classifier

    def forward(self, images: Tensor) -> Tensor:
        return F.log_softmax(self.logits(images), dim=1)  # (N, num_classes)

    def logits(self, images: Tensor) -> Tensor:
        """Scores before the log-softmax (e.g. for Grad-CAM on a class score)."""
        x = self.features(images)  # (N, C, h, w)
        x = torch.flatten(self.avgpool(x), 1)  # (N, C * pool_h * pool_w)
        return self.classifier(x)  # (N, num_classes)

    def train(self, mode: bool = True) -> TransferNet:
        super().train(mode)
        if mode and not any(p.requires_grad for p in self.features.parameters()):
            self.features.eval()
        return self


# ---------------------------------------------------------------- pretrained weights


def load_torchvision(arch: str, *, weights: str | None = None, progress: bool = False) -> nn.Module:
    """A torchvision model (ImageNet head) with ``weights`` loaded through the weights API.

    Offline, the weights file must already be in torch hub's cache; otherwise a
    FileNotFoundError says which file to place where (or to use ``weights=None``).
    """
    if weights is None:
        return torchvision.models.get_model(arch, weights=None)
    choices = torchvision.models.get_model_weights(arch)
    try:
        chosen = choices.verify(weights)
    except (KeyError, TypeError):
        names = ", ".join(choices.__members__)
        raise ValueError(
            f"unknown weights {weights!r} for {arch}; choose one of {names} or None"
        ) from None
    target = os.path.join(
        torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(chosen.url).path)
    )
    try:
        state = torch.hub.load_state_dict_from_url(chosen.url, progress=progress, check_hash=True)
    except (OSError, HTTPException) as exc:
        raise FileNotFoundError(
            f"pretrained weights {chosen} for {arch} are not cached and could not be downloaded "
            f"({exc}). Download {chosen.url} where a network exists and place it at {target} "
            "(torch.hub.get_dir()/checkpoints; TORCH_HOME moves it), or pass weights=None to "
            "start from random weights."
        ) from exc
    except RuntimeError as exc:
        raise RuntimeError(
            f"could not read the weights file {target} ({exc}); delete it and download "
            f"{chosen.url} again, or pass weights=None"
        ) from exc
    model = torchvision.models.get_model(arch, weights=None)  # built only once weights are in
    model.load_state_dict(state)
    log.info("loaded %s weights for %s", chosen, arch)
    return model


def _no_pretrained(name: str, weights: str | None) -> None:
    if weights is not None:
        raise ValueError(f"{name} has no pretrained weights; pass weights=None")


# ---------------------------------------------------------------- registered models


@register_model("vgg16_transfer")
def vgg16_transfer(
    *,
    num_classes: int,
    weights: str | None = None,
    hidden: int = 512,
    dropout: float = 0.5,
    freeze_features: bool = True,
) -> TransferNet:
    """Article 001: VGG16's features (frozen) and the new head 25088-512-512-C, log-softmax."""
    vgg = load_torchvision("vgg16", weights=weights)
    head = build_vgg16_head(num_classes, in_features=512 * 7 * 7, hidden=hidden, dropout=dropout)
    model = TransferNet(vgg.features, vgg.avgpool, head)
    set_trainable(model, "features", not freeze_features)
    return model


@register_model("vgg_mini_transfer")
def vgg_mini_transfer(
    *,
    num_classes: int,
    weights: str | None = None,
    widths: Sequence[int] = (16, 32, 64, 128),
    batch_norm: bool = False,
    hidden: int = 128,
    dropout: float = 0.5,
    freeze_features: bool = True,
) -> TransferNet:
    """A VGG-style net small enough for a CPU: one 3x3 conv + ReLU + 2x2 max-pool per width,
    pooled to 2x2, then the same kind of head as ``vgg16_transfer`` (log-softmax output)."""
    _no_pretrained("vgg_mini_transfer", weights)
    layers: list[nn.Module] = []
    channels = 3
    for width in widths:
        layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=1))
        layers += [nn.BatchNorm2d(width)] if batch_norm else []
        layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        channels = width
    head = build_vgg16_head(num_classes, in_features=channels * 4, hidden=hidden, dropout=dropout)
    model = TransferNet(nn.Sequential(*layers), nn.AdaptiveAvgPool2d((2, 2)), head)
    set_trainable(model, "features", not freeze_features)
    return model


@register_model("convnext_age")
def convnext_age(*, num_classes: int = 6, weights: str | None = None) -> nn.Module:
    """Article 003: ConvNeXt-Tiny with ``classifier[2]`` replaced for ``num_classes`` age groups
    (six decades by default); outputs logits, everything trainable."""
    model = load_torchvision("convnext_tiny", weights=weights)
    return replace_last_linear(model, num_classes)


@register_model("convnext_mini_age")
def convnext_mini_age(
    *, num_classes: int = 6, weights: str | None = None, widths: Sequence[int] = (32, 64, 128)
) -> nn.Module:
    """A three-stage ConvNeXt (one block per stage) built by torchvision's ConvNeXt class, so it
    has ConvNeXt-Tiny's layout: ``features``, ``avgpool`` and ``classifier`` =
    Sequential(LayerNorm2d, Flatten, Linear), whose last Linear is replaced as in
    ``convnext_age``. Logits out."""
    _no_pretrained("convnext_mini_age", weights)
    outs = [*widths[1:], None]
    blocks = [CNBlockConfig(width, out, 1) for width, out in zip(widths, outs, strict=True)]
    model = ConvNeXt(blocks, stochastic_depth_prob=0.0)
    return replace_last_linear(model, num_classes)


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameter values (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
