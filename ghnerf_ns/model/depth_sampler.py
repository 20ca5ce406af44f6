"""Depth-guided ray sampling (ENeRF ``build_rays`` + ``sample_along_depth``).

Each ray gets a few samples spread over ``[depth - std, depth + std]`` of its cascade level, clamped to the level's
volume near/far. A level with ``inverse=True`` (ENeRF's coarse level) works in disparity: its interval and sample
spacing are in disparity and a sample at disparity ``t`` sits at z-depth ``1 / t``.

Rays use ENeRF's z-parametrisation: ``xyz = o + d * z`` with the un-normalised direction ``d = R^T K^-1 [u, v, 1]``,
so ``z`` is the camera z-depth of the sample.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from ghnerf_ns.model.cost_volume import refined_depth_range, to_z_depth


@dataclass
class DepthGuidedSamples:
    """Samples along a batch of rays of one cascade level."""

    z_param: Float[Tensor, "num_rays num_samples"]
    """Sample positions in the level's parametrisation (disparity if the level is inverse): ENeRF's ``z_vals``."""
    z_depth: Float[Tensor, "num_rays num_samples"]
    """Camera z-depth of each sample, metres."""
    xyz: Float[Tensor, "num_rays num_samples 3"]
    """World positions."""
    volume_coords: Float[Tensor, "num_rays num_samples 3"]
    """(u, v, d) in [0, 1] inside the level's feature volume (for the voxel-feature lookup)."""
    ray_near_far: Float[Tensor, "num_rays 2"]
    """The sampled interval of each ray (level parametrisation; for inverse levels near > far)."""


def sample_pixel_maps(
    maps: Float[Tensor, "C h w"], pixels: Float[Tensor, "num_rays 2"], height: int, width: int
) -> Float[Tensor, "num_rays C"]:
    """Bilinearly read per-pixel maps stored at a lower resolution at full-resolution pixels ``(u, v)``.

    Full-res pixel ``u`` of a ``width``-wide image maps to ``u / (width - 1)`` of the map's extent
    (``align_corners=True``): identical to ENeRF, which upsamples the maps with ``align_corners=True`` and then
    indexes the rays' integer pixels.
    """
    scale = pixels.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    grid = (pixels * scale - 1.0).view(1, 1, -1, 2)
    out = F.grid_sample(maps[None], grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[0, :, 0].T


def sample_along_depth(
    origins: Float[Tensor, "num_rays 3"],
    directions: Float[Tensor, "num_rays 3"],
    pixels: Float[Tensor, "num_rays 2"],
    depth: Float[Tensor, " num_rays"],
    std: Float[Tensor, " num_rays"],
    near_far: Float[Tensor, "num_rays 2"],
    num_samples: int,
    inverse: bool,
    height: int,
    width: int,
) -> DepthGuidedSamples:
    """Place ``num_samples`` samples per ray inside ``[depth - std, depth + std]`` clamped to ``near_far``.

    Args:
        origins: ray origins (target camera centre).
        directions: un-normalised directions ``R^T K^-1 [u, v, 1]``.
        pixels: integer-pixel (u, v) of each ray at the target resolution (``height`` x ``width``).
        depth, std: the level's cost-volume depth and std at each ray (level parametrisation).
        near_far: the level's volume near/far at each ray (level parametrisation).
        num_samples: samples per ray; 1 gives the interval's midpoint (ENeRF parity).
        inverse: whether the level is parametrised in disparity.
    """
    lo, hi = refined_depth_range(depth, std, near_far.T, inverse)
    if num_samples == 1:
        t = depth.new_full((1,), 0.5)
    else:
        t = torch.linspace(0.0, 1.0, num_samples, device=depth.device, dtype=depth.dtype)
    z_param = lo[:, None] + (hi - lo)[:, None] * t[None]  # linear in the level's parametrisation
    z_depth = to_z_depth(z_param, inverse)
    xyz = origins[:, None, :] + directions[:, None, :] * z_depth[..., None]
    near, far = near_far[:, :1], near_far[:, 1:]
    # Position of the sample between the volume's first and last plane (ENeRF parity: sample_along_depth's uvd).
    if inverse:
        d = (near - z_param) / torch.clamp_min(near - far, 1e-6)
    else:
        d = (z_param - near) / torch.clamp_min(far - near, 1e-6)
    uv = pixels / pixels.new_tensor([max(width - 1, 1), max(height - 1, 1)])
    volume_coords = torch.cat([uv[:, None, :].expand(-1, z_param.shape[1], -1), d[..., None]], dim=-1)
    return DepthGuidedSamples(
        z_param=z_param,
        z_depth=z_depth,
        xyz=xyz,
        volume_coords=volume_coords,
        ray_near_far=torch.stack([lo, hi], dim=-1),
    )
