"""Configurable keypoint extraction (2D from rendered heatmaps, 3D from the volumetric heatmap), for the model and CLIs.

Holds the options of :mod:`ghnerf_ns.keypoints.peaks2d` and :mod:`ghnerf_ns.keypoints.peaks3d` in one config so a
model config can nest it (``keypoints: KeypointExtractorConfig = field(default_factory=KeypointExtractorConfig)``)
and ``ghnerf-keypoints`` exposes the same flags.
"""

from dataclasses import dataclass, field
from typing import Literal, Optional, Tuple, Type, Union

import numpy as np
import torch
from jaxtyping import Bool, Float
from nerfstudio.configs.base_config import InstantiateConfig
from torch import Tensor

from ghnerf_ns.keypoints.peaks2d import (
    DEFAULT_FILTER_SIGMA,
    DEFAULT_THRESHOLD,
    REFERENCE_RESOLUTION,
    extract_keypoints_2d,
    scaled_filter_sigma,
)
from ghnerf_ns.keypoints.peaks3d import (
    DEFAULT_FILTER_SIGMA_M,
    DEFAULT_THRESHOLD_3D,
    QueryFn,
    extract_keypoints_3d_from_volume,
    query_volumetric_heatmap,
)
from ghnerf_ns.keypoints.side_assignment import DEFAULT_MIN_SEPARATION_M, assign_sides_in_volume

SideAssignment = Literal["field", "body-frame"]


@dataclass
class KeypointExtractorConfig(InstantiateConfig):
    """Options of the OpenPose-style peak extraction (paper 3.4)."""

    _target: Type = field(default_factory=lambda: KeypointExtractor)
    filter_sigma: float = DEFAULT_FILTER_SIGMA
    """2D Gaussian filter sigma in pixels at `reference_resolution` (pytorch-openpose uses 3); 0 disables the filter."""
    reference_resolution: Optional[int] = REFERENCE_RESOLUTION
    """Shorter image side at which `filter_sigma` applies; the sigma scales with the rendered size. None: fixed
    pixels."""
    threshold: float = DEFAULT_THRESHOLD
    """2D: smoothed heatmap values above this form the connected regions (OpenPose thre1 = 0.1)."""
    subpixel: bool = False
    """Refine peaks with a quadratic fit (OpenPose reports the integer pixel/voxel)."""
    rank_by: Literal["smoothed", "raw"] = "smoothed"
    """Which value at a region's peak picks the strongest region: the smoothed map or the raw (OpenPose score) map."""
    connectivity: Literal["full", "faces"] = "full"
    """Region connectivity: 'full' includes diagonal neighbours (8 in 2D, 26 in 3D), 'faces' does not (4 / 6)."""
    volume_resolution: int = 64
    """3D: grid points per axis over the human's box."""
    volume_chunk: int = 65536
    """3D: grid points per query call (bounds memory)."""
    filter_sigma_3d_m: float = DEFAULT_FILTER_SIGMA_M
    """3D Gaussian filter sigma in metres; 0 disables the filter."""
    threshold_3d: float = DEFAULT_THRESHOLD_3D
    """3D: smoothed occupancy-weighted heat above this forms the connected regions."""
    density_weighting: Optional[bool] = None
    """3D: weight heat by occupancy 1 - exp(-density), so empty space inside the box cannot win. None: the model's
    volumetric-density-weighting (on for a field trained only through rendering; the extractor alone: on)."""
    side_assignment: Optional[SideAssignment] = None
    """3D: which peak of a mirror pair (RWrist/LWrist, ...) is left. 'field': each channel's own peak (paper 3.4).
    'body-frame': the pair's two side-blind peaks, sides told apart by the body's own frame (shoulders, hips, eyes
    along up x forward; limbs follow their parent joints): a structural prior, see keypoints/side_assignment.py.
    None: the model's volumetric-side-assignment (the extractor alone: 'field')."""
    side_min_separation_m: float = DEFAULT_MIN_SEPARATION_M
    """3D, side_assignment 'body-frame': a pair's two peaks must be at least this far apart (metres)."""


class KeypointExtractor:
    """Applies a :class:`KeypointExtractorConfig`."""

    def __init__(self, config: KeypointExtractorConfig) -> None:
        self.config = config

    def extract_2d(
        self,
        heatmaps: Union[Float[Tensor, "height width num_joints"], Float[np.ndarray, "height width num_joints"]],
    ) -> Tuple[Float[Tensor, "num_joints 3"], Bool[Tensor, " num_joints"]]:
        """``(keypoints [J, 3] = (x, y, score) pixels, valid [J])`` of a rendered ``[H, W, J]`` heatmap."""
        c = self.config
        height, width = int(heatmaps.shape[0]), int(heatmaps.shape[1])
        sigma = scaled_filter_sigma(c.filter_sigma, height, width, c.reference_resolution)
        connectivity = 2 if c.connectivity == "full" else 1
        return extract_keypoints_2d(heatmaps, sigma, c.threshold, c.subpixel, connectivity, c.rank_by)

    def extract_3d(
        self, query: QueryFn, box: Float[Tensor, "2 3"]
    ) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
        """``(keypoints [J, 4] = (x, y, z metres, score), valid [J])`` from the model's ``query`` over ``box``."""
        c = self.config
        connectivity = 3 if c.connectivity == "full" else 1
        density_weighting = True if c.density_weighting is None else c.density_weighting
        volume = query_volumetric_heatmap(query, box, c.volume_resolution, c.volume_chunk, density_weighting)
        keypoints, valid = extract_keypoints_3d_from_volume(
            volume, box, c.filter_sigma_3d_m, c.threshold_3d, c.subpixel, connectivity, c.rank_by
        )
        if c.side_assignment in (None, "field"):
            return keypoints, valid
        if c.side_assignment != "body-frame":
            raise ValueError(f"side_assignment must be 'field' or 'body-frame', got {c.side_assignment!r}")
        assigned, assigned_valid = assign_sides_in_volume(
            volume.detach().cpu().numpy(),
            box.detach().cpu().double().numpy(),
            keypoints.cpu().double().numpy(),
            valid.cpu().numpy(),
            c.filter_sigma_3d_m,
            c.threshold_3d,
            c.side_min_separation_m,
        )
        return (
            torch.from_numpy(assigned).to(device=box.device, dtype=torch.float32),
            torch.from_numpy(assigned_valid).to(box.device),
        )


def keypoint_extractor(
    threshold: float, density_weighting: bool = True, side_assignment: SideAssignment = "field"
) -> KeypointExtractor:
    """The 2D peak extraction of ns-eval, the viewer, ns-render and ghnerf-keypoints alike: its Gaussian filter scales
    with the image size (a fixed 3 px filter keeps only ~20% of a sigma-1.5 peak at 128 px, and PCK then reads 0).
    ``density_weighting``/``side_assignment``: the 3D extraction's occupancy weighting and left/right rule (the model's
    ``volumetric_density_weighting`` and ``volumetric_side_assignment``)."""
    return KeypointExtractorConfig(
        threshold=threshold, density_weighting=density_weighting, side_assignment=side_assignment
    ).setup()
