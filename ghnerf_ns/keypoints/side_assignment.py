"""Left/right assignment of volumetric 3D keypoints in the body's own frame (not in the paper: a structural prior).

Why: a heatmap field trained from 2D keypoints learns *where a wrist is* long before it learns *which* wrist it is (the
two look alike in an image; the side is a property of the whole body's orientation). In CPU-budget runs most of the
3D error comes from mirror pairs whose left and right channels are exchanged or both sit on one limb (each such joint
is off by a limb's width, 0.3-0.6 m; benchmarks/README.md, "Side assignment"). The side-blind evidence, the sum of
both channels of a pair, is much more accurate than either channel alone, and the body's frame tells the sides apart.

Procedure, per subject/frame:

1. **Candidates.** For each mirror pair (``R*``, ``L*``): the sum of both channels, smoothed with the extractor's
   filter; its two strongest local maxima (26-neighbourhood) above the threshold and at least ``min_separation_m``
   apart are the pair's two joints, sides not yet known.
2. **Body frame.** ``up = Neck - MidHip`` (midline joints: the field's own peaks, no side to confuse). ``forward`` is
   the mean of the unit vectors ``toes - heels`` (mid-points of the foot pairs' candidates) and
   ``Nose - mid(ears)``, each made orthogonal to ``up``. In a right-handed world frame, ``left = up x forward``
   (facing +z with +y up, the person's left is +x).
3. **Roots** (pairs whose parent in :data:`~dataparsers.body25.BODY25_LIMBS` is a midline joint: shoulders, hips,
   eyes): the candidate further along ``left`` is the left joint.
4. **Chains**, parents first (elbows, wrists, knees, ankles, ears, feet): the assignment with the smaller summed
   distance to the already assigned parents (a limb stays on its side even where it crosses the midline).

A pair with fewer than two candidates keeps the field's own peaks; without ``up`` or ``forward`` (a midline joint or
every forward cue missing) the whole frame keeps them. Positions are integer grid points (no sub-voxel refinement)
and a joint's score is the larger of the pair's two raw channel values at its grid point.
"""

from typing import Dict, List, Optional, Tuple

import numpy as np

from dataparsers.body25 import BODY25_JOINTS, BODY25_LIMBS, BODY25_MIRROR, joint_index

DEFAULT_MIN_SEPARATION_M = 0.05
"""Two candidates of a pair closer than this are one joint (eyes are about 6 cm apart, ankles and knees more)."""

MIRROR_PAIRS: Tuple[Tuple[int, int], ...] = tuple(
    (j, BODY25_MIRROR[j]) for j, name in enumerate(BODY25_JOINTS) if name.startswith("R")
)
"""(right joint, left joint) of every BODY_25 mirror pair."""
_PARENT: Dict[int, int] = {child: parent for parent, child in BODY25_LIMBS}
_MIDLINE = {j for j, m in enumerate(BODY25_MIRROR) if j == m}


def pair_candidates(
    pair_volume: np.ndarray, spacing: np.ndarray, threshold: float, min_separation_m: float
) -> List[Tuple[int, int, int]]:
    """Grid indices of the (up to) two strongest local maxima of a smoothed ``[X, Y, Z]`` volume above ``threshold``,
    at least ``min_separation_m`` apart (strongest first; ties in raster order)."""
    from scipy import ndimage

    local_max = (pair_volume == ndimage.maximum_filter(pair_volume, size=3, mode="constant")) & (
        pair_volume > threshold
    )
    index = np.argwhere(local_max)  # raster order
    if len(index) == 0:
        return []
    order = np.argsort(-pair_volume[tuple(index.T)], kind="stable")
    chosen = [index[order[0]]]
    for i in order[1:]:
        if np.linalg.norm((index[i] - chosen[0]) * spacing) >= min_separation_m:
            chosen.append(index[i])
            break
    return [tuple(int(v) for v in c) for c in chosen]  # type: ignore[misc]


def _unit(v: np.ndarray) -> Optional[np.ndarray]:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-9 else None


def body_left_axis(
    positions: np.ndarray, valid: np.ndarray, candidates: Dict[int, List[np.ndarray]]
) -> Optional[np.ndarray]:
    """The person's left as a unit vector (step 2 of the module docstring), or None when it cannot be formed.

    ``positions``/``valid``: the field's peaks (metres) of all joints, for the midline joints; ``candidates``: each
    pair's candidate positions keyed by its right joint, for the side-blind foot and ear mid-points.
    """
    neck, midhip, nose = joint_index("Neck"), joint_index("MidHip"), joint_index("Nose")
    if not (valid[neck] and valid[midhip]):
        return None
    up = _unit(positions[neck] - positions[midhip])
    if up is None:
        return None

    def middle(right_joint: str) -> Optional[np.ndarray]:
        found = candidates.get(joint_index(right_joint), [])
        return np.mean(found, axis=0) if len(found) == 2 else None

    cues = []
    toes = [m for m in (middle("RBigToe"), middle("RSmallToe")) if m is not None]
    heels = middle("RHeel")
    if toes and heels is not None:
        cues.append(np.mean(toes, axis=0) - heels)
    ears = middle("REar")
    if ears is not None and valid[nose]:
        cues.append(positions[nose] - ears)
    units = [u for u in (_unit(c - np.dot(c, up) * up) for c in cues) if u is not None]
    if not units:
        return None
    forward = _unit(np.sum(units, axis=0))
    return None if forward is None else np.cross(up, forward)


def assign_sides(
    raw: np.ndarray,
    smoothed: np.ndarray,
    box_min: np.ndarray,
    spacing: np.ndarray,
    positions: np.ndarray,
    scores: np.ndarray,
    valid: np.ndarray,
    threshold: float,
    min_separation_m: float = DEFAULT_MIN_SEPARATION_M,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Re-assigns the mirror pairs of one frame (module docstring).

    Args:
        raw: The ``[X, Y, Z, J]`` volumetric heatmap the field's peaks came from.
        smoothed: The same volume with the extractor's Gaussian filter applied.
        box_min: World position of grid point (0, 0, 0), metres.
        spacing: Grid spacing per axis, metres.
        positions: ``[J, 3]`` the field's peaks, metres.
        scores: ``[J]`` their scores.
        valid: ``[J]`` which joints the field found.
        threshold: Smoothed values at or below this are background (the extractor's 3D threshold).
        min_separation_m: See :data:`DEFAULT_MIN_SEPARATION_M`.

    Returns:
        ``(positions [J, 3], scores [J], valid [J], pairs_reassigned)``: copies with the pairs that had two candidates
        replaced; ``pairs_reassigned`` counts them (0 when the body frame could not be formed).
    """
    positions, scores, valid = positions.copy(), scores.copy(), valid.copy()
    candidates: Dict[int, List[np.ndarray]] = {}
    candidate_scores: Dict[int, List[float]] = {}
    for right, left in MIRROR_PAIRS:
        found = pair_candidates(smoothed[..., right] + smoothed[..., left], spacing, threshold, min_separation_m)
        if len(found) == 2:
            candidates[right] = [box_min + np.asarray(c, np.float64) * spacing for c in found]
            candidate_scores[right] = [float(max(raw[c + (right,)], raw[c + (left,)])) for c in found]
    left_axis = body_left_axis(positions, valid, candidates)
    if left_axis is None:
        return positions, scores, valid, 0
    reassigned = 0
    for right, left in MIRROR_PAIRS:  # BODY_25 order: every chain's parent pair comes before it
        if right not in candidates:
            continue
        a, b = candidates[right]
        parent_r, parent_l = _PARENT[right], _PARENT[left]
        if parent_r in _MIDLINE:
            a_is_left = float(np.dot(a - b, left_axis)) > 0.0
        elif valid[parent_r] and valid[parent_l]:
            keep = np.linalg.norm(a - positions[parent_r]) + np.linalg.norm(b - positions[parent_l])
            swap = np.linalg.norm(b - positions[parent_r]) + np.linalg.norm(a - positions[parent_l])
            a_is_left = swap < keep
        else:
            continue
        (r_pos, r_score), (l_pos, l_score) = (
            ((b, candidate_scores[right][1]), (a, candidate_scores[right][0]))
            if a_is_left
            else ((a, candidate_scores[right][0]), (b, candidate_scores[right][1]))
        )
        positions[right], scores[right], positions[left], scores[left] = r_pos, r_score, l_pos, l_score
        valid[right] = valid[left] = True
        reassigned += 1
    return positions, scores, valid, reassigned


def assign_sides_in_volume(
    volume: np.ndarray,
    box: np.ndarray,
    keypoints: np.ndarray,
    valid: np.ndarray,
    filter_sigma_m: float,
    threshold: float,
    min_separation_m: float = DEFAULT_MIN_SEPARATION_M,
) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`assign_sides` on a volume sampled on :func:`~ghnerf_ns.keypoints.peaks3d.volumetric_heatmap_grid`.

    ``volume`` [X, Y, Z, J], ``box`` [2, 3] metres, ``keypoints`` [J, 4] = (x, y, z, score) and ``valid`` [J] from
    :func:`~ghnerf_ns.keypoints.peaks3d.extract_keypoints_3d_from_volume`; returns the new ``(keypoints, valid)``.
    """
    from ghnerf_ns.keypoints.peaks_core import gaussian_smooth

    raw = np.nan_to_num(np.asarray(volume, np.float64), nan=0.0)
    spacing = (box[1] - box[0]) / (np.array(raw.shape[:3]) - 1)
    smoothed = gaussian_smooth(raw, [float(filter_sigma_m / s) for s in spacing])
    positions, scores, valid, _ = assign_sides(
        raw, smoothed, box[0], spacing, keypoints[:, :3], keypoints[:, 3], valid, threshold, min_separation_m
    )
    positions[~valid] = 0.0
    scores[~valid] = 0.0
    return np.concatenate([positions, scores[:, None]], axis=-1), valid
