"""Depth-guided sampling: interval, ordering, disparity spacing, positions and volume coordinates."""

import pytest
import torch

from ghnerf_ns.model.depth_sampler import sample_along_depth, sample_pixel_maps
from ghnerf_ns.model.geometry import pixel_directions, project
from tests.model.cascade_scenes import intrinsics, look_at


def _rays(num_rays=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    K, w2c = intrinsics(32, 40.0), look_at((0.3, 0.1, -3.0))
    pixels = torch.rand(num_rays, 2, generator=g) * 31
    o, d = pixel_directions(pixels, K, w2c)
    return g, K, w2c, pixels, o, d


@pytest.mark.parametrize("inverse", [True, False])
def test_samples_inside_interval_sorted_and_on_ray(inverse):
    g, K, w2c, pixels, o, d = _rays()
    near_z, far_z = 2.0, 4.0
    if inverse:
        near_far = torch.tensor([1 / near_z, 1 / far_z]).expand(64, 2)
    else:
        near_far = torch.tensor([near_z, far_z]).expand(64, 2)
    span = (near_far[0, 1] - near_far[0, 0]).abs()
    depth = near_far[:, 0] + (near_far[:, 1] - near_far[:, 0]) * torch.rand(64, generator=g)
    std = span * 0.4 * torch.rand(64, generator=g)
    s = sample_along_depth(o, d, pixels, depth, std, near_far, 8, inverse, 32, 32)
    assert s.z_param.shape == (64, 8) and s.xyz.shape == (64, 8, 3)
    # Inside [depth - std, depth + std] and inside [near, far] (in the level's parametrisation).
    lo_p, hi_p = torch.minimum(s.z_param[:, 0], s.z_param[:, -1]), torch.maximum(s.z_param[:, 0], s.z_param[:, -1])
    assert (lo_p >= depth - std - 1e-6).all() and (hi_p <= depth + std + 1e-6).all()
    assert (s.z_depth >= near_z - 1e-5).all() and (s.z_depth <= far_z + 1e-5).all()
    assert (s.z_depth[:, 1:] >= s.z_depth[:, :-1]).all()  # sorted near -> far in metres
    steps = s.z_param[:, 1:] - s.z_param[:, :-1]
    torch.testing.assert_close(steps, steps[:, :1].expand_as(steps), atol=1e-6, rtol=0)  # linear in the parametrisation
    if inverse:
        torch.testing.assert_close(s.z_depth, 1.0 / s.z_param)
    # Every sample projects back onto its pixel at its z-depth.
    uv, z = project(s.xyz, K, w2c)
    torch.testing.assert_close(uv, pixels[:, None].expand(-1, 8, -1), atol=1e-3, rtol=0)
    torch.testing.assert_close(z, s.z_depth, atol=1e-5, rtol=1e-5)
    # Volume depth coordinate: 0 at the volume's near plane, 1 at its far plane.
    assert (s.volume_coords[..., 2] >= -1e-6).all() and (s.volume_coords[..., 2] <= 1 + 1e-6).all()
    expected_d = (
        (s.z_depth - near_z) / (far_z - near_z) if not inverse else (1 / near_z - s.z_param) / (1 / near_z - 1 / far_z)
    )
    torch.testing.assert_close(s.volume_coords[..., 2], expected_d, atol=1e-5, rtol=0)
    torch.testing.assert_close(s.volume_coords[..., 0], (pixels[:, :1] / 31).expand(-1, 8))


def test_single_sample_is_midpoint_and_clamp_hand_case():
    _, _, _, pixels, o, d = _rays(2)
    near_far = torch.tensor([[2.0, 4.0], [2.0, 4.0]])
    # ray 0: [2.5, 3.5] -> midpoint 3.0; ray 1: [1.5, 2.5] clamped to [2.0, 2.5] -> midpoint 2.25.
    s = sample_along_depth(o, d, pixels, torch.tensor([3.0, 2.0]), torch.tensor([0.5, 0.5]), near_far, 1, False, 32, 32)
    torch.testing.assert_close(s.z_depth[:, 0], torch.tensor([3.0, 2.25]))
    torch.testing.assert_close(s.ray_near_far, torch.tensor([[2.5, 3.5], [2.0, 2.5]]))
    # Disparity: [0.4 + 0.2, 0.4 - 0.2] clamped to [0.5, 0.25] -> [0.5, 0.25]; samples at disparity 0.5, 0.375, 0.25.
    nf = torch.tensor([[0.5, 0.25], [0.5, 0.25]])
    s = sample_along_depth(o, d, pixels, torch.tensor([0.4, 0.4]), torch.tensor([0.2, 0.05]), nf, 3, True, 32, 32)
    torch.testing.assert_close(s.z_param[0], torch.tensor([0.5, 0.375, 0.25]))
    torch.testing.assert_close(s.z_depth[0], torch.tensor([2.0, 1 / 0.375, 4.0]))
    torch.testing.assert_close(s.z_param[1], torch.tensor([0.45, 0.4, 0.35]))


def test_sample_pixel_maps_align_corners():
    maps = torch.arange(12.0).view(1, 3, 4)  # value = 4*row + col
    # Full image 9x13: pixel (u, v) maps to (u * 3/12, v * 2/8) in the 3x4 map (align_corners=True).
    pixels = torch.tensor([[0.0, 0.0], [12.0, 8.0], [6.0, 4.0], [4.0, 0.0]])
    out = sample_pixel_maps(maps, pixels, 9, 13)[:, 0]
    torch.testing.assert_close(out, torch.tensor([0.0, 11.0, 4 * 1.0 + 1.5, 1.0]))
