"""Robust triangulation of per-view 2D keypoints: RANSAC over view pairs, left/right resolved per view.

Why: a 2D pose estimator run on each of a person's input views is accurate in most views (about 1.6 px median on the
128 px demo views) but wrong in some: a joint hidden behind the body, or a left/right swap on a view from behind. A
plain DLT over all views averages those outliers in (100-150 mm on the demo); a consensus over views drops them.

Per midline joint: every pair of views that sees it gives a two-view point; its support is the summed confidence of
the views whose keypoint reprojects within ``inlier_px`` of it (in front of the camera). The best-supported point is
refined by a confidence-weighted DLT over its inliers, twice (inliers recomputed in between).

Per mirror pair (``R*``, ``L*``): each view holds two observations whose labels may be exchanged. A hypothesis is a
pair of points from two views and one of the two pairings of their observations; each view supports it with the better
of its two label orders (kept or swapped). The winning hypothesis's points are then named by the views' votes: the
point that more views (confidence-weighted) call ``R*`` is the right joint; each point is refined over the
observations assigned to it.

A joint is valid when at least two views support it. Its score is the mean confidence of its inliers.
"""

from itertools import combinations
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from dataparsers.triangulation import dlt_homogeneous


def _project(points: np.ndarray, K: np.ndarray, w2c: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Pixels [..., V, 2] and depths [..., V] of points [..., 3] in every view."""
    cam = np.einsum("vab,...b->...va", w2c[:, :3, :3], points) + w2c[:, :3, 3]
    depth = cam[..., 2]
    pix = np.einsum("vab,...vb->...va", K, cam)
    return pix[..., :2] / np.where(np.abs(pix[..., 2:3]) < 1e-12, 1e-12, pix[..., 2:3]), depth


class _Views:
    """Calibration of the views and the DLT in normalised coordinates."""

    def __init__(self, K: np.ndarray, w2c: np.ndarray, inlier_px: float) -> None:
        self.K, self.w2c, self.inlier_px = K, w2c, inlier_px
        self.P = w2c[:, :3, :]
        self.K_inv = np.linalg.inv(K)

    def normalised(self, xy: np.ndarray) -> np.ndarray:
        """[..., V, 2] pixels to normalised image coordinates."""
        h = np.concatenate([xy, np.ones_like(xy[..., :1])], axis=-1)
        n = np.einsum("vab,...vb->...va", self.K_inv, h)
        return n[..., :2] / n[..., 2:3]

    def dlt(self, xy: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Points [..., 3] from pixels [..., V, 2] with per-view weights [..., V] (zero: unused); NaN at infinity."""
        shape = weight.shape
        X = dlt_homogeneous(np.broadcast_to(self.P, (*shape, 3, 4)), self.normalised(np.nan_to_num(xy)), weight)
        w = X[..., 3:4]
        return np.where(np.abs(w) < 1e-12, np.nan, X[..., :3] / np.where(np.abs(w) < 1e-12, 1.0, w))

    def inliers(self, points: np.ndarray, xy: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """[..., V] whether each view's observation [V, 2] reprojects within ``inlier_px`` of points [..., 3]."""
        pix, depth = _project(np.nan_to_num(points), self.K, self.w2c)
        err = np.linalg.norm(pix - xy, axis=-1)
        return usable & (depth > 0) & (err < self.inlier_px) & np.isfinite(points).all(axis=-1)[..., None]


def _refine(views: _Views, xy: np.ndarray, conf: np.ndarray, inl: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """A point [3] from the observations [V, 2] marked ``inl`` [V]; twice, inliers recomputed in between."""
    usable = conf > 0
    point = views.dlt(xy, np.where(inl, conf, 0.0))
    for _ in range(2):
        new = views.inliers(point, xy, usable)
        if new.sum() < 2:
            break
        inl = new
        point = views.dlt(xy, np.where(inl, conf, 0.0))
    return point, inl


def _single(views: _Views, xy: np.ndarray, conf: np.ndarray) -> Tuple[Optional[np.ndarray], np.ndarray]:
    """Midline joint: observations [V, 2], confidences [V] (0: unusable); returns (point or None, inliers [V])."""
    seen = np.flatnonzero(conf > 0)
    none = np.zeros(len(conf), dtype=bool)
    if len(seen) < 2:
        return None, none
    pairs = np.array(list(combinations(seen, 2)))  # [H, 2]
    weight = np.zeros((len(pairs), len(conf)))
    np.put_along_axis(weight, pairs, 1.0, axis=1)
    points = views.dlt(np.broadcast_to(xy, (len(pairs), *xy.shape)), weight)  # [H, 3]
    inl = views.inliers(points, xy, conf > 0)  # [H, V]
    best = int(np.argmax((inl * conf).sum(axis=1)))
    if inl[best].sum() < 2:
        return None, none
    point, inl_best = _refine(views, xy, conf, inl[best])
    return (point if np.isfinite(point).all() else None), inl_best


def _mirror(views: _Views, xy: np.ndarray, conf: np.ndarray) -> Tuple[List[Optional[np.ndarray]], List[np.ndarray]]:
    """Mirror pair: observations [V, 2 (R, L), 2], confidences [V, 2]; returns ([R, L] points, [R, L] inliers)."""
    num_views = len(conf)
    none = np.zeros(num_views, dtype=bool)
    seen = np.flatnonzero((conf > 0).any(axis=1))
    if len(seen) < 2:
        return [None, None], [none, none]
    hypotheses = []  # (view a, label a of point 1, view b, label b of point 1)
    for a, b in combinations(seen, 2):
        hypotheses += [(a, 0, b, 0), (a, 0, b, 1)]
    H = len(hypotheses)
    hyp = np.array(hypotheses)
    # Point 1 from a's label la and b's label lb; point 2 from the other labels.
    weight = np.zeros((2, H, num_views))
    obs = np.zeros((2, H, num_views, 2))
    for k in range(2):
        for view_col, label_col in ((0, 1), (2, 3)):
            v, label = hyp[:, view_col], np.abs(hyp[:, label_col] - k)
            weight[k, np.arange(H), v] = conf[v, label]
            obs[k, np.arange(H), v] = xy[v, label]
    weight = (weight > 0).astype(np.float64)
    points = views.dlt(obs, weight)  # [2, H, 3]
    usable = conf > 0  # [V, 2]
    # inl[k, h, v, l]: view v's observation of label l supports point k of hypothesis h.
    inl = np.stack([views.inliers(points[k], xy[:, label], usable[:, label]) for k in range(2) for label in range(2)])
    inl = inl.reshape(2, 2, H, num_views).transpose(0, 2, 3, 1)
    support = inl * conf[None, None]  # [2, H, V, 2]
    keep = support[0, ..., 0] + support[1, ..., 1]  # point 1 = R, point 2 = L in this view
    swap = support[0, ..., 1] + support[1, ..., 0]
    total = np.maximum(keep, swap).sum(axis=1)  # [H]
    # Both points need support, else a single well-seen limb would win with its other point anywhere.
    both = (inl[0].any(axis=-1).sum(axis=-1) >= 2) & (inl[1].any(axis=-1).sum(axis=-1) >= 2)
    if not both.any():
        # One limb only (the other hidden or missed in every view): each label triangulated on its own.
        found = [_single(views, xy[:, label], conf[:, label]) for label in range(2)]
        return [f[0] for f in found], [f[1] for f in found]
    best = int(np.argmax(np.where(both, total, -1.0)))
    swapped = swap[best] > keep[best]  # [V]
    # The vote: point 1 is R when the views that keep the labels outweigh those that swap them.
    flip = swap[best].sum() > keep[best].sum()
    out_points: List[Optional[np.ndarray]] = []
    out_inliers: List[np.ndarray] = []
    for k in range(2):
        label = np.where(swapped, 1 - k, k)  # the label each view gives point k
        own_xy = xy[np.arange(num_views), label]
        own_conf = conf[np.arange(num_views), label]
        point, inl_k = _refine(views, own_xy, own_conf, inl[k, best, np.arange(num_views), label])
        out_points.append(point if np.isfinite(point).all() and inl_k.sum() >= 2 else None)
        out_inliers.append(inl_k)
    if flip:
        out_points, out_inliers = out_points[::-1], out_inliers[::-1]
    return out_points, out_inliers


def triangulate_robust(
    keypoints: Float[Tensor, "num_views num_joints 3"],
    K: Float[Tensor, "num_views 3 3"],
    w2c: Float[Tensor, "num_views 4 4"],
    mirror: Sequence[int],
    inlier_px: float,
    min_confidence: float = 0.1,
) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
    """Triangulates every joint by consensus over views (module docstring).

    Args:
        keypoints: ``(x, y, confidence)`` per view and joint, pixels (OpenCV pixel centres).
        K: OpenCV intrinsics of each view at the keypoints' resolution.
        w2c: OpenCV world-to-camera transforms, metres.
        mirror: The index of each joint's mirror joint (itself for midline joints), e.g. ``BODY25_MIRROR``.
        inlier_px: Reprojection distance (pixels) within which a view supports a point.
        min_confidence: Observations below this confidence (or non-finite) are unused.

    Returns:
        ``(points [J, 4] = (x, y, z metres, mean inlier confidence), valid [J])`` in the keypoints' dtype/device.
    """
    if inlier_px <= 0:
        raise ValueError(f"inlier_px must be > 0, got {inlier_px}")
    kp = keypoints.detach().to("cpu", torch.float64).numpy()
    num_views, num_joints = kp.shape[:2]
    if len(mirror) != num_joints or sorted(mirror) != list(range(num_joints)):
        raise ValueError(f"mirror must be a permutation of the {num_joints} joints, got {list(mirror)}")
    xy = kp[..., :2]
    conf = np.where(np.isfinite(kp).all(axis=-1) & (kp[..., 2] >= min_confidence), kp[..., 2], 0.0)
    views = _Views(
        K.detach().to("cpu", torch.float64).numpy(), w2c.detach().to("cpu", torch.float64).numpy(), inlier_px
    )
    out = np.zeros((num_joints, 4))
    valid = np.zeros(num_joints, dtype=bool)

    def put(joint: int, point: Optional[np.ndarray], inl: np.ndarray, joint_conf: np.ndarray) -> None:
        if point is not None and inl.sum() >= 2:
            out[joint, :3], out[joint, 3], valid[joint] = point, joint_conf[inl].mean(), True

    for j in range(num_joints):
        m = int(mirror[j])
        if m == j:
            point, inl = _single(views, xy[:, j], conf[:, j])
            put(j, point, inl, conf[:, j])
        elif j < m:
            points, inliers = _mirror(views, xy[:, [j, m]], conf[:, [j, m]])
            pair_conf = np.maximum(conf[:, j], conf[:, m])  # the views' labels may be exchanged
            put(j, points[0], inliers[0], pair_conf)
            put(m, points[1], inliers[1], pair_conf)
    return torch.from_numpy(out).to(keypoints.device, keypoints.dtype), torch.from_numpy(valid).to(keypoints.device)
