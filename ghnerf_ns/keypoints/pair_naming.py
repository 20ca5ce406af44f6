"""Left/right pairs of 2D keypoints treated side-blind: a pair's two peaks whatever their labels, and naming them.

A heatmap model learns *where* a wrist is long before it learns *which* wrist it is: its two channels of a pair then
both light both limbs, and each channel's own peak may land on the same limb (a collapsed pair) or on the wrong one.
:func:`side_blind_pair_keypoints` takes a pair's two observations regardless of the labels (used by the source-view 3D
keypoints, whose triangulation pairs them across views); :func:`name_pairs_by_reference` names them by reference
positions (used for rendered views: the projections of the model's own 3D keypoints, whose sides come from the body
frame, :mod:`ghnerf_ns.keypoints.side_assignment`); :func:`named_keypoints_2d` does both on a rendered heatmap.
"""

from typing import Optional, Tuple

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from ghnerf_ns.keypoints.peaks2d import REFERENCE_RESOLUTION
from ghnerf_ns.keypoints.peaks_core import gaussian_smooth, quadratic_offsets, strongest_maxima
from ghnerf_ns.keypoints.side_assignment import MIRROR_PAIRS, match_to_references

MIN_PAIR_SEPARATION_CELLS = 1.5
"""A left/right pair's two channel peaks closer than this (map cells; 6 px at stride 4) are taken as both labels on
one limb, and the pair's summed map is searched for two peaks at least this far apart (prototyped at 1.0 and 1.5
cells on 40 unseen frames: the same 3D error)."""


def side_blind_pair_keypoints(
    maps: Float[np.ndarray, "height width num_joints"],
    keypoints: Float[np.ndarray, "num_joints 3"],
    filter_sigma: float,
    threshold: float,
    min_separation: float = MIN_PAIR_SEPARATION_CELLS,
) -> Float[np.ndarray, "num_joints 3"]:
    """Each left/right pair's two side-blind observations in one view (module docstring), in map cells.

    Args:
        maps: The view's heatmaps at map cells.
        keypoints: ``(x, y, score)`` per joint from the channels' own peaks (cells; score 0: not found).
        filter_sigma: The peak search's Gaussian filter, cells.
        threshold: Smoothed values at or below this are background.
        min_separation: See :data:`MIN_PAIR_SEPARATION_CELLS`.

    Returns:
        A copy of ``keypoints`` where a pair whose channel peaks coincide or miss one holds the two strongest peaks of
        its summed map instead (sub-cell refined, score = the larger channel value at the peak's cell); labels within
        a pair are arbitrary. A summed map with one peak keeps two found channel peaks as they are, or puts its peak
        in the pair's first slot and leaves the other empty.
    """
    out = np.array(keypoints, dtype=np.float64)
    for right, left in MIRROR_PAIRS:
        both = out[right, 2] > 0 and out[left, 2] > 0
        if both and np.linalg.norm(out[right, :2] - out[left, :2]) >= min_separation:
            continue
        summed = gaussian_smooth(maps[..., right] + maps[..., left], filter_sigma)
        peaks = strongest_maxima(summed, threshold, min_separation)
        if len(peaks) < 2 and both:
            continue
        for slot, joint in enumerate((right, left)):
            if slot >= len(peaks):
                out[joint] = 0.0
                continue
            row, col = peaks[slot]
            offset = quadratic_offsets(summed[..., None], np.array([[row, col]]), np.array([True]))[0]
            score = max(maps[row, col, right], maps[row, col, left])
            out[joint] = (col + offset[1], row + offset[0], score)
    return out


RENDERED_MIN_SEPARATION_PX = 12.0
"""Two peaks of a rendered pair map closer than this (pixels at the extractor's reference resolution, 512; scaled with
the image like its filter: 3 px at 128) are one joint."""


def name_pairs_by_reference(
    keypoints: Float[np.ndarray, "num_joints 3"],
    reference: Float[np.ndarray, "num_joints 2"],
    reference_valid: Bool[np.ndarray, " num_joints"],
) -> Float[np.ndarray, "num_joints 3"]:
    """Each left/right pair of ``keypoints`` (``(x, y, score)``, score 0: missing) relabelled by the reference
    positions: the labelling with the smaller summed distance to the pair's two references, or, for a lone keypoint,
    the nearer reference. Pairs whose references are not both valid keep their labels; midline joints are unchanged."""
    out = np.array(keypoints, dtype=np.float64)
    for right, left in MIRROR_PAIRS:
        if not (reference_valid[right] and reference_valid[left]):
            continue
        present = [out[j].copy() for j in (right, left) if out[j, 2] > 0]
        if not present:
            continue
        for joint, row in zip((right, left), match_to_references(present, reference[right], reference[left])):
            out[joint] = 0.0 if row is None else row
    return out


def named_keypoints_2d(
    heatmaps: Float[Tensor, "height width num_joints"],
    keypoints: Float[Tensor, "num_joints 3"],
    found: Bool[Tensor, " num_joints"],
    reference: Optional[Float[Tensor, "num_joints 2"]],
    reference_valid: Optional[Bool[Tensor, " num_joints"]],
    filter_sigma: float,
    threshold: float,
) -> Tuple[Float[Tensor, "num_joints 3"], Bool[Tensor, " num_joints"]]:
    """A rendered view's per-channel keypoints (``keypoints``/``found``, pixels) with every left/right pair replaced by
    its side-blind observations (:func:`side_blind_pair_keypoints`, separation :data:`RENDERED_MIN_SEPARATION_PX`
    scaled to the image) named by ``reference`` (pixels; e.g. the model's 3D keypoints projected into the view).
    Without a reference the keypoints come back unchanged. ``filter_sigma``: the extractor's filter, pixels of this
    image."""
    if reference is None or reference_valid is None:
        return keypoints, found
    height, width = int(heatmaps.shape[0]), int(heatmaps.shape[1])
    separation = RENDERED_MIN_SEPARATION_PX * min(height, width) / REFERENCE_RESOLUTION
    kp = torch.where(found[:, None], keypoints, torch.zeros_like(keypoints)).detach().cpu().double().numpy()
    maps = torch.nan_to_num(heatmaps.detach()).cpu().double().numpy()
    blind = side_blind_pair_keypoints(maps, kp, filter_sigma, threshold, separation)
    named = name_pairs_by_reference(
        blind, reference.detach().cpu().double().numpy(), reference_valid.detach().cpu().numpy().astype(bool)
    )
    named_t = torch.from_numpy(named).to(keypoints)
    return named_t, torch.from_numpy(named[:, 2] > 0).to(found.device)
