"""Left/right naming of 3D keypoints in the body's own frame (not in the paper: a structural prior).

Why: a pose estimator learns *where a wrist is* long before it learns *which* wrist it is (the two look alike in an
image; the side is a property of the whole body's orientation). In CPU-budget runs most of the 3D error comes from
mirror pairs whose left and right are exchanged or both sit on one limb (each such joint is off by a limb's width,
0.3-0.6 m; benchmarks/README.md, "Side assignment" and "Sides from the body frame"). The side-blind evidence (a pair's
two points, labels unknown) is far more accurate than either label, and a body's handedness tells the sides apart:
in a right-handed world frame (every calibrated rig's: its rotations are proper), ``left = up x forward``.

:func:`name_sides` names each mirror pair's two side-blind 3D points, given the midline joints (no side to confuse):

1. **Up** ``= Neck - MidHip``.
2. **Forward**, for the sign only: the mean of the unit vectors ``Nose - Neck``, ``Nose - mid(ears)``,
   ``mid(toes) - mid(heels)`` and ``mid(toes) - mid(ankles)`` (those available), each made orthogonal to ``up``.
   Mid-points of a pair do not need its sides.
3. **Left**: the mean of the shoulder line (the unit vector between the two shoulder points, orthogonal to ``up``,
   signed to agree with ``up x forward``) and ``up x`` each foot direction (the two foot cues of step 2); without
   them, ``up x forward``. The lateral order of walking legs needs an accurate axis, not only its sign: a step puts
   the feet 30-60 cm apart along forward and 15-25 cm apart sideways, so an axis turned 25 degrees names them by
   their step. The shoulder line (two well-found joints 35-40 cm apart) and the feet are accurate to about 10
   degrees; the face is not (image-based noses sit centimetres inside the head), so it only signs the shoulder line.
   On the demo's validation people this cuts the source-view 3D error from 130 to 106 mm with 3 views and from 85 to
   64 mm with all input cameras (benchmarks/README.md, "The body frame without the face").
4. **Lateral pairs** (shoulders, elbows, wrists, hips, knees, ankles, eyes, ears): the point further along ``left`` is
   the left joint. Limbs keep their lateral order in standing and walking, and a limb is named without its parent:
   on image-based estimates the hips are the least accurate joints, and naming the knees by nearness to them was
   wrong far more often (benchmarks/README.md, "Sides from the body frame"). Arms crossed in front of the body are
   named wrong.
5. **Feet** (big toes, small toes, heels): the assignment with the smaller summed distance to the named ankles; a foot
   turned inwards changes the lateral order of its points but stays within a foot's length of its ankle.

A pair with one point (its partner missing) is named by the side it lies on of its midline reference (neck for the
arms, mid-hip for the legs, nose for the face) or, for a foot point with both ankles, by the nearer ankle. Without
``up`` or ``forward`` nothing is renamed.

Used by the source-view 3D keypoints (:mod:`ghnerf_ns.keypoints.source_view_keypoints`, the default of
``--pipeline.model.source-view-sides``) and by the volumetric extraction's ``body-frame`` option, whose side-blind
points are the two strongest maxima of each pair's summed channels (:func:`assign_sides`).
"""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from dataparsers.body25 import BODY25_JOINTS, BODY25_MIRROR, joint_index
from ghnerf_ns.keypoints.peaks_core import strongest_maxima

DEFAULT_MIN_SEPARATION_M = 0.05
"""Two candidates of a pair closer than this are one joint (eyes are about 6 cm apart, ankles and knees more)."""

MIRROR_PAIRS: Tuple[Tuple[int, int], ...] = tuple(
    (j, BODY25_MIRROR[j]) for j, name in enumerate(BODY25_JOINTS) if name.startswith("R")
)
"""(right joint, left joint) of every BODY_25 mirror pair."""

_LATERAL: Dict[str, str] = {
    "RShoulder": "Neck", "RHip": "MidHip", "REye": "Nose", "REar": "Nose", "RElbow": "Neck", "RWrist": "Neck",
    "RKnee": "MidHip", "RAnkle": "MidHip",
}  # fmt: skip
"""Pairs named by their order along ``left`` -> the midline joint a lone point of the pair is compared with."""
_HANGING: Tuple[Tuple[str, str], ...] = (("RBigToe", "RAnkle"), ("RSmallToe", "RAnkle"), ("RHeel", "RAnkle"))
"""Pairs named by nearness to their named parent pair: (right joint, its parent's right joint)."""


def pair_candidates(
    pair_volume: np.ndarray, spacing: np.ndarray, threshold: float, min_separation_m: float
) -> List[Tuple[int, int, int]]:
    """Grid indices of the (up to) two strongest local maxima of a smoothed ``[X, Y, Z]`` volume above ``threshold``,
    at least ``min_separation_m`` apart (strongest first; ties in raster order)."""
    return strongest_maxima(pair_volume, threshold, min_separation_m, spacing)  # type: ignore[return-value]


def _unit(v: np.ndarray) -> Optional[np.ndarray]:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-9 else None


def _pair_points(positions: np.ndarray, valid: np.ndarray, right_name: str) -> List[np.ndarray]:
    """The valid points (copies) of the pair whose right joint is ``right_name``, labels ignored."""
    right = joint_index(right_name)
    return [positions[j].copy() for j in (right, BODY25_MIRROR[right]) if valid[j]]


def match_to_references(
    pair: List[np.ndarray], ref_right: np.ndarray, ref_left: np.ndarray
) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """``(right, left)`` rows of a pair's one or two points (labels ignored), by the distance of their leading
    coordinates (as many as the references have) to the right and left references: of two points, the pairing with
    the smaller summed distance (ties keep the given order); a lone point goes to the nearer reference (ties: right)."""
    n = len(ref_right)

    def dist(row: np.ndarray, ref: np.ndarray) -> float:
        return float(np.linalg.norm(row[:n] - ref))

    if len(pair) == 2:
        a, b = pair
        keep = dist(a, ref_right) + dist(b, ref_left) <= dist(b, ref_right) + dist(a, ref_left)
        return (a, b) if keep else (b, a)
    lone = pair[0]
    return (lone, None) if dist(lone, ref_right) <= dist(lone, ref_left) else (None, lone)


def body_left_axis(positions: np.ndarray, valid: np.ndarray) -> Optional[np.ndarray]:
    """The person's left as a unit vector (steps 1-3 of the module docstring), or None when it cannot be formed.

    ``positions`` [J, 3] (metres) and ``valid`` [J]: the midline joints, and each mirror pair's side-blind points in
    its two slots (their labels are not used).
    """
    neck, midhip, nose = joint_index("Neck"), joint_index("MidHip"), joint_index("Nose")
    if not (valid[neck] and valid[midhip]):
        return None
    up = _unit(positions[neck] - positions[midhip])
    if up is None:
        return None

    def horizontal(v: np.ndarray) -> Optional[np.ndarray]:
        return _unit(v - np.dot(v, up) * up)

    face = []
    if valid[nose]:
        face.append(positions[nose] - positions[neck])
        ears = _pair_points(positions, valid, "REar")
        if len(ears) == 2:
            face.append(positions[nose] - np.mean(ears, axis=0))
    feet = []
    toes = _pair_points(positions, valid, "RBigToe") + _pair_points(positions, valid, "RSmallToe")
    if len(toes) == 4:
        for back_name in ("RHeel", "RAnkle"):
            back = _pair_points(positions, valid, back_name)
            if len(back) == 2:
                feet.append(np.mean(toes, axis=0) - np.mean(back, axis=0))
    face_units = [u for u in map(horizontal, face) if u is not None]
    feet_units = [u for u in map(horizontal, feet) if u is not None]
    forward = _unit(np.sum(face_units + feet_units, axis=0)) if face_units or feet_units else None
    if forward is None:
        return None
    signed_left = np.cross(up, forward)
    # The face and the feet sign the shoulder line; its direction and the feet's give the lateral axis.
    lateral = [np.cross(up, u) for u in feet_units]
    shoulders = _pair_points(positions, valid, "RShoulder")
    if len(shoulders) == 2:
        line = horizontal(shoulders[0] - shoulders[1])
        if line is not None:
            lateral.append(line if np.dot(line, signed_left) > 0 else -line)
    left = _unit(np.sum(lateral, axis=0)) if lateral else None
    return signed_left if left is None else left


def name_sides(
    points: np.ndarray, valid: np.ndarray, pairs: Optional[Sequence[int]] = None
) -> Tuple[np.ndarray, np.ndarray, int]:
    """Names the side-blind points of mirror pairs by the body frame (module docstring).

    Args:
        points: ``[J, D]``, ``D >= 3``: position (metres) and any per-point values (e.g. a score) that move with it;
            the midline joints and, in each mirror pair's two slots, its points with arbitrary labels.
        valid: ``[J]`` which slots hold a point.
        pairs: Right-joint indices of the pairs to rename (default: all); the others keep their labels and still
            serve as parents.

    Returns:
        ``(points, valid, pairs_named)``: copies with the named pairs' rows in their own slots (a lone point may move
        to its partner's slot); ``pairs_named`` is 0 when the body frame could not be formed.
    """
    rows, valid = np.array(points, dtype=np.float64), np.array(valid, dtype=bool)
    positions = rows[:, :3]  # a view: moving rows moves positions
    left = body_left_axis(positions, valid)
    if left is None:
        return rows, valid, 0
    chosen = {r for r, _ in MIRROR_PAIRS} if pairs is None else set(int(p) for p in pairs)
    named = 0

    def put(right: int, right_row: Optional[np.ndarray], left_row: Optional[np.ndarray]) -> None:
        for j, row in ((right, right_row), (BODY25_MIRROR[right], left_row)):
            valid[j] = row is not None
            if row is not None:
                rows[j] = row

    def by_side(right: int, pair: List[np.ndarray], reference: str) -> None:
        if len(pair) == 2:
            a, b = pair
            put(right, b, a) if np.dot(a[:3] - b[:3], left) > 0 else put(right, a, b)
        else:
            ref = joint_index(reference) if valid[joint_index(reference)] else joint_index("Neck")
            lone = pair[0]
            put(right, None, lone) if np.dot(lone[:3] - positions[ref], left) > 0 else put(right, lone, None)

    for name, reference in _LATERAL.items():
        right = joint_index(name)
        pair = _pair_points(rows, valid, name)
        if right in chosen and pair:
            by_side(right, pair, reference)
            named += 1
    for name, parent_name in _HANGING:
        right, parent = joint_index(name), joint_index(parent_name)
        pair = _pair_points(rows, valid, name)
        if right not in chosen or not pair:
            continue
        named += 1
        if not (valid[parent] and valid[BODY25_MIRROR[parent]]):
            by_side(right, pair, "MidHip")
            continue
        put(right, *match_to_references(pair, positions[parent].copy(), positions[BODY25_MIRROR[parent]].copy()))
    return rows, valid, named


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
    slots, slot_scores, renamed = positions.copy(), scores.copy(), []
    for right, left in MIRROR_PAIRS:
        found = pair_candidates(smoothed[..., right] + smoothed[..., left], spacing, threshold, min_separation_m)
        if len(found) == 2:
            # The pair's two side-blind maxima go into its two slots; their scores travel with them.
            for j, c in zip((right, left), found):
                slots[j] = box_min + np.asarray(c, np.float64) * spacing
                slot_scores[j] = float(max(raw[c + (right,)], raw[c + (left,)]))
            renamed.append(right)
    slot_valid = valid.copy()
    for right in renamed:
        slot_valid[right] = slot_valid[BODY25_MIRROR[right]] = True
    rows, named_valid, count = name_sides(np.concatenate([slots, slot_scores[:, None]], axis=-1), slot_valid, renamed)
    if count == 0:
        return positions, scores, valid, 0
    for right in renamed:
        for j in (right, BODY25_MIRROR[right]):
            positions[j], scores[j], valid[j] = rows[j, :3], rows[j, 3], named_valid[j]
    return positions, scores, valid, count


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
