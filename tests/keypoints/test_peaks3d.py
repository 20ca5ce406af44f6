"""Volumetric heatmap grid, chunked querying, occupancy weighting and 3D keypoint extraction."""

import pytest
import torch

from ghnerf_ns.keypoints.peaks3d import (
    extract_keypoints_3d,
    query_volumetric_heatmap,
    volumetric_heatmap_grid,
)

BOX = torch.tensor([[-0.5, -1.0, 0.0], [0.5, 1.0, 1.8]])
JOINTS = torch.tensor([[0.1, 0.2, 0.9], [-0.2, -0.5, 1.5], [0.3, 0.7, 0.1]])


def _query_factory(calls):
    def query(points):
        calls.append(points.shape[0])
        d2 = ((points[:, None, :] - JOINTS[None]) ** 2).sum(-1)
        heat = torch.exp(-d2 / (2 * 0.08**2))
        density = torch.full((points.shape[0],), 50.0)
        density[points[:, 2] < 0.3] = 0.0  # joint 2 lies in empty space: occupancy weighting removes it
        return density, heat

    return query


def test_grid_includes_both_faces():
    grid = volumetric_heatmap_grid(BOX, (3, 5, 4))
    assert grid.shape == (3, 5, 4, 3)
    torch.testing.assert_close(grid[0, 0, 0], BOX[0])
    torch.testing.assert_close(grid[-1, -1, -1], BOX[1])
    torch.testing.assert_close(grid[1, 2, 0], torch.tensor([0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="box"):
        volumetric_heatmap_grid(torch.tensor([[0.0, 0, 0], [0.0, 1, 1]]), 4)


def test_chunked_query_equals_single_chunk_and_bounds_chunk_size():
    calls = []
    full = query_volumetric_heatmap(_query_factory(calls), BOX, 9, chunk=10**6)
    assert calls == [729]
    calls.clear()
    chunked = query_volumetric_heatmap(_query_factory(calls), BOX, 9, chunk=100)
    assert max(calls) == 100 and sum(calls) == 729
    torch.testing.assert_close(full, chunked)
    # Weighting is h * (1 - exp(-density)), computed by hand at one grid point.
    grid = volumetric_heatmap_grid(BOX, 9)
    p = grid[4, 4, 4]
    h = torch.exp(-((p - JOINTS[0]) ** 2).sum() / (2 * 0.08**2))
    assert full[4, 4, 4, 0].item() == pytest.approx((h * (1 - torch.exp(torch.tensor(-50.0)))).item(), rel=1e-5)


def test_extract_keypoints_3d_recovers_planted_joints():
    kp, valid = extract_keypoints_3d(_query_factory([]), BOX, resolution=41, chunk=5000, subpixel=True)
    assert valid.tolist() == [True, True, False]
    torch.testing.assert_close(kp[:2, :3], JOINTS[:2], atol=0.02, rtol=0)
    assert (kp[:2, 3] > 0.9).all()
    kp_u, valid_u = extract_keypoints_3d(_query_factory([]), BOX, resolution=41, density_weighting=False)
    assert valid_u.tolist() == [True, True, True]
