"""PCK@0.2 (torso diameter) and MPJPE on hand-computed cases."""

import math

import pytest
import torch

from ghnerf_ns.keypoints.metrics import mpjpe_mm, pck


def _gt_image(offset=0.0):
    gt = torch.zeros(25, 3)
    gt[:, 2] = 1.0
    gt[:, 0] = torch.arange(25.0) + offset
    gt[5, :2] = torch.tensor([0.0, 0.0])
    gt[9, :2] = torch.tensor([30.0, 40.0])  # torso diameter 50 -> threshold 10 px at alpha 0.2
    return gt


def test_pck_hand_case():
    gt = _gt_image()[None]
    pred = gt[..., :2].clone()
    pred[0, 0, 0] += 10.0  # exactly on the threshold: correct
    pred[0, 1, 0] += 10.5  # just outside: wrong
    pred[0, 2, :] = float("nan")  # missing prediction: wrong, not excluded
    gt[0, 3, 2] = 0.0  # missing ground truth: excluded
    res = pck(pred, gt)
    assert res.total == 24 and res.correct == 22
    assert res.pck == pytest.approx(22 / 24)
    assert res.images_used == 1 and res.images_excluded == 0
    assert res.per_joint_total[3].item() == 0 and res.per_joint_correct[1].item() == 0


def test_pck_excludes_images_without_torso_and_uses_scores():
    gt = torch.stack([_gt_image(), _gt_image()])
    gt[1, 9, 2] = 0.0  # RHip missing: the whole image is excluded
    pred = torch.cat([gt[..., :2], torch.ones(2, 25, 1)], dim=-1)
    pred[0, 4, 2] = 0.0  # score 0 = undetected (OpenPose convention)
    res = pck(pred, gt)
    assert res.images_used == 1 and res.images_excluded == 1
    assert res.total == 25 and res.correct == 24
    # A different torso pair changes the scale: Neck(1)-MidHip(8) at x=1 and x=8 -> diameter 7 -> threshold 1.4.
    pred2 = gt[..., :2].clone()
    pred2[0, 0, 0] += 2.0
    # Image 1 has Neck and MidHip, so it is used with this pair; only its missing RHip is left out.
    neck_hip = pck(pred2, gt, torso=(1, 8))
    assert (neck_hip.correct, neck_hip.total, neck_hip.images_used) == (48, 49, 2)
    assert pck(pred2, gt).correct == 25
    # The extra validity mask removes joints; pred_valid overrides scores.
    valid = torch.ones(2, 25, dtype=torch.bool)
    valid[0, 10] = False
    assert pck(pred2, gt, valid=valid).total == 24
    pv = torch.ones(2, 25, dtype=torch.bool)
    pv[0, 11] = False
    assert pck(pred2, gt, pred_valid=pv).correct == 24
    empty = pck(pred2, gt[1:2].expand(2, 25, 3))
    assert empty.total == 0 and math.isnan(empty.pck)


def test_mpjpe_hand_case():
    gt = torch.zeros(4, 4)
    gt[:, 3] = 1.0
    gt[3, 3] = 0.0  # not evaluated
    pred = torch.zeros(4, 4)
    pred[:, 3] = 0.5
    pred[0, :3] = torch.tensor([0.003, 0.004, 0.0])  # 5 mm
    pred[1, :3] = torch.tensor([0.0, 0.0, 0.010])  # 10 mm
    pred[2, 3] = 0.0  # missing prediction
    pred[3, :3] = 100.0  # ignored (gt invalid)
    res = mpjpe_mm(pred, gt)
    assert res.mpjpe_mm == pytest.approx(7.5)
    assert res.num_joints == 2 and res.num_missing == 1
    res3 = mpjpe_mm(pred[:, :3], gt)  # xyz only: every finite prediction counts
    assert res3.mpjpe_mm == pytest.approx(5.0) and res3.num_joints == 3
    batched = mpjpe_mm(torch.stack([pred, pred]), torch.stack([gt, gt]))
    assert batched.mpjpe_mm == pytest.approx(7.5) and batched.num_joints == 4


def test_pck_takes_a_given_torso_diameter_where_a_torso_joint_is_occluded():
    gt = torch.stack([_gt_image(), _gt_image(), _gt_image()])
    gt[1, 9, 2] = 0.0  # RHip occluded in image 1: its annotation gives no scale
    gt[2, 5, 2] = 0.0  # LShoulder occluded in image 2, and no given diameter either
    pred = gt[..., :2].clone()
    pred[:, 0, 0] += 15.0  # 15 px off
    # Image 0 keeps its own annotated diameter (50 px, threshold 10: wrong) even though a diameter is given; image 1
    # scales with the given 100 px (threshold 20: correct); image 2 has none (NaN) and is excluded.
    res = pck(pred, gt, torso_diameter=torch.tensor([100.0, 100.0, float("nan")]))
    assert res.images_used == 2 and res.images_excluded == 1
    assert res.total == 25 + 24 and res.correct == 24 + 24
