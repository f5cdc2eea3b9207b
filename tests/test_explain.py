"""Grad-CAM against pytorch-grad-cam, hook hygiene, bad input and localisation scores."""

from __future__ import annotations

import copy
import gc
import warnings
import weakref

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.vgg import cfgs, make_layers

from course_lib.explain import (
    cam_correlation,
    cam_mass_in_box,
    default_cam_layer,
    eval_mode,
    find_layer,
    gradcam,
    normalize_cams,
    pointing_game,
)
from course_lib.models import TransferNet, create_model


def reference_for(model: nn.Module, name: str, images, targets) -> torch.Tensor:
    """pytorch-grad-cam's GradCAM on a copy (it needs trainable parameters before the layer)."""
    model = copy.deepcopy(model)
    for param in model.parameters():
        param.requires_grad_(True)
    with GradCAM(model=model, target_layers=[model.get_submodule(name)]) as cam:
        maps = cam(input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    return torch.from_numpy(maps)


SIZES = ["small", pytest.param("full", marks=pytest.mark.slow)]


@pytest.fixture(scope="module", params=SIZES)
def vgg16(request) -> TransferNet:
    """VGG16's feature layers (features[29] is ReLU(inplace=True)) and a small head; at 1/16 of
    VGG16's widths in the default run, at its real widths in the slow run."""
    torch.manual_seed(0)
    divisor = 16 if request.param == "small" else 1
    widths = [width if width == "M" else width // divisor for width in cfgs["D"]]
    head = nn.Sequential(
        nn.Linear(widths[-2] * 7 * 7, 32), nn.ReLU(), nn.BatchNorm1d(32), nn.Linear(32, 7)
    )
    model = TransferNet(make_layers(widths), nn.AdaptiveAvgPool2d((7, 7)), head)
    for param in model.features.parameters():
        param.requires_grad_(False)  # frozen backbone, as in the transfer model
    return model.eval()


@pytest.fixture(scope="module", params=SIZES)
def convnext(request) -> nn.Module:
    """ConvNeXt-Tiny's layout (3, 3, 9, 3 blocks); 8-64 channels in the default run instead of
    96-768, the real ConvNeXt-Tiny in the slow run."""
    torch.manual_seed(0)
    if request.param == "full":
        return torchvision.models.convnext_tiny(weights=None, num_classes=5).eval()
    stages = [(8, 16, 3), (16, 32, 3), (32, 64, 9), (64, None, 3)]
    blocks = [CNBlockConfig(*stage) for stage in stages]
    return ConvNeXt(blocks, stochastic_depth_prob=0.1, num_classes=5).eval()


@pytest.fixture()
def mini_vgg() -> nn.Module:
    torch.manual_seed(0)
    return create_model("vgg_mini_transfer", num_classes=5, widths=(8, 16, 32))


@pytest.mark.parametrize("layer", ["features.28", "features.29", "features.21"])
def test_matches_pytorch_grad_cam_on_vgg16(vgg16, layer):
    torch.manual_seed(1)
    images = torch.randn(3, 3, 48, 48)  # 3x3 maps at features[28]; 64x64 gives 4x4
    targets = [0, 3, 6]
    ours = gradcam(vgg16, layer, images, targets=targets)
    assert ours.shape == (3, 48, 48) and ours.min() >= 0 and ours.max() <= 1
    torch.testing.assert_close(
        ours, reference_for(vgg16, layer, images, targets), rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("layer", ["features.7", "features.5.8.block.0"])
def test_matches_pytorch_grad_cam_on_convnext_tiny(convnext, layer):
    torch.manual_seed(2)
    images = torch.randn(3, 3, 64, 64)
    ours = gradcam(convnext, layer, images)  # targets: the predicted classes
    predicted = convnext(images).argmax(dim=1)
    reference = reference_for(convnext, layer, images, predicted)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)


@pytest.mark.parametrize("layer", ["features.0", "features.3", "features.4", "features.5"])
def test_matches_pytorch_grad_cam_on_small_models(layer):
    torch.manual_seed(3)
    model = create_model("convnext_mini_age", num_classes=5).eval()
    images = torch.randn(5, 3, 40, 56)  # not square: (H, W) order matters in the resize
    targets = torch.tensor([4, 0, 1, 2, 3])
    ours = gradcam(model, layer, images, targets=targets)
    assert ours.shape == (5, 40, 56)
    torch.testing.assert_close(
        ours, reference_for(model, layer, images, targets), rtol=0, atol=1e-5
    )


def test_in_place_relu_reads_activations_after_it_and_gradients_before_it(vgg16):
    torch.manual_seed(4)
    images = torch.randn(3, 3, 48, 48)
    targets = torch.tensor([1, 2, 3])
    model = copy.deepcopy(vgg16)
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    saved = {}
    model.features[28].register_forward_hook(lambda m, i, o: saved.update(before=o))
    model.features[29].register_forward_hook(lambda m, i, o: saved.update(after=o))
    with torch.enable_grad():
        for param in model.parameters():
            param.requires_grad_(True)
        score = model(images).gather(1, targets[:, None]).sum()
        (gradients,) = torch.autograd.grad(score, saved["before"])
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    expected = normalize_cams(torch.relu((weights * saved["after"]).sum(dim=1)))
    expected = normalize_cams(
        F.interpolate(expected[:, None], size=(48, 48), mode="bilinear")[:, 0]
    )
    ours = gradcam(vgg16, "features.28", images, targets=targets)
    torch.testing.assert_close(ours, expected.detach(), rtol=0, atol=1e-5)
    clean = normalize_cams(torch.relu((weights * saved["before"]).sum(dim=1)).detach())
    assert not torch.allclose(
        normalize_cams(F.interpolate(clean[:, None], size=(48, 48), mode="bilinear")[:, 0]),
        ours,
        atol=1e-3,
    )


def test_frozen_model_needs_no_gradients_and_keeps_its_state(mini_vgg):
    images = torch.randn(3, 3, 32, 32)
    mini_vgg.train()  # TransferNet keeps frozen features in eval mode while training
    flags = {name: module.training for name, module in mini_vgg.named_modules()}
    requires = {name: p.requires_grad for name, p in mini_vgg.named_parameters()}
    assert not any(p.requires_grad for p in mini_vgg.features.parameters())
    ours = gradcam(mini_vgg, mini_vgg.features[4], images, targets=[0, 1, 2])
    assert flags == {name: module.training for name, module in mini_vgg.named_modules()}
    assert requires == {name: p.requires_grad for name, p in mini_vgg.named_parameters()}
    assert all(p.grad is None for p in mini_vgg.parameters())
    reference = reference_for(mini_vgg.eval(), "features.4", images, [0, 1, 2])
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)


def test_works_under_no_grad(mini_vgg):
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        inside = gradcam(mini_vgg, "features.4", images)
    torch.testing.assert_close(inside, gradcam(mini_vgg, "features.4", images))


def _live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():  # isinstance on some torch module proxies warns
        warnings.simplefilter("ignore")
        return sum(isinstance(obj, torch.Tensor) for obj in gc.get_objects())


def test_hooks_released_and_no_growth_over_100_calls():
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 8, 3),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    )
    images = torch.randn(3, 3, 12, 12)
    outputs = []
    model[2].register_forward_hook(lambda m, i, o: outputs.append(weakref.ref(o)))
    gradcam(model, "2", images)  # warm-up: lazily created tensors
    before = _live_tensors()
    for _ in range(100):
        gradcam(model, model[2], images)
    assert _live_tensors() <= before
    assert len(outputs) == 101 and all(ref() is None for ref in outputs)  # nothing kept
    assert len(model[2]._forward_hooks) == 1  # only the test's own hook is left
    assert all(not module._forward_hooks for module in model if module is not model[2])


def test_hooks_released_when_forward_fails(mini_vgg):
    class Broken(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, images):
            self.inner.features(images)
            raise RuntimeError("boom after the target layer")

    broken = Broken(mini_vgg)
    with pytest.raises(RuntimeError, match="boom"):
        gradcam(broken, "inner.features.4", torch.randn(3, 3, 32, 32))
    assert all(not module._forward_hooks for module in broken.modules())
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        gradcam(mini_vgg, "classifier.0", torch.randn(3, 3, 32, 32))
    assert all(not module._forward_hooks for module in mini_vgg.modules())


def test_bad_input_is_reported(mini_vgg):
    images = torch.randn(3, 3, 32, 32)
    with pytest.raises(ValueError, match="close names"):
        gradcam(mini_vgg, "features.44", images)
    with pytest.raises(ValueError, match="not a submodule"):
        gradcam(mini_vgg, nn.Conv2d(3, 3, 1), images)
    with pytest.raises(TypeError, match="dotted name"):
        gradcam(mini_vgg, 4, images)
    with pytest.raises(ValueError, match="3 images"):
        gradcam(mini_vgg, "features.4", images, targets=[0, 1])
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        gradcam(mini_vgg, "features.4", images, targets=[0, 1, 5])
    mini_vgg.unused = nn.Conv2d(3, 3, 1)
    with pytest.raises(ValueError, match="not called"):
        gradcam(mini_vgg, "unused", images)
    assert find_layer(mini_vgg, "features.4") is mini_vgg.features[4]


def test_eval_mode_restores_mixed_flags(mini_vgg):
    mini_vgg.train()
    mini_vgg.classifier[2].eval()
    with eval_mode(mini_vgg):
        assert not any(module.training for module in mini_vgg.modules())
    assert mini_vgg.training and not mini_vgg.classifier[2].training
    assert mini_vgg.classifier[0].training


def _loop_scores(cams: np.ndarray, boxes: np.ndarray) -> tuple[list[bool], list[float]]:
    hits, masses = [], []
    for cam, (x0, y0, x1, y1) in zip(cams, boxes, strict=True):
        inside = cam[y0 : y1 + 1, x0 : x1 + 1]  # inclusive corners
        hits.append(bool(cam.max() > 0 and inside.max() == cam.max()))
        masses.append(float(inside.sum() / cam.sum()) if cam.sum() > 0 else 0.0)
    return hits, masses


def test_localisation_scores_match_a_plain_loop():
    rng = np.random.default_rng(0)
    cams = rng.random((20, 16, 12)).astype(np.float32) ** 4
    cams[3] = 0.0  # an empty CAM: misses, no mass
    x0, y0 = rng.integers(0, 12, 20), rng.integers(0, 16, 20)
    x1, y1 = rng.integers(x0, 12), rng.integers(y0, 16)
    boxes = np.stack([x0, y0, x1, y1], axis=1)
    hits, masses = _loop_scores(cams, boxes)
    cams_t, boxes_t = torch.from_numpy(cams), torch.from_numpy(boxes)
    assert pointing_game(cams_t, boxes_t).tolist() == hits
    torch.testing.assert_close(cam_mass_in_box(cams_t, boxes_t), torch.tensor(masses))
    assert any(hits) and not all(hits)


def test_box_conventions():
    cam = torch.zeros(1, 8, 8)
    cam[0, 2, 5] = 1.0  # row (y) 2, column (x) 5
    box = torch.tensor([[3, 0, 5, 2]])  # inclusive: x 3..5, y 0..2
    assert pointing_game(cam, box).item()
    assert not pointing_game(cam, box, inclusive=False).item()  # half-open: x 3..4
    uniform = torch.ones(1, 8, 8)
    assert cam_mass_in_box(uniform, torch.tensor([[0, 0, 1, 3]])).item() == pytest.approx(8 / 64)
    with pytest.raises(ValueError, match="one each"):
        pointing_game(cam, torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1]]))
    with pytest.raises(ValueError, match="x0 <= x1"):
        cam_mass_in_box(cam, torch.tensor([[4, 0, 2, 2]]))


def test_cam_correlation_matches_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.random((4, 6, 5)), rng.random((4, 6, 5))
    expected = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a, b, strict=True)]
    torch.testing.assert_close(
        cam_correlation(torch.from_numpy(a), torch.from_numpy(b)),
        torch.tensor(expected, dtype=torch.float64),
    )
    with pytest.raises(ValueError, match="shapes differ"):
        cam_correlation(torch.zeros(2, 3, 3), torch.zeros(2, 3, 4))
    empty = cam_correlation(torch.zeros(1, 3, 3), torch.rand(1, 3, 3))
    assert torch.isnan(empty).all()  # undefined for an all-zero CAM


# ---------------------------------------------------------------- pipeline


def test_run_explain_on_synthetic_tiny_imagenet(tiny_imagenet, tmp_path):
    from course_lib.data.tiny_imagenet import TinyImageNet
    from course_lib.data.transforms import val_transform
    from course_lib.history import read_csv
    from course_lib.pipelines.explain import run_explain

    dataset = TinyImageNet(tiny_imagenet, "val", transform=val_transform())
    torch.manual_seed(0)
    model = create_model("vgg_mini_transfer", num_classes=4, widths=(8, 16, 32))
    result = run_explain(model, dataset, tmp_path / "out", num_correct=1, num_wrong=1)
    rows = read_csv(tmp_path / "out" / "localisation.csv")
    assert len(rows) == len(dataset) == result["scanned"]
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    preds = torch.tensor([row["pred"] for row in rows])
    cams = gradcam(model, default_cam_layer(model), images, targets=preds)  # the step itself
    hits = pointing_game(cams, torch.as_tensor(dataset.boxes()))
    assert [row["pointing_hit"] == "True" for row in rows] == hits.tolist()
    assert {row["correct"] for row in rows} == {"True", "False"}  # untrained: both kinds
    chosen = [row for row in rows if row["index"] in result["chosen"]]
    assert sorted(row["correct"] for row in chosen) == ["False", "True"]
    assert result["pointing_game"] == pytest.approx(
        sum(row["pointing_hit"] == "True" for row in rows) / len(rows)
    )
    assert 0 <= result["mass_in_box"] <= 1
    assert (tmp_path / "out" / "cams.png").stat().st_size > 0
    assert len(list((tmp_path / "out" / "panels").glob("*.png"))) == 2
    with pytest.raises(FileExistsError, match="overwrite"):
        run_explain(model, dataset, tmp_path / "out", indices=[0])
    again = run_explain(model, dataset, tmp_path / "out", indices=[3, 5], overwrite=True)
    assert again["chosen"] == [3, 5] and again["scanned"] == 2


def test_boxes_are_scaled_to_the_cam_size():
    from course_lib.explain import scale_boxes

    boxes = torch.tensor([[0, 0, 63, 63], [10, 20, 30, 40]])
    scaled = scale_boxes(boxes, (64, 64), (128, 128))
    assert scaled.tolist() == [[0, 0, 127, 127], [20, 40, 61, 81]]
    assert scale_boxes(scaled, (128, 128), (64, 64)).tolist() == boxes.tolist()


def test_scores_against_real_tiny_imagenet_boxes(real_sample):
    from course_lib.data.tiny_imagenet import TinyImageNet
    from course_lib.data.transforms import val_transform

    dataset = TinyImageNet(real_sample, "val", transform=val_transform())
    boxes = torch.tensor(dataset.boxes()[:8])  # inclusive x0 y0 x1 y1 in 64x64 pixels
    assert boxes.min() >= 0 and boxes.max() <= 63
    images = torch.stack([dataset[i][0] for i in range(8)])
    torch.manual_seed(0)
    model = create_model("vgg_mini_transfer", num_classes=10, widths=(8, 16, 32))
    cams = gradcam(model, "features.4", images)
    full = torch.tensor([[0, 0, 63, 63]] * 8)
    assert pointing_game(cams, full).all()
    torch.testing.assert_close(cam_mass_in_box(cams, full), torch.ones(8))
    mass = cam_mass_in_box(cams, boxes)
    assert (mass > 0).all() and (mass < 1).all()  # no real box covers the whole image here
    assert pointing_game(cams, boxes).dtype == torch.bool
