"""Cross-view consistency of the rendered CSE: the same body point should get the same embedding in every view.

A dense-pose embedding is a property of the body surface, not of the camera; a CSE head that learned view-dependent
shortcuts (colour, silhouette position) gives one surface point different embeddings in different views, which
``cse_mse`` against a per-view target does not show directly. For two rendered views A and B of the same frame, every
pixel of A where the person is rendered (accumulation above a threshold) is lifted to 3D with A's rendered depth and
projected into B; where B's rendered depth at that pixel agrees with the point's distance from B's camera (the point
is visible in B, not hidden behind the body), the two rendered embeddings are compared. The figure is the mean
squared difference per embedding dimension over all such co-visible pixels of all view pairs, the same scale as
``cse_mse`` (ns-eval reports it as ``cse_cross_view_mse`` beside ``cse_mse`` and ``cse_mse_mean``, the error of
predicting each image's mean embedding).
"""

from dataclasses import dataclass
from typing import Sequence, Tuple

import torch
from jaxtyping import Float
from torch import Tensor

from ghnerf_ns.model.geometry import camera_centers, project

DEPTH_TOLERANCE_M = 0.03
"""A point is visible in the other view when that view's rendered depth is within this of the point's distance."""
MIN_ACCUMULATION = 0.5
"""Pixels whose accumulated opacity is below this are background."""


@dataclass
class RenderedCSEView:
    """What the comparison needs of one rendered view."""

    cse: Float[Tensor, "height width dim"]
    """Rendered embedding."""
    depth: Float[Tensor, "height width 1"]
    """Rendered ray distance from the camera centre, metres."""
    accumulation: Float[Tensor, "height width 1"]
    """Rendered opacity."""
    K: Float[Tensor, "3 3"]
    """OpenCV intrinsics at the render resolution."""
    w2c: Float[Tensor, "4 4"]
    """OpenCV world-to-camera."""


def _surface_points(view: RenderedCSEView) -> Tuple[Float[Tensor, "num_points 3"], Float[Tensor, "num_points dim"]]:
    """World points of the rendered person's pixels (ray distance along each pixel's ray) and their embeddings."""
    height, width = view.depth.shape[:2]
    ys, xs = torch.nonzero(view.accumulation[..., 0] >= MIN_ACCUMULATION, as_tuple=True)
    pixels = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).to(view.K.dtype)
    rays_cam = pixels @ torch.linalg.inv(view.K).T
    rays_world = rays_cam @ view.w2c[:3, :3]  # R^T d
    rays_world = rays_world / rays_world.norm(dim=-1, keepdim=True)
    points = camera_centers(view.w2c) + rays_world * view.depth[ys, xs]
    return points, view.cse[ys, xs]


def cross_view_cse_sums(views: Sequence[RenderedCSEView]) -> Tuple[float, int]:
    """``(sum of squared differences per dimension, co-visible pixel count)`` over every ordered pair of ``views``
    (module docstring); their ratio is the cross-view MSE."""
    total, count = 0.0, 0
    lifted = [_surface_points(v) for v in views]
    for a, (points, cse_a) in enumerate(lifted):
        for b, other in enumerate(views):
            if a == b or points.shape[0] == 0:
                continue
            height, width = other.depth.shape[:2]
            uv, z = project(points, other.K, other.w2c)
            px = torch.round(uv).long()
            inside = (z > 0) & (px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0) & (px[:, 1] < height)
            px = px[inside]
            distance = (points[inside] - camera_centers(other.w2c)).norm(dim=-1)
            seen = other.accumulation[px[:, 1], px[:, 0], 0] >= MIN_ACCUMULATION
            visible = seen & ((other.depth[px[:, 1], px[:, 0], 0] - distance).abs() < DEPTH_TOLERANCE_M)
            if not bool(visible.any()):
                continue
            diff = cse_a[inside][visible] - other.cse[px[visible, 1], px[visible, 0]]
            total += float((diff * diff).mean(dim=-1).sum())
            count += int(visible.sum())
    return total, count
