"""Project 3D samples into the source views and gather what the field needs there (IBRNet's "Projector" role):
pixel-aligned features, source colours, human features, relative view directions, and the voxel feature of the target
cost volume (ENeRF ``get_img_feat`` / ``get_vox_feat``).

All views are handled in one batched ``grid_sample`` call; there are no loops over rays, samples or views.
"""

from dataclasses import dataclass
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor

from ghnerf_ns.model.geometry import camera_centers, full, full_precision, scale_intrinsics

MapConvention = Literal["enerf", "cells"]


@dataclass
class ProjectedSamples:
    """What each sample sees in each source view."""

    features: Float[Tensor, "num_rays num_samples num_views C"]
    """Pixel-aligned image features (feature pyramid level of the cascade level)."""
    rgb: Float[Tensor, "num_rays num_samples num_views 3"]
    """Source colours at the projections, in [0, 1]."""
    ray_diff: Float[Tensor, "num_rays num_samples num_views 4"]
    """``[normalize(dir_tgt - dir_src), dot(dir_tgt, dir_src)]`` with unit camera-to-point directions (IBRNet/ENeRF)."""
    visible: Bool[Tensor, "num_rays num_samples num_views"]
    """Projection in front of the camera and inside the image (informative; ENeRF's pooling does not use it)."""
    human: Optional[Float[Tensor, "num_rays num_samples num_views Ch"]] = None
    """Pixel-aligned human-encoder features, when a human encoder is used."""
    keypoint_heat: Optional[Float[Tensor, "num_rays num_samples num_views J"]] = None
    """The source views' 2D heatmaps at the projections, with the source-view heatmap head."""


def sample_source_maps(
    points: Float[Tensor, "num_points 3"],
    maps: Float[Tensor, "num_views C h w"],
    K: Float[Tensor, "num_views 3 3"],
    w2c: Float[Tensor, "num_views 4 4"],
    image_height: int,
    image_width: int,
    convention: MapConvention = "enerf",
) -> Float[Tensor, "num_points num_views C"]:
    """Bilinearly sample per-view maps at the projections of world points (border padding).

    Args:
        maps: one map per view at any resolution (h, w).
        K: source intrinsics at the source image resolution (``image_height`` x ``image_width``).
        convention: how a map cell relates to image pixels.
            ``"enerf"``: the map is addressed with ``K`` scaled by ``(w / image_width, h / image_height)`` and
            ``align_corners=True`` (ENeRF's ``get_img_feat`` rule for its feature pyramid).
            ``"cells"``: the map's cells tile the image, each cell holding the centre of its pixel block (the human
            encoders' convention, :mod:`ghnerf_ns.model.human_encoders`): a point projecting on a cell's centre pixel
            reads exactly that cell.
    """
    height, width = maps.shape[-2:]
    if convention == "enerf":
        K_map = scale_intrinsics(K, width / image_width, height / image_height)
    elif convention == "cells":
        K_map = K
    else:
        raise ValueError(f"convention must be 'enerf' or 'cells', got {convention!r}")
    with full_precision():  # the projection and the lookup at full precision under mixed precision too
        points = full(points)
        P = full(K_map).to(points) @ full(w2c)[:, :3, :].to(points)  # (V, 3, 4)
        pix = torch.einsum("vij,nj->vni", P[:, :, :3], points) + P[:, None, :, 3]
        # ENeRF parity (get_img_feat): z clamped at 1e-6 before the division.
        uv = pix[..., :2] / torch.clamp_min(pix[..., 2:], 1e-6)
        if convention == "enerf":
            grid = uv / uv.new_tensor([max(width - 1, 1) / 2.0, max(height - 1, 1) / 2.0]) - 1.0
            out = F.grid_sample(full(maps), grid[:, None].to(full(maps)), mode="bilinear", padding_mode="border",
                                align_corners=True)  # fmt: skip
        else:
            # Pixel u (integer centres) lies at (u + 0.5) / W of the image extent; with align_corners=False, -1 and +1
            # are the outer edges of the border cells, so cell i's centre is pixel i * s + (s - 1) / 2 for s = W / w.
            grid = (uv + 0.5) / uv.new_tensor([image_width, image_height]) * 2.0 - 1.0
            out = F.grid_sample(full(maps), grid[:, None].to(full(maps)), mode="bilinear", padding_mode="border",
                                align_corners=False)  # fmt: skip
    return out[:, :, 0].permute(2, 0, 1)  # (V, C, 1, N) -> (N, V, C)


def visibility(
    points: Float[Tensor, "num_points 3"],
    K: Float[Tensor, "num_views 3 3"],
    w2c: Float[Tensor, "num_views 4 4"],
    image_height: int,
    image_width: int,
) -> Bool[Tensor, "num_points num_views"]:
    """Whether each point projects in front of each camera and inside its image."""
    with full_precision():
        points = full(points)
        w2c = full(w2c).to(points)
        cam = torch.einsum("vij,nj->vni", w2c[:, :3, :3], points) + w2c[:, None, :3, 3]
        pix = torch.einsum("vij,vnj->vni", full(K).to(points), cam)
        z = cam[..., 2]
        uv = pix[..., :2] / torch.clamp_min(pix[..., 2:], 1e-6)
    inside = (uv[..., 0] >= 0) & (uv[..., 0] <= image_width - 1) & (uv[..., 1] >= 0) & (uv[..., 1] <= image_height - 1)
    return (inside & (z > 0)).T


def relative_view_directions(
    points: Float[Tensor, "num_points 3"],
    target_center: Float[Tensor, "3"],
    source_centers: Float[Tensor, "num_views 3"],
) -> Float[Tensor, "num_points num_views 4"]:
    """IBRNet/ENeRF ray difference: unit direction of ``dir_tgt - dir_src`` and the cosine between them."""
    tgt = points - target_center
    tgt = tgt / (torch.linalg.norm(tgt, dim=-1, keepdim=True) + 1e-6)
    src = points[:, None, :] - source_centers[None]
    src = src / (torch.linalg.norm(src, dim=-1, keepdim=True) + 1e-6)
    diff = tgt[:, None, :] - src
    direction = diff / torch.clamp_min(torch.linalg.norm(diff, dim=-1, keepdim=True), 1e-6)
    dot = (tgt[:, None, :] * src).sum(dim=-1, keepdim=True)
    return torch.cat([direction, dot], dim=-1)


def sample_voxel_features(
    volume: Float[Tensor, "C num_planes h w"], coords: Float[Tensor, "num_points 3"]
) -> Float[Tensor, "num_points C"]:
    """Trilinear lookup at normalised (u, v, d) in [0, 1] (zeros outside, align_corners=True: ENeRF
    ``get_vox_feat``)."""
    grid = (coords * 2.0 - 1.0).view(1, 1, 1, -1, 3)
    out = F.grid_sample(volume[None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out[0, :, 0, 0].T


def project_samples(
    xyz: Float[Tensor, "num_rays num_samples 3"],
    images: Float[Tensor, "num_views 3 H W"],
    features: Float[Tensor, "num_views C h w"],
    K: Float[Tensor, "num_views 3 3"],
    w2c: Float[Tensor, "num_views 4 4"],
    target_w2c: Float[Tensor, "4 4"],
    human_features: Optional[Float[Tensor, "num_views Ch hh wh"]] = None,
    keypoint_maps: Optional[Float[Tensor, "num_views J hh wh"]] = None,
) -> ProjectedSamples:
    """Gather image features, colours, (human features) and relative view directions for every sample and view.

    Colours are read from the full-resolution source images (both cascade levels render at the target's pixels;
    ENeRF's coarse level reads a 1/4-size copy because it renders at 1/4 size).
    """
    num_rays, num_samples = xyz.shape[:2]
    height, width = images.shape[-2:]
    points = xyz.reshape(-1, 3)

    def unflatten(x: Tensor) -> Tensor:  # (rays * samples, ...) -> (rays, samples, ...)
        return x.reshape(num_rays, num_samples, *x.shape[1:])

    def gather(maps: Tensor, convention: MapConvention = "enerf") -> Tensor:
        return unflatten(sample_source_maps(points, maps, K, w2c, height, width, convention))

    ray_diff = relative_view_directions(points, camera_centers(target_w2c), camera_centers(w2c))
    return ProjectedSamples(
        features=gather(features),
        rgb=gather(images),
        ray_diff=unflatten(ray_diff),
        visible=unflatten(visibility(points, K, w2c, height, width)),
        # The human encoders' maps tile the (padded) image cell by cell; ENeRF's K-scaling rule would read DINO's
        # stride-8 tokens 3.5 px right/down of the true position.
        human=None if human_features is None else gather(human_features, "cells"),
        keypoint_heat=None if keypoint_maps is None else gather(keypoint_maps, "cells"),
    )
