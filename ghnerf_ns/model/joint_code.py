"""Joint code: each 3D sample's position relative to the person's 3D keypoints, an input of the human heads.

Not in the paper; the idea is KeypointNeRF's (Mihajlovic et al., ECCV 2022), which encodes every sample relative to
3D keypoints triangulated from the input views to generalise to unseen people. Here the keypoints are the source-view
estimate of the same views the render uses (the human encoder's 2D pose head on each input view, triangulated and
named left/right by the body frame: :mod:`ghnerf_ns.keypoints.source_view_keypoints`), so nothing but the input images
and their calibration is read. Why the heads need it: the per-view evidence ``g_h`` reads (human features, the pose
head's maps at the sample's projections) is local and side-blind, so a rendered left-knee channel lights both knees
and the volumetric heat stays diffuse. With the code, each joint channel knows where *its* joint is: the rendered
heatmaps and the volumetric peaks follow the named 3D keypoints, and the image evidence refines them. The CSE head
reads the same code: a body-surface coordinate is a function of where a point lies relative to the joints.

Per joint ``j`` with keypoint ``k_j`` and offset ``d = x - k_j``, the code holds Gaussian bumps
``exp(-|d|^2 / (2 s^2))`` at the scales :data:`RBF_SCALES_M` and the windowed offset
``d / w * exp(-|d|^2 / (2 w^2))`` with ``w =`` :data:`OFFSET_WINDOW_M` (which side of the joint the point lies on);
a joint the estimate did not find contributes zeros.
"""

from typing import Optional, Tuple

import torch
from jaxtyping import Float
from torch import Tensor

RBF_SCALES_M: Tuple[float, ...] = (0.05, 0.15)
"""Widths (metres) of the Gaussian bumps around each joint: about a joint's heatmap width and a limb segment's."""
OFFSET_WINDOW_M = 0.3
"""Width (metres) of the window of the relative offset (it fades to zero about a limb's length away)."""


def joint_code_dim(num_joints: int) -> int:
    """Channels of :func:`joint_code` for ``num_joints`` joints."""
    return num_joints * (len(RBF_SCALES_M) + 3)


def joint_code(
    points: Float[Tensor, "*batch 3"], keypoints: Optional[Float[Tensor, "num_joints 4"]], num_joints: int
) -> Float[Tensor, "*batch code"]:
    """The code of ``points`` relative to ``keypoints`` (``(x, y, z, valid)``, world metres; None = no estimate:
    all zeros, as for a frame where no joint was found)."""
    batch = points.shape[:-1]
    if keypoints is None:
        return points.new_zeros(*batch, joint_code_dim(num_joints))
    if keypoints.shape != (num_joints, 4):
        raise ValueError(f"keypoints must be [{num_joints}, 4] (x, y, z, valid), got {tuple(keypoints.shape)}")
    keypoints = keypoints.to(points)
    offset = points[..., None, :] - keypoints[:, :3]  # [*batch, J, 3]
    dist2 = (offset * offset).sum(dim=-1, keepdim=True)  # [*batch, J, 1]
    scales = points.new_tensor(RBF_SCALES_M)
    bumps = torch.exp(-dist2 / (2.0 * scales * scales))  # [*batch, J, S]
    window = torch.exp(-dist2 / (2.0 * OFFSET_WINDOW_M**2))
    code = torch.cat([bumps, offset / OFFSET_WINDOW_M * window], dim=-1)
    code = code * (keypoints[:, 3:4] > 0).to(code.dtype)
    return code.reshape(*batch, -1)
