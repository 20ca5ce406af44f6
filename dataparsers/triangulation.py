"""The linear (DLT) triangulation shared by the person box (:mod:`dataparsers.person_box`, robust per-joint
hypotheses) and the 3D keypoint estimate (:func:`ghnerf_ns.keypoints.triangulation.triangulate_dlt`, all joints at
once). It lives here because ``dataparsers`` never imports ``ghnerf_ns``; callers choose the views and weights and
turn the homogeneous solution into a point themselves (their rules for points at infinity differ).

Every view contributes two rows to ``A X = 0`` for the homogeneous world point ``X``: ``x (P_3 . X) - (P_1 . X)``
and ``y (P_3 . X) - (P_2 . X)``, with ``(x, y)`` normalised image coordinates (``K^-1 [u, v, 1]``, ideal/undistorted)
and ``P = w2c[:3]``, which keeps the system well conditioned without a Hartley normalisation. Each pair is multiplied
by the view's weight (zero rows of excluded views do not change the solution), each system is scaled to unit norm
(the SVD is scale-invariant; this avoids tiny singular values), and ``X`` is the right singular vector of the smallest
singular value. numpy, float64, batched over any leading dimensions.
"""

import numpy as np
from jaxtyping import Float


def dlt_homogeneous(
    P: Float[np.ndarray, "*batch V 3 4"], xy: Float[np.ndarray, "*batch V 2"], weight: Float[np.ndarray, "*batch V"]
) -> Float[np.ndarray, "*batch 4"]:
    """Homogeneous DLT solution (sign and scale arbitrary) of each batch element's views."""
    P = np.asarray(P, dtype=np.float64)
    xy = np.asarray(xy, dtype=np.float64)
    rows = np.concatenate([xy[..., 0:1, None] * P[..., 2:3, :] - P[..., 0:1, :],
                           xy[..., 1:2, None] * P[..., 2:3, :] - P[..., 1:2, :]], axis=-2)  # fmt: skip
    rows = rows * np.asarray(weight, dtype=np.float64)[..., None, None]
    A = rows.reshape(*rows.shape[:-3], -1, 4)  # (..., 2V, 4): x and y rows of view 0, then of view 1, ...
    norm = np.sqrt((A**2).sum(axis=(-2, -1)))
    A = A / np.maximum(norm, 1e-12)[..., None, None]
    return np.linalg.svd(A)[2][..., -1, :]
