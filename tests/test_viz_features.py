"""Figures of the feature pipeline and the pipeline itself on tiny in-memory data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image
from threadpoolctl import threadpool_limits
from torch import nn
from torch.utils.data import Dataset

from course_lib.features import canvas_positions
from course_lib.pipelines.features import run_features
from course_lib.text import sentence_vectors
from course_lib.viz.embeddings import plot_text_map, scatter_by_label, thumbnail_canvas
from course_lib.viz.similarity import as_rgb_image, plot_similar

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


@pytest.fixture(autouse=True)
def one_openmp_thread():
    """sklearn's t-SNE busy-waits in OpenMP threads; on a shared 2-core machine one is faster."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


class ColourDataset(Dataset):
    """Images tinted by class (red, green, blue) with noise; labels 0, 1, 2 in turn."""

    classes = ["n001", "n002", "n003"]
    class_names = ["red thing", "green thing", "blue thing"]
    descriptions = ["red thing, scarlet", "green thing, emerald", "blue thing, azure"]

    def __init__(self, n: int = 24, size: int = 16) -> None:
        generator = torch.Generator().manual_seed(0)
        self.labels = [i % 3 for i in range(n)]
        noise = torch.rand(n, 3, size, size, generator=generator) * 0.4
        tint = torch.tensor(COLOURS, dtype=torch.float32)[self.labels] / 255 * 0.6
        self.images = noise + tint[:, :, None, None]  # (N, 3, H, W) in [0, 1]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], self.labels[index]


def colour_net() -> nn.Sequential:
    """Mean colour -> small head: features that separate the tints."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(3, 3),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(3, 3),
    )


# --- image conversion and figures ---------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        torch.rand(3, 5, 4),
        torch.randn(3, 5, 4) * 2,  # normalised: stretched to 0..255
        np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8),
        np.random.default_rng(0).random((5, 4)),
        torch.rand(1, 5, 4),
        Image.new("L", (4, 5)),
    ],
)
def test_as_rgb_image_accepts_common_image_forms(image):
    converted = as_rgb_image(image)
    assert converted.mode == "RGB" and converted.size == (4, 5)


def test_as_rgb_image_values():
    image = torch.zeros(3, 2, 2)
    image[0] = 1.0
    assert as_rgb_image(image).getpixel((0, 0)) == (255, 0, 0)
    assert np.asarray(as_rgb_image(torch.tensor([[[-2.0, 2.0]]]))).tolist() == [
        [[0, 0, 0], [255, 255, 255]]
    ]
    with pytest.raises(ValueError, match="one image"):
        as_rgb_image(torch.zeros(2, 3, 4, 4))


def test_plot_similar_titles_show_scores_and_names():
    images = [torch.rand(3, 8, 8) for _ in range(4)]
    fig = plot_similar(images[0], images[1:], [0.98765, 0.5, -0.25], names=["a", "b", "c"])
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["query", "0.988\na", "0.500\nb", "-0.250\nc"]
    with pytest.raises(ValueError, match="3 similar images for 2 scores"):
        plot_similar(images[0], images[1:], [0.1, 0.2])


def test_scatter_by_label_names_classes_in_the_legend():
    coords = np.random.default_rng(0).normal(size=(9, 2))
    labels = np.array([2, 0, 2, 0, 2, 0, 2, 0, 2])
    fig = scatter_by_label(coords, labels, class_names=["cat", "dog", "fox"], title="t")
    legend = fig.axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["cat", "fox"]
    many = scatter_by_label(coords, np.arange(9), max_legend=5)
    assert many.axes[0].get_legend() is None
    with pytest.raises(ValueError, match="coords"):
        scatter_by_label(coords[:, :1], labels)


def test_plot_text_map_labels_every_point():
    fig = plot_text_map(np.arange(6.0).reshape(3, 2), ["goldfish", "tabby", "fox"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["goldfish", "tabby", "fox"]
    coloured = plot_text_map(np.zeros((3, 2)), ["a", "b", "c"], groups=[0, 1, 0])
    colours = [text.get_color() for text in coloured.axes[0].texts]
    assert colours[0] == colours[2] != colours[1]
    with pytest.raises(ValueError, match="2 groups for 3 texts"):
        plot_text_map(np.zeros((3, 2)), ["a", "b", "c"], groups=[0, 1])


def test_thumbnail_canvas_loses_nothing_at_the_edges():
    thumbs = [Image.new("RGB", (7, 7), colour) for colour in [*COLOURS, (255, 255, 0)]]
    coords = np.array([[-1e6, -1e6], [1e6, 1e6], [-1e6, 1e6], [1e6, -1e6]])  # the four corners
    canvas = thumbnail_canvas(
        thumbs, coords, canvas_size=(100, 60), thumb_size=(10, 8), background=(0, 0, 0)
    )
    assert canvas.size == (100, 60)
    pixels = np.asarray(canvas).reshape(-1, 3)
    for colour in [*COLOURS, (255, 255, 0)]:
        assert (pixels == colour).all(axis=1).sum() == 10 * 8  # the whole thumbnail is there


def test_thumbnail_canvas_uses_the_given_positions():
    calls = []

    def at_origin(coords, *, canvas_size, thumb_size):
        calls.append(canvas_size)
        return [(0, 0)] * len(coords)

    canvas = thumbnail_canvas(
        [Image.new("RGB", (4, 4), (9, 9, 9))], np.zeros((1, 2)), positions=at_origin
    )
    assert calls == [(1000, 1000)] and canvas.getpixel((49, 49)) == (9, 9, 9)
    assert canvas_positions(np.zeros((1, 2)), canvas_size=(1000, 1000), thumb_size=(50, 50)) == [
        (475, 475)
    ]


# --- pipeline ------------------------------------------------------------------------------


def test_run_features_writes_every_output(tmp_path):
    out = tmp_path / "features"
    result = run_features(ColourDataset(), out, model=colour_net(), k=3, num_queries=2)
    assert result["layer"] == "3" and result["feature_dim"] == 3
    assert result["num_images"] == 24 and result["k"] == 3
    assert len(result["similar"]) == 2
    for key in ("features", "pca", "tsne", "canvas", "clusters", "descriptions_tsne", "summary"):
        assert Path(result[key]).is_file() and Path(result[key]).parent == out
    for path in [*result["similar"], result["pca"], result["tsne"], result["canvas"]]:
        with Image.open(path) as image:
            assert image.format == "PNG"
    with Image.open(result["canvas"]) as canvas:
        assert canvas.size == (1000, 1000)
    assert result["precision_at_k"] > result["chance_precision"]
    assert result["chance_precision"] == pytest.approx(3 * 8 * 7 / (24 * 23))
    clusters = (out / "class_clusters.txt").read_text()
    assert all(name in clusters for name in ("red thing", "green thing", "blue thing"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["precision_at_k"] == result["precision_at_k"]
    saved = torch.load(result["features"])
    assert saved["features"].shape == (24, 3) and saved["layer"] == "3"
    assert not list(out.glob(".tmp-*"))


def test_run_features_refuses_to_overwrite_and_caps_images(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        run_features(ColourDataset(), out, model=colour_net())
    result = run_features(
        ColourDataset(), out, model=colour_net(), max_images=10, overwrite=True, num_queries=1
    )
    assert result["num_images"] == 10 and (out / "old.txt").read_text() == "keep me"


def test_run_features_without_descriptions_skips_the_text_part(tmp_path):
    dataset = ColourDataset()
    dataset.descriptions = None  # like ImageFolder: only wnids, nothing to describe
    result = run_features(dataset, tmp_path / "a", model=colour_net(), num_queries=1)
    assert result["clusters"] is None and result["num_clusters"] == 0
    assert Path(result["similar"][0]).is_file()
    descriptions = ["crane, bird", "crane, machine", "fox"]
    result = run_features(
        dataset, tmp_path / "b", model=colour_net(), num_queries=1, descriptions=descriptions
    )
    listed = Path(result["clusters"]).read_text()
    assert "crane (2)" in listed and listed.count("crane") == 2


def test_run_features_with_a_tiny_bert_and_student_functions(tmp_path):
    transformers = pytest.importorskip("transformers", reason="the 'text' extra is not installed")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join("[PAD] [UNK] [CLS] [SEP] [MASK] , red green blue thing".split()))
    tokenizer = transformers.BertTokenizerFast(vocab=str(vocab))
    config = transformers.BertConfig(
        vocab_size=11,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    bert = transformers.BertModel(config)
    pooled = []

    def student_pool(hidden, mask):
        pooled.append(hidden.shape)
        return hidden.sum(dim=1)

    descriptions = ColourDataset().descriptions
    vectors = sentence_vectors(descriptions, encoder=(tokenizer, bert), pool=student_pool)
    assert pooled and vectors.shape == (3, 8)
    result = run_features(
        ColourDataset(),
        tmp_path / "out",
        model=colour_net(),
        text_encoder=(tokenizer, bert),
        num_clusters=2,
    )
    assert result["num_clusters"] == 2
    lines = (tmp_path / "out" / "class_clusters.txt").read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("0: red thing")


def test_run_features_on_a_tiny_imagenet_folder(tiny_imagenet, tmp_path):
    from course_lib.models import create_model

    torch.manual_seed(0)
    model = create_model("vgg_mini_transfer", num_classes=4)
    result = run_features(
        tiny_imagenet, tmp_path / "out", model=model, split="train", image_size=32, num_queries=1
    )
    assert result["layer"] == "classifier.5" and result["num_images"] == 48
    assert result["feature_dim"] == 128 and result["num_clusters"] == 4
    listing = Path(result["clusters"]).read_text().splitlines()
    assert sum(len(line.split(": ", 1)[1].split(", ")) for line in listing) == 4


def test_run_features_on_the_real_sample(real_sample, tmp_path):
    from course_lib.models import create_model

    torch.manual_seed(0)
    model = create_model("vgg_mini_transfer", num_classes=10)
    result = run_features(real_sample, tmp_path / "out", model=model, max_images=60, num_queries=1)
    assert result["num_images"] == 60 and result["num_clusters"] == 10
    names = Path(result["clusters"]).read_text()
    assert "goldfish" in names  # descriptions come from the real words.txt
    with Image.open(result["canvas"]) as canvas:
        assert canvas.mode == "RGB"  # grayscale JPEGs were converted
