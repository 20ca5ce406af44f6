"""Keypoint accuracy: PCK@alpha with the torso diameter (2D) and MPJPE in millimetres (3D).

PCK (paper 4.1: "distance between the predicted and true joint < 0.2 x torso diameter"). The torso diameter of an
image is ``||gt[a] - gt[b]||`` for the joint pair ``torso`` (default LShoulder(5)-RHip(9), one diagonal of the torso;
which diagonal GHNeRF used is not published, so it is configurable). Counting rules:

- a ground-truth joint counts only if it is valid (confidence ``> gt_conf_threshold``, finite, and the optional
  ``valid`` mask); the paper excludes joints missing from the ground truth (supplementary, "missing data");
- the torso diameter comes from the ground truth of the image's torso joints where both are annotated; a caller may
  pass it instead (``torso_diameter``: ns-eval projects the frame's 3D ground truth where a torso joint is occluded,
  so that no image is dropped for an occluded shoulder or hip). An image without any scale is excluded entirely
  (``images_excluded``);
- a missing prediction for a counted ground-truth joint is *wrong*, not excluded (otherwise predicting nothing would
  score 100%). A prediction is missing when ``pred_valid`` is False, its coordinates are non-finite, or (for
  ``[N, J, 3]`` input without ``pred_valid``) its score is ``<= 0`` (the OpenPose JSON convention);
- correct means ``distance <= alpha * torso`` (the usual PCK convention, "within" the threshold).

MPJPE: mean Euclidean distance in mm over joints valid in the ground truth (4th column ``> 0``); predictions that are
missing are left out of the mean and counted in ``num_missing`` (report both).
"""

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

DEFAULT_TORSO: Tuple[int, int] = (5, 9)
"""LShoulder - RHip in BODY_25 order."""


@dataclass
class PCKResult:
    """PCK over a set of images."""

    pck: float
    """Fraction of counted joints that are correct (NaN when nothing was counted)."""
    correct: int
    """Number of correct joints."""
    total: int
    """Number of counted (valid ground truth, in a scaled image) joints."""
    images_used: int
    """Images with a valid torso."""
    images_excluded: int
    """Images skipped because a torso joint is missing."""
    per_joint_correct: Int[Tensor, " num_joints"]
    """Correct count per joint."""
    per_joint_total: Int[Tensor, " num_joints"]
    """Counted joints per joint."""


def _pred_validity(pred: Tensor, pred_valid: Optional[Tensor]) -> Tensor:
    ok = torch.isfinite(pred[..., :2]).all(dim=-1)
    if pred_valid is not None:
        ok = ok & pred_valid
    elif pred.shape[-1] >= 3:
        ok = ok & (pred[..., 2] > 0)
    return ok


def pck(
    pred: Float[Tensor, "num_images num_joints num_pred_cols"],
    gt: Float[Tensor, "num_images num_joints 3"],
    valid: Optional[Bool[Tensor, "num_images num_joints"]] = None,
    alpha: float = 0.2,
    torso: Tuple[int, int] = DEFAULT_TORSO,
    pred_valid: Optional[Bool[Tensor, "num_images num_joints"]] = None,
    gt_conf_threshold: float = 0.0,
    torso_diameter: Optional[Float[Tensor, " num_images"]] = None,
) -> PCKResult:
    """PCK@alpha with the torso diameter; see the module docstring for every counting rule.

    Args:
        pred: Predicted ``(x, y)`` or ``(x, y, score)`` per image and joint, pixels.
        gt: Ground-truth ``(x, y, confidence)``, pixels (same image resolution as ``pred``).
        valid: Extra ground-truth validity (e.g. the heatmap-target ``valid`` mask); None = all.
        alpha: Threshold as a fraction of the torso diameter.
        torso: Joint pair whose ground-truth distance is the torso diameter.
        pred_valid: Which predictions exist (e.g. from the peak extraction); None = use scores/finiteness.
        gt_conf_threshold: Ground-truth joints with confidence ``<=`` this are missing.
        torso_diameter: Each image's torso diameter in pixels where the annotated torso joints do not give one (NaN:
            none either); None = the annotated torso joints only.
    """
    if pred.shape[-1] not in (2, 3):
        raise ValueError(f"pred must be [N, J, 2] or [N, J, 3], got {tuple(pred.shape)}")
    num_joints = gt.shape[1]
    a, b = torso
    if not (0 <= a < num_joints and 0 <= b < num_joints and a != b):
        raise ValueError(f"torso joints {torso} must be two different indices in [0, {num_joints})")
    gt_ok = torch.isfinite(gt).all(dim=-1) & (gt[..., 2] > gt_conf_threshold)
    if valid is not None:
        gt_ok = gt_ok & valid
    diameter = (gt[:, a, :2] - gt[:, b, :2]).norm(dim=-1)
    scaled = gt_ok[:, a] & gt_ok[:, b] & (diameter > 0)
    if torso_diameter is not None:
        given = torso_diameter.to(diameter)
        usable = ~scaled & torch.isfinite(given) & (given > 0)
        diameter = torch.where(usable, given, diameter)
        scaled = scaled | usable
    counted = gt_ok & scaled[:, None]
    pred_ok = _pred_validity(pred, pred_valid)
    dist = (torch.nan_to_num(pred[..., :2]) - torch.nan_to_num(gt[..., :2])).norm(dim=-1)
    correct = counted & pred_ok & (dist <= alpha * torch.where(scaled, diameter, torch.zeros_like(diameter))[:, None])
    total = int(counted.sum())
    n_correct = int(correct.sum())
    return PCKResult(
        pck=n_correct / total if total > 0 else float("nan"),
        correct=n_correct,
        total=total,
        images_used=int(scaled.sum()),
        images_excluded=int((~scaled).sum()),
        per_joint_correct=correct.sum(dim=0),
        per_joint_total=counted.sum(dim=0),
    )


@dataclass
class MPJPEResult:
    """MPJPE over the joints that could be compared."""

    mpjpe_mm: float
    """Mean per-joint position error in millimetres (NaN when no joint could be compared)."""
    num_joints: int
    """Joints in the mean (valid ground truth and a prediction)."""
    num_missing: int
    """Valid ground-truth joints without a prediction (not in the mean)."""


def mpjpe_mm(
    pred: Float[Tensor, "*batch num_joints num_pred_cols"],
    gt: Float[Tensor, "*batch num_joints 4"],
    pred_valid: Optional[Bool[Tensor, "*batch num_joints"]] = None,
) -> MPJPEResult:
    """Mean per-joint position error; inputs in metres, result in millimetres.

    Args:
        pred: ``(x, y, z)`` or ``(x, y, z, score)``; with a score column and no ``pred_valid``, score ``<= 0`` =
            missing.
        gt: ``(x, y, z, validity)``; joints with validity ``<= 0`` are not evaluated.
        pred_valid: Which predictions exist; None = use score/finiteness.
    """
    if pred.shape[-1] not in (3, 4):
        raise ValueError(f"pred must be [..., J, 3] or [..., J, 4], got {tuple(pred.shape)}")
    gt_ok = torch.isfinite(gt[..., :3]).all(dim=-1) & (gt[..., 3] > 0)
    pred_ok = torch.isfinite(pred[..., :3]).all(dim=-1)
    if pred_valid is not None:
        pred_ok = pred_ok & pred_valid
    elif pred.shape[-1] == 4:
        pred_ok = pred_ok & (pred[..., 3] > 0)
    both = gt_ok & pred_ok
    dist = (torch.nan_to_num(pred[..., :3]) - torch.nan_to_num(gt[..., :3])).norm(dim=-1)
    n = int(both.sum())
    mean_m = float(dist[both].sum()) / n if n > 0 else float("nan")
    return MPJPEResult(mpjpe_mm=mean_m * 1000.0, num_joints=n, num_missing=int((gt_ok & ~pred_ok).sum()))
