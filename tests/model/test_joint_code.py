"""The joint code (each sample's position relative to the source-view 3D keypoints): hand-computed values."""

import math

import pytest
import torch

from ghnerf_ns.model.joint_code import OFFSET_WINDOW_M, RBF_SCALES_M, joint_code, joint_code_dim


def test_joint_code_hand_case():
    keypoints = torch.zeros(2, 4)
    keypoints[0] = torch.tensor([0.0, 0.0, 0.0, 1.0])
    keypoints[1] = torch.tensor([5.0, 0.0, 0.0, 0.0])  # not found: its channels stay zero
    point = torch.tensor([[0.1, 0.0, 0.0]])
    code = joint_code(point, keypoints, num_joints=2)
    assert code.shape == (1, joint_code_dim(2)) == (1, 10)
    per_joint = code.reshape(2, 5)
    expected_bumps = [math.exp(-0.01 / (2 * s * s)) for s in RBF_SCALES_M]
    window = math.exp(-0.01 / (2 * OFFSET_WINDOW_M**2))
    assert per_joint[0, :2].tolist() == pytest.approx(expected_bumps, rel=1e-5)
    assert per_joint[0, 2:].tolist() == pytest.approx([0.1 / OFFSET_WINDOW_M * window, 0.0, 0.0], rel=1e-5)
    assert per_joint[1].abs().max() == 0.0


def test_joint_code_without_keypoints_is_zero_and_keeps_the_batch_shape():
    points = torch.rand(4, 3, 3)
    assert joint_code(points, None, num_joints=25).shape == (4, 3, joint_code_dim(25))
    assert joint_code(points, None, num_joints=25).abs().max() == 0.0
    with pytest.raises(ValueError, match=r"\[25, 4\]"):
        joint_code(points, torch.zeros(24, 4), num_joints=25)


def test_joint_code_gradient_flows_to_the_points_only():
    points = torch.rand(5, 3, requires_grad=True)
    keypoints = torch.cat([torch.rand(25, 3), torch.ones(25, 1)], dim=-1)
    joint_code(points, keypoints, 25).sum().backward()
    assert points.grad is not None and torch.isfinite(points.grad).all()
