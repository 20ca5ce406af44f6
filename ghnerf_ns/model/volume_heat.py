"""Volumetric heat supervision: 3D heatmap targets at points of the person's box from the frame's 2D keypoints alone.

Not in the paper. GHNeRF's heat field is trained only through rendering: a target pixel's heat is the composite of
``h`` along its ray, so ``h`` is supervised at the visible surface and nowhere else. The paper's 3D keypoints are the
peaks of that field queried on a grid over the box (its section 3.4), where it was never trained: a joint's heat
lies on the surface around the joint, and the grid's maximum lands inside the body or on the wrong side of it
(benchmarks/README.md, "Per-joint 3D errors").

Every frame of a multi-view capture has 2D keypoints in each of its input cameras. At a 3D point ``x`` the mean over
those views of each view's Gaussian at the projection of ``x`` is 1 exactly where the rays through the joint's 2D
keypoints meet, the 3D joint, and falls off around it; far from the joint the views disagree. That is a 3D heatmap
target made from the same 2D annotations the rendered heatmaps use (no 3D ground truth, no body model), and the field
``h`` is trained to match it at random points of the box. Its grid peaks are then 3D joints: with exact 2D keypoints
the peaks of these targets lie 1 cm from the synthetic 3D joints (test in tests/model/test_volume_heat.py).
"""

from dataclasses import dataclass, replace
from typing import Tuple, Union

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from ghnerf_ns.keypoints.heatmap_targets import joint_validity
from ghnerf_ns.model.geometry import project

MIN_VIEWS = 2
"""A joint needs a valid 2D keypoint in at least this many views to have a 3D target (one view gives a ray, not a
point)."""


@dataclass
class FrameKeypointViews:
    """The 2D keypoints of a frame's input cameras at the working resolution, with those cameras."""

    keypoints: Float[Tensor, "num_views num_joints 3"]
    """(x, y, confidence) per view and joint in undistorted working-resolution pixels; confidence 0 = missing."""
    K: Float[Tensor, "num_views 3 3"]
    """OpenCV intrinsics at the working resolution."""
    w2c: Float[Tensor, "num_views 4 4"]
    """OpenCV world-to-camera."""
    hw: Float[Tensor, "num_views 2"]
    """(height, width) of each view at the working resolution."""

    def to(self, device: Union[str, torch.device]) -> "FrameKeypointViews":
        return replace(
            self, keypoints=self.keypoints.to(device), K=self.K.to(device), w2c=self.w2c.to(device),
            hw=self.hw.to(device),
        )  # fmt: skip


def volume_heat_targets(
    points: Float[Tensor, "num_points 3"], views: FrameKeypointViews, sigma: float
) -> Tuple[Float[Tensor, "num_points num_joints"], Bool[Tensor, " num_joints"]]:
    """3D heat targets of ``points``: per joint, the mean over the views where the joint is valid of
    ``exp(-|pi_v(x) - k_v|^2 / (2 sigma^2))`` (``sigma`` in working-resolution pixels).

    Returns:
        ``(targets [P, J] in [0, 1], valid [J])``: joints valid in fewer than :data:`MIN_VIEWS` views have no target.
    """
    valid_views = torch.stack(
        [
            joint_validity(kp, int(hw[0]), int(hw[1]), sigma)
            for kp, hw in zip(views.keypoints, views.hw)
        ]
    )  # (V, J)
    total = points.new_zeros(points.shape[0], views.keypoints.shape[1])
    for kp, K, w2c, ok in zip(views.keypoints, views.K, views.w2c, valid_views):
        uv, z = project(points, K.to(points.dtype), w2c.to(points.dtype))
        d2 = ((uv[:, None, :] - kp[None, :, :2].to(points.dtype)) ** 2).sum(dim=-1)
        gauss = torch.exp(-d2 / (2.0 * sigma * sigma)) * (z > 0)[:, None]
        total = total + torch.where(ok[None, :], gauss, torch.zeros_like(gauss))
    count = valid_views.sum(dim=0)
    targets = total / count.clamp(min=1).to(points.dtype)[None, :]
    return targets, count >= MIN_VIEWS


def volume_heat_loss(
    pred: Float[Tensor, "num_points num_joints"],
    targets: Float[Tensor, "num_points num_joints"],
    valid: Bool[Tensor, " num_joints"],
) -> Float[Tensor, ""]:
    """MSE over the points and the joints with a target; 0 (with grad) when none has one."""
    mask = valid[None, :].expand_as(pred)
    safe = torch.where(mask, targets, pred.detach())
    return ((pred - safe) ** 2).sum() / mask.sum().clamp(min=1)
