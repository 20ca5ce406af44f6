"""Tiny synthetic cameras and scenes shared by the cascade-network tests (no ghnerf_ns import at module level, so
jaxtyping's import hook still instruments the package when the tests import it)."""

import math
from typing import Tuple

import torch
from torch import Tensor


def look_at(eye, target=(0.0, 0.0, 0.0)) -> Tensor:
    """OpenCV world-to-camera 4x4 of a camera at ``eye`` looking at ``target`` (world -y is image up)."""
    eye = torch.as_tensor(eye, dtype=torch.float32)
    target = torch.as_tensor(target, dtype=torch.float32)
    z = target - eye
    z = z / z.norm()
    down = torch.tensor([0.0, 1.0, 0.0])
    x = torch.linalg.cross(down, z)
    if x.norm() < 1e-6:  # looking along y
        x = torch.tensor([1.0, 0.0, 0.0])
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    R = torch.stack([x, y, z])
    w2c = torch.eye(4)
    w2c[:3, :3] = R
    w2c[:3, 3] = -R @ eye
    return w2c


def intrinsics(size: int, focal: float) -> Tensor:
    c = (size - 1) / 2.0
    return torch.tensor([[focal, 0.0, c], [0.0, focal, c], [0.0, 0.0, 1.0]])


def plane_texture(x: Tensor, y: Tensor) -> Tensor:
    """Smooth, non-periodic RGB texture on the plane (values in [0, 1])."""
    r = 0.5 + 0.5 * torch.sin(7.3 * x + 2.1 * y)
    g = 0.5 + 0.5 * torch.sin(5.1 * y - 3.7 * x + 1.0)
    b = 0.5 + 0.5 * torch.cos(4.3 * x * y + 6.1 * x)
    return torch.stack([r, g, b], dim=0)


def render_plane(K: Tensor, w2c: Tensor, height: int, width: int, plane_z: float = 0.0) -> Tensor:
    """(3, H, W) image of the textured plane ``z = plane_z`` (world), black where the ray misses it."""
    v, u = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)], dim=-1)
    dirs = pix @ torch.linalg.inv(K).T @ w2c[:3, :3]  # R^T K^-1 [u v 1]
    R, t = w2c[:3, :3], w2c[:3, 3]
    origin = -R.T @ t
    s = (plane_z - origin[2]) / dirs[..., 2]
    hit = origin + dirs * s[..., None]
    img = plane_texture(hit[..., 0], hit[..., 1])
    return torch.where((s > 0)[None], img, torch.zeros_like(img))


def ring_rig(
    num_views: int, radius: float = 3.0, spread: float = 0.6, size: int = 32, focal: float = 40.0
) -> Tuple[Tensor, Tensor]:
    """(K, w2c) of ``num_views`` cameras on an arc in front of the origin (all at z = -radius*cos)."""
    angles = torch.linspace(-spread / 2, spread / 2, num_views)
    w2cs = torch.stack([look_at((radius * math.sin(a), 0.1, -radius * math.cos(a))) for a in angles.tolist()])
    K = intrinsics(size, focal).expand(num_views, 3, 3).clone()
    return K, w2cs
