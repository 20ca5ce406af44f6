"""DLT triangulation of 2D keypoints seen from several calibrated views (a second 3D estimate beside the 3D peaks).

For each joint, every view whose confidence is ``>= min_confidence`` contributes two rows (in normalised image
coordinates, multiplied by the view's confidence when ``weighted``) to the linear system solved by
:func:`dataparsers.triangulation.dlt_homogeneous`, the DLT the person box uses too; excluded views get zero rows,
which do not change the solution, so all joints are solved in one batched SVD (numpy, float64: the result is not
differentiable with respect to the keypoints).

A joint is valid when at least 2 views were used, the solution is a finite point (not at infinity) and it lies in
front of every camera used. Its score is the mean confidence of those views. Invalid joints are zeros.
"""

from typing import Tuple

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from dataparsers.triangulation import dlt_homogeneous


def triangulate_dlt(
    keypoints: Float[Tensor, "num_views num_joints 3"],
    K: Float[Tensor, "num_views 3 3"],
    w2c: Float[Tensor, "num_views 4 4"],
    min_confidence: float = 0.1,
    weighted: bool = True,
    min_views: int = 2,
) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
    """Triangulates every joint from the views that see it confidently.

    Args:
        keypoints: ``(x, y, confidence)`` per view and joint, pixels (OpenCV integer-pixel-centre convention).
        K: OpenCV intrinsics of each view at the keypoints' resolution.
        w2c: OpenCV world-to-camera transforms, metres.
        min_confidence: Views with a lower confidence (or non-finite coordinates) are excluded for that joint.
        weighted: Weight each view's equations by its confidence.
        min_views: Fewest views a valid joint needs (at least 2).

    Returns:
        ``(points [J, 4] = (x, y, z metres, mean confidence of used views), valid [J])`` in the input dtype/device.
    """
    if min_views < 2:
        raise ValueError(f"triangulation needs min_views >= 2, got {min_views}")
    dtype = keypoints.dtype
    kp = keypoints.to(torch.float64)
    conf = kp[..., 2]
    used = torch.isfinite(kp).all(dim=-1) & (conf >= min_confidence)  # [V, J]
    xy1 = torch.cat([torch.nan_to_num(kp[..., :2]), torch.ones_like(kp[..., :1])], dim=-1)  # [V, J, 3]
    normalised = torch.einsum("vab,vjb->vja", torch.linalg.inv(K.to(torch.float64)), xy1)
    xy_normalised = normalised[..., :2] / normalised[..., 2:3]  # [V, J, 2]
    P = w2c.to(torch.float64)[:, :3, :]  # [V, 3, 4]
    weight = torch.where(used, conf if weighted else torch.ones_like(conf), torch.zeros_like(conf))  # [V, J]
    num_views, num_joints = used.shape
    X = dlt_homogeneous(
        np.broadcast_to(P.detach().cpu().numpy(), (num_joints, num_views, 3, 4)),
        xy_normalised.detach().transpose(0, 1).cpu().numpy(),
        weight.detach().T.cpu().numpy(),
    )
    X = torch.from_numpy(X).to(kp.device)  # [J, 4]
    w = X[:, 3]
    at_infinity = w.abs() < 1e-12
    xyz = X[:, :3] / torch.where(at_infinity, torch.ones_like(w), w)[:, None]

    depth = torch.einsum("vab,jb->vja", P, torch.cat([xyz, torch.ones_like(xyz[:, :1])], dim=-1))[..., 2]  # [V, J]
    in_front = torch.where(used, depth > 0, torch.ones_like(used)).all(dim=0)
    num_used = used.sum(dim=0)
    valid = (num_used >= min_views) & ~at_infinity & torch.isfinite(xyz).all(dim=-1) & in_front
    score = torch.where(used, conf, torch.zeros_like(conf)).sum(dim=0) / num_used.clamp_min(1)
    out = torch.cat([xyz, score[:, None]], dim=-1)
    out = torch.where(valid[:, None], out, torch.zeros_like(out))
    return out.to(dtype), valid
