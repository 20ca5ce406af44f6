"""The OpenPose-style peak procedure of GHNeRF (paper 3.4) in any number of spatial dimensions (2D images, 3D volumes).

Per joint channel:

1. smooth the map with a Gaussian filter (``scipy.ndimage.gaussian_filter``, mode ``reflect``, as pytorch-openpose);
2. binarise it: ``smoothed > threshold``;
3. split the binary map into connected regions (``scipy.ndimage.label``; ``connectivity`` 1 = face neighbours,
   ``ndim`` = also diagonal neighbours, the default);
4. the peak of a region is its voxel with the largest *smoothed* value (ties: first in raster order);
5. the joint is the peak of the strongest region. "Strongest" is the smoothed value at the region peak by default
   (``rank_by="smoothed"``: the filter is there to make the choice robust to single-pixel spikes); ``rank_by="raw"``
   ranks by the unsmoothed value instead, as OpenPose ranks its candidates. Ties: first in raster order;
6. the joint's score is the **unsmoothed** value at the (integer) peak, as OpenPose reports it;
7. optionally the position is refined to sub-voxel precision with a 1D quadratic through the peak and its two
   neighbours on the smoothed map, per axis (offset clamped to +-0.5; no refinement on an axis at the border).

A channel with no value above the threshold has no joint: ``found`` is False and its position and score are 0 (the
OpenPose JSON convention for undetected joints), so callers must use ``found``, never the zeros.

All channels are processed at once: the filter has zero width along the channel axis and the labelling structure
connects nothing across channels, so one ``label`` call and two ``lexsort`` calls do the work of per-joint loops.
"""

from dataclasses import dataclass
from typing import List, Literal, Optional, Sequence, Tuple, Union

import numpy as np

# scipy.ndimage is imported in the functions that use it: importing it costs more than all of ghnerf_ns's entry
# points (every ns-* command loads this module through the pipeline config; only keypoint extraction needs scipy).
RankBy = Literal["smoothed", "raw"]
_TRUNCATE = 4.0
"""Gaussian kernel radius in sigmas (scipy's default, as pytorch-openpose)."""


@dataclass
class RegionPeaks:
    """Best peak per channel of a ``[*spatial, J]`` map (numpy, float64)."""

    position: np.ndarray
    """(J, ndim) float64: peak position in index units along each spatial axis (sub-voxel when refined); 0 if
    missing."""
    score: np.ndarray
    """(J,) float64: unsmoothed value at the integer peak; 0 if missing."""
    smoothed_value: np.ndarray
    """(J,) float64: smoothed value at the integer peak; 0 if missing."""
    found: np.ndarray
    """(J,) bool: whether the channel had any value above the threshold."""


def gaussian_smooth(maps: np.ndarray, sigma: Union[float, Sequence[float]]) -> np.ndarray:
    """Gaussian filter over the spatial axes of a ``[*spatial, J]`` map (no smoothing across channels).

    ``sigma`` is one value for all spatial axes or one per axis, in index units; 0 disables smoothing on that axis.
    """
    ndim = maps.ndim - 1
    sigmas = [float(sigma)] * ndim if np.isscalar(sigma) else [float(s) for s in sigma]  # type: ignore[arg-type]
    if len(sigmas) != ndim:
        raise ValueError(f"expected {ndim} filter sigmas (one per spatial axis), got {len(sigmas)}")
    if any(s < 0 for s in sigmas):
        raise ValueError(f"filter sigma must be >= 0, got {sigmas}")
    if all(s == 0 for s in sigmas):
        return maps.astype(np.float64, copy=True)
    from scipy import ndimage

    return ndimage.gaussian_filter(maps.astype(np.float64), sigma=sigmas + [0.0], mode="reflect", truncate=_TRUNCATE)


def _channel_separated_structure(ndim: int, connectivity: int) -> np.ndarray:
    if not 1 <= connectivity <= ndim:
        raise ValueError(f"connectivity must be in [1, {ndim}] for {ndim}D maps, got {connectivity}")
    from scipy import ndimage

    spatial = ndimage.generate_binary_structure(ndim, connectivity)
    structure = np.zeros((3,) * (ndim + 1), dtype=bool)
    structure[..., 1] = spatial  # only the middle channel slice: regions never cross joint channels
    return structure


def quadratic_offsets(smoothed: np.ndarray, index: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Per-axis vertex of the parabola through (left, centre, right) on the smoothed map, clamped to +-0.5."""
    num_joints = smoothed.shape[-1]
    ndim = smoothed.ndim - 1
    offsets = np.zeros((num_joints, ndim), dtype=np.float64)
    for j in np.flatnonzero(found):
        idx = tuple(int(i) for i in index[j])
        centre = smoothed[idx + (j,)]
        for axis in range(ndim):
            if idx[axis] == 0 or idx[axis] == smoothed.shape[axis] - 1:
                continue
            lo, hi = list(idx), list(idx)
            lo[axis] -= 1
            hi[axis] += 1
            left, right = smoothed[tuple(lo) + (j,)], smoothed[tuple(hi) + (j,)]
            curvature = left - 2.0 * centre + right
            if curvature < 0:  # a proper maximum; 0 means a plateau: keep the integer peak
                offsets[j, axis] = np.clip(0.5 * (left - right) / curvature, -0.5, 0.5)
    return offsets


def strongest_maxima(
    smoothed: np.ndarray,
    threshold: float,
    min_separation: float,
    spacing: Union[np.ndarray, Sequence[float], None] = None,
) -> List[Tuple[int, ...]]:
    """The (up to) two strongest local maxima of one smoothed ``[*spatial]`` map above ``threshold``, at least
    ``min_separation`` apart (in units of ``spacing`` per axis, default index units): the strongest first, then the
    strongest one far enough from it; ties in raster order. Local maximum: equal to the maximum of its 3^ndim
    neighbourhood (outside the map counts as 0). Used where a map holds two joints whose labels are unknown (the two
    channels of a left/right pair summed)."""
    from scipy import ndimage

    local_max = (smoothed == ndimage.maximum_filter(smoothed, size=3, mode="constant")) & (smoothed > threshold)
    index = np.argwhere(local_max)  # raster order
    if len(index) == 0:
        return []
    scale = np.ones(smoothed.ndim) if spacing is None else np.asarray(spacing, dtype=np.float64)
    order = np.argsort(-smoothed[tuple(index.T)], kind="stable")
    chosen = [index[order[0]]]
    for i in order[1:]:
        if np.linalg.norm((index[i] - chosen[0]) * scale) >= min_separation:
            chosen.append(index[i])
            break
    return [tuple(int(v) for v in c) for c in chosen]


def _support_crop(raw: np.ndarray, filter_sigma: Union[float, Sequence[float]], threshold: float) -> Optional[tuple]:
    """Slices of the bounding box of the non-zero values grown by the filter radius, when that is smaller than the map.

    Exact: outside the grown box the smoothed map is 0 (not above a threshold >= 0), and inside it the filter sees the
    same values, since the grown margin is zeros, so the crop's ``reflect`` border mirrors zeros where the full map had
    zeros. Raster order (the tie-break) is the same in the crop. None: no crop (negative threshold, or nothing to cut).
    """
    ndim = raw.ndim - 1
    if threshold < 0:
        return None
    support = np.fmax.reduce(np.abs(raw), axis=-1) > 0  # fmax: a NaN (read as 0) never hides another channel's value
    if not support.any():
        return None
    sigmas = [float(filter_sigma)] * ndim if np.isscalar(filter_sigma) else [float(s) for s in filter_sigma]  # type: ignore[arg-type]
    slices = []
    for axis in range(ndim):
        hits = np.flatnonzero(support.any(axis=tuple(a for a in range(ndim) if a != axis)))
        margin = int(_TRUNCATE * sigmas[axis] + 0.5) + 1  # scipy's kernel radius, plus one for the subpixel fit
        slices.append(slice(max(int(hits[0]) - margin, 0), min(int(hits[-1]) + margin + 1, raw.shape[axis])))
    if all(sl.stop - sl.start == size for sl, size in zip(slices, raw.shape[:-1])):
        return None
    return (*slices, slice(None))


def find_region_peaks(
    maps: np.ndarray,
    filter_sigma: Union[float, Sequence[float]],
    threshold: float,
    connectivity: int,
    rank_by: RankBy = "smoothed",
    subpixel: bool = False,
) -> RegionPeaks:
    """Runs the procedure in the module docstring on a ``[*spatial, J]`` map. See there for every rule."""
    if maps.ndim < 2:
        raise ValueError(f"expected a [*spatial, num_joints] map, got shape {maps.shape}")
    if rank_by not in ("smoothed", "raw"):
        raise ValueError(f"rank_by must be 'smoothed' or 'raw', got {rank_by!r}")
    crop = _support_crop(maps, filter_sigma, threshold)
    if crop is not None:
        # Renders are zero outside the person's box: run on the box plus the filter radius, then shift back. Cropped
        # before the float64 copy, which would otherwise cost as much as the search.
        peaks = _find_region_peaks(maps[crop], filter_sigma, threshold, connectivity, rank_by, subpixel)
        offset = np.array([axis.start for axis in crop[:-1]], dtype=np.float64)
        peaks.position[peaks.found] += offset
        return peaks
    return _find_region_peaks(maps, filter_sigma, threshold, connectivity, rank_by, subpixel)


def _find_region_peaks(
    maps: np.ndarray,
    filter_sigma: Union[float, Sequence[float]],
    threshold: float,
    connectivity: int,
    rank_by: RankBy,
    subpixel: bool,
) -> RegionPeaks:
    """:func:`find_region_peaks` without the crop."""
    raw = np.nan_to_num(maps.astype(np.float64), nan=0.0)
    ndim = raw.ndim - 1
    num_joints = raw.shape[-1]
    smoothed = gaussian_smooth(raw, filter_sigma)
    from scipy import ndimage

    structure = _channel_separated_structure(ndim, connectivity)
    labels, num_regions = ndimage.label(smoothed > threshold, structure=structure)
    position = np.zeros((num_joints, ndim), dtype=np.float64)
    score = np.zeros(num_joints, dtype=np.float64)
    smoothed_value = np.zeros(num_joints, dtype=np.float64)
    found = np.zeros(num_joints, dtype=bool)
    if num_regions == 0:
        return RegionPeaks(position, score, smoothed_value, found)

    flat_labels = labels.ravel()
    members = np.flatnonzero(flat_labels)  # flat indices into [*spatial, J], ascending = raster order per channel
    member_labels = flat_labels[members]
    member_values = smoothed.ravel()[members]
    # Each region's peak: its maximum, the first in raster order among equal values. Members are in ascending flat
    # order, which within a region (one channel) is raster order, so the first member equal to its region's maximum is
    # the peak (linear time; sorting all members by value cost most of a 512 px extraction).
    region_max = np.full(num_regions, -np.inf)
    np.maximum.at(region_max, member_labels - 1, member_values)  # unbuffered: no sort (ndimage.maximum sorts)
    at_max = member_values == region_max[member_labels - 1]
    _, first = np.unique(member_labels[at_max], return_index=True)
    region_peaks = members[at_max][first]  # one flat index per region, in label order

    peak_channel = region_peaks % num_joints
    peak_spatial = region_peaks // num_joints
    rank_source = smoothed if rank_by == "smoothed" else raw
    peak_rank = rank_source.ravel()[region_peaks]
    # Per channel: strongest region first, ties broken by raster order of the peak.
    order = np.lexsort((peak_spatial, -peak_rank, peak_channel))
    sorted_channels = peak_channel[order]
    is_first = np.ones(len(order), dtype=bool)
    is_first[1:] = sorted_channels[1:] != sorted_channels[:-1]
    best = region_peaks[order][is_first]
    channels = best % num_joints
    index = np.stack(np.unravel_index(best // num_joints, raw.shape[:-1]), axis=-1)

    found[channels] = True
    position[channels] = index.astype(np.float64)
    score[channels] = raw.ravel()[best]
    smoothed_value[channels] = smoothed.ravel()[best]
    if subpixel:
        full_index = np.zeros((num_joints, ndim), dtype=np.int64)
        full_index[channels] = index
        position += quadratic_offsets(smoothed, full_index, found)
    return RegionPeaks(position, score, smoothed_value, found)
