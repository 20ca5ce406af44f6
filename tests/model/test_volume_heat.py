"""Volumetric heat targets: a hand case, their 3D peaks are the joints (a ring of cameras, exact 2D keypoints), the
masked loss, and the training path that evaluates the field at the points."""

import math

import pytest
import torch

from ghnerf_ns.keypoints.peaks3d import extract_keypoints_3d_from_volume, volumetric_heatmap_grid
from ghnerf_ns.model.geometry import project
from ghnerf_ns.model.volume_heat import FrameKeypointViews, volume_heat_loss, volume_heat_targets
from tests.model.cascade_scenes import intrinsics, look_at

SIZE = 128


def _ring(num_views: int = 8, radius: float = 3.0):
    """Cameras on a horizontal circle (world -y up) around the origin."""
    K = intrinsics(SIZE, 130.0).expand(num_views, 3, 3).clone()
    w2c = torch.stack(
        [
            look_at((radius * math.sin(a), -0.3, -radius * math.cos(a)))
            for a in torch.linspace(0, 2 * math.pi, num_views + 1)[:-1].tolist()
        ]
    )
    return K, w2c


def _views(joints: torch.Tensor, K: torch.Tensor, w2c: torch.Tensor) -> FrameKeypointViews:
    keypoints = torch.zeros(K.shape[0], 25, 3)
    keypoints[:, : joints.shape[0], 2] = 1.0
    for v in range(K.shape[0]):
        keypoints[v, : joints.shape[0], :2] = project(joints, K[v], w2c[v])[0]
    return FrameKeypointViews(keypoints, K, w2c, torch.full((K.shape[0], 2), float(SIZE)))


def test_targets_hand_case():
    K, w2c = _ring(2)
    joint = torch.tensor([[0.1, 0.2, -0.1]])
    views = _views(joint, K, w2c)
    views.keypoints[1, 0, 0] += 3.0  # the second view's keypoint 3 px off: its Gaussian gives exp(-9 / 8) there
    targets, valid = volume_heat_targets(joint, views, sigma=2.0)
    assert valid[0] and not valid[1:].any()
    assert float(targets[0, 0]) == pytest.approx((1.0 + math.exp(-9 / 8)) / 2, abs=1e-4)
    views.keypoints[1, 0, 2] = 0.0  # seen in one view only: no 3D target
    assert not volume_heat_targets(joint, views, sigma=2.0)[1][0]


def test_peaks_of_the_targets_are_the_3d_joints():
    K, w2c = _ring(8)
    joints = torch.tensor([[0.0, -0.6, 0.05], [0.2, 0.1, -0.1], [-0.25, 0.7, 0.15]])
    box = torch.tensor([[-0.5, -1.0, -0.4], [0.5, 1.0, 0.4]])
    grid = volumetric_heatmap_grid(box, 48)
    targets, valid = volume_heat_targets(grid.reshape(-1, 3), _views(joints, K, w2c), sigma=3.0)
    peaks, found = extract_keypoints_3d_from_volume(targets.reshape(48, 48, 48, 25), box, subpixel=True)
    assert found[:3].all() and not found[3:].any() and valid[:3].all()
    assert (peaks[:3, :3] - joints).norm(dim=-1).max() < 0.015


def test_loss_masks_joints_without_a_target():
    pred = torch.full((4, 25), 0.5, requires_grad=True)
    valid = torch.zeros(25, dtype=torch.bool)
    valid[2] = True
    loss = volume_heat_loss(pred, torch.zeros(4, 25), valid)
    assert float(loss) == pytest.approx(0.25)
    loss.backward()
    assert pred.grad[:, 2].abs().min() > 0 and pred.grad.abs().sum() == pred.grad[:, 2].abs().sum()
