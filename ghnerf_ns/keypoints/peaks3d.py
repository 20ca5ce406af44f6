"""3D keypoints from a volumetric heatmap queried on a grid over the human's box (paper 3.4).

The model supplies ``query(points [P, 3]) -> (density [P], heatmaps [P, J])``. :func:`extract_keypoints_3d` evaluates
it on a regular grid (:func:`volumetric_heatmap_grid`) in chunks, weights the heatmaps by occupancy and runs the 2D
procedure of :mod:`ghnerf_ns.keypoints.peaks_core` in 3D.

Occupancy weighting: ``h * (1 - exp(-max(sigma, 0)))``, the alpha GHNeRF's renderer gives a sample (ENeRF's
``alpha = 1 - exp(-sigma)`` without interval lengths), so a heatmap value only counts where there is matter. The
heat head is evaluated everywhere in the box, also in empty space where it was never supervised; without the weight
those values would compete with the body's.

Grid: ``resolution`` points per axis *including* both box faces, ``p[i] = box_min + i * (box_max - box_min) / (R-1)``;
a voxel index maps back to metres with the same formula (sub-voxel positions included). The 3D filter sigma is in
metres (converted per axis to voxels), so the blur does not change with the grid resolution.
"""

from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from ghnerf_ns.keypoints.peaks_core import RankBy, find_region_peaks

QueryFn = Callable[[Tensor], Tuple[Tensor, Tensor]]
"""``query(points [P, 3]) -> (density [P], heatmaps [P, J])``, points in world metres."""

DEFAULT_FILTER_SIGMA_M = 0.03
"""3D Gaussian filter sigma in metres (about one voxel of a 64^3 grid over a 2 m box)."""
DEFAULT_THRESHOLD_3D = 0.02
"""Smoothed, occupancy-weighted heat at or below this is background. Lower than the 2D threshold (OpenPose 0.1): the
heat of a joint lives on the body surface around it, and weighted by occupancy its 3D peak is lower than the rendered
2D peak (measurements: benchmarks/README.md, "Volumetric 3D keypoints")."""


def _resolution_3(resolution: Union[int, Sequence[int]]) -> Tuple[int, int, int]:
    res = (int(resolution),) * 3 if isinstance(resolution, int) else tuple(int(r) for r in resolution)
    if len(res) != 3 or min(res) < 2:
        raise ValueError(f"volumetric heatmap resolution must be an int or 3 ints, each >= 2; got {resolution}")
    return res  # type: ignore[return-value]


def _check_box(box: Tensor) -> None:
    if not bool((box[1] > box[0]).all()):
        raise ValueError(f"3D box must be [min, max] with max > min on every axis, got {box.tolist()}")


def volumetric_heatmap_grid(
    box: Float[Tensor, "2 3"], resolution: Union[int, Sequence[int]] = 64
) -> Float[Tensor, "res_x res_y res_z 3"]:
    """Grid points (world metres) over ``box`` = [min, max], both faces included, on the box's device."""
    _check_box(box)
    res = _resolution_3(resolution)
    axes = [
        torch.linspace(float(box[0, a]), float(box[1, a]), res[a], device=box.device, dtype=box.dtype) for a in range(3)
    ]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).contiguous()


def query_volumetric_heatmap(
    query: QueryFn,
    box: Float[Tensor, "2 3"],
    resolution: Union[int, Sequence[int]] = 64,
    chunk: int = 65536,
    density_weighting: bool = True,
) -> Float[Tensor, "res_x res_y res_z num_joints"]:
    """Evaluates ``query`` on the grid in chunks of ``chunk`` points (bounded memory) under ``no_grad``.

    Returns the (occupancy-weighted, see module docstring) heatmap volume on the device ``query`` returns.
    """
    if chunk <= 0:
        raise ValueError(f"chunk must be > 0 points, got {chunk}")
    grid = volumetric_heatmap_grid(box, resolution)
    res = grid.shape[:3]
    points = grid.reshape(-1, 3)
    out: Optional[Tensor] = None
    with torch.no_grad():
        for start in range(0, points.shape[0], chunk):
            density, heat = query(points[start : start + chunk])
            n = min(chunk, points.shape[0] - start)
            if density.reshape(-1).shape[0] != n or heat.ndim != 2 or heat.shape[0] != n:
                raise ValueError(
                    f"query must return density [P] and heatmaps [P, J] for P={n} points, got "
                    f"{tuple(density.shape)} and {tuple(heat.shape)}"
                )
            if density_weighting:
                heat = heat * (1.0 - torch.exp(-density.reshape(-1, 1).clamp_min(0.0)))
            if out is None:
                out = torch.empty((points.shape[0], heat.shape[1]), dtype=heat.dtype, device=heat.device)
            out[start : start + n] = heat
    assert out is not None
    return out.reshape(*res, -1)


def extract_keypoints_3d_from_volume(
    volume: Union[Float[Tensor, "res_x res_y res_z num_joints"], Float[np.ndarray, "res_x res_y res_z num_joints"]],
    box: Float[Tensor, "2 3"],
    filter_sigma_m: float = DEFAULT_FILTER_SIGMA_M,
    threshold: float = DEFAULT_THRESHOLD_3D,
    subpixel: bool = False,
    connectivity: int = 3,
    rank_by: RankBy = "smoothed",
) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
    """The peak procedure on a volumetric heatmap sampled on :func:`volumetric_heatmap_grid` over ``box``.

    Args:
        volume: Heatmap values at the grid points.
        box: The grid's box [min, max] in metres.
        filter_sigma_m: Gaussian filter sigma in metres (0 disables it).
        threshold: Smoothed values ``> threshold`` form the binary volume.
        subpixel: Quadratic sub-voxel refinement per axis.
        connectivity: 1 = 6-neighbour, 2 = 18-neighbour, 3 = 26-neighbour regions.
        rank_by: ``"smoothed"`` or ``"raw"`` value at a region's peak decides the strongest region.

    Returns:
        ``(keypoints [J, 4] = (x, y, z metres, score), valid [J])``, float32 on ``box``'s device; missing joints are
        zeros with ``valid`` False.
    """
    _check_box(box)
    maps = (
        volume.detach().to("cpu", torch.float64).numpy()
        if isinstance(volume, Tensor)
        else np.asarray(volume, np.float64)
    )
    res = np.array(maps.shape[:3])
    if (res < 2).any():
        raise ValueError(f"volumetric heatmap needs >= 2 samples per axis, got shape {maps.shape}")
    box_np = box.detach().to("cpu", torch.float64).numpy()
    spacing = (box_np[1] - box_np[0]) / (res - 1)
    sigma_voxels = [float(filter_sigma_m / s) for s in spacing]
    peaks = find_region_peaks(maps, sigma_voxels, threshold, connectivity, rank_by, subpixel)
    xyz = box_np[0][None, :] + peaks.position * spacing[None, :]
    xyz[~peaks.found] = 0.0
    keypoints = np.concatenate([xyz, peaks.score[:, None]], axis=-1)
    return (
        torch.from_numpy(keypoints).to(device=box.device, dtype=torch.float32),
        torch.from_numpy(peaks.found).to(box.device),
    )


def extract_keypoints_3d(
    query: QueryFn,
    box: Float[Tensor, "2 3"],
    resolution: Union[int, Sequence[int]] = 64,
    chunk: int = 65536,
    density_weighting: bool = True,
    filter_sigma_m: float = DEFAULT_FILTER_SIGMA_M,
    threshold: float = DEFAULT_THRESHOLD_3D,
    subpixel: bool = False,
    connectivity: int = 3,
    rank_by: RankBy = "smoothed",
) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
    """3D keypoints of the model's volumetric heatmap over ``box``: query (chunked), weight, peak procedure.

    See :func:`query_volumetric_heatmap` and :func:`extract_keypoints_3d_from_volume` for the arguments.
    """
    volume = query_volumetric_heatmap(query, box, resolution, chunk, density_weighting)
    return extract_keypoints_3d_from_volume(volume, box, filter_sigma_m, threshold, subpixel, connectivity, rank_by)
