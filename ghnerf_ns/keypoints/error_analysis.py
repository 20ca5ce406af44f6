"""Where 3D keypoint error comes from: per-joint errors, left/right swaps and the bias in the body's own frame.

MPJPE alone cannot tell a heatmap field that is imprecise from one that puts a joint on the wrong limb. For a set of
frames with predictions and ground truth this module reports, per BODY_25 joint:

- the mean and median error (mm);
- the **side-swap rate** of left/right joints: the fraction of frames whose prediction lies nearer to the mirror
  joint's ground truth (the left wrist for ``RWrist``) than to its own;
- the **side-blind error**: each left/right joint scored against the nearer of its own and its mirror joint's ground
  truth. Its mean is what MPJPE would be if every left/right confusion were resolved and nothing else changed, a
  lower bound for any left/right fix that only reassigns the predicted points;
- the mean offset ``prediction - truth`` in the **body frame** of the ground truth (right, forward, up; from the
  neck, mid-hip and nose): a systematic pull, e.g. face joints drawn into the head, shows as a large mean offset
  along one axis.
"""

import warnings
from dataclasses import dataclass
from typing import List, Sequence

import numpy as np
from jaxtyping import Bool, Float

from dataparsers.body25 import BODY25_JOINTS, BODY25_MIRROR, NUM_JOINTS, joint_index


@dataclass
class FrameKeypoints3D:
    """Prediction and ground truth of one (subject, frame), world metres."""

    pred: Float[np.ndarray, "num_joints 3"]
    """Predicted joint positions."""
    pred_valid: Bool[np.ndarray, " num_joints"]
    """Joints the estimate found."""
    gt: Float[np.ndarray, "num_joints 4"]
    """Ground truth ``(x, y, z, validity)``; validity ``<= 0`` excludes the joint."""


@dataclass
class JointErrorTable:
    """Per-joint statistics over frames (NaN where a joint was never scored)."""

    joints: List[str]
    """BODY_25 names, in order."""
    count: np.ndarray
    """(J,) frames in which the joint was scored (valid prediction and ground truth)."""
    mean_mm: np.ndarray
    """(J,) mean error."""
    median_mm: np.ndarray
    """(J,) median error."""
    swap_rate: np.ndarray
    """(J,) fraction of scored frames nearer to the mirror joint's truth; NaN for midline joints."""
    side_blind_mm: np.ndarray
    """(J,) mean error against the nearer of own and mirror truth (equals ``mean_mm`` for midline joints)."""
    offset_body_mm: np.ndarray
    """(J, 3) mean ``pred - gt`` along the body frame's (right, forward, up) axes."""
    mpjpe_mm: float
    """Mean over all scored (frame, joint) pairs."""
    side_blind_mpjpe_mm: float
    """The same with side-blind errors."""
    overall_swap_rate: float
    """Fraction of all scored (frame, left/right joint) pairs nearer to the mirror joint's truth (0.5: no side
    information at all)."""


def body_frame(gt: Float[np.ndarray, "num_joints 3"]) -> Float[np.ndarray, "3 3"]:
    """Rows (right, forward, up) of the body's frame: up = neck - mid-hip, forward = nose - neck made orthogonal to
    up, right = forward x up (a person facing +y with +z up has their right hand towards +x)."""
    up = gt[joint_index("Neck")] - gt[joint_index("MidHip")]
    up = up / max(np.linalg.norm(up), 1e-9)
    forward = gt[joint_index("Nose")] - gt[joint_index("Neck")]
    forward = forward - (forward @ up) * up
    forward = forward / max(np.linalg.norm(forward), 1e-9)
    return np.stack([np.cross(forward, up), forward, up])


def joint_error_table(frames: Sequence[FrameKeypoints3D]) -> JointErrorTable:
    """The statistics of the module docstring over ``frames``."""
    if not frames:
        raise ValueError("joint_error_table needs at least one frame")
    own, blind, swapped, offsets, scored = [], [], [], [], []
    mirror = np.asarray(BODY25_MIRROR)
    for f in frames:
        if f.pred.shape != (NUM_JOINTS, 3) or f.gt.shape != (NUM_JOINTS, 4):
            raise ValueError(f"expected pred [25, 3] and gt [25, 4], got {f.pred.shape} and {f.gt.shape}")
        gt = f.gt[:, :3]
        ok = f.pred_valid & (f.gt[:, 3] > 0) & np.isfinite(f.pred).all(-1) & np.isfinite(gt).all(-1)
        err = np.linalg.norm(f.pred - gt, axis=-1) * 1000.0
        err_mirror = np.linalg.norm(f.pred - gt[mirror], axis=-1) * 1000.0
        mirror_ok = f.gt[mirror, 3] > 0
        own.append(np.where(ok, err, np.nan))
        blind.append(np.where(ok, np.where(mirror_ok, np.minimum(err, err_mirror), err), np.nan))
        swapped.append(np.where(ok & mirror_ok & (mirror != np.arange(NUM_JOINTS)), err_mirror < err, np.nan))
        frame_ok = all(f.gt[joint_index(n), 3] > 0 for n in ("Neck", "MidHip", "Nose"))
        rotation = body_frame(gt) if frame_ok else np.full((3, 3), np.nan)
        offsets.append(np.where(ok[:, None], (f.pred - gt) @ rotation.T * 1000.0, np.nan))
        scored.append(ok)
    own_a, blind_a, swapped_a = np.array(own), np.array(blind), np.array(swapped, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN input (a joint never scored) gives NaN, as meant
        return JointErrorTable(
            joints=list(BODY25_JOINTS),
            count=np.array(scored).sum(0),
            mean_mm=np.nanmean(own_a, 0),
            median_mm=np.nanmedian(own_a, 0),
            swap_rate=np.nanmean(swapped_a, 0),
            side_blind_mm=np.nanmean(blind_a, 0),
            offset_body_mm=np.nanmean(np.array(offsets), 0),
            mpjpe_mm=float(np.nanmean(own_a)),
            side_blind_mpjpe_mm=float(np.nanmean(blind_a)),
            overall_swap_rate=float(np.nanmean(swapped_a)),
        )


def format_joint_table(tables: Sequence[JointErrorTable], names: Sequence[str]) -> str:
    """Markdown: one row per joint with mean error, swap rate and side-blind error of each estimate, plus the
    body-frame offset of the first; a last row with the MPJPE, overall swap rate and side-blind MPJPE of each."""
    head = ["joint"]
    for name in names:
        head += [f"{name} mm", f"{name} swapped", f"{name} side-blind mm"]
    head += [f"{names[0]} offset (right, fwd, up) mm"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def num(value: float, fmt: str = "{:.0f}") -> str:
        return "" if not np.isfinite(value) else fmt.format(value)

    def bold(text: str) -> str:
        return f"**{text}**" if text else ""  # an estimate with no joint found leaves its cells empty

    for j, joint in enumerate(tables[0].joints):
        cells = [joint]
        for t in tables:
            cells += [num(t.mean_mm[j]), num(100 * t.swap_rate[j], "{:.0f}%"), num(t.side_blind_mm[j])]
        cells.append(", ".join(num(v) for v in tables[0].offset_body_mm[j]))
        lines.append("| " + " | ".join(cells) + " |")
    last = ["**MPJPE**"]
    for t in tables:
        swap = num(100 * t.overall_swap_rate, "{:.0f}%")
        last += [bold(num(t.mpjpe_mm)), bold(swap), bold(num(t.side_blind_mpjpe_mm))]
    last.append("")
    lines.append("| " + " | ".join(last) + " |")
    return "\n".join(lines)
