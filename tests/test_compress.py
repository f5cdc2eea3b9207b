"""TT-SVD and TT matrices against tensorly, TTLinear, compress_model and the pooled projection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorly as tl
import torch
from tensorly.decomposition import tensor_train, tensor_train_matrix
from tensorly.tt_matrix import TTMatrix
from torch import nn

from course_lib.compress import (
    PooledInput,
    TTLinear,
    adaptive_pool_matrix,
    compress_model,
    count_parameters,
    fold_pooling,
    state_dict_bytes,
    tt_linear_on_pooled_inputs,
    tt_matrix_forward,
    tt_svd,
)
from course_lib.models import create_model
from course_lib.tt import (
    choose_modes,
    prime_factors,
    split_into_factors,
    tt_matrix_forward_size,
    tt_matrix_parameters,
    tt_matrix_svd,
    tt_matrix_to_dense,
    tt_to_dense,
)


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    return (torch.linalg.norm(approx - exact) / torch.linalg.norm(exact)).item()


def tensorly_tt(tensor: torch.Tensor, ranks: list[int]) -> torch.Tensor:
    """Reconstruction of tensorly's TT-SVD with the d+1 ``ranks``."""
    factors = tensor_train(tensor.numpy(), rank=ranks)
    return torch.from_numpy(tl.tt_to_tensor(factors))


# ---------------------------------------------------------------- tt_svd


def test_tt_svd_at_full_rank_is_exact_and_matches_tensorly():
    torch.manual_seed(0)
    tensor = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    cores = tt_svd(tensor)
    assert [core.shape for core in cores] == [(1, 3, 3), (3, 4, 12), (12, 5, 6), (6, 6, 1)]
    torch.testing.assert_close(tt_to_dense(cores), tensor, rtol=0, atol=1e-10)
    reference = tensorly_tt(tensor, [1, 3, 12, 6, 1])
    torch.testing.assert_close(tt_to_dense(cores), reference, rtol=0, atol=1e-10)


@pytest.mark.parametrize("ranks", [[2, 5, 3], [1, 1, 1], [3, 7, 2]])
def test_truncated_tt_svd_matches_tensorly(ranks):
    torch.manual_seed(1)
    tensor = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    cores = tt_svd(tensor, ranks=ranks)
    assert [core.shape[-1] for core in cores[:-1]] == ranks
    torch.testing.assert_close(
        tt_to_dense(cores), tensorly_tt(tensor, [1, *ranks, 1]), rtol=0, atol=1e-5
    )


def test_max_rank_caps_every_rank_and_ranks_combine_by_minimum():
    tensor = torch.randn(4, 4, 4, 4, dtype=torch.float64)
    assert [c.shape[-1] for c in tt_svd(tensor, max_rank=3)] == [3, 3, 3, 1]
    assert [c.shape[-1] for c in tt_svd(tensor, ranks=[2, 9, 5], max_rank=4)] == [2, 4, 4, 1]
    assert [c.shape[-1] for c in tt_svd(tensor, ranks=2)] == [2, 2, 2, 1]


def low_rank_plus_noise(shape: tuple[int, ...], *, terms: int, noise: float) -> torch.Tensor:
    generator = torch.Generator().manual_seed(2)
    tensor = torch.zeros(shape, dtype=torch.float64)
    for _ in range(terms):
        vectors = [torch.randn(n, dtype=torch.float64, generator=generator) for n in shape]
        tensor += torch.einsum("a,b,c,d->abcd", *vectors)  # a rank-1 term
    return tensor + noise * torch.randn(shape, dtype=torch.float64, generator=generator)


@pytest.mark.parametrize("eps", [1e-3, 0.05, 0.2, 0.5, 0.9])
def test_eps_bounds_the_relative_error(eps):
    tensor = low_rank_plus_noise((6, 7, 8, 9), terms=3, noise=0.05)
    cores = tt_svd(tensor, eps=eps)
    assert relative_error(tt_to_dense(cores), tensor) <= eps
    full = sum(core.numel() for core in tt_svd(tensor))
    if eps >= 0.05:  # the noise is about 2% of the norm: beyond it the ranks must drop
        assert sum(core.numel() for core in cores) < full


def test_eps_on_a_random_tensor_and_in_float32():
    tensor = torch.randn(5, 6, 7, 8)
    for eps in (0.1, 0.4, 0.8):
        cores = tt_svd(tensor, eps=eps)
        assert cores[0].dtype == torch.float32
        assert relative_error(tt_to_dense(cores), tensor) <= eps


def test_bad_ranks_are_reported():
    tensor = torch.randn(3, 4, 5)
    with pytest.raises(ValueError, match="2 inner ranks"):
        tt_svd(tensor, ranks=[2, 2, 2])
    with pytest.raises(ValueError, match="positive"):
        tt_svd(tensor, ranks=[2, 0])
    with pytest.raises(ValueError, match="positive"):
        tt_svd(tensor, ranks=-1)
    with pytest.raises(ValueError, match="max_rank"):
        tt_svd(tensor, max_rank=0)


# ---------------------------------------------------------------- TT matrices


def test_tt_matrix_svd_matches_tensorly_tensor_train_matrix():
    torch.manual_seed(3)
    matrix = torch.randn(512, 200, dtype=torch.float64)
    in_modes, out_modes = choose_modes(512, 200)
    ranks = [4, 8, 16, 8, 4]
    ours = tt_matrix_to_dense(tt_matrix_svd(matrix, in_modes, out_modes, ranks=ranks))
    factors = tensor_train_matrix(matrix.numpy().reshape(*in_modes, *out_modes), [1, *ranks, 1])
    theirs = torch.from_numpy(tl.tt_matrix_to_tensor(factors)).reshape(512, 200)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_tt_matrix_forward_equals_the_dense_product():
    generator = torch.Generator().manual_seed(4)
    shapes = [(1, 2, 3, 4), (4, 3, 1, 5), (5, 4, 2, 1)]  # in 2*3*4 = 24, out 3*1*2 = 6
    cores = [torch.randn(s, dtype=torch.float64, generator=generator) for s in shapes]
    dense = torch.from_numpy(tl.tt_matrix_to_tensor(TTMatrix([c.numpy() for c in cores])))
    dense = dense.reshape(24, 6)  # tensorly's reconstruction, independent of ours
    x = torch.randn(2, 7, 24, dtype=torch.float64, generator=generator)  # leading dims kept
    torch.testing.assert_close(tt_matrix_forward(x, cores), x @ dense)
    torch.testing.assert_close(tt_matrix_to_dense(cores), dense)
    with pytest.raises(ValueError, match="25 features"):
        tt_matrix_forward(torch.randn(3, 25, dtype=torch.float64), cores)


def test_tt_matrix_forward_never_builds_the_dense_matrix():
    """A rank-1 TT matrix of 16.7M x 4096 (275 GB dense) times a Kronecker-product input."""
    generator = torch.Generator().manual_seed(5)
    factors = [torch.randn(64, 8, generator=generator) / 8 for _ in range(4)]
    cores = [factor[None, :, :, None] for factor in factors]  # (1, 64, 8, 1)
    vectors = [torch.randn(64, generator=generator) for _ in range(4)]
    x = vectors[0]
    for vector in vectors[1:]:
        x = torch.kron(x, vector)  # (64**4,)
    expected = vectors[0] @ factors[0]
    for vector, factor in zip(vectors[1:], factors[1:], strict=True):
        expected = torch.kron(expected, vector @ factor)  # (8**4,)
    result = tt_matrix_forward(x[None], cores)[0]
    torch.testing.assert_close(result, expected, rtol=1e-4, atol=1e-4)


def test_modes_are_chosen_for_any_size():
    assert choose_modes(25088, 512) == ((4, 4, 4, 7, 7, 8), (2, 2, 2, 4, 4, 4))
    assert choose_modes(512, 200) == ((2, 2, 2, 4, 4, 4), (1, 2, 2, 2, 5, 5))
    assert choose_modes(7, 3) == ((7,), (3,))
    assert choose_modes(13, 1) == ((13,), (1,))
    for n, d in [(25088, 6), (200, 6), (97, 3), (1, 2), (360, 4)]:
        factors = split_into_factors(n, d)
        assert len(factors) == d and math.prod(factors) == n
    assert prime_factors(25088) == [2] * 9 + [7, 7]


# ---------------------------------------------------------------- TTLinear


@pytest.mark.parametrize("sizes", [(512, 200), (512, 512), (512, 10), (30, 7)])
def test_tt_linear_at_full_rank_equals_the_dense_layer(sizes):
    torch.manual_seed(6)
    linear = nn.Linear(*sizes)
    layer = TTLinear.from_linear(linear)
    x = torch.randn(16, sizes[0])
    torch.testing.assert_close(layer(x), linear(x), rtol=0, atol=1e-5)
    assert layer.bias is not None and torch.equal(layer.bias, linear.bias)


@pytest.mark.slow
def test_tt_linear_at_full_rank_25088_to_512():
    """About 10-40 s on 2 CPU cores: the middle unfoldings are 512 x 25088 and 14336 x 896."""
    torch.manual_seed(7)
    linear = nn.Linear(25088, 512)
    layer = TTLinear.from_linear(linear)
    assert layer.in_modes == (4, 4, 4, 7, 7, 8) and layer.ranks == (1, 8, 64, 512, 896, 32, 1)
    x = torch.randn(8, 25088)
    torch.testing.assert_close(layer(x), linear(x), rtol=0, atol=1e-5)


def test_parameter_count_follows_the_formula():
    linear = nn.Linear(512, 200)
    layer = TTLinear.from_linear(linear, ranks=[2, 4, 8, 4, 2])
    expected = sum(
        m * n * r0 * r1
        for m, n, r0, r1 in zip(
            layer.in_modes, layer.out_modes, layer.ranks[:-1], layer.ranks[1:], strict=True
        )
    )
    assert layer.ranks == (1, 2, 4, 8, 4, 2, 1)
    assert expected == tt_matrix_parameters(layer.in_modes, layer.out_modes, layer.ranks)
    assert layer.num_parameters() == expected + 200 == count_parameters(layer)
    no_bias = TTLinear.from_linear(nn.Linear(512, 200, bias=False), ranks=[2, 4, 8, 4, 2])
    assert no_bias.num_parameters() == expected and no_bias(torch.randn(3, 512)).shape == (3, 200)


def test_given_modes_and_gradients_reach_the_cores():
    linear = nn.Linear(12 * 10, 4 * 6)  # two modes, as the article's (112, 224) x (16, 32)
    layer = TTLinear.from_linear(linear, (12, 10), (4, 6), max_rank=8)
    assert layer.ranks == (1, 8, 1)
    layer(torch.randn(2, 120)).sum().backward()
    assert all(core.grad is not None for core in layer.cores) and layer.bias.grad is not None


def test_bad_modes_are_reported():
    linear = nn.Linear(512, 200)
    with pytest.raises(ValueError, match="multiply to"):
        TTLinear.from_linear(linear, (8, 8, 8), (10, 10, 3))
    with pytest.raises(ValueError, match="same length"):
        TTLinear.from_linear(linear, (8, 64), (10, 10, 2))
    with pytest.raises(ValueError, match="neither"):
        TTLinear.from_linear(linear, (8, 64))
    with pytest.raises(ValueError, match="5 inner ranks"):
        TTLinear.from_linear(linear, ranks=[2, 2])
    with pytest.raises(TypeError, match="nn.Linear"):
        TTLinear.from_linear(nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match="matching ranks"):
        TTLinear([torch.randn(1, 2, 2, 3), torch.randn(2, 2, 2, 1)])


# ---------------------------------------------------------------- compress_model


@pytest.fixture()
def small_model() -> nn.Module:
    torch.manual_seed(8)
    return create_model("vgg_mini_transfer", num_classes=10, widths=(8, 16, 128)).eval()


def test_compress_model_at_full_rank_keeps_the_outputs(small_model):
    layers = ["classifier.0", "classifier.4", "classifier.8"]
    compressed, report = compress_model(small_model, layers)
    images = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(compressed(images), small_model(images), rtol=0, atol=1e-5)
    assert all(isinstance(small_model.get_submodule(name), nn.Linear) for name in layers)
    assert all(isinstance(compressed.get_submodule(name), TTLinear) for name in layers)
    assert [row.name for row in report.layers] == layers
    assert report.parameters_before == count_parameters(small_model)
    assert report.parameters_after == count_parameters(compressed)
    assert report.bytes_before == state_dict_bytes(small_model)
    assert all(row.relative_error < 1e-5 for row in report.layers)
    assert report.rows()[-1]["name"] == "model"


def test_truncated_compression_reports_error_and_sizes(small_model):
    in_modes, out_modes = choose_modes(512, 128)  # a weight of TT ranks 3, plus 1% noise
    ranks = [1, 3, 3, 3, 3, 3, 1]
    shapes = zip(ranks[:-1], in_modes, out_modes, ranks[1:], strict=True)
    weight = tt_matrix_to_dense([torch.randn(shape) for shape in shapes]).T  # (128, 512)
    with torch.no_grad():
        weight += 0.01 * weight.std() * torch.randn_like(weight)
        small_model.classifier[0].weight.copy_(weight)
    compressed, report = compress_model(
        small_model,
        ["classifier.0", "classifier.4"],
        eps={"classifier.0": 0.1},
        max_rank={"classifier.4": 4},
    )
    first, second = report.layers
    assert first.relative_error <= 0.1 and max(second.ranks) <= 4
    assert first.tt_parameters < first.dense_parameters
    assert report.parameters_after < report.parameters_before
    assert report.bytes_after < report.bytes_before
    assert report.bytes_after == state_dict_bytes(compressed)


def test_compress_model_rejects_unknown_or_non_linear_layers(small_model):
    with pytest.raises(ValueError, match="classifier.9"):
        compress_model(small_model, ["classifier.9"])
    with pytest.raises(TypeError, match="BatchNorm1d"):
        compress_model(small_model, ["classifier.2"])


# ---------------------------------------------------------------- pooled inputs


@pytest.mark.parametrize("sizes", [(2, 7), (3, 7), (7, 7), (10, 4), (1, 7)])
def test_adaptive_pool_matrix_matches_torch(sizes):
    in_size, out_size = sizes
    pool = nn.AdaptiveAvgPool1d(out_size)
    x = torch.randn(3, in_size)
    torch.testing.assert_close(
        x @ adaptive_pool_matrix(in_size, out_size).T, pool(x[:, None])[:, 0]
    )


def pooled_layer_and_inputs(channels=16, out_features=20):
    torch.manual_seed(9)
    linear = nn.Linear(channels * 49, out_features)
    maps = torch.randn(5, channels, 2, 2)  # what a 64x64 image gives VGG16 (with 512 channels)
    inputs = torch.flatten(nn.AdaptiveAvgPool2d((7, 7))(maps), 1)  # (5, channels * 49)
    return linear, maps, inputs


def test_folding_the_pooling_gives_the_same_outputs():
    linear, maps, inputs = pooled_layer_and_inputs()
    folded = fold_pooling(linear.weight, PooledInput(16, (2, 2)))  # (20, 64)
    assert folded.shape == (20, 64)
    torch.testing.assert_close(maps.flatten(1) @ folded.T + linear.bias, linear(inputs))


def test_tt_on_pooled_inputs_is_exact_there_and_small():
    linear, _, inputs = pooled_layer_and_inputs()
    pooled = PooledInput(channels=16, feature_size=(2, 2))
    layer = tt_linear_on_pooled_inputs(linear, pooled, num_modes=4)
    assert layer.in_features == 16 * 49 and layer.in_modes == (4, 4, 7, 7)
    assert layer.out_modes == (4, 5, 1, 1) and layer.ranks[-3:] == (4, 2, 1)
    torch.testing.assert_close(layer(inputs), linear(inputs), rtol=0, atol=1e-5)
    direct = TTLinear.from_linear(linear, layer.in_modes, layer.out_modes)  # the 7x7 weight
    assert direct.ranks[-3:] == (49, 7, 1) and direct.num_parameters() > layer.num_parameters()
    truncated = tt_linear_on_pooled_inputs(linear, pooled, num_modes=4, eps=0.3)
    folded = fold_pooling(linear.weight, pooled)
    error = relative_error(fold_pooling(truncated.dense_weight(), pooled), folded)
    assert 0 < error <= 0.3
    with pytest.raises(ValueError, match="channels x pooled size"):
        tt_linear_on_pooled_inputs(linear, PooledInput(8, (2, 2)))


def test_compress_model_on_pooled_inputs():
    linear, maps, _ = pooled_layer_and_inputs()
    model = nn.Sequential(nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), linear)
    pooled = {"2": PooledInput(16, (2, 2))}
    exact, report = compress_model(model, ["2"], pooled=pooled)
    torch.testing.assert_close(exact(maps), model(maps), rtol=0, atol=1e-5)
    assert report.layers[0].relative_error < 1e-6
    truncated, report = compress_model(model, ["2"], pooled=pooled, eps=0.2)
    assert 0 < report.layers[0].relative_error <= 0.2
    assert report.layers[0].tt_parameters < exact.get_submodule("2").num_parameters()


def test_float32_weights_stay_float32():
    layer = TTLinear.from_linear(nn.Linear(24, 6), max_rank=2)
    assert all(core.dtype == torch.float32 for core in layer.cores)
    assert np.isfinite(layer(torch.randn(2, 24)).detach().numpy()).all()


# ---------------------------------------------------------------- pipeline


def test_run_compress_on_a_small_model(tiny_imagenet, tmp_path):
    from torch.utils.data import DataLoader
    from torchvision.transforms import v2

    from course_lib.data.tiny_imagenet import TinyImageNet
    from course_lib.data.transforms import val_transform
    from course_lib.history import read_csv
    from course_lib.pipelines.compress import classifier_linears, find_pooled_input, run_compress

    transform = v2.Compose([v2.Resize((16, 16)), val_transform()])  # 1x1 maps pooled to 2x2
    train = TinyImageNet(tiny_imagenet, "train", transform=transform)
    val = TinyImageNet(tiny_imagenet, "val", transform=transform)
    loaders = {
        "train": DataLoader(train, batch_size=8, shuffle=True),
        "val": DataLoader(val, batch_size=8),
    }
    torch.manual_seed(0)
    model = create_model("vgg_mini_transfer", num_classes=4, widths=(8, 16, 32, 64))
    before = {name: p.clone() for name, p in model.named_parameters()}
    used = []

    def counting_tt_svd(*args, **kwargs):
        used.append(1)
        return tt_svd(*args, **kwargs)

    layers = classifier_linears(model)
    pooled = find_pooled_input(model, next(iter(loaders["val"]))[0])
    compress_model(model, layers, max_rank=4, pooled=pooled, decompose=counting_tt_svd)
    assert len(used) == 3  # one TT-SVD per Linear of the head
    result = run_compress(
        model, loaders, tmp_path / "out", max_rank=4, cam_images=6, boxes=val.boxes(), control=True
    )
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
    table = read_csv(tmp_path / "out" / "summary.csv")
    assert [row["model"] for row in table][:2] == ["original", "TT-compressed"] and len(table) == 4
    assert table[0]["classifier_parameters"] > 10 * table[2]["classifier_parameters"]
    assert table[3]["classifier_parameters"] == table[0]["classifier_parameters"]  # the control
    assert result["classifier_reduction"] > 10 and result["layers"][0] == "classifier.0"
    assert result["pooled"]["classifier.0"]["feature_size"] == (1, 1)
    assert len(result["finetune_history"]) == 1
    cams = read_csv(tmp_path / "out" / "cams.csv")
    assert len(cams) == 6 and {"correlation_compressed", "correlation_finetuned"} <= set(cams[0])
    assert {"pointing_original", "pointing_finetuned", "mass_compressed"} <= set(cams[0])
    for name in ("summary.md", "layers.csv", "cams.png", "compressed.pt", "summary.json"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    saved = torch.load(tmp_path / "out" / "compressed.pt", weights_only=True)
    assert "classifier.0.cores.0" in saved


@pytest.mark.slow
def test_compress_and_explain_a_training_checkpoint(tiny_imagenet, tmp_path):
    """About 20-60 s on 2 CPU cores: trains the demo model for one epoch per stage first."""
    from course_lib.checkpoint import model_from_checkpoint
    from course_lib.pipelines.compress import run_compress_checkpoint
    from course_lib.pipelines.explain import run_explain_checkpoint
    from course_lib.pipelines.transfer import run_transfer

    run_transfer("transfer_demo", data_root=tiny_imagenet, out_dir=tmp_path / "run", epochs=1)
    checkpoint = tmp_path / "run" / "checkpoints" / "last.pt"
    model, config = model_from_checkpoint(checkpoint)
    assert config.name == "transfer_demo" and model.classifier[-1].out_features == 4
    result = run_compress_checkpoint(checkpoint, tiny_imagenet, tmp_path / "compressed", eps=0.5)
    assert result["pooled"] == {}  # vgg_mini pools 4x4 maps down to 2x2: nothing to fold
    assert 0 <= result["cam_pointing_original_mean"] <= 1 and len(result["table"]) == 3
    explained = run_explain_checkpoint(checkpoint, tiny_imagenet, tmp_path / "cams", max_scan=8)
    assert explained["scanned"] == 8 and "pointing_game" in explained


def test_the_product_starts_from_the_cheaper_end():
    linear, _, inputs = pooled_layer_and_inputs()
    layer = tt_linear_on_pooled_inputs(linear, PooledInput(16, (2, 2)), num_modes=4)
    assert layer.from_last_core  # ranks 4 and 2 at the end: smaller intermediate tensors
    torch.testing.assert_close(
        layer(inputs), tt_matrix_forward(inputs, list(layer.cores)) + layer.bias
    )
    forward = tt_matrix_forward_size(layer.in_modes, layer.out_modes, layer.ranks)
    backward = tt_matrix_forward_size(
        layer.in_modes[::-1], layer.out_modes[::-1], layer.ranks[::-1]
    )
    assert backward < forward
    assert tt_matrix_forward_size((2, 3), (4, 5), (1, 6, 1)) == 3 * 4 * 6 + 1 * 20 * 1
