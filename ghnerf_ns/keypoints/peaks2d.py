"""2D keypoints from rendered joint heatmaps (paper 3.4, OpenPose style).

The procedure (filter, threshold, connected regions, region peaks, strongest region) is documented in
:mod:`ghnerf_ns.keypoints.peaks_core`. Coordinates follow the OpenCV integer-pixel-centre convention of the targets
(:mod:`ghnerf_ns.keypoints.heatmap_targets`): ``x`` is the column, ``y`` the row.

Filter width. pytorch-openpose uses ``sigma = 3`` pixels on maps upsampled to the input image size. A fixed pixel
sigma means a different physical blur at each render resolution (the viewer renders at any size), so
:func:`scaled_filter_sigma` scales a sigma given at a reference resolution (512, the paper's evaluation size) with the
shorter image side; :class:`ghnerf_ns.keypoints.extractor.KeypointExtractor` applies it. :func:`extract_keypoints_2d`
itself takes the sigma in pixels of the map it is given.

Missing joints (no smoothed value above the threshold) come back as ``(0, 0, 0)`` with ``valid`` False, the OpenPose
JSON convention; use ``valid``, not the zeros.
"""

from typing import Optional, Tuple, Union

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from ghnerf_ns.keypoints.peaks_core import RankBy, find_region_peaks

DEFAULT_FILTER_SIGMA = 3.0
"""pytorch-openpose's Gaussian filter sigma in pixels (at its input image size)."""
DEFAULT_THRESHOLD = 0.1
"""pytorch-openpose's ``thre1``: smoothed heatmap values at or below this are background."""
REFERENCE_RESOLUTION = 512
"""Resolution (shorter side) at which the default sigma is meant: the paper evaluates at 512x512."""


def scaled_filter_sigma(sigma: float, height: int, width: int, reference_resolution: Optional[int]) -> float:
    """``sigma`` given at ``reference_resolution`` (shorter side), scaled to an image of (height, width).

    ``reference_resolution=None`` returns ``sigma`` unchanged (a fixed pixel width).
    """
    if reference_resolution is None:
        return float(sigma)
    if reference_resolution <= 0:
        raise ValueError(f"reference_resolution must be > 0 or None, got {reference_resolution}")
    return float(sigma) * min(height, width) / float(reference_resolution)


def _to_numpy(maps: Union[Tensor, np.ndarray]) -> np.ndarray:
    # float32 stays float32 here: the peak search crops to the non-zero window before its float64 copy.
    if isinstance(maps, Tensor):
        maps = maps.detach().to("cpu")
        return (maps if maps.dtype == torch.float64 else maps.float()).numpy()
    maps = np.asarray(maps)
    return maps if maps.dtype in (np.float32, np.float64) else maps.astype(np.float64)


def extract_keypoints_2d(
    heatmaps: Union[Float[Tensor, "height width num_joints"], Float[np.ndarray, "height width num_joints"]],
    filter_sigma: float = DEFAULT_FILTER_SIGMA,
    threshold: float = DEFAULT_THRESHOLD,
    subpixel: bool = False,
    connectivity: int = 2,
    rank_by: RankBy = "smoothed",
) -> Tuple[Float[Tensor, "num_joints 3"], Bool[Tensor, " num_joints"]]:
    """One keypoint per joint channel from a ``[H, W, J]`` heatmap.

    Args:
        heatmaps: Per-joint heatmaps (torch or numpy); NaN is treated as 0.
        filter_sigma: Gaussian filter sigma in pixels of this map (0 disables the filter).
        threshold: Smoothed values ``> threshold`` form the binary map.
        subpixel: Refine the integer peak with a per-axis quadratic fit (OpenPose reports the integer pixel).
        connectivity: 1 = 4-neighbour regions, 2 = 8-neighbour regions.
        rank_by: How the strongest region of a channel is chosen: ``"smoothed"`` or ``"raw"`` value at its peak.

    Returns:
        ``(keypoints [J, 3] = (x, y, score), valid [J])``: float32, on the input's device for torch input (CPU for
        numpy). The score is the unsmoothed heatmap value at the peak.
    """
    peaks = find_region_peaks(_to_numpy(heatmaps), filter_sigma, threshold, connectivity, rank_by, subpixel)
    # peaks.position is (row, col); keypoints are (x=col, y=row).
    keypoints = np.stack([peaks.position[:, 1], peaks.position[:, 0], peaks.score], axis=-1)
    device = heatmaps.device if isinstance(heatmaps, Tensor) else torch.device("cpu")
    return (
        torch.from_numpy(keypoints).to(device=device, dtype=torch.float32),
        torch.from_numpy(peaks.found).to(device),
    )
