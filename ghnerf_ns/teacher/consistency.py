"""Multi-view consistency of one frame's 2D keypoints (pure numpy): which views disagree with the triangulation.

Each BODY_25 joint is triangulated from the views that see it, in three steps, in the spirit of RANSAC but
exhaustive (a rig has few cameras):

1. every pair of views that see the joint gives a DLT hypothesis (undistorted, normalised coordinates, weighted by
   confidence: :func:`dataparsers.triangulation.dlt_homogeneous`);
2. the hypothesis that most views agree with wins (a view agrees when the point reprojects within the joint
   threshold of its keypoint, in front of the camera; ties go to the smaller mean error). One wrong view (a swapped
   left/right, another person, a limb guessed behind the body) is outvoted instead of dragging the estimate;
3. the agreeing views are triangulated together (twice: the second fit uses the views that agree with the first).

Every view that sees the joint is then measured against that point: the reprojection error, in pixels of the
original (distorted) image, after projecting with the full distortion model. A (view, joint) is **flagged** when its
error exceeds ``joint_threshold`` times the image's long side; a view is **flagged** when the median error over its
checked joints exceeds ``view_threshold`` times its long side (a wrong person, a mirrored pose, or a calibration or
synchronisation problem of that camera). A joint that no two views agree on is not triangulated and all its views
are flagged (nothing says which one is right); a joint seen by one view only cannot be checked and is never flagged.
:func:`fix_mirrored` exchanges the left/right labels of a view's joint pair where the exchanged labels agree with
the majority of views (a detector that took the person's back for their front), and :func:`drop_flagged` sets the
flagged keypoints that remain to ``0, 0, 0`` so that they are no training target.

:func:`mask_agreement` checks the masks the same way: the triangulated joints projected into a view should fall on
that view's foreground.
"""

from dataclasses import dataclass
from itertools import combinations
from typing import List, Optional, Sequence, Tuple

import numpy as np
from jaxtyping import Bool, Float, Shaped

from dataparsers.body25 import BODY25_JOINTS, BODY25_MIRROR, NUM_JOINTS
from dataparsers.triangulation import dlt_homogeneous

DEFAULT_JOINT_THRESHOLD = 0.02
"""A (view, joint) is flagged above this reprojection error, as a fraction of the image's long side (38 px at 1920,
13 px at 640)."""
DEFAULT_VIEW_THRESHOLD = 0.01
"""A view is flagged when its median reprojection error exceeds this fraction of its image's long side."""
DEFAULT_MIN_CONFIDENCE = 0.1
"""Keypoints with a lower confidence take no part in the check (as the project's triangulation)."""
DEFAULT_MASK_RADIUS = 0.01
"""mask_agreement: a projected joint counts as on the mask when a foreground pixel lies within this fraction of the
long side (joints sit inside the limbs, but a thin wrist or a slightly late mask must not count as a miss)."""
MIRROR_PAIRS = tuple((j, m) for j, m in enumerate(BODY25_MIRROR) if BODY25_JOINTS[j].startswith("R"))
"""(right, left) joint index pairs of BODY_25 (``RShoulder``/``LShoulder`` ...)."""
UNDISTORT_ITERATIONS = 20
"""Fixed-point iterations that invert the distortion model (OpenCV's undistortPoints uses 5 by default)."""


def distort_normalised(
    xy: Float[np.ndarray, "*batch 2"], dist: Float[np.ndarray, "5"]
) -> Float[np.ndarray, "*batch 2"]:
    """OpenCV's distortion ``(k1, k2, p1, p2, k3)`` applied to ideal normalised coordinates ``(X/Z, Y/Z)``."""
    k1, k2, p1, p2, k3 = (float(v) for v in np.asarray(dist, dtype=np.float64).reshape(5))
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=-1)


def undistort_to_normalised(
    pixels: Float[np.ndarray, "*batch 2"], K: Float[np.ndarray, "3 3"], dist: Float[np.ndarray, "5"]
) -> Float[np.ndarray, "*batch 2"]:
    """Ideal normalised coordinates ``(X/Z, Y/Z)`` of distorted pixels: ``K^-1`` then the inverse of the distortion
    by fixed-point iteration (as OpenCV's ``undistortPoints``, to well below a pixel within the calibrated field)."""
    pixels = np.asarray(pixels, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    dist = np.asarray(dist, dtype=np.float64).reshape(5)
    yd = (pixels[..., 1] - K[1, 2]) / K[1, 1]
    xd = (pixels[..., 0] - K[0, 2] - K[0, 1] * yd) / K[0, 0]
    distorted = np.stack([xd, yd], axis=-1)
    if not np.any(dist):
        return distorted
    k1, k2, p1, p2, k3 = dist
    x, y = xd.copy(), yd.copy()
    for _ in range(UNDISTORT_ITERATIONS):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        x = (xd - dx) / radial
        y = (yd - dy) / radial
    return np.stack([x, y], axis=-1)


def project_points(
    points: Float[np.ndarray, "*batch 3"],
    K: Float[np.ndarray, "3 3"],
    dist: Float[np.ndarray, "5"],
    w2c: Float[np.ndarray, "3 4"],
) -> tuple:
    """Distorted pixels ``(*batch, 2)`` and camera depths ``(*batch,)`` of world points (OpenCV camera model)."""
    points = np.asarray(points, dtype=np.float64)
    w2c = np.asarray(w2c, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    cam = points @ w2c[:, :3].T + w2c[:, 3]
    depth = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = cam[..., :2] / depth[..., None]
    xy = distort_normalised(xy, np.asarray(dist, dtype=np.float64))
    u = K[0, 0] * xy[..., 0] + K[0, 1] * xy[..., 1] + K[0, 2]
    v = K[1, 1] * xy[..., 1] + K[1, 2]
    return np.stack([u, v], axis=-1), depth


@dataclass
class FrameConsistency:
    """The check of one frame: V views (in the order given), the 25 BODY_25 joints."""

    points: Float[np.ndarray, "25 3"]
    """Triangulated joints, world frame (NaN where not triangulated)."""
    triangulated: Bool[np.ndarray, "25"]
    """Joints that at least two views agree on."""
    errors: Float[np.ndarray, "V 25"]
    """Reprojection error in pixels of each view's keypoint (NaN where the view has no keypoint or there is no point;
    inf where the point lies behind that camera)."""
    used: Bool[np.ndarray, "V 25"]
    """Keypoints that took part (confidence >= min_confidence, finite)."""
    checked: Bool[np.ndarray, "V 25"]
    """Keypoints measured against a point that another view supports (used, and the joint seen by two views or
    more)."""
    flagged: Bool[np.ndarray, "V 25"]
    """Keypoints that disagree with the triangulation (error above the joint threshold, or no two views agree)."""
    view_median: Float[np.ndarray, "V"]
    """Median reprojection error of each view's checked keypoints, pixels (NaN when none is checked)."""
    view_flagged: Bool[np.ndarray, "V"]
    """Views whose median error exceeds the view threshold."""
    joint_threshold_px: Float[np.ndarray, "V"]
    """The joint threshold of each view in pixels."""
    view_threshold_px: Float[np.ndarray, "V"]
    """The view threshold of each view in pixels."""


def _reprojection_errors(
    points: np.ndarray, pixels: np.ndarray, K: np.ndarray, dist: np.ndarray, w2c: np.ndarray
) -> np.ndarray:
    """(..., V) pixel errors of points (..., 3) against (V, 2) pixels; inf behind a camera, NaN for NaN points."""
    errors = []
    for v in range(len(K)):
        projected, depth = project_points(points, K[v], dist[v], w2c[v])
        err = np.linalg.norm(projected - pixels[v], axis=-1)
        err = np.where(depth > 0, err, np.inf)
        errors.append(np.where(np.isfinite(points).all(axis=-1), err, np.nan))
    return np.stack(errors, axis=-1)


def _fit(P: np.ndarray, xy: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(..., 3) points of DLT systems (..., V, ...); NaN where the solution lies at infinity or has no two views."""
    X = dlt_homogeneous(np.broadcast_to(P, weight.shape + (3, 4)), np.broadcast_to(xy, weight.shape + (2,)), weight)
    with np.errstate(divide="ignore", invalid="ignore"):
        points = X[..., :3] / X[..., 3:4]
    ok = (np.abs(X[..., 3]) > 1e-12) & ((weight > 0).sum(axis=-1) >= 2)
    return np.where(ok[..., None], points, np.nan)


def check_frame(
    keypoints: Float[np.ndarray, "V 25 3"],
    K: Float[np.ndarray, "V 3 3"],
    dist: Float[np.ndarray, "V 5"],
    w2c: Float[np.ndarray, "V 3 4"],
    image_sizes: Shaped[np.ndarray, "V 2"],
    joint_threshold: float = DEFAULT_JOINT_THRESHOLD,
    view_threshold: float = DEFAULT_VIEW_THRESHOLD,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
) -> FrameConsistency:
    """Triangulate one frame's joints robustly and measure every view against them (see the module docstring).

    Args:
        keypoints: ``(u, v, confidence)`` in distorted pixels of each view's image (as OpenPose writes them).
        K: intrinsics of the images' resolution.
        dist: OpenCV distortion ``(k1, k2, p1, p2, k3)``.
        w2c: world-to-camera ``[R | t]``.
        image_sizes: ``(width, height)`` of each view's image (the thresholds scale with its long side).
        joint_threshold: flag a keypoint above this error, as a fraction of the long side.
        view_threshold: flag a view whose median error exceeds this fraction of the long side.
        min_confidence: keypoints below this confidence are ignored.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    dist = np.asarray(dist, dtype=np.float64)
    w2c = np.asarray(w2c, dtype=np.float64)
    num_views = keypoints.shape[0]
    if not (K.shape[0] == dist.shape[0] == w2c.shape[0] == len(image_sizes) == num_views):
        raise ValueError("keypoints, K, dist, w2c and image_sizes must have one entry per view")
    long_side = np.asarray(image_sizes, dtype=np.float64).max(axis=1)
    joint_px = joint_threshold * long_side
    view_px = view_threshold * long_side
    conf = keypoints[..., 2]
    used = np.isfinite(keypoints).all(axis=-1) & (conf >= min_confidence) & (conf > 0)
    xy = np.stack(
        [undistort_to_normalised(np.nan_to_num(keypoints[v, :, :2]), K[v], dist[v]) for v in range(num_views)]
    )
    pixels = np.nan_to_num(keypoints[..., :2])
    pairs = np.array(list(combinations(range(num_views), 2)), dtype=np.int64).reshape(-1, 2)
    points = np.full((NUM_JOINTS, 3), np.nan)
    for j in range(NUM_JOINTS):
        seen = used[:, j]
        if seen.sum() < 2:
            continue
        weight_j = np.where(seen, np.maximum(conf[:, j], 1e-3), 0.0)
        pair_ok = seen[pairs].all(axis=1)
        hyp = pairs[pair_ok]
        mask = np.zeros((len(hyp), num_views))
        mask[np.arange(len(hyp))[:, None], hyp] = 1.0
        candidates = _fit(w2c, xy[:, j], mask * weight_j)  # (H, 3)
        err = _reprojection_errors(candidates, pixels[:, j], K, dist, w2c)  # (H, V)
        agree = seen & (err <= joint_px)
        count = agree.sum(axis=1)
        mean_err = np.where(agree, err, 0.0).sum(axis=1) / np.maximum(count, 1)
        best = int(np.lexsort((mean_err, -count))[0])
        inliers = agree[best]
        if inliers.sum() < 2:
            continue
        for _ in range(2):
            point = _fit(w2c, xy[:, j], np.where(inliers, weight_j, 0.0))
            err_v = _reprojection_errors(point, pixels[:, j], K, dist, w2c)
            refined = seen & (err_v <= joint_px)
            if refined.sum() < 2 or (refined == inliers).all():
                break
            inliers = refined
        points[j] = point
    triangulated = np.isfinite(points).all(axis=1)
    errors = _reprojection_errors(points, pixels, K, dist, w2c).T  # (V, 25)
    errors = np.where(used, errors, np.nan)
    multi = used.sum(axis=0) >= 2
    checked = used & multi[None, :]
    inconsistent = checked & ~triangulated[None, :]
    with np.errstate(invalid="ignore"):
        flagged = (checked & triangulated[None, :] & ~(errors <= joint_px[:, None])) | inconsistent
    if inconsistent.any():  # report the all-views DLT error of joints no two views agree on
        fallback = _fit(w2c, xy.transpose(1, 0, 2), np.where(used.T, np.maximum(conf.T, 1e-3), 0.0))
        fallback_err = _reprojection_errors(fallback, pixels, K, dist, w2c).T
        errors = np.where(inconsistent, np.where(np.isnan(fallback_err), np.inf, fallback_err), errors)
    view_median = np.full(num_views, np.nan)
    for v in range(num_views):
        values = errors[v][checked[v]]
        if values.size:
            view_median[v] = float(np.median(values))
    with np.errstate(invalid="ignore"):
        view_flagged = view_median > view_px
    return FrameConsistency(
        points=points,
        triangulated=triangulated,
        errors=errors,
        used=used,
        checked=checked,
        flagged=flagged,
        view_median=view_median,
        view_flagged=view_flagged,
        joint_threshold_px=joint_px,
        view_threshold_px=view_px,
    )


def drop_flagged(
    keypoints: Float[np.ndarray, "V 25 3"], result: FrameConsistency, drop_flagged_views: bool = True
) -> Float[np.ndarray, "V 25 3"]:
    """Keypoints with every flagged (view, joint), and with ``drop_flagged_views`` every joint of a flagged view, set to
    ``0, 0, 0`` (OpenPose's missing joint: no training target, no metric)."""
    out = np.array(keypoints, dtype=np.float32, copy=True)
    drop = result.flagged.copy()
    if drop_flagged_views:
        drop |= result.view_flagged[:, None]
    out[drop] = 0.0
    return out


def fix_mirrored(
    keypoints: Float[np.ndarray, "V 25 3"],
    result: FrameConsistency,
    K: Float[np.ndarray, "V 3 3"],
    dist: Float[np.ndarray, "V 5"],
    w2c: Float[np.ndarray, "V 3 4"],
) -> Tuple[Float[np.ndarray, "V 25 3"], List[List[str]]]:
    """Keypoints with the left/right labels of a view's mirror pair exchanged where the exchanged labels agree with the
    triangulation and the current ones do not (a single-view detector often takes a person's back for their front, or
    crosses the legs); and, per view, the pairs exchanged (``"RKnee/LKnee"``).

    Views vote on each pair: a view is *decisive* when its labels agree with the triangulated pair as labelled (keep)
    or as exchanged (exchange), but not both (a camera that sees both wrists on one ray cannot tell them apart). A
    view's pair is exchanged only when it votes "exchange" and a strict majority of the decisive views, itself
    included, vote "keep": two views against two decide nothing. Run :func:`check_frame` again on the result.
    """
    out = np.array(keypoints, dtype=np.float32, copy=True)
    swapped: List[List[str]] = [[] for _ in range(len(out))]
    pixels = np.asarray(keypoints, dtype=np.float64)[..., :2]
    points = np.nan_to_num(result.points)
    projected = np.stack([project_points(points, K[v], dist[v], w2c[v])[0] for v in range(len(out))])
    for right, left in MIRROR_PAIRS:
        if not result.triangulated[[right, left]].all():
            continue
        votes = np.zeros(len(out), dtype=np.int64)  # +1 keep, -1 exchange, 0 undecided or not seen
        for v in range(len(out)):
            seen = [j for j in (right, left) if result.used[v, j]]
            if not seen:
                continue
            other = {right: left, left: right}
            threshold = result.joint_threshold_px[v]
            keep = [np.linalg.norm(pixels[v, j] - projected[v, j]) <= threshold for j in seen]
            exchange = [np.linalg.norm(pixels[v, j] - projected[v, other[j]]) <= threshold for j in seen]
            votes[v] = int(all(keep) and not all(exchange)) - int(all(exchange) and not all(keep))
        if (votes > 0).sum() <= (votes < 0).sum():
            continue
        for v in np.flatnonzero(votes < 0):
            out[v, [right, left]] = out[v, [left, right]]
            swapped[v].append(f"{BODY25_JOINTS[right]}/{BODY25_JOINTS[left]}")
    return out, swapped


def mask_agreement(
    points: Float[np.ndarray, "25 3"],
    masks: Sequence[Optional[np.ndarray]],
    K: Float[np.ndarray, "V 3 3"],
    dist: Float[np.ndarray, "V 5"],
    w2c: Float[np.ndarray, "V 3 4"],
    radius: float = DEFAULT_MASK_RADIUS,
) -> List[Optional[float]]:
    """Per view, the fraction of triangulated joints that project onto the view's foreground (within ``radius`` times
    the mask's long side); None for a view without a mask or when no joint projects into its image.

    ``masks``: one boolean ``(H, W)`` foreground (at the resolution ``K`` belongs to) or None per view."""
    out: List[Optional[float]] = []
    finite = np.isfinite(points).all(axis=1)
    for v, mask in enumerate(masks):
        if mask is None or not finite.any():
            out.append(None)
            continue
        mask = np.asarray(mask, dtype=bool)
        h, w = mask.shape
        r = max(1, int(round(radius * max(h, w))))
        pix, depth = project_points(points[finite], K[v], dist[v], w2c[v])
        hits, total = 0, 0
        for (u, y), d in zip(pix, depth):
            if not (d > 0 and -0.5 <= u < w - 0.5 and -0.5 <= y < h - 0.5):
                continue
            ui, vi = int(round(u)), int(round(y))
            total += 1
            hits += bool(mask[max(0, vi - r) : vi + r + 1, max(0, ui - r) : ui + r + 1].any())
        out.append(hits / total if total else None)
    return out
