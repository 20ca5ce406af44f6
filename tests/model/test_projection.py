"""Projection of samples into source views vs a per-view reference with hand-written bilinear sampling."""

import math

import torch

from ghnerf_ns.model.projection import (
    project_samples,
    relative_view_directions,
    sample_source_maps,
    sample_voxel_features,
)
from tests.model.cascade_scenes import look_at, ring_rig


def _bilinear_border(img, x, y):
    """(C, H, W) sampled at pixel coords (N,), border padding = clamped coordinates, align_corners=True."""
    C, H, W = img.shape
    x = x.clamp(0, W - 1)
    y = y.clamp(0, H - 1)
    x0 = torch.floor(x).clamp(max=W - 2)
    y0 = torch.floor(y).clamp(max=H - 2)
    fx, fy = x - x0, y - y0
    x0, y0 = x0.long(), y0.long()
    return (
        img[:, y0, x0] * (1 - fx) * (1 - fy)
        + img[:, y0, x0 + 1] * fx * (1 - fy)
        + img[:, y0 + 1, x0] * (1 - fx) * fy
        + img[:, y0 + 1, x0 + 1] * fx * fy
    )


def reference_project(xyz, images, features, K, w2c, target_w2c, human):
    R, S = xyz.shape[:2]
    pts = xyz.reshape(-1, 3)
    H, W = images.shape[-2:]
    tgt_center = -target_w2c[:3, :3].T @ target_w2c[:3, 3]
    feats, rgbs, hums, diffs = [], [], [], []
    for v in range(images.shape[0]):
        cam = pts @ w2c[v, :3, :3].T + w2c[v, :3, 3]

        def sample(m, cells=False):
            h, w = m.shape[-2:]
            if cells:  # the map's cells tile the image: pixel u sits at map coordinate (u + 0.5) * w / W - 0.5
                p = cam @ K[v].T
                z = torch.clamp_min(p[:, 2], 1e-6)
                x = (p[:, 0] / z + 0.5) * w / W - 0.5
                y = (p[:, 1] / z + 0.5) * h / H - 0.5
                return _bilinear_border(m, x, y).T
            Kv = K[v].clone()
            Kv[0] *= w / W
            Kv[1] *= h / H
            p = cam @ Kv.T
            z = torch.clamp_min(p[:, 2], 1e-6)
            return _bilinear_border(m, p[:, 0] / z, p[:, 1] / z).T

        feats.append(sample(features[v]))
        rgbs.append(sample(images[v]))
        hums.append(sample(human[v], cells=True))
        src_center = -w2c[v, :3, :3].T @ w2c[v, :3, 3]
        a = pts - tgt_center
        a = a / (a.norm(dim=-1, keepdim=True) + 1e-6)
        b = pts - src_center
        b = b / (b.norm(dim=-1, keepdim=True) + 1e-6)
        diff = a - b
        diffs.append(
            torch.cat([diff / diff.norm(dim=-1, keepdim=True).clamp_min(1e-6), (a * b).sum(-1, keepdim=True)], -1)
        )
    stack = lambda xs: torch.stack(xs, dim=1).reshape(R, S, len(xs), -1)  # noqa: E731
    return stack(feats), stack(rgbs), stack(diffs), stack(hums)


def test_project_samples_matches_reference_values_and_grads():
    g = torch.Generator().manual_seed(0)
    K, w2c = ring_rig(3, size=32, focal=40.0)
    K, w2c = K.double(), w2c.double()
    images = torch.rand(3, 3, 32, 32, generator=g, dtype=torch.float64)
    feats = torch.randn(3, 5, 8, 8, generator=g, dtype=torch.float64, requires_grad=True)
    human = torch.randn(3, 6, 4, 4, generator=g, dtype=torch.float64)
    xyz = (torch.rand(10, 4, 3, generator=g, dtype=torch.float64) - 0.5) * 1.5
    xyz[0, 0] = torch.tensor([5.0, 0.0, 0.0])  # projects outside the images: border padding
    xyz.requires_grad_()
    target = look_at((0.1, 0.3, -3.0)).double()
    out = project_samples(xyz, images, feats, K, w2c, target, human)
    xyz_ref = xyz.detach().clone().requires_grad_()
    feats_ref = feats.detach().clone().requires_grad_()
    f, rgb, diff, hum = reference_project(xyz_ref, images, feats_ref, K, w2c, target, human)
    torch.testing.assert_close(out.features, f)
    torch.testing.assert_close(out.rgb, rgb)
    torch.testing.assert_close(out.ray_diff, diff)
    torch.testing.assert_close(out.human, hum)
    assert not out.visible[0, 0].any() and out.visible.float().mean() > 0.5
    w1, w2 = torch.randn_like(f), torch.randn_like(rgb)
    ((out.features * w1).sum() + (out.rgb * w2).sum()).backward()
    ((f * w1).sum() + (rgb * w2).sum()).backward()
    torch.testing.assert_close(xyz.grad, xyz_ref.grad)
    torch.testing.assert_close(feats.grad, feats_ref.grad)


def test_human_map_cells_give_back_their_centre_pixel():
    # A stride-8 map over a 64x48 image whose cells hold the (x, y) of their centre pixel, i * 8 + 3.5: a point that
    # projects on a cell's centre reads exactly that cell (ENeRF's K-scaling rule would read (3.5, 3.5) px further on).
    W, H, s = 64, 48, 8
    ys, xs = torch.meshgrid(torch.arange(H // s) * s + 3.5, torch.arange(W // s) * s + 3.5, indexing="ij")
    cell_map = torch.stack([xs, ys])[None].double()  # (1 view, 2, 6, 8)
    K = torch.tensor([[[50.0, 0.0, 31.5], [0.0, 50.0, 23.5], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    w2c = torch.eye(4, dtype=torch.float64)[None]
    pixels = torch.tensor([[3.5, 3.5], [11.5, 27.5], [59.5, 43.5], [35.5, 19.5]], dtype=torch.float64)
    depth = 2.0
    points = torch.cat([(pixels - K[0, :2, 2]) / 50.0 * depth, torch.full((4, 1), depth, dtype=torch.float64)], -1)
    out = sample_source_maps(points, cell_map, K, w2c, H, W, convention="cells")[:, 0]
    torch.testing.assert_close(out, pixels)
    # Between two cell centres the value is linear (bilinear interpolation of a linear map).
    between = points[:1] + torch.tensor([[4.0 / 50.0 * depth, 0.0, 0.0]]).double()
    mid = sample_source_maps(between, cell_map, K, w2c, H, W, convention="cells")[:, 0]
    torch.testing.assert_close(mid, torch.tensor([[7.5, 3.5]], dtype=torch.float64))


def test_relative_view_directions_hand_case():
    # Point at the origin, target camera on -z, source camera on -x: unit dirs (0,0,1) and (1,0,0).
    out = relative_view_directions(torch.zeros(1, 3), torch.tensor([0.0, 0.0, -2.0]), torch.tensor([[-2.0, 0.0, 0.0]]))
    s = 1 / math.sqrt(2)
    torch.testing.assert_close(out[0, 0], torch.tensor([-s, 0.0, s, 0.0]), atol=1e-5, rtol=0)
    # Same camera for target and source: cosine 1.
    same = relative_view_directions(torch.ones(1, 3), torch.zeros(3), torch.zeros(1, 3))
    torch.testing.assert_close(same[0, 0, 3], torch.tensor(1.0), atol=1e-5, rtol=0)


def test_voxel_lookup_trilinear_hand_case():
    # volume value = 100*d + 10*y + x on a (2 planes, 3 rows, 4 cols) grid; trilinear reproduces linear functions.
    d, y, x = torch.meshgrid(torch.arange(2.0), torch.arange(3.0), torch.arange(4.0), indexing="ij")
    vol = (100 * d + 10 * y + x)[None]
    coords = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.25, 0.5]])  # (u, v, d) normalised
    out = sample_voxel_features(vol, coords)[:, 0]
    torch.testing.assert_close(out, torch.tensor([0.0, 123.0, 50.0 + 5.0 + 1.5]))
    outside = sample_voxel_features(vol, torch.tensor([[0.5, 0.5, 2.0]]))
    assert outside.abs().max() == 0  # zeros padding (ENeRF get_vox_feat)
