"""Plane-sweep cost volumes in the target camera's frustum (ENeRF ``homo_warp`` / ``build_feature_volume``) and the
depth planes each cascade level sweeps (``get_depth_values``).

The volume lives on the integer pixel grid of the *target* camera at the volume resolution; for every pixel and depth
plane the source features are fetched by a homography and the volume holds their variance over the source views (the
target has no image, so it takes no part).

Depth parametrisation: a level with ``inverse=True`` (ENeRF's coarse level, ``depth_inv``) spaces its planes
uniformly in disparity and reports its depth/std/near-far in disparity; otherwise in metres of camera z-depth.
"""

from typing import Tuple

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from ghnerf_ns.model.geometry import full, full_precision


def _homogeneous_projection(K: Float[Tensor, "*bs 3 3"], w2c: Float[Tensor, "*bs 4 4"]) -> Float[Tensor, "*bs 4 4"]:
    """``[[K R, K t], [0, 0, 0, 1]]``: world point -> (u z, v z, z, 1)."""
    proj = w2c.clone()
    proj[..., :3, :] = K @ w2c[..., :3, :]
    return proj


def plane_sweep_grid(
    K_src: Float[Tensor, "num_views 3 3"],
    w2c_src: Float[Tensor, "num_views 4 4"],
    K_tgt: Float[Tensor, "3 3"],
    w2c_tgt: Float[Tensor, "4 4"],
    depth_values: Float[Tensor, "num_planes h w"],
    src_height: int,
    src_width: int,
) -> Float[Tensor, "num_views num_planes h w 2"]:
    """Normalised source-map coordinates of every (plane, target pixel), for ``grid_sample(align_corners=True)``.

    Args:
        K_src: source intrinsics at the resolution of the source feature map (``src_height`` x ``src_width``).
        K_tgt: target intrinsics at the volume resolution (``h`` x ``w``).
        depth_values: camera z-depth (metres) of each plane at each target pixel.
    """
    num_planes, height, width = depth_values.shape
    with full_precision():  # a homography in half precision misplaces the warped features by pixels
        depth_values = full(depth_values)
        K_src, w2c_src, K_tgt, w2c_tgt = (full(m).to(depth_values) for m in (K_src, w2c_src, K_tgt, w2c_tgt))
        # ENeRF parity (get_proj_mats/homo_warp): src = R [u, v, 1] + T / d with (R | T) = P_src P_tgt^-1.
        inverse = torch.linalg.inv(_homogeneous_projection(K_tgt, w2c_tgt))
        proj = _homogeneous_projection(K_src, w2c_src)[:, :3] @ inverse
        R, T = proj[:, :, :3], proj[:, :, 3]
        v, u = torch.meshgrid(
            torch.arange(height, device=depth_values.device, dtype=depth_values.dtype),
            torch.arange(width, device=depth_values.device, dtype=depth_values.dtype),
            indexing="ij",
        )
        uv1 = torch.stack([u, v, torch.ones_like(u)], dim=-1)  # (h, w, 3)
        rotated = torch.einsum("vij,hwj->vhwi", R, uv1)[:, None]  # (V, 1, h, w, 3)
        src = rotated + T[:, None, None, None, :] / depth_values[None, ..., None]
        # ENeRF parity: the perspective division clamps z at 1e-6 (points behind a source camera land far outside).
        xy = src[..., :2] / torch.clamp_min(src[..., 2:], 1e-6)
        scale = xy.new_tensor([(src_width - 1) / 2.0, (src_height - 1) / 2.0])
        return xy / scale - 1.0


def warp_source_features(
    features: Float[Tensor, "num_views C Hs Ws"],
    K_src: Float[Tensor, "num_views 3 3"],
    w2c_src: Float[Tensor, "num_views 4 4"],
    K_tgt: Float[Tensor, "3 3"],
    w2c_tgt: Float[Tensor, "4 4"],
    depth_values: Float[Tensor, "num_planes h w"],
) -> Float[Tensor, "num_views C num_planes h w"]:
    """Warp every source feature map onto the target's depth planes (bilinear, zeros outside, align_corners=True)."""
    num_planes, height, width = depth_values.shape
    grid = plane_sweep_grid(K_src, w2c_src, K_tgt, w2c_tgt, depth_values, features.shape[-2], features.shape[-1])
    # Planes are folded into the grid's rows, (v, d, h, w, 2) -> (v, d*h, w, 2), so all views and planes go through
    # one grid_sample call; the output rows are unfolded the same way.
    grid = grid.reshape(grid.shape[0], num_planes * height, width, 2)
    warped = F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return warped.reshape(warped.shape[0], warped.shape[1], num_planes, height, width)


def variance_volume(warped: Float[Tensor, "num_views C num_planes h w"]) -> Float[Tensor, "C num_planes h w"]:
    """Variance over source views (biased, ``1/num_views``), ENeRF's cost metric.

    ENeRF computes ``E[f^2] - E[f]^2``; the two-pass form used here is the same quantity, but it cannot go negative
    through cancellation.
    """
    mean = warped.mean(dim=0, keepdim=True)
    return ((warped - mean) ** 2).mean(dim=0)


def build_cost_volume(
    features: Float[Tensor, "num_views C Hs Ws"],
    K_src: Float[Tensor, "num_views 3 3"],
    w2c_src: Float[Tensor, "num_views 4 4"],
    K_tgt: Float[Tensor, "3 3"],
    w2c_tgt: Float[Tensor, "4 4"],
    depth_values: Float[Tensor, "num_planes h w"],
) -> Float[Tensor, "C num_planes h w"]:
    """Variance cost volume of the source features over the target's depth planes (see :func:`warp_source_features`)."""
    return variance_volume(warp_source_features(features, K_src, w2c_src, K_tgt, w2c_tgt, depth_values))


def uniform_depth_values(
    near: Float[Tensor, "*px"], far: Float[Tensor, "*px"], num_planes: int, inverse: bool
) -> Float[Tensor, "num_planes *px"]:
    """``num_planes`` camera z-depths from ``near`` to ``far``, uniform in disparity if ``inverse`` else in depth."""
    t = torch.linspace(0.0, 1.0, num_planes, device=near.device, dtype=near.dtype).view(-1, *([1] * near.dim()))
    if inverse:
        return 1.0 / (1.0 / near + t * (1.0 / far - 1.0 / near))
    return near + t * (far - near)


def coarse_depth_values(
    near_far: Float[Tensor, "2"], num_planes: int, height: int, width: int, inverse: bool = True
) -> Float[Tensor, "num_planes h w"]:
    """The first level's planes: the same for every pixel, spanning the target's box near/far (ENeRF level 0)."""
    values = uniform_depth_values(near_far[0], near_far[1], num_planes, inverse)
    return values.view(num_planes, 1, 1).expand(num_planes, height, width).contiguous()


def upsample_map(x: Float[Tensor, "C h0 w0"], height: int, width: int) -> Float[Tensor, "C h w"]:
    """Bilinear resize with ``align_corners=True`` (ENeRF resamples depth/std/near-far maps between levels this way)."""
    return F.interpolate(x[None], size=(height, width), mode="bilinear", align_corners=True)[0]


def refined_depth_range(
    depth: Float[Tensor, "*px"], std: Float[Tensor, "*px"], near_far: Float[Tensor, "2 *px"], inverse: bool
) -> Tuple[Float[Tensor, "*px"], Float[Tensor, "*px"]]:
    """Per-pixel interval ``depth -/+ std`` clamped to ``near_far``, all in the level's parametrisation.

    For ``inverse`` (disparity) the near end is the *larger* value: ``[min(d+s, near), max(d-s, far)]``
    (ENeRF parity: ``get_depth_values``/``build_rays`` with ``depth_inv``). Returns (near end, far end).
    """
    if inverse:
        return torch.minimum(depth + std, near_far[0]), torch.maximum(depth - std, near_far[1])
    return torch.maximum(depth - std, near_far[0]), torch.minimum(depth + std, near_far[1])


def to_z_depth(values: Tensor, inverse: bool) -> Tensor:
    """Level parametrisation -> camera z-depth (metres)."""
    return 1.0 / torch.clamp_min(values, 1e-6) if inverse else values


def fine_depth_values(
    prev_depth: Float[Tensor, "h0 w0"],
    prev_std: Float[Tensor, "h0 w0"],
    prev_near_far: Float[Tensor, "2 h0 w0"],
    prev_inverse: bool,
    num_planes: int,
    height: int,
    width: int,
    inverse: bool = False,
) -> Float[Tensor, "num_planes h w"]:
    """Per-pixel planes of a refinement level from the previous level's depth +- std (ENeRF level 1).

    The previous maps are bilinearly resized to (h, w) (align_corners=True), the interval ``depth -/+ std`` is clamped
    to the previous level's near/far (all in the previous level's parametrisation), converted to z-depth, and
    ``num_planes`` planes are spaced in it uniformly in depth (``inverse=False``, ENeRF) or disparity.
    """
    maps = upsample_map(torch.cat([prev_depth[None], prev_std[None], prev_near_far], dim=0), height, width)
    lo, hi = refined_depth_range(maps[0], maps[1], maps[2:], prev_inverse)
    return uniform_depth_values(to_z_depth(lo, prev_inverse), to_z_depth(hi, prev_inverse), num_planes, inverse)


def level_near_far(depth_values: Float[Tensor, "num_planes h w"], inverse: bool) -> Float[Tensor, "2 h w"]:
    """Per-pixel (near, far) of a level in its own parametrisation, detached (ENeRF parity: ``get_depth_values``)."""
    near_far = depth_values[[0, -1]].detach()
    return 1.0 / torch.clamp_min(near_far, 1e-6) if inverse else near_far
