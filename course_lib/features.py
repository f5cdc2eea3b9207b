"""Feature extraction, cosine similarity, nearest neighbours and 2-D maps of feature vectors.

Article 002 takes the 4096-d ``fc7`` features of a pretrained VGG16, compares every pair of
images by cosine similarity, shows the most similar images of a few queries and pastes
thumbnails on a t-SNE map. The functions here do each step on tensors; the figures live in
``course_lib.viz`` and the whole run in ``course_lib.pipelines.features``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from course_lib.utils import progress

log = logging.getLogger(__name__)

#: torchvision's VGG16 classifier: Linear, ReLU, Dropout, Linear, ReLU (fc7), Dropout, Linear.
VGG16_FC7 = "classifier.4"


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (dotted, as in ``model.named_modules()``)."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise KeyError(
            f"model {type(model).__name__} has no layer {name!r}; "
            f"choose one of its named_modules(): {shown}"
        ) from None


def fc7_layer(model: nn.Module) -> str:
    """Name of the classifier's second ReLU: ``fc7`` in VGG16 (``"classifier.4"``).

    Works for any model whose ``classifier`` is an ``nn.Sequential`` with at least two ReLUs,
    such as the course's transfer models with their new head.
    """
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Sequential):
        raise ValueError(
            f"{type(model).__name__} has no nn.Sequential 'classifier'; pass a layer name "
            "to extract_features instead (see model.named_modules())"
        )
    relus = [i for i, module in enumerate(classifier) if isinstance(module, nn.ReLU)]
    if len(relus) < 2:
        raise ValueError(
            f"the classifier of {type(model).__name__} has {len(relus)} ReLU(s), fc7 needs 2"
        )
    return f"classifier.{relus[1]}"


def penultimate_layer(model: nn.Module) -> str:
    """Name of the layer whose output feeds the model's last ``nn.Linear`` (Dropout skipped).

    The features a classifier separates linearly: ``fc7`` in VGG16.
    """
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to take features before")
    parent_name, _, index = names[-1].rpartition(".")
    parent = model.get_submodule(parent_name)
    if not isinstance(parent, nn.Sequential) or not index.isdigit():
        raise ValueError(
            f"the last Linear layer {names[-1]!r} is not inside an nn.Sequential, so the layer "
            "before it is unknown; pass a layer name to extract_features instead"
        )
    for i in range(int(index) - 1, -1, -1):  # walk back over Dropout, which is identity in eval
        if not isinstance(parent[i], nn.Dropout):
            return f"{parent_name}.{i}" if parent_name else str(i)
    raise ValueError(f"nothing comes before {names[-1]!r} in its nn.Sequential")


def default_feature_layer(model: nn.Module) -> str:
    """``fc7`` (the classifier's second ReLU) when the model has one, else the penultimate."""
    try:
        return fc7_layer(model)
    except ValueError:
        return penultimate_layer(model)


def extract_features(
    model: nn.Module,
    loader: Iterable,
    *,
    layer: str | None = None,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """Features of every ``(images, labels)`` batch in ``loader``, flattened, with the labels.

    ``layer=None`` takes the model's output; a dotted name such as ``"classifier.4"`` takes that
    layer's output through a forward hook, which is removed even when a batch fails. The model
    runs in eval mode without gradients on ``device`` (default: the model's) and is left in the
    mode it had, also when a batch fails. Returns float features ``(N, D)`` (each layer output
    flattened) and the labels ``(N,)`` in loader order, on the CPU.
    """
    ### BEGIN SOLUTION a3_features
    device = torch.device(device) if device is not None else next(model.parameters()).device
    captured = {}
    hook = None
    if layer is not None:

        def keep_output(_module, _inputs, output):
            captured["output"] = output.detach().clone()  # later in-place ops must not change it

        hook = get_layer(model, layer).register_forward_hook(keep_output)
    was_training = model.training
    model.eval()
    features, labels = [], []
    try:
        with torch.no_grad():
            for images, targets in progress(loader, desc="features"):
                output = model(images.to(device))
                if hook is not None:
                    output = captured.pop("output")
                features.append(output.flatten(start_dim=1).cpu())  # (B, D)
                labels.append(torch.as_tensor(targets).cpu())
    finally:
        if hook is not None:
            hook.remove()
        model.train(was_training)
    if not features:
        raise ValueError("the loader yielded no batches, so there are no features to return")
    return torch.cat(features), torch.cat(labels)
    ### END SOLUTION


def cosine_similarity_matrix(features: Tensor) -> Tensor:
    """Cosine similarity of every pair of rows, ``(N, D) -> (N, N)``, as floats.

    A zero row has no direction: its similarities (its row and column) are 0, not NaN.
    """
    ### BEGIN SOLUTION a3_features
    x = torch.as_tensor(features)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (N, D), got shape {tuple(x.shape)}")
    x = x if x.is_floating_point() else x.float()
    norms = x.norm(dim=1, keepdim=True)  # (N, 1)
    unit = x / norms.clamp_min(1e-12)  # a zero row stays zero instead of becoming 0/0 = NaN
    return unit @ unit.T  # (N, N)
    ### END SOLUTION


def most_similar(similarity: Tensor, index: int, k: int) -> tuple[list[int], list[float]]:
    """The ``k`` items most similar to item ``index`` (itself excluded), best first.

    Ties keep index order (a stable sort). Fewer than ``k`` come back when there are fewer
    other items. Returns two Python lists: their indices (ints) and similarity scores (floats).
    """
    ### BEGIN SOLUTION a3_features
    similarity = torch.as_tensor(similarity)  # (N, N)
    if not 0 <= index < len(similarity):
        raise IndexError(f"index {index} is outside 0..{len(similarity) - 1}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    row = similarity[index]  # (N,)
    order = torch.sort(row, descending=True, stable=True).indices
    order = order[order != index][:k]  # drop the query itself, keep the best k
    return order.tolist(), row[order].tolist()
    ### END SOLUTION


def precision_at_k(
    similarity: Tensor,
    labels: Sequence[int] | Tensor,
    *,
    k: int,
    neighbours: Callable[[Tensor, int, int], tuple[list[int], list[float]]] = most_similar,
) -> float:
    """Mean over all items of the fraction of their ``k`` nearest neighbours with their label."""
    labels = torch.as_tensor(labels).tolist()
    if len(labels) < 2:
        raise ValueError("precision@k needs at least 2 items")
    scores = []
    for i, label in enumerate(labels):
        indices, _ = neighbours(similarity, i, k)
        scores.append(sum(labels[j] == label for j in indices) / len(indices))
    return float(np.mean(scores))


def canvas_positions(
    coords: np.ndarray | Tensor,
    *,
    canvas_size: tuple[int, int],
    thumb_size: tuple[int, int],
) -> list[tuple[int, int]]:
    """Top-left pixel ``(x, y)`` of each thumbnail so that all lie fully inside the canvas.

    Each axis of ``coords`` ``(N, 2)`` is scaled from its min..max onto ``0..canvas - thumb``
    (article 002 centred the map and lost thumbnails past the edges). The y axis is flipped so
    that the canvas looks like a scatter plot of the same points; an axis without spread goes
    to the middle. Sizes are (width, height). Returns a list of ``(x, y)`` tuples of Python
    ints; any rounding of the exact position to a neighbouring pixel (round, floor) is fine.
    """
    ### BEGIN SOLUTION a3_features
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)  # (N, 2)
    free = np.asarray(canvas_size) - np.asarray(thumb_size)  # room for the top-left corner
    if (free < 0).any():
        raise ValueError(f"thumb_size {thumb_size} does not fit in canvas_size {canvas_size}")
    if not np.isfinite(coords).all():
        raise ValueError("coords contain NaN or infinity")
    if len(coords) == 0:
        return []
    low, span = coords.min(axis=0), np.ptp(coords, axis=0)
    unit = np.full_like(coords, 0.5)  # an axis without spread is centred
    spread = span > 0
    unit[:, spread] = (coords[:, spread] - low[spread]) / span[spread]  # in 0..1
    unit[:, 1] = 1.0 - unit[:, 1]  # image rows grow downwards, plot y grows upwards
    return [(int(x), int(y)) for x, y in np.rint(unit * free)]
    ### END SOLUTION


def pca_2d(features: np.ndarray | Tensor) -> np.ndarray:
    """First two principal components of ``features`` ``(N, D) -> (N, 2)``."""
    from sklearn.decomposition import PCA

    x = _as_numpy(features)
    if min(x.shape) < 2:
        raise ValueError(f"PCA to 2-D needs at least 2 samples and 2 dims, got {x.shape}")
    return PCA(n_components=2).fit_transform(x)


def tsne_2d(
    features: np.ndarray | Tensor,
    *,
    seed: int = 0,
    perplexity: float = 30.0,
    pca_dims: int | None = 50,
) -> np.ndarray:
    """Seeded t-SNE map ``(N, D) -> (N, 2)``.

    Perplexity must be below N, so for small N it is clipped to (N - 1) / 3 (at least 1).
    With ``pca_dims`` the features are first reduced by PCA, the usual way to speed t-SNE up
    and remove noise.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = _as_numpy(features)
    n = len(x)
    if n < 3:
        raise ValueError(f"t-SNE needs at least 3 samples, got {n}")
    if pca_dims is not None and x.shape[1] > pca_dims and n > pca_dims:
        x = PCA(n_components=pca_dims, random_state=seed).fit_transform(x)
    clipped = min(perplexity, max((n - 1) / 3, 1.0))
    if clipped != perplexity:
        log.info("t-SNE perplexity clipped from %s to %.2f for %d samples", perplexity, clipped, n)
    tsne = TSNE(n_components=2, perplexity=clipped, init="pca", random_state=seed)
    return tsne.fit_transform(x)


def _as_numpy(features: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(features, Tensor):
        features = features.detach().cpu().numpy()
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (N, D), got shape {x.shape}")
    return x
