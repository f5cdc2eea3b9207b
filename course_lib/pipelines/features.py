"""Feature-similarity pipeline (article 002) with class-description clusters (article 000).

``run_features`` extracts penultimate features (fc7 for VGG16), writes similarity-search
figures, PCA and t-SNE scatter plots, the t-SNE thumbnail canvas and the clusters of the class
descriptions into one folder, and returns the paths and a few numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.transforms import v2

from course_lib.checkpoint import model_from_checkpoint
from course_lib.cli import add_run_options, print_summary
from course_lib.data.tiny_imagenet import TinyImageNet
from course_lib.data.transforms import val_transform
from course_lib.features import (
    cosine_similarity_matrix,
    default_feature_layer,
    extract_features,
    most_similar,
    pca_2d,
    precision_at_k,
    tsne_2d,
)
from course_lib.files import atomic_write, prepare_out_dir, save_figure, write_text
from course_lib.models import load_torchvision
from course_lib.text import cluster_classes, format_clusters, sentence_vectors, short_name
from course_lib.utils import get_device
from course_lib.viz.embeddings import plot_text_map, scatter_by_label, thumbnail_canvas
from course_lib.viz.similarity import plot_similar

log = logging.getLogger(__name__)

#: Seeds the choice of images and queries, t-SNE and K-Means.
SEED = 0
#: Images per forward pass when extracting features.
BATCH_SIZE = 64
#: Pixel sizes of the t-SNE thumbnail canvas and of each thumbnail on it.
CANVAS_SIZE, THUMB_SIZE = (1000, 1000), (50, 50)


def run_features(
    data: str | Path | Dataset,
    out_dir: str | Path,
    *,
    model: nn.Module,
    device: torch.device | str | None = None,
    split: str = "val",
    image_size: int | None = None,
    max_images: int | None = 300,
    num_queries: int = 4,
    k: int = 5,
    descriptions: Sequence[str] | None = None,
    text_encoder: str | tuple[Any, nn.Module] = "tfidf",
    num_clusters: int = 30,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run the feature-similarity pipeline on ``data`` and write its outputs into ``out_dir``.

    ``data`` is a dataset of ``(image, label)`` or a Tiny ImageNet root (its ``split``, resized
    to ``image_size`` when given). Features come from fc7 or the layer before the last Linear,
    on ``device`` (default: the model's), for at most ``max_images`` (a seeded random choice);
    ``num_queries`` are drawn with their ``k`` most similar. ``descriptions`` (one per class,
    default: the dataset's) name the classes and are clustered into ``num_clusters`` groups.
    """
    out_dir = prepare_out_dir(out_dir, overwrite=overwrite)
    dataset = _load_dataset(data, split, image_size) if isinstance(data, str | Path) else data
    indices = _choose(len(dataset), max_images, seed=SEED)
    features, labels, result = _extract(model, dataset, indices, out_dir, device)  # (N, D), (N,)
    descriptions = getattr(dataset, "descriptions", None) if descriptions is None else descriptions
    short = _short_names(dataset, descriptions)
    images = [_image_at(dataset, index) for index in indices]
    similarity = cosine_similarity_matrix(features)  # (N, N)
    k = min(k, len(indices) - 1)
    captions = [short[label] if short else str(label) for label in labels.tolist()]
    result["similar"] = _write_similar(out_dir, similarity, num_queries, k, images, captions)
    result.update(_write_maps(out_dir, features, labels, result["layer"], short, images))
    result.update(_describe_classes(descriptions, out_dir, text_encoder, num_clusters))
    result.update(
        num_images=len(indices),
        feature_dim=features.shape[1],
        k=k,
        precision_at_k=precision_at_k(similarity, labels, k=k),
        chance_precision=_chance_precision(labels),
    )
    summary = json.dumps(result, indent=2) + "\n"
    result["summary"] = str(write_text(out_dir / "summary.json", summary))
    log.info(
        "precision@%d %.3f (chance %.3f)", k, result["precision_at_k"], result["chance_precision"]
    )
    return result


def _extract(
    model: nn.Module,
    dataset: Dataset,
    indices: list[int],
    out_dir: Path,
    device: torch.device | str | None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Features (N, D) and labels (N,) of the chosen images at fc7 (or the layer before the last
    Linear), also saved as ``features.pt``; the layer and the file's path."""
    layer = default_feature_layer(model)
    loader = DataLoader(Subset(dataset, indices), batch_size=BATCH_SIZE, shuffle=False)
    features, labels = extract_features(model, loader, layer=layer, device=device)
    log.info("extracted %s features of shape %s", layer, tuple(features.shape))
    payload = {"features": features, "labels": labels, "indices": indices, "layer": layer}
    saved = atomic_write(out_dir / "features.pt", lambda path: torch.save(payload, path))
    return features, labels, {"layer": layer, "features": str(saved)}


def _write_similar(
    out_dir: Path,
    similarity: torch.Tensor,
    num_queries: int,
    k: int,
    images: Sequence[Image.Image],
    captions: Sequence[str],
) -> list[str]:
    """``num_queries`` seeded random queries, each with its ``k`` most similar images, as
    ``similar_<query>.png``."""
    count = len(images)
    queries = np.random.default_rng(SEED).choice(count, size=min(num_queries, count), replace=False)
    paths = []
    for query in map(int, queries):
        found, scores = most_similar(similarity, query, k)
        fig = plot_similar(
            images[query],
            [images[i] for i in found],
            scores,
            query_title=f"query\n{captions[query]}",
            names=[captions[i] for i in found],
        )
        paths.append(str(save_figure(fig, out_dir / f"similar_{query:04d}.png")))
    return paths


def _write_maps(
    out_dir: Path,
    features: torch.Tensor,
    labels: torch.Tensor,
    layer: str,
    names: Sequence[str] | None,
    images: Sequence[Image.Image],
) -> dict[str, str]:
    """PCA and t-SNE scatter plots of the features, and the t-SNE map of thumbnails."""
    tsne = tsne_2d(features, seed=SEED)
    paths = {}
    for name, method, coords in (("pca", "PCA", pca_2d(features)), ("tsne", "t-SNE", tsne)):
        title = f"{method} of features ({layer})"
        fig = scatter_by_label(coords, labels, class_names=names, title=title, axis_name=method)
        paths[name] = str(save_figure(fig, out_dir / f"{name}.png"))
    canvas = thumbnail_canvas(images, tsne, canvas_size=CANVAS_SIZE, thumb_size=THUMB_SIZE)
    paths["canvas"] = str(atomic_write(out_dir / "tsne_canvas.png", canvas.save))
    return paths


def _describe_classes(
    descriptions: Sequence[str] | None,
    out_dir: Path,
    encoder: str | tuple[Any, nn.Module],
    num_clusters: int,
) -> dict[str, Any]:
    """Sentence vectors of the class descriptions, their K-Means clusters and t-SNE map."""
    if not descriptions or len(descriptions) < 3:
        log.info("class descriptions skipped: fewer than 3 descriptions available")
        return {"clusters": None, "descriptions_tsne": None, "num_clusters": 0}
    vectors = sentence_vectors(descriptions, encoder=encoder)  # (C, D)
    names = _unique([short_name(description) for description in descriptions])
    clusters = cluster_classes(vectors, names, k=min(num_clusters, len(names)), seed=SEED)
    text = format_clusters(clusters) + "\n"
    groups = {name: cluster_id for cluster_id, group in clusters.items() for name in group}
    fig = plot_text_map(
        tsne_2d(vectors, seed=SEED),
        names,
        groups=[groups[name] for name in names],
        title="t-SNE of class descriptions, coloured by K-Means cluster",
    )
    return {
        "clusters": str(write_text(out_dir / "class_clusters.txt", text)),
        "descriptions_tsne": str(save_figure(fig, out_dir / "descriptions_tsne.png")),
        "num_clusters": len(clusters),
    }


def _load_dataset(root: str | Path, split: str, image_size: int | None) -> Dataset:
    """A split of a Tiny ImageNet folder as normalised tensors, resized when asked."""
    transform = val_transform()
    if image_size is not None:
        transform = v2.Compose([v2.Resize((image_size, image_size)), transform])
    return TinyImageNet(root, split=split, transform=transform)


def _choose(n: int, max_images: int | None, *, seed: int) -> list[int]:
    """All indices, or a seeded random choice of ``max_images`` of them in ascending order."""
    if n < 3:
        raise ValueError(f"the dataset has {n} images; the feature maps need at least 3")
    if max_images is None or max_images >= n:
        return list(range(n))
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(n, generator=generator)[:max_images].tolist())


def _short_names(dataset: Dataset, descriptions: Sequence[str] | None) -> list[str] | None:
    """A short name per label from the descriptions, ``class_names`` or ``classes``."""
    for names in (
        descriptions,
        getattr(dataset, "class_names", None),
        getattr(dataset, "classes", None),
    ):
        if names:
            return [short_name(str(name)) for name in names]
    return None


def _image_at(dataset: Dataset, index: int) -> Image.Image:
    """The image for display: read from its file when the dataset lists ``samples``."""
    samples = getattr(dataset, "samples", None)
    if samples is not None:
        with Image.open(samples[index][0]) as image:
            return image.convert("RGB")  # some Tiny ImageNet JPEGs are grayscale
    from course_lib.viz.similarity import as_rgb_image

    return as_rgb_image(dataset[index][0])


def _unique(names: Sequence[str]) -> list[str]:
    """``names`` with repeats numbered, ``["crane", "crane"] -> ["crane", "crane (2)"]``."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def _chance_precision(labels: torch.Tensor) -> float:
    """Expected precision@k of neighbours drawn at random from the other items."""
    counts = torch.bincount(labels).double()
    n = counts.sum()
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


def feature_model(
    *,
    checkpoint: str | os.PathLike | None = None,
    weights: str | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """The model whose features are compared: a trained checkpoint's, or torchvision's VGG16
    with ``weights`` (article 002's pretrained fc7 features)."""
    if (checkpoint is None) == (weights is None):
        raise ValueError("give exactly one of checkpoint (a trained model) or weights (VGG16)")
    if checkpoint is not None:
        model, _ = model_from_checkpoint(checkpoint, device=device)
        return model
    model = load_torchvision("vgg16", weights=weights)
    return model.to(device) if device is not None else model


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """``python -m course_lib features``."""
    text = "similarity search, PCA/t-SNE, canvas, clusters"
    parser = subparsers.add_parser("features", help=text, description=text)
    parser.add_argument("--data", type=Path, required=True, help="Tiny ImageNet root")
    parser.add_argument("--out", type=Path, required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="a trained model's checkpoint")
    source.add_argument("--weights", help="pretrained VGG16 weights, e.g. IMAGENET1K_V1 (fc7)")
    add_run_options(parser)
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    device = get_device(args.device)
    model = feature_model(checkpoint=args.checkpoint, weights=args.weights, device=device)
    return print_summary(
        run_features(args.data, args.out, model=model, device=device, overwrite=args.overwrite)
    )
