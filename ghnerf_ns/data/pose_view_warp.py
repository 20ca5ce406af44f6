"""Geometric augmentation of the 2D pose views (training only): the camera rolled about its optical axis and zoomed.

A pose head trained from scratch on a few thousand images learns where limbs usually are (arms hanging beside the
hips) as much as what they look like; a person holding an arm out sideways then gets the wrist put on the hip in every
view, and the views agree on that wrong point. Rolling and zooming the pose views shows the head limbs at every angle
and size (the standard rotation and scale augmentation of 2D pose estimators).

The warp is exact for the camera model: rolling the camera by ``a`` about its optical axis and scaling its focal
lengths by ``s`` about the principal point maps each pixel ``p`` to ``S K R_z(a) K^-1 p``, an affine map. So the image
is warped by it, the keypoints follow, ``w2c`` becomes ``R_z(a) w2c`` and ``K`` becomes ``S K`` (still upper
triangular): projecting the world into the warped view stays exact (the human encoder's windows use it). Source and
target views are never warped.
"""

import math
from dataclasses import replace
from typing import Tuple

import numpy as np
from jaxtyping import Float

from ghnerf_ns.data.image_loading import LoadedView


def roll_zoom_transform(
    K: Float[np.ndarray, "3 3"], angle: float, scale: float
) -> Tuple[Float[np.ndarray, "3 3"], Float[np.ndarray, "3 3"], Float[np.ndarray, "3 3"]]:
    """``(H, K', R)`` for a roll of ``angle`` radians about the optical axis and a zoom ``scale`` about the principal
    point: pixels map by ``H`` (affine, last row ``0 0 1``), the intrinsics become ``K'`` and the world-to-camera
    rotation is premultiplied by ``R``."""
    K = np.asarray(K, dtype=np.float64)
    c, s = math.cos(angle), math.sin(angle)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    cx, cy = K[0, 2], K[1, 2]
    zoom = np.array([[scale, 0.0, (1.0 - scale) * cx], [0.0, scale, (1.0 - scale) * cy], [0.0, 0.0, 1.0]])
    H = zoom @ K @ R @ np.linalg.inv(K)
    return H, zoom @ K, R


def warp_view(view: LoadedView, angle: float, scale: float) -> LoadedView:
    """``view`` seen by its camera rolled by ``angle`` radians and zoomed by ``scale`` (module docstring): image and
    mask warped (bilinear and nearest, black outside), keypoints moved (missing ones stay ``0, 0, 0``), ``K`` and
    ``w2c`` updated. Keypoints that leave the image keep their positions; the heatmap targets' validity rule drops
    them."""
    import cv2

    H, K_new, R = roll_zoom_transform(view.K, angle, scale)
    height, width = view.mask.shape
    M = H[:2].astype(np.float64)
    image = cv2.warpAffine(
        np.ascontiguousarray(view.image, dtype=np.float32),
        M,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    mask = cv2.warpAffine(
        np.ascontiguousarray(view.mask), M, (width, height), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT
    )
    w2c = view.w2c.astype(np.float64).copy()
    w2c[:3] = R @ w2c[:3]
    keypoints = None
    if view.keypoints is not None:
        keypoints = view.keypoints.copy()
        present = keypoints[:, 2] > 0
        moved = keypoints[:, :2].astype(np.float64) @ H[:2, :2].T + H[:2, 2]
        keypoints[present, :2] = moved[present]
    return replace(
        view,
        image=image,
        mask=mask,
        K=K_new.astype(np.float32),
        w2c=w2c.astype(np.float32),
        keypoints=keypoints,
        cse=None,
    )


def random_roll_zoom(
    view: LoadedView, rng: np.random.Generator, max_degrees: float, scale_range: Tuple[float, float]
) -> LoadedView:
    """:func:`warp_view` with a roll drawn uniformly in ``+-max_degrees`` and a zoom log-uniformly in ``scale_range``;
    the view itself when both are off."""
    low, high = scale_range
    if max_degrees <= 0 and low == high == 1.0:
        return view
    angle = math.radians(rng.uniform(-max_degrees, max_degrees)) if max_degrees > 0 else 0.0
    scale = math.exp(rng.uniform(math.log(low), math.log(high))) if low != high else low
    return warp_view(view, angle, scale)
