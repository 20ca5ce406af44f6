"""Cross-view CSE consistency on a hand-made scene: a plane seen by two cameras, embeddings from world positions."""

import math

import torch

from ghnerf_ns.eval.cse_consistency import RenderedCSEView, cross_view_cse_sums
from ghnerf_ns.model.geometry import camera_centers


def _look_at(eye):
    eye = torch.tensor(eye, dtype=torch.float64)
    z = -eye / eye.norm()  # towards the origin
    x = torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), z)
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    R = torch.stack([x, y, z])
    w2c = torch.eye(4, dtype=torch.float64)
    w2c[:3, :3], w2c[:3, 3] = R, -R @ eye
    return w2c


def _render_plane(w2c, K, size, offset=0.0):
    """Depth (ray distance) and a 2-dim embedding (world x, y of the hit point) of the plane z = 0."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")  # fmt: skip
    rays = torch.stack([xs, ys, torch.ones_like(xs)], -1) @ torch.linalg.inv(K).T @ w2c[:3, :3]
    rays = rays / rays.norm(dim=-1, keepdim=True)
    centre = camera_centers(w2c)
    t = -centre[2] / rays[..., 2]
    hit = centre + rays * t[..., None]
    cse = hit[..., :2] + offset
    inside = (hit[..., :2].abs() < 0.5).all(-1)
    return RenderedCSEView(cse=cse.float(), depth=t[..., None].float(), accumulation=inside[..., None].float(),
                           K=K.float(), w2c=w2c.float())  # fmt: skip


def test_a_view_independent_embedding_is_consistent_and_an_offset_one_is_not():
    K = torch.tensor([[40.0, 0, 31.5], [0, 40.0, 31.5], [0, 0, 1]], dtype=torch.float64)
    cams = [_look_at((2.0 * math.sin(a), 0.3, -2.0 * math.cos(a))) for a in (-0.3, 0.3)]
    same = [_render_plane(w2c, K, 64) for w2c in cams]
    total, count = cross_view_cse_sums(same)
    assert count > 500 and total / count < 1e-3  # nearest-pixel rounding only (a pixel is 5 cm here)
    shifted = [_render_plane(cams[0], K, 64), _render_plane(cams[1], K, 64, offset=0.1)]
    total, count = cross_view_cse_sums(shifted)
    assert abs(total / count - 0.01) < 2e-3  # every co-visible point 0.1 apart in both dimensions


def test_points_hidden_in_the_other_view_are_not_compared():
    K = torch.tensor([[40.0, 0, 31.5], [0, 40.0, 31.5], [0, 0, 1]], dtype=torch.float64)
    cams = [_look_at((2.0 * math.sin(a), 0.3, -2.0 * math.cos(a))) for a in (-0.3, 0.3)]
    a, b = (_render_plane(w2c, K, 64) for w2c in cams)
    b.depth = b.depth - 0.5  # something in front of the plane in view B: nothing of A's plane is visible there
    assert cross_view_cse_sums([a, b]) == (0.0, 0)
