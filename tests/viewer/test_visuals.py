"""Viewer/eval visualisations: shapes, dtypes, contiguity, unchanged pixels, stable CSE colours, safe outputs."""

import pytest
import torch
from nerfstudio.utils.colormaps import ColormapOptions, apply_colormap

from dataparsers.body25 import NUM_JOINTS
from ghnerf_ns.viewer.visuals import (
    cse_to_rgb,
    draw_keypoints_overlay,
    heatmap_max_channel,
    heatmap_overlay,
    safe_viewer_output,
)


def test_heatmap_max_channel():
    hm = torch.rand(6, 7, 25)
    out = heatmap_max_channel(hm)
    assert out.shape == (6, 7, 1) and out.dtype == torch.float32 and out.is_contiguous()
    torch.testing.assert_close(out[..., 0], hm.max(dim=-1).values)
    torch.testing.assert_close(heatmap_max_channel(hm, 4), hm[..., 4:5])
    assert heatmap_max_channel(hm.permute(1, 0, 2), 3).is_contiguous()
    with pytest.raises(ValueError, match="joint index"):
        heatmap_max_channel(hm, 25)


def test_heatmap_overlay_blends_only_where_hot():
    rgb = torch.rand(8, 9, 3)
    heat = torch.zeros(8, 9)
    heat[2, 3] = 1.0
    heat[5, 5] = 0.5
    out = heatmap_overlay(rgb, heat, opacity=0.6)
    assert out.shape == (8, 9, 3) and out.is_contiguous() and out.dtype == torch.float32
    keep = heat == 0
    assert torch.equal(out[keep], rgb[keep])
    turbo_one = apply_colormap(torch.ones(1, 1), ColormapOptions("turbo"))[0]
    torch.testing.assert_close(out[2, 3], rgb[2, 3] * 0.4 + turbo_one * 0.6)
    turbo_half = apply_colormap(torch.full((1, 1), 0.5), ColormapOptions("turbo"))[0]
    torch.testing.assert_close(out[5, 5], rgb[5, 5] * 0.7 + turbo_half * 0.3)
    torch.testing.assert_close(heatmap_overlay(rgb, heat[..., None]), out)


def test_keypoint_drawing_changes_limb_pixels_only_between_valid_joints():
    rgb = torch.full((64, 64, 3), 0.5)
    kp = torch.zeros(NUM_JOINTS, 3)
    kp[1] = torch.tensor([10.0, 32.0, 0.9])  # Neck
    kp[8] = torch.tensor([50.0, 32.0, 0.9])  # MidHip: limb (1, 8) is horizontal along row 32
    kp[5] = torch.tensor([30.0, 10.0, 0.05])  # LShoulder below threshold: neither dot nor limb (1, 5)
    out = draw_keypoints_overlay(rgb, kp, score_threshold=0.1)
    assert out.shape == rgb.shape and out.dtype == torch.float32 and out.is_contiguous()
    changed = (out - rgb).abs().sum(-1) > 1e-6
    assert changed[32, 20:41].all()  # along the limb
    assert not changed[10, 30]  # the invalid joint
    assert not changed[21, 20]  # the would-be limb (1, 5) midpoint
    assert not changed[0:20, 45:64].any() and not changed[50:, :].any()
    assert torch.equal(out[~changed], rgb[~changed])  # everything else is exactly the input
    # valid mask removes a joint and its limbs
    valid = torch.ones(NUM_JOINTS, dtype=torch.bool)
    valid[8] = False
    out2 = draw_keypoints_overlay(rgb, kp, 0.1, valid=valid)
    assert not ((out2 - rgb).abs().sum(-1) > 1e-6)[32, 30:41].any()


def test_cse_to_rgb_is_fixed_and_masks_background():
    gen = torch.Generator().manual_seed(1)
    cse = torch.randn(5, 6, 16, generator=gen)
    a = cse_to_rgb(cse)
    b = cse_to_rgb(cse.clone())
    assert torch.equal(a, b)
    assert a.shape == (5, 6, 3) and a.is_contiguous() and a.min() >= 0 and a.max() <= 1
    # Per-pixel: a pixel's colour does not depend on the rest of the image (no per-image PCA).
    torch.testing.assert_close(cse_to_rgb(cse[1:3, 2:4])[0, 0], a[1, 2])
    alpha = torch.zeros(5, 6)
    alpha[0, 0] = 1.0
    masked = cse_to_rgb(cse, alpha=alpha)
    assert masked[1:].abs().max() == 0 and torch.equal(masked[0, 0], a[0, 0])
    assert not torch.equal(cse_to_rgb(cse, seed=1), a)
    assert cse_to_rgb(torch.randn(3, 3, 2)).shape == (3, 3, 3)  # D < 3 works too


def test_safe_viewer_output():
    two = safe_viewer_output(torch.rand(4, 5, 2))
    assert two.shape == (4, 5, 3) and (two[..., 2] == 0).all()
    ints = safe_viewer_output(torch.ones(4, 5, 1, dtype=torch.int64))
    assert ints.dtype == torch.float32
    flat = safe_viewer_output(torch.rand(4, 5))
    assert flat.shape == (4, 5, 1)
    zeros = safe_viewer_output(torch.zeros(4, 5, 16))
    assert zeros.shape == (4, 5, 3) and (zeros == 0).all()
    nc = safe_viewer_output(torch.rand(5, 4, 3).transpose(0, 1))
    assert nc.is_contiguous()
    nan = safe_viewer_output(torch.full((2, 2, 1), float("nan")))
    assert (nan == 0).all()
    # Everything it returns goes through nerfstudio's colormap code without raising.
    for t in (two, ints, flat, zeros, nc, nan, safe_viewer_output(torch.rand(6, 6, 25))):
        assert apply_colormap(t, ColormapOptions()).shape[-1] == 3
