"""Feature extraction, cosine similarity, retrieval and canvas positions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics.pairwise import cosine_similarity as sklearn_cosine
from threadpoolctl import threadpool_limits
from torch import nn
from torch.testing import assert_close
from torch.utils.data import DataLoader, TensorDataset
from torchvision.models.vgg import make_layers

from course_lib.features import (
    VGG16_FC7,
    canvas_positions,
    cosine_similarity_matrix,
    default_feature_layer,
    extract_features,
    fc7_layer,
    most_similar,
    pca_2d,
    penultimate_layer,
    precision_at_k,
    tsne_2d,
)
from course_lib.models import TransferNet


@pytest.fixture(autouse=True)
def one_openmp_thread():
    """sklearn's t-SNE busy-waits in OpenMP threads; on a shared 2-core machine one is faster."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 8),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(8, 3),
    )


def make_loader(n: int = 10, batch_size: int = 4, size: int = 8) -> DataLoader:
    images = torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1))
    return DataLoader(TensorDataset(images, torch.arange(n) % 3), batch_size=batch_size)


# --- cosine similarity ---------------------------------------------------------------------


def test_cosine_matches_sklearn_including_zero_rows():
    x = torch.randn(12, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x[3] = 0
    x[8] = 0
    ours = cosine_similarity_matrix(x)
    assert torch.isfinite(ours).all()
    assert_close(ours, torch.from_numpy(sklearn_cosine(x.numpy())))
    assert (ours[3] == 0).all() and (ours[:, 8] == 0).all()


def test_cosine_on_constructed_vectors():
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [1.0, 1.0]])
    s = cosine_similarity_matrix(x)
    assert_close(s[0, 1], torch.tensor(1.0))
    assert_close(s[0, 2], torch.tensor(0.0))
    assert_close(s[0, 3], torch.tensor(-1.0))
    assert_close(s[0, 4], torch.tensor(2**-0.5))
    assert_close(s, s.T)


def test_cosine_accepts_integers_and_rejects_1d():
    s = cosine_similarity_matrix(torch.tensor([[3, 4], [0, 0]]))
    assert s.dtype == torch.float32
    assert_close(s, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="2-D"):
        cosine_similarity_matrix(torch.ones(4))


# --- retrieval -----------------------------------------------------------------------------


def test_most_similar_excludes_query_and_orders_by_score():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [1.0, 0.5], [1.0, 0.0]])
    indices, scores = most_similar(cosine_similarity_matrix(x), 0, 3)
    assert indices == [4, 1, 3]  # 4 is a duplicate of the query: kept, the query itself is not
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(1.0)


def test_most_similar_ties_keep_index_order_like_a_stable_argsort():
    rng = np.random.default_rng(0)
    similarity = torch.from_numpy(rng.integers(0, 4, size=(20, 20)).astype(np.float64))
    for index in range(20):
        expected = [j for j in np.argsort(-similarity[index].numpy(), kind="stable") if j != index]
        indices, scores = most_similar(similarity, index, 6)
        assert indices == expected[:6]
        assert scores == similarity[index, expected[:6]].tolist()


def test_most_similar_bounds():
    s = cosine_similarity_matrix(torch.randn(4, 3))
    assert sorted(most_similar(s, 2, 10)[0]) == [0, 1, 3]  # at most N - 1
    with pytest.raises(IndexError):
        most_similar(s, 4, 1)
    with pytest.raises(IndexError):
        most_similar(s, -1, 1)
    with pytest.raises(ValueError, match="k must"):
        most_similar(s, 0, 0)


def test_precision_at_k_on_clusters_and_against_a_manual_count():
    x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.8, 0.3]])
    labels = torch.tensor([0, 0, 1, 1, 0])
    s = cosine_similarity_matrix(x)
    assert precision_at_k(s, labels, k=1) == 1.0
    manual = np.mean(
        [np.mean([labels[j] == labels[i] for j in most_similar(s, i, 3)[0]]) for i in range(5)]
    )
    assert precision_at_k(s, labels, k=3) == pytest.approx(manual)


# --- canvas positions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "coords",
    [
        np.random.default_rng(0).normal(size=(50, 2)) * 30,
        np.array([[-1e12, 1e12], [1e12, -1e12], [0.0, 0.0]]),
        np.array([[5.0, 5.0]]),
        np.array([[2.0, -7.0], [2.0, 9.0], [2.0, 1.0]]),  # no spread along x
    ],
)
@pytest.mark.parametrize("canvas, thumb", [((1000, 1000), (50, 50)), ((300, 120), (40, 120))])
def test_canvas_positions_keep_every_thumbnail_inside(coords, canvas, thumb):
    positions = canvas_positions(coords, canvas_size=canvas, thumb_size=thumb)
    assert len(positions) == len(coords)
    for x, y in positions:
        assert isinstance(x, int) and isinstance(y, int)
        assert 0 <= x <= canvas[0] - thumb[0] and 0 <= y <= canvas[1] - thumb[1]


def test_canvas_positions_use_the_whole_canvas_with_y_up():
    coords = np.array([[-3.0, -1.0], [5.0, 3.0], [1.0, 1.0]])
    positions = canvas_positions(coords, canvas_size=(200, 100), thumb_size=(20, 10))
    assert positions == [(0, 90), (180, 0), (90, 45)]


def test_canvas_positions_edge_cases():
    assert canvas_positions(np.empty((0, 2)), canvas_size=(10, 10), thumb_size=(2, 2)) == []
    same = canvas_positions(np.ones((3, 2)), canvas_size=(100, 100), thumb_size=(20, 20))
    assert same == [(40, 40)] * 3
    with pytest.raises(ValueError, match="does not fit"):
        canvas_positions(np.zeros((2, 2)), canvas_size=(10, 10), thumb_size=(11, 5))
    with pytest.raises(ValueError, match="NaN"):
        canvas_positions(np.array([[0.0, np.nan]]), canvas_size=(10, 10), thumb_size=(2, 2))


# --- extraction ----------------------------------------------------------------------------


def test_extract_features_model_output_and_named_layer():
    model, loader = small_net(), make_loader()
    model.train()
    features, labels = extract_features(model, loader)
    images, expected_labels = loader.dataset.tensors
    model.eval()
    with torch.no_grad():
        assert_close(features, model(images))
        assert_close(features_at(model, loader, "5"), model[:6](images))
    assert labels.tolist() == expected_labels.tolist()


def features_at(model: nn.Module, loader: DataLoader, layer: str) -> torch.Tensor:
    return extract_features(model, loader, layer=layer)[0]


def test_extract_features_restores_mode_and_flattens_conv_maps():
    model, loader = small_net(), make_loader()
    model.train()
    features = features_at(model, loader, "2")  # (N, 4, 2, 2) pooled maps
    assert features.shape == (10, 16)
    assert model.training


def test_hooked_output_is_copied_before_in_place_relu():
    model, loader = small_net(), make_loader()
    features = features_at(model, loader, "4")  # Linear, followed by ReLU(inplace=True)
    assert (features < 0).any()


def test_hooks_are_removed_even_when_forward_fails():
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("broken layer")

    model = small_net()
    model[7] = Broken()
    with pytest.raises(RuntimeError, match="broken layer"):
        extract_features(model, make_loader(), layer="4")
    assert all(not m._forward_hooks for m in model.modules())
    features_at(model[:7], make_loader(), "4")  # the healthy part still works
    assert all(not m._forward_hooks for m in model.modules())


def test_extract_features_errors():
    with pytest.raises(KeyError, match="no layer 'classifier.9'"):
        extract_features(small_net(), make_loader(), layer="classifier.9")
    with pytest.raises(ValueError, match="no batches"):
        extract_features(small_net(), [])


def test_layer_helpers_on_small_models():
    assert penultimate_layer(small_net()) == "5"
    with pytest.raises(ValueError, match="classifier"):
        fc7_layer(small_net())
    assert default_feature_layer(small_net()) == "5"
    head = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 8), nn.ReLU())
    model = nn.Module()
    model.classifier = nn.Sequential(*head, nn.Dropout(), nn.Linear(8, 3))
    assert fc7_layer(model) == "classifier.4" == penultimate_layer(model)


def check_fc7_of_vgg16_layout(model: nn.Module, width: int) -> None:
    """fc7 is ``classifier.4``, the penultimate layer; its features equal an independent path."""
    assert fc7_layer(model) == VGG16_FC7 == penultimate_layer(model)
    images = torch.randn(2, 3, 64, 64)
    loader = DataLoader(TensorDataset(images, torch.tensor([0, 1])), batch_size=2)
    features = features_at(model, loader, fc7_layer(model))
    assert features.shape == (2, width)
    model.eval()
    with torch.no_grad():  # independent path: features, pool, flatten, first 5 classifier layers
        expected = model.classifier[:5](torch.flatten(model.avgpool(model.features(images)), 1))
    assert_close(features, expected)
    assert (features >= 0).all()


def test_fc7_of_a_small_model_in_vgg16_layout():
    torch.manual_seed(0)
    classifier = nn.Sequential(
        nn.Linear(8 * 2 * 2, 16),
        nn.ReLU(inplace=True),
        nn.Dropout(),
        nn.Linear(16, 16),
        nn.ReLU(inplace=True),
        nn.Dropout(),
        nn.Linear(16, 5),
    )  # VGG16's classifier, 16 wide instead of 4096
    model = TransferNet(make_layers([4, "M", 8, "M"]), nn.AdaptiveAvgPool2d((2, 2)), classifier)
    check_fc7_of_vgg16_layout(model, width=16)


@pytest.mark.slow
def test_vgg16_fc7_is_4096_d_at_64_pixels():
    from torchvision.models import vgg16

    torch.manual_seed(0)
    check_fc7_of_vgg16_layout(vgg16(weights=None), width=4096)


# --- 2-D maps ------------------------------------------------------------------------------


def test_pca_and_tsne_shapes_and_seeding():
    x = torch.randn(40, 60, generator=torch.Generator().manual_seed(0))
    assert pca_2d(x).shape == (40, 2)
    first, second = tsne_2d(x, seed=3), tsne_2d(x.numpy(), seed=3)
    assert first.shape == (40, 2)
    np.testing.assert_allclose(first, second)
    assert np.isfinite(tsne_2d(x[:4], seed=0)).all()  # perplexity clipped for tiny N
    with pytest.raises(ValueError, match="at least 3"):
        tsne_2d(x[:2])


@pytest.mark.parametrize(
    "name, layer", [("vgg_mini_transfer", "classifier.5"), ("convnext_mini_age", "classifier.1")]
)
def test_default_feature_layer_of_the_small_registered_models(name, layer):
    from course_lib.models import create_model

    model = create_model(name, num_classes=3)
    assert default_feature_layer(model) == layer
    features = features_at(model, make_loader(n=5, size=32), layer)
    assert features.shape == (5, 128) and torch.isfinite(features).all()
