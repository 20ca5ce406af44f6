"""Plane-sweep warp and cost volume vs a naive reference (explicit unproject -> project -> bilinear sampling, one
view and one plane at a time), plus the geometric sanity cases and the depth-plane rules."""

import pytest
import torch

from ghnerf_ns.model.cost_volume import (
    build_cost_volume,
    coarse_depth_values,
    fine_depth_values,
    level_near_far,
    to_z_depth,
    warp_source_features,
)
from tests.model.cascade_scenes import intrinsics, look_at, render_plane, ring_rig


def _bilinear_zeros(img: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Reference bilinear sample of (C, H, W) at pixel coords (x, y) (N,), zero outside (align_corners=True)."""
    C, H, W = img.shape
    x0, y0 = torch.floor(x), torch.floor(y)
    out = torch.zeros(C, x.shape[0], dtype=img.dtype)
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            w = (1 - (x - xi).abs()) * (1 - (y - yi).abs())
            valid = (xi >= 0) & (xi <= W - 1) & (yi >= 0) & (yi <= H - 1)
            xc, yc = xi.clamp(0, W - 1).long(), yi.clamp(0, H - 1).long()
            out = out + img[:, yc, xc] * (w * valid)
    return out


def reference_warp(features, K_src, w2c_src, K_tgt, w2c_tgt, depth_values):
    """Per view, per plane: unproject target pixels at their depth to world, project into the source, sample."""
    V, C = features.shape[:2]
    D, h, w = depth_values.shape
    v, u = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    pix = torch.stack([u.reshape(-1), v.reshape(-1), torch.ones(h * w)], dim=0).to(depth_values.dtype)  # (3, h*w)
    out = []
    for s in range(V):
        planes = []
        for d in range(D):
            z = depth_values[d].reshape(1, -1)
            cam = torch.linalg.inv(K_tgt) @ pix * z
            world = w2c_tgt[:3, :3].T @ (cam - w2c_tgt[:3, 3:])
            src_cam = w2c_src[s, :3, :3] @ world + w2c_src[s, :3, 3:]
            src_pix = K_src[s] @ src_cam
            zc = torch.clamp_min(src_pix[2], 1e-6)
            planes.append(_bilinear_zeros(features[s], src_pix[0] / zc, src_pix[1] / zc).reshape(C, h, w))
        out.append(torch.stack(planes, dim=1))
    return torch.stack(out)


def _setup(num_views=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    K, w2c = ring_rig(num_views, size=16, focal=20.0)
    K_src = K.clone()
    feats = torch.randn(num_views, 4, 16, 16, generator=g, dtype=torch.float64)
    K_tgt = intrinsics(8, 10.0)  # target volume at half of a 16x16 image
    w2c_tgt = look_at((0.2, -0.1, -3.0))
    depth = (2.5 + torch.rand(5, 8, 8, generator=g)).double()
    return feats, K_src.double(), w2c.double(), K_tgt.double(), w2c_tgt.double(), depth


def test_warp_matches_reference_values_and_grads():
    feats, K_src, w2c_src, K_tgt, w2c_tgt, depth = _setup()
    feats_ref, depth_ref = feats.clone().requires_grad_(), depth.clone().requires_grad_()
    feats.requires_grad_()
    depth.requires_grad_()
    fast = warp_source_features(feats, K_src, w2c_src, K_tgt, w2c_tgt, depth)
    ref = reference_warp(feats_ref, K_src, w2c_src, K_tgt, w2c_tgt, depth_ref)
    assert fast.shape == (3, 4, 5, 8, 8)
    assert (ref != 0).float().mean() > 0.5  # the rig sees most of the volume: the comparison is not vacuous
    torch.testing.assert_close(fast, ref, atol=1e-6, rtol=1e-6)
    weight = torch.randn_like(fast)
    (fast * weight).sum().backward()
    (ref * weight).sum().backward()
    torch.testing.assert_close(feats.grad, feats_ref.grad, atol=1e-6, rtol=1e-6)
    # A few samples sit within float error of a texel edge, where the two bilinear kinks differ slightly.
    torch.testing.assert_close(depth.grad, depth_ref.grad, atol=1e-5, rtol=1e-4)
    # The cost volume is the biased variance of the reference warps over views.
    var = ref.var(dim=0, unbiased=False)
    torch.testing.assert_close(
        build_cost_volume(feats, K_src, w2c_src, K_tgt, w2c_tgt, depth), var, atol=1e-6, rtol=1e-6
    )


def test_identity_pose_returns_source_features():
    feats = torch.randn(1, 5, 12, 16)
    K = intrinsics(16, 20.0)
    w2c = look_at((0.3, 0.2, -2.0))
    depth = torch.linspace(1.0, 4.0, 3).view(3, 1, 1).expand(3, 12, 16).contiguous()
    warped = warp_source_features(feats, K[None], w2c[None], K, w2c, depth)
    for d in range(3):
        torch.testing.assert_close(warped[0, :, d], feats[0], atol=1e-4, rtol=0)


def test_equal_source_views_give_zero_variance():
    feats = torch.randn(1, 4, 16, 16).expand(3, -1, -1, -1)
    K = intrinsics(16, 20.0).expand(3, 3, 3)
    w2c = look_at((0.0, 0.0, -3.0)).expand(3, 4, 4)
    depth = torch.linspace(2.0, 4.0, 4).view(4, 1, 1).expand(4, 8, 8).contiguous()
    cost = build_cost_volume(feats, K, w2c, intrinsics(8, 10.0), look_at((0.5, 0.0, -3.0)), depth)
    assert cost.shape == (4, 4, 8, 8)
    assert cost.abs().max() < 1e-10


def test_textured_plane_variance_is_minimal_at_plane_depth():
    size, focal = 48, 50.0
    K = intrinsics(size, focal)
    sources = torch.stack([look_at((x, 0.0, -3.0), (x, 0.0, 0.0)) for x in (-0.4, 0.4)])  # fronto-parallel pair
    images = torch.stack([render_plane(K, w, size, size) for w in sources])
    target = look_at((0.0, 0.0, -3.0), (0.0, 0.0, 0.0))
    planes = torch.linspace(2.0, 4.0, 17)  # contains 3.0, the plane's depth, at index 8
    depth = planes.view(-1, 1, 1).expand(-1, size, size).contiguous()
    cost = build_cost_volume(images, K.expand(2, 3, 3), sources, K, target, depth)
    # Pixels every source sees at all planes (central band), summed over channels.
    score = cost[:, :, 12:36, 16:32].sum(dim=0).mean(dim=(1, 2))
    assert int(score.argmin()) == 8
    assert score[8] < 1e-3 < score[[6, 10]].min()


def test_coarse_planes_uniform_in_disparity():
    values = coarse_depth_values(torch.tensor([2.0, 4.0]), 3, 2, 2, inverse=True)
    # disparities 1/2, (1/2+1/4)/2 = 3/8, 1/4 -> depths 2, 8/3, 4
    torch.testing.assert_close(values[:, 0, 0], torch.tensor([2.0, 8.0 / 3.0, 4.0]))
    torch.testing.assert_close(level_near_far(values, True)[:, 1, 1], torch.tensor([0.5, 0.25]))
    lin = coarse_depth_values(torch.tensor([2.0, 4.0]), 3, 1, 1, inverse=False)
    torch.testing.assert_close(lin[:, 0, 0], torch.tensor([2.0, 3.0, 4.0]))


def test_fine_planes_from_coarse_disparity_clamped():
    # Coarse (disparity) maps at 1x2: pixel 0 disparity 0.4 +- 0.05 inside [1/4, 1/2]; pixel 1 disparity 0.48 +- 0.1
    # whose near end 0.58 is clamped to 0.5 (depth 2). Upsampling 1x2 -> 1x2 keeps the values.
    depth = torch.tensor([[0.4, 0.48]])
    std = torch.tensor([[0.05, 0.1]])
    near_far = torch.tensor([0.5, 0.25]).view(2, 1, 1).expand(2, 1, 2)
    values = fine_depth_values(depth, std, near_far, True, 3, 1, 2, inverse=False)
    # pixel 0: depths [1/0.45, 1/0.35] uniform in depth; pixel 1: [1/0.5, 1/0.38].
    lo0, hi0 = 1 / 0.45, 1 / 0.35
    lo1, hi1 = 2.0, 1 / 0.38
    torch.testing.assert_close(values[:, 0, 0], torch.tensor([lo0, (lo0 + hi0) / 2, hi0]))
    torch.testing.assert_close(values[:, 0, 1], torch.tensor([lo1, (lo1 + hi1) / 2, hi1]))


@pytest.mark.parametrize("inverse", [True, False])
def test_fine_planes_upsample_and_stay_inside_coarse_range(inverse):
    g = torch.Generator().manual_seed(1)
    coarse = coarse_depth_values(torch.tensor([2.0, 4.0]), 8, 4, 4, inverse=inverse)
    near_far = level_near_far(coarse, inverse)
    depth = near_far[0] + (near_far[1] - near_far[0]) * torch.rand(4, 4, generator=g)
    std = 0.3 * (near_far[1] - near_far[0]).abs() * torch.rand(4, 4, generator=g)
    values = fine_depth_values(depth, std, near_far, inverse, 8, 16, 16)
    assert values.shape == (8, 16, 16)
    assert values.min() >= 2.0 - 1e-5 and values.max() <= 4.0 + 1e-5
    assert (values[1:] >= values[:-1] - 1e-6).all()  # sorted near -> far
    # Corners of the align_corners upsampling reproduce the coarse corners.
    lo = to_z_depth(depth[0, 0] + std[0, 0] if inverse else depth[0, 0] - std[0, 0], inverse)
    torch.testing.assert_close(values[0, 0, 0], torch.clamp(lo, 2.0, 4.0))
