"""CAM overlays against pytorch-grad-cam's show_cam_on_image, panels and the panel figure."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from pytorch_grad_cam.utils.image import show_cam_on_image

from course_lib.data.transforms import normalize_batch
from course_lib.viz.cams import (
    cam_panel,
    cam_title,
    jet_colormap,
    overlay_cam,
    plot_cam_panels,
    to_rgb,
)


def test_jet_colormap_is_opencvs():
    values = np.arange(256, dtype=np.uint8)[None]
    expected = cv2.cvtColor(cv2.applyColorMap(values, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)[0]
    difference = np.abs(jet_colormap().astype(int) - expected.astype(int))
    assert difference.max() <= 1 and (difference > 0).sum() <= 1


def test_overlay_matches_show_cam_on_image():
    rng = np.random.default_rng(0)
    image = rng.random((64, 48, 3), dtype=np.float32)
    cam = rng.random((64, 48), dtype=np.float32)
    expected = show_cam_on_image(image, cam, use_rgb=True)
    ours = overlay_cam(image, cam)
    assert ours.dtype == np.uint8 and ours.shape == (64, 48, 3)
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1
    half = show_cam_on_image(image, cam, use_rgb=True, image_weight=0.8)
    assert np.abs(overlay_cam(image, cam, image_weight=0.8).astype(int) - half).max() <= 1


def test_overlay_rejects_bad_input():
    with pytest.raises(ValueError, match="matching the CAM"):
        overlay_cam(np.zeros((8, 8, 3)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        overlay_cam(np.full((8, 8, 3), 2.0), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="image_weight"):
        overlay_cam(np.zeros((8, 8, 3)), np.zeros((8, 8)), image_weight=1.5)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        overlay_cam(np.zeros((8, 8, 3)), np.zeros((1, 8, 8)))


def test_panel_of_a_normalised_64x64_image_is_enlarged():
    torch.manual_seed(0)
    raw = torch.rand(1, 3, 64, 64)
    image = normalize_batch(raw)[0]  # what the model sees
    np.testing.assert_allclose(to_rgb(image), raw[0].permute(1, 2, 0).numpy(), atol=1e-6)
    cam = torch.rand(64, 64)
    panel = cam_panel(image, cam)
    assert panel.shape == (256, 3 * 256, 3) and panel.dtype == np.uint8
    small = cam_panel(image, cam, scale=1)
    np.testing.assert_array_equal(panel[::4, ::4], small)
    np.testing.assert_array_equal(small[:, :64], np.uint8(255 * to_rgb(image)))
    np.testing.assert_array_equal(small[:, 64:128, 0], np.uint8(255 * cam.numpy()))
    np.testing.assert_array_equal(small[:, 128:], overlay_cam(to_rgb(image), cam))
    assert cam_panel(np.zeros((300, 300, 3), np.uint8), np.zeros((300, 300))).shape[0] == 300


def test_figure_with_correct_and_wrong_predictions(tmp_path):
    panels = [np.zeros((64, 192, 3), np.uint8), np.full((64, 192, 3), 200, np.uint8)]
    titles = [
        cam_title("goldfish", "goldfish", probability=0.9),
        cam_title("tabby", "Persian cat", probability=0.41),
    ]
    assert titles[0].endswith("[correct]") and titles[1].endswith("[wrong]")
    assert cam_title("cat", "cat", correct=False).endswith("[wrong]")
    figure = plot_cam_panels(panels, titles)
    assert [ax.get_title() for ax in figure.axes] == titles
    figure.savefig(tmp_path / "cams.png")
    assert (tmp_path / "cams.png").stat().st_size > 0
    with pytest.raises(ValueError, match="one title per panel"):
        plot_cam_panels(panels, titles[:1])
