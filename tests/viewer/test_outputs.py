"""Every whole-image output goes through nerfstudio's colormap code without raising, for degenerate renders too."""

import numpy as np
import pytest
import torch
from nerfstudio.utils.colormaps import ColormapOptions, apply_colormap

from ghnerf_ns.data.human_dataset import camera_major_order
from ghnerf_ns.viewer.outputs import viewer_outputs
from ghnerf_ns.viewer.visuals import pca_colours


def _raw(h, w, heat, cse):
    return {
        "rgb": torch.rand(h, w, 3),
        "accumulation": torch.rand(h, w, 1),
        "depth": torch.rand(h, w, 1) + 1,
        "heatmaps": heat,
        "cse": cse,
    }


@pytest.mark.parametrize("kind", ["zeros", "constant", "two_pixels", "random"])
def test_viewer_outputs_never_break_the_viewer(kind):
    h, w = 9, 7
    make = {
        "zeros": lambda c: torch.zeros(h, w, c),
        "constant": lambda c: torch.full((h, w, c), 0.25),
        "two_pixels": lambda c: torch.zeros(h, w, c).index_fill_(1, torch.tensor([2, 5]), 0.0).index_put_((torch.tensor([1, 3]), torch.tensor([2, 5])), torch.ones(2, c)),
        "random": lambda c: torch.rand(h, w, c),
    }[kind]
    out = viewer_outputs(_raw(h, w, make(25), make(16)), None, 0.1)
    expected = {"rgb", "depth", "accumulation", "heatmap", "heatmaps", "heatmap_overlay", "keypoints_overlay", "cse", "cse_rgb"}
    assert set(out) == expected
    for name, value in out.items():
        assert value.ndim == 3 and value.shape[:2] == (h, w) and value.shape[-1] in (1, 3), name
        assert value.is_contiguous() and value.dtype == torch.float32 and torch.isfinite(value).all(), name
        shown = apply_colormap(value, ColormapOptions())  # what the viewer and ns-render do with the selection
        assert shown.shape == (h, w, 3) and torch.isfinite(shown).all(), name


def test_raw_maps_kept_for_dataset_cameras():
    raw = _raw(5, 6, torch.rand(5, 6, 25), torch.rand(5, 6, 16))
    out = viewer_outputs(raw, None, 0.1, keep_raw_maps=True)
    torch.testing.assert_close(out["heatmaps"], raw["heatmaps"])
    torch.testing.assert_close(out["cse"], raw["cse"])


def test_pca_colours_matches_nerfstudio_when_defined():
    from nerfstudio.utils.colormaps import apply_pca_colormap

    torch.manual_seed(0)
    feats = torch.rand(6, 5, 25)
    torch.manual_seed(1)
    ours = pca_colours(feats)
    torch.manual_seed(1)
    torch.testing.assert_close(ours, apply_pca_colormap(feats.clone()))
    assert (pca_colours(torch.zeros(4, 4, 25)) == 0).all()


@pytest.mark.parametrize("subjects, frames, cameras", [(3, 4, 12), (3, 5, 21), (2, 7, 12), (1, 1, 12)])
def test_camera_major_order_gives_one_display_frustum_per_camera(subjects, frames, cameras):
    # Rows in the dataparser's order: subject, then frame, then camera.
    subject_idx = np.repeat(np.arange(subjects), frames * cameras)
    frame = np.tile(np.repeat(np.arange(frames), cameras), subjects)
    camera = np.tile(np.arange(cameras), subjects * frames)
    order = camera_major_order(camera, subject_idx, frame)
    assert sorted(order.tolist()) == list(range(len(order)))
    cams = camera[order]
    assert (np.diff(cams) >= 0).all()
    picked = np.linspace(0, len(order) - 1, 12, dtype=np.int32)  # nerfstudio's viewer _pick_drawn_image_idxs
    assert len(set(cams[picked].tolist())) == 12  # 12 different cameras of the rig


def test_weak_peaks_are_found_at_eval_resolution():
    """ns-eval's PCK and the viewer skeleton use the image-size-scaled peak filter: a ground-truth heatmap scaled by
    0.4 at 128 px, sigma 1.5, finds every joint (a fixed 3 px filter kept ~20% of such a peak: 0/25 found)."""
    from ghnerf_ns.keypoints.heatmap_targets import render_gt_heatmaps
    from ghnerf_ns.viewer.outputs import image_metrics_and_images

    size, sigma = 128, 1.5
    g = torch.Generator().manual_seed(3)
    keypoints = torch.cat([torch.rand(25, 2, generator=g) * 80 + 24, torch.ones(25, 1)], dim=-1)
    keypoints[:, :2] = keypoints[:, :2].round()
    gt, valid = render_gt_heatmaps(keypoints, size, size, sigma)
    raw = _raw(size, size, 0.4 * gt, torch.zeros(size, size, 16))
    outputs = viewer_outputs(raw, None, 0.1, keep_raw_maps=True)
    batch = {"image": torch.rand(size, size, 3), "box_mask": torch.ones(size, size, 1, dtype=torch.bool),
             "keypoints": keypoints}  # fmt: skip
    metrics, _ = image_metrics_and_images(outputs, batch, sigma, 0.1)
    assert metrics["pck_total"] == 25 and metrics["pck_correct"] == 25
