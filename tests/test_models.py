"""Model registry, heads, freezing and pretrained-weight handling (random weights, no network)."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torch import nn
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.vgg import make_layers

import course_lib.models
from course_lib.models import (
    TransferNet,
    build_vgg16_head,
    create_model,
    load_torchvision,
    model_names,
    replace_last_linear,
    set_trainable,
    uses_log_probs,
)

NUM_CLASSES = 5  # odd on purpose
FULL_SIZE = ("vgg16_transfer", "convnext_age")  # built only in the slow tests
pytestmark = pytest.mark.usefixtures("one_thread")


def small_torchvision_model(arch: str, *, weights: str | None = None) -> nn.Module:
    """Stands in for ``load_torchvision``: the parts of vgg16 and convnext_tiny the builders use,
    in their layout, at a small fraction of their size."""
    assert weights is None, "the small stand-ins have no pretrained weights"
    if arch == "vgg16":
        vgg = nn.Module()
        vgg.features = make_layers([8, "M", 512])  # 512 channels out, as VGG16's features
        vgg.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        return vgg
    if arch == "convnext_tiny":  # classifier: LayerNorm2d, Flatten, Linear(16, 1000)
        return ConvNeXt([CNBlockConfig(8, 16, 1), CNBlockConfig(16, None, 1)])
    raise ValueError(f"no small stand-in for {arch!r}; expected vgg16 or convnext_tiny")


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    """Every registered model, small: the full-size builders run on small stand-in backbones."""
    torch.manual_seed(0)
    small_options = {"vgg16_transfer": {"hidden": 16}}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(course_lib.models, "load_torchvision", small_torchvision_model)
        return {
            name: create_model(name, num_classes=NUM_CLASSES, **small_options.get(name, {}))
            for name in model_names()
        }


@pytest.fixture(scope="module")
def full_size_models() -> dict[str, nn.Module]:
    """VGG16 and ConvNeXt-Tiny at their real sizes (random weights), each built once."""
    torch.manual_seed(0)
    return {name: create_model(name, num_classes=NUM_CLASSES) for name in FULL_SIZE}


def test_registry_names_and_bad_input():
    assert {"vgg16_transfer", "convnext_age", "vgg_mini_transfer", "convnext_mini_age"} <= set(
        model_names()
    )
    with pytest.raises(ValueError, match="known models: .*vgg16_transfer"):
        create_model("vgg17", num_classes=3)
    for bad in (1, 0, -3, True, 2.0):
        with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
            create_model("vgg_mini_transfer", num_classes=bad)


def check_trains_what_it_should(model: nn.Module) -> None:
    """Finite outputs of the right shape, and a gradient on exactly the trainable parameters."""
    model.train()
    images = torch.randn(2, 3, 32, 32)  # batch of 2: BatchNorm1d needs more than one sample
    output = model(images)
    assert output.shape == (2, NUM_CLASSES)
    assert torch.isfinite(output).all()
    if uses_log_probs(model):
        torch.testing.assert_close(output.exp().sum(dim=1), torch.ones(2))
        model.eval()  # the same dropout-free pass twice: log_softmax of the logits
        with torch.no_grad():
            expected = torch.log_softmax(model.logits(images), dim=1)
            torch.testing.assert_close(model(images), expected)
        model.train()
    output.sum().backward()
    for param_name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None and torch.isfinite(param.grad).all(), param_name
            assert param.grad.abs().sum() > 0, f"{param_name} got an all-zero gradient"
        else:
            assert param.grad is None, param_name
    model.zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", model_names())
def test_every_model_trains_what_it_should(models, name):
    check_trains_what_it_should(models[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", FULL_SIZE)
def test_full_size_models_train_what_they_should(full_size_models, name):
    check_trains_what_it_should(full_size_models[name])


def check_trains_exactly_the_head(model: nn.Module) -> None:
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    head = {f"classifier.{n}" for n, _ in model.classifier.named_parameters()}
    assert trainable == head
    assert isinstance(model, TransferNet) and model.outputs_log_probs


@pytest.mark.parametrize("name", ["vgg16_transfer", "vgg_mini_transfer"])
def test_fresh_transfer_model_trains_exactly_the_head(models, name):
    check_trains_exactly_the_head(models[name])


@pytest.mark.slow
def test_vgg16_transfer_head_shapes(full_size_models):
    model = full_size_models["vgg16_transfer"]
    check_trains_exactly_the_head(model)
    layers = list(model.classifier)
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds == ["Linear", "ReLU", "BatchNorm1d", "Dropout"] * 2 + ["Linear"]
    assert (layers[0].in_features, layers[0].out_features) == (25088, 512)
    assert (layers[4].in_features, layers[8].out_features) == (512, NUM_CLASSES)
    assert layers[3].p == 0.5
    assert len(model.features) == 31 and model.features[28].out_channels == 512


def test_build_vgg16_head_matches_article_initialisation():
    torch.manual_seed(1)
    head = build_vgg16_head(7, in_features=40, hidden=16)
    # Article 001: the same layers, then init_classifier (kaiming_uniform_, zero bias, BN 1/0).
    torch.manual_seed(1)
    article = nn.Sequential(
        nn.Linear(40, 16),
        nn.ReLU(),
        nn.BatchNorm1d(16),
        nn.Dropout(0.5),
        nn.Linear(16, 16),
        nn.ReLU(),
        nn.BatchNorm1d(16),
        nn.Dropout(0.5),
        nn.Linear(16, 7),
    )
    with torch.no_grad():
        for m in article:
            if isinstance(m, nn.BatchNorm1d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight)
                nn.init.constant_(m.bias, 0)
    for (name, ours), (_, theirs) in zip(
        head.state_dict().items(), article.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(ours, theirs, msg=name)
    assert head[0].bias.abs().sum() == 0 and head[0].weight.abs().max() <= (6 / 40) ** 0.5


def test_set_trainable_counts_changes_and_rejects_unknown_prefixes():
    model = create_model("vgg_mini_transfer", num_classes=3)
    n_features = len(list(model.features.parameters()))
    assert set_trainable(model, ["features"], True) == n_features
    assert set_trainable(model, "features", True) == 0  # already trainable
    assert all(p.requires_grad for p in model.parameters())
    assert set_trainable(model, ("features.0.", "classifier.8"), False) == 4
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {
        "features.0.weight",
        "features.0.bias",
        "classifier.8.weight",
        "classifier.8.bias",
    }
    with pytest.raises(ValueError, match="no parameter name starts with 'head'"):
        set_trainable(model, ["classifier", "head"], True)


def test_frozen_features_stay_in_eval_mode():
    model = create_model("vgg_mini_transfer", num_classes=3, batch_norm=True)
    model.train()
    assert model.classifier.training and not model.features.training
    set_trainable(model, "features", True)
    model.train()
    assert model.features.training
    model.eval()
    assert not model.classifier.training


def test_replace_last_linear_on_convnext_layout():
    model = create_model("convnext_mini_age", num_classes=3)
    old = model.classifier[2]
    assert replace_last_linear(model, 9) is model
    new = model.classifier[2]
    assert isinstance(new, nn.Linear) and new is not old
    assert (new.in_features, new.out_features) == (old.in_features, 9)
    assert [type(m).__name__ for m in model.classifier] == ["LayerNorm2d", "Flatten", "Linear"]
    with pytest.raises(TypeError, match="expected an nn.Linear"):
        replace_last_linear(model, 4, path="classifier.1")


def test_convnext_models_output_logits(models):
    for name in ("convnext_age", "convnext_mini_age"):
        assert not uses_log_probs(models[name])
        assert models[name].classifier[2].out_features == NUM_CLASSES


@pytest.mark.slow
def test_convnext_age_is_convnext_tiny_with_a_new_last_layer(full_size_models):
    model = full_size_models["convnext_age"]
    assert not uses_log_probs(model)
    assert [type(m).__name__ for m in model.classifier] == ["LayerNorm2d", "Flatten", "Linear"]
    last = model.classifier[2]
    assert (last.in_features, last.out_features) == (768, NUM_CLASSES)
    assert [len(stage) for stage in model.features[1::2]] == [3, 3, 9, 3]


def test_missing_weights_offline_error_names_file_and_folder(monkeypatch, tmp_path):
    def unreachable(url, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", unreachable)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError) as info:
        create_model("vgg16_transfer", num_classes=3, weights="IMAGENET1K_V1")
    message = str(info.value)
    assert "vgg16-397923af.pth" in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "weights=None" in message
    with pytest.raises(FileNotFoundError, match="convnext_tiny-983f1562.pth"):
        create_model("convnext_age", num_classes=6, weights="DEFAULT")


def test_weights_come_through_torchvision_weights_api(monkeypatch):
    torch.manual_seed(3)
    reference = load_torchvision("mobilenet_v3_small").state_dict()
    asked = []

    def cached(url, **kwargs):
        asked.append(url)
        return reference

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", cached)
    model = load_torchvision("mobilenet_v3_small", weights="DEFAULT")
    assert asked == ["https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth"]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, reference[name])


def test_bad_weights_names():
    with pytest.raises(ValueError, match="choose one of IMAGENET1K_V1"):
        load_torchvision("vgg16", weights="IMAGENET22K")
    with pytest.raises(ValueError, match="no pretrained weights"):
        create_model("vgg_mini_transfer", num_classes=3, weights="DEFAULT")
