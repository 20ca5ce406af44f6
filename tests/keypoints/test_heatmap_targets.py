"""Ground-truth heatmaps: hand values, a per-pixel reference, the sparse path, and validity masking."""

import math

import pytest
import torch

from ghnerf_ns.keypoints.heatmap_targets import gt_heatmaps_at_pixels, joint_validity, render_gt_heatmaps


def _reference(keypoints, h, w, sigma, valid):
    out = torch.zeros(h, w, keypoints.shape[0], dtype=torch.float64)
    for j in range(keypoints.shape[0]):
        if not valid[j]:
            continue
        x, y = float(keypoints[j, 0]), float(keypoints[j, 1])
        for v in range(h):
            for u in range(w):
                out[v, u, j] = math.exp(-((u - x) ** 2 + (v - y) ** 2) / (2 * sigma * sigma))
    return out


def test_hand_values_integer_pixel_centre_convention():
    kp = torch.tensor([[3.0, 5.0, 0.9]])
    hm, valid = render_gt_heatmaps(kp, 8, 6, sigma=2.0)
    assert hm.shape == (8, 6, 1) and valid.tolist() == [True]
    assert hm[5, 3, 0].item() == 1.0  # row y=5, column x=3
    assert hm[5, 4, 0].item() == pytest.approx(math.exp(-1 / 8))
    assert hm[6, 4, 0].item() == pytest.approx(math.exp(-2 / 8))
    assert hm.max().item() == 1.0 and hm.min().item() >= 0.0


def test_dense_matches_per_pixel_reference_and_sparse_path():
    kp = torch.tensor([[2.3, 4.7, 1.0], [-1.0, 3.0, 0.5], [5.0, 5.0, 0.0], [40.0, 2.0, 1.0], [float("nan"), 1.0, 1.0]])
    h, w, sigma = 7, 9, 1.5
    hm, valid = render_gt_heatmaps(kp, h, w, sigma)
    assert valid.tolist() == [True, True, False, False, False]
    torch.testing.assert_close(hm.double(), _reference(kp, h, w, sigma, valid), atol=1e-6, rtol=0)
    assert hm.is_contiguous() and torch.isfinite(hm).all()
    pixels = torch.tensor([[0.0, 0.0], [2.0, 5.0], [8.0, 6.0], [4.0, 3.0]])
    values, valid2 = gt_heatmaps_at_pixels(kp, pixels, h, w, sigma)
    assert torch.equal(valid, valid2)
    expected = hm[pixels[:, 1].long(), pixels[:, 0].long()]
    torch.testing.assert_close(values, expected, atol=1e-6, rtol=0)


def test_validity_margin_and_confidence_threshold():
    kp = torch.tensor(
        [[-5.9, 2.0, 1.0], [-6.1, 2.0, 1.0], [2.0, 9.0 + 5.9, 1.0], [2.0, 2.0, 0.3], [2.0, 2.0, float("inf")]]
    )
    valid = joint_validity(kp, 10, 10, sigma=2.0, conf_threshold=0.3)
    assert valid.tolist() == [True, False, True, False, False]


def test_bad_sigma_raises():
    with pytest.raises(ValueError, match="sigma"):
        render_gt_heatmaps(torch.zeros(25, 3), 4, 4, sigma=0.0)
