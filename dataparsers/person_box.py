"""The person's 3D box without SMPL: robust triangulation of the 2D keypoints, else a coarse visual hull of the masks.

A box that does not hold the person silently clips the cost volume's depth range and the evaluation crop, so both
estimates are deliberately generous:

- **keypoints**: each BODY_25 joint is triangulated (DLT on undistorted keypoints) from the views that see it with
  enough confidence. Hypotheses from view pairs are scored by how many views agree within a reprojection tolerance
  (a wrong detection in one view is outvoted), then the agreeing views are re-triangulated together. A joint seen
  in a single view is placed on its ray at the depth of the rest of the body. The box is the joints' bounds plus a
  margin (limbs, hands, head and feet reach past the joints).
- **masks** (when too few joints triangulate): the silhouettes of one frame, read at a coarse size, carve a voxel
  grid around the point the cameras look at (coarse, then refined on the occupied region); a voxel stays when the
  cameras that see it all (but one, with six or more cameras) see it inside the mask.

Everything is numpy + OpenCV on one frame at a time: :class:`PersonBoxEstimator` is called lazily per
(subject, frame) through :meth:`HumanImageIndex.box`, so parsing decodes nothing.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from jaxtyping import Bool, Float, Int

from dataparsers.body25 import NUM_JOINTS
from dataparsers.human_common import DatasetFormatError
from dataparsers.triangulation import dlt_homogeneous

MIN_CONFIDENCE = 0.2
"""Keypoints below this confidence are ignored (OpenPose's own rendering threshold is 0.05-0.1; 0.2 drops guesses)."""
MIN_JOINTS = 4
"""Fewer multi-view joints than this and the masks give the box instead (a few joints cannot bound a body)."""
REPROJECTION_TOLERANCE = 0.03
"""A view agrees with a triangulated joint when it reprojects within this fraction of the image's longer side."""
MAX_HYPOTHESIS_VIEWS = 12
"""Pair hypotheses are drawn from this many most confident views (66 pairs); agreement is counted over all views."""
SINGLE_VIEW_REACH = 0.6
"""A joint seen in one view only is kept when it lands within this many metres of the triangulated joints' box
(a hand is at most a forearm from the elbow; farther means another person or a wrong detection)."""
UNDISTORT_CRITERIA = (3, 60, 1e-12)  # cv2.TERM_CRITERIA_COUNT | EPS: strong real lenses need more than 5 iterations.
HULL_GRID = 40
"""Voxels per side of the visual-hull grid (coarse pass over the capture volume, then the same over the hull)."""
HULL_MASK_SIZE = 160
"""Masks are reduced to at most this many pixels on their longer side for the hull (any coverage counts)."""


def undistort_normalized(
    pixels: Float[np.ndarray, "num_points 2"], K: Float[np.ndarray, "3 3"], dist: Float[np.ndarray, "5"]
) -> Float[np.ndarray, "num_points 2"]:
    """Distorted pixel positions (integer pixel centres) -> ideal normalised image coordinates (x/z, y/z)."""
    import cv2

    pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
    if not np.any(dist):
        homog = np.concatenate([pixels[:, 0], np.ones((len(pixels), 1))], axis=1)
        return (homog @ np.linalg.inv(K).T)[:, :2]
    out = cv2.undistortPointsIter(pixels, K, np.asarray(dist, np.float64), None, None, UNDISTORT_CRITERIA)
    return out.reshape(-1, 2)


def _dlt(P: np.ndarray, xy: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Batched DLT point: P (..., V, 3, 4) normalised projections, xy (..., V, 2), weight (..., V) -> (..., 3).

    The solve is :func:`dataparsers.triangulation.dlt_homogeneous`; a solution at infinity becomes a very distant
    point in its direction."""
    X = dlt_homogeneous(P, xy, weight)
    w = np.where(np.abs(X[..., 3:]) < 1e-12, 1e-12, X[..., 3:])
    return X[..., :3] / w


def _reprojection(P: np.ndarray, X: np.ndarray, xy: np.ndarray, focal: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(errors in pixels, depth) of points X (H, 3) in views P (V, 3, 4): both (H, V)."""
    cam = np.einsum("vij,hj->hvi", P[:, :, :3], X) + P[None, :, :, 3]
    depth = cam[..., 2]
    proj = cam[..., :2] / np.where(np.abs(depth) < 1e-9, 1e-9, depth)[..., None]
    return np.linalg.norm(proj - xy[None], axis=-1) * focal[None], depth


def triangulate_joint(
    P: Float[np.ndarray, "V 3 4"],
    xy: Float[np.ndarray, "V 2"],
    conf: Float[np.ndarray, " V"],
    focal: Float[np.ndarray, " V"],
    tolerance: Float[np.ndarray, " V"],
) -> Optional[Float[np.ndarray, "3"]]:
    """One joint from two or more views (normalised coordinates), robust to wrong views; None when views disagree.

    Every pair of the most confident views proposes a point; the proposal that most views agree with (reprojection
    within ``tolerance`` pixels, in front of the camera) wins, and its agreeing views are triangulated together.
    """
    order = np.argsort(-conf, kind="stable")[:MAX_HYPOTHESIS_VIEWS]
    i, j = np.triu_indices(len(order), k=1)
    pairs = np.stack([order[i], order[j]], axis=1)
    hypotheses = _dlt(P[pairs], xy[pairs], conf[pairs])
    errors, depth = _reprojection(P, hypotheses, xy, focal)
    agree = (errors < tolerance[None]) & (depth > 0)
    count = agree.sum(1)
    score = count * 1e6 - np.where(agree, errors, 0).sum(1)  # most agreeing views first, then the smallest error
    best = int(np.argmax(score))
    if count[best] < 2:
        return None
    inliers = agree[best]
    X = _dlt(P[inliers], xy[inliers], conf[inliers])
    err, dep = _reprojection(P[inliers], X[None], xy[inliers], focal[inliers])
    if (dep <= 0).any() or (err[0] < tolerance[inliers]).sum() < 2:
        return None
    return X


def keypoint_box(
    keypoints: Float[np.ndarray, "V 25 3"],
    K: Float[np.ndarray, "V 3 3"],
    w2c: Float[np.ndarray, "V 3 4"],
    dist: Float[np.ndarray, "V 5"],
    sizes: Int[np.ndarray, "V 2"],
    margin: float,
) -> Optional[Float[np.ndarray, "2 3"]]:
    """(min, max) box around the robustly triangulated joints + ``margin`` metres; None with < MIN_JOINTS joints."""
    V = len(keypoints)
    seen = keypoints[..., 2] > MIN_CONFIDENCE
    xy = np.zeros((V, NUM_JOINTS, 2))
    for v in range(V):
        if seen[v].any():
            xy[v, seen[v]] = undistort_normalized(keypoints[v, seen[v], :2], K[v], dist[v])
    focal = np.sqrt(K[:, 0, 0] * K[:, 1, 1])
    tolerance = REPROJECTION_TOLERANCE * sizes.max(1)
    points = []
    for joint in range(NUM_JOINTS):
        views = np.flatnonzero(seen[:, joint])
        if len(views) >= 2:
            X = triangulate_joint(
                w2c[views], xy[views, joint], keypoints[views, joint, 2], focal[views], tolerance[views]
            )
            if X is not None:
                points.append(X)
    if len(points) < MIN_JOINTS:
        return None
    points_arr = np.stack(points)
    lo, hi = points_arr.min(0), points_arr.max(0)
    singles = []
    for joint in np.flatnonzero(seen.sum(0) == 1):
        v = int(np.flatnonzero(seen[:, joint])[0])
        depth = np.median(points_arr @ w2c[v, :, :3].T[:, 2] + w2c[v, 2, 3])
        ray_cam = np.array([xy[v, joint, 0], xy[v, joint, 1], 1.0]) * depth
        X = w2c[v, :, :3].T @ (ray_cam - w2c[v, :, 3])
        if np.all(X >= lo - SINGLE_VIEW_REACH) and np.all(X <= hi + SINGLE_VIEW_REACH):
            singles.append(X)
    if singles:
        points_arr = np.concatenate([points_arr, np.stack(singles)])
    return np.stack([points_arr.min(0) - margin, points_arr.max(0) + margin]).astype(np.float32)


def _look_point(w2c: np.ndarray) -> Tuple[np.ndarray, float]:
    """The point nearest to every optical axis, and the median camera distance to it."""
    R, t = w2c[:, :, :3], w2c[:, :, 3]
    centres = -np.einsum("vji,vj->vi", R, t)
    axes = R[:, 2, :]
    proj = np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]
    A, b = proj.sum(0), np.einsum("vij,vj->i", proj, centres)
    if np.linalg.cond(A) > 1e6:  # (nearly) parallel axes: a point 3 m in front of the rig
        point = centres.mean(0) + 3.0 * axes.mean(0)
    else:
        point = np.linalg.solve(A, b)
    return point, float(np.median(np.linalg.norm(centres - point, axis=1)))


def distort_project(
    ideal: Float[np.ndarray, "num_points 2"], K: Float[np.ndarray, "3 3"], dist: Float[np.ndarray, "5"]
) -> Float[np.ndarray, "num_points 2"]:
    """Ideal normalised coordinates -> distorted pixels (OpenCV's model; cv2.projectPoints also computes Jacobians
    and is much slower on the hull's grid)."""
    x, y = ideal[:, 0], ideal[:, 1]
    k1, k2, p1, p2, k3 = (float(v) for v in dist)
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([K[0, 0] * xd + K[0, 1] * yd + K[0, 2], K[1, 1] * yd + K[1, 2]], axis=1)


def _carve(
    points: np.ndarray, masks: List[np.ndarray], K: np.ndarray, w2c: np.ndarray, dist: np.ndarray,
    sizes: np.ndarray, max_radius: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Occupancy of ``points`` (N, 3) given low-resolution masks (visual hull with a one-view tolerance)."""
    V = len(masks)
    seen = np.zeros(len(points), dtype=np.int32)
    inside = np.zeros(len(points), dtype=np.int32)
    for v in range(V):
        cam = points @ w2c[v, :, :3].T + w2c[v, :, 3]
        front = cam[:, 2] > 1e-3
        ideal = cam[:, :2] / np.where(front, cam[:, 2], 1.0)[:, None]
        # Far outside the field of view a distorting lens folds back into the image: those points are not seen.
        front &= np.linalg.norm(ideal, axis=1) < max_radius[v]
        uv = distort_project(np.where(front[:, None], ideal, 0.0), K[v], dist[v])
        W, H = sizes[v]
        ok = front & (uv[:, 0] > -0.5) & (uv[:, 0] < W - 0.5) & (uv[:, 1] > -0.5) & (uv[:, 1] < H - 0.5)
        mask = masks[v]
        h, w = mask.shape
        col = np.clip(((uv[:, 0] + 0.5) * w / W).astype(np.int64), 0, w - 1)
        row = np.clip(((uv[:, 1] + 0.5) * h / H).astype(np.int64), 0, h - 1)
        seen += ok
        inside += ok & mask[row, col]
    tolerance = 1 if V >= 6 else 0
    return (inside >= 2) & (seen - inside <= tolerance) & (seen >= min(V, 3))


def mask_hull_box(
    masks: List[np.ndarray],
    K: Float[np.ndarray, "V 3 3"],
    w2c: Float[np.ndarray, "V 3 4"],
    dist: Float[np.ndarray, "V 5"],
    sizes: Int[np.ndarray, "V 2"],
    padding: float,
) -> Optional[Float[np.ndarray, "2 3"]]:
    """(min, max) box of the coarse visual hull of one frame's silhouettes + ``padding`` metres; None if empty."""
    image_corners = [np.array([[-0.5, -0.5], [W - 0.5, -0.5], [-0.5, H - 0.5], [W - 0.5, H - 0.5]]) for W, H in sizes]
    max_radius = np.array([
        1.2 * np.linalg.norm(undistort_normalized(corners, K[v], dist[v]), axis=1).max()
        for v, corners in enumerate(image_corners)
    ])  # fmt: skip
    centre, distance = _look_point(w2c)
    half = np.full(3, float(np.clip(0.75 * distance, 1.5, 8.0)))
    lo, hi = centre - half, centre + half
    for _ in range(2):  # coarse over the capture volume, then refined over the occupied voxels
        axes = [np.linspace(lo[d], hi[d], HULL_GRID) for d in range(3)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        occupied = _carve(grid, masks, K, w2c, dist, sizes, max_radius)
        if not occupied.any():
            return None
        step = (hi - lo) / (HULL_GRID - 1)
        lo, hi = grid[occupied].min(0) - step, grid[occupied].max(0) + step
    return np.stack([lo - padding, hi + padding]).astype(np.float32)


def read_mask_coarse(path: Path) -> Bool[np.ndarray, "h w"]:
    """A mask (png/jpg, foreground > 127) reduced to at most ``HULL_MASK_SIZE`` pixels; any coverage counts."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetFormatError(f"{path}: cannot read the mask (needed for the person's 3D box); re-create it")
    fg = (image > 127).astype(np.float32)
    scale = HULL_MASK_SIZE / max(fg.shape)
    if scale < 1:
        size = (max(1, round(fg.shape[1] * scale)), max(1, round(fg.shape[0] * scale)))
        fg = cv2.resize(fg, size, interpolation=cv2.INTER_AREA)
    return fg > 0


@dataclass
class PersonBoxEstimator:
    """One subject's SMPL-free box, per frame on demand: keypoints, else masks (see module docstring).

    Holds only calibration and file paths (picklable for DataLoader workers); each process caches its boxes through
    the index's ``frame_boxes``.
    """

    subject: str
    """Subject name (for messages)."""
    K: np.ndarray
    """(C, 3, 3) intrinsics by camera id."""
    w2c: np.ndarray
    """(C, 3, 4) world-to-camera by camera id."""
    dist: np.ndarray
    """(C, 5) distortion by camera id."""
    sizes: np.ndarray
    """(C, 2) native (width, height) by camera id."""
    views: Dict[int, List[Tuple[int, Optional[Path], Optional[Path]]]] = field(default_factory=dict)
    """frame -> [(camera id, OpenPose JSON or None, mask or None)]."""
    keypoints: Dict[int, np.ndarray] = field(default_factory=dict)
    """frame -> (len(views[frame]), 25, 3) in-memory keypoints (ZJU kpts2d) used where no JSON file exists."""
    use_keypoints: bool = True
    """Try the keypoints first (False: masks only)."""
    margin: float = 0.3
    """Metres around the triangulated joints."""
    hull_padding: float = 0.1
    """Metres around the visual hull (it already bounds the silhouettes)."""

    def box(self, frame: int) -> Float[np.ndarray, "2 3"]:
        """The person's (2, 3) box at ``frame``.

        Raises:
            DatasetFormatError: neither the keypoints nor the masks of that frame locate the person.
        """
        from dataparsers.openpose_json import read_openpose_json

        views = self.views.get(frame, [])
        cams = np.array([v[0] for v in views], dtype=np.int64)
        if self.use_keypoints and len(views) >= 2:
            in_memory = self.keypoints.get(frame)
            kps = np.zeros((len(views), NUM_JOINTS, 3), dtype=np.float64)
            for i, (_, kp_file, _) in enumerate(views):
                if kp_file is not None:
                    kps[i] = read_openpose_json(kp_file)
                elif in_memory is not None:
                    kps[i] = in_memory[i]
            box = keypoint_box(kps, self.K[cams], self.w2c[cams], self.dist[cams], self.sizes[cams], self.margin)
            if box is not None:
                return box
        with_masks = [i for i, v in enumerate(views) if v[2] is not None]
        if len(with_masks) >= 2:
            masks = [read_mask_coarse(views[i][2]) for i in with_masks]  # type: ignore[arg-type]
            c = cams[with_masks]
            box = mask_hull_box(masks, self.K[c], self.w2c[c], self.dist[c], self.sizes[c], self.hull_padding)
            if box is not None:
                return box
        raise DatasetFormatError(
            f"{self.subject} frame {frame}: cannot locate the person for its 3D box: fewer than {MIN_JOINTS} joints "
            "triangulate from the 2D keypoints and the masks give no visual hull; add OpenPose keypoints "
            "(openpose/<camera>/<frame>_keypoints.json), masks, or SMPL vertices"
        )
