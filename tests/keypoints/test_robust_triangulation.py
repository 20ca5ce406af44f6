"""Consensus triangulation: exact recovery, outlier views dropped, per-view left/right swaps undone, hidden joints."""

import numpy as np
import pytest
import torch

from dataparsers.body25 import BODY25_MIRROR, joint_index
from ghnerf_ns.keypoints.robust_triangulation import triangulate_robust
from ghnerf_ns.keypoints.triangulation import triangulate_dlt
from tests.keypoints.test_triangulation import _project, _rig


def _scene(num_views=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    joints = torch.rand(25, 3, generator=gen, dtype=torch.float64) - 0.5
    joints[:, 2] += 1.0
    K, w2c = _rig(num_views)
    uv = _project(joints, K, w2c)  # [V, J, 2]
    keypoints = torch.cat([uv, torch.full_like(uv[..., :1], 0.8)], dim=-1)
    return joints, keypoints, K, w2c


def test_exact_keypoints_are_recovered_and_match_the_dlt():
    joints, keypoints, K, w2c = _scene()
    points, valid = triangulate_robust(keypoints, K, w2c, BODY25_MIRROR, inlier_px=4.0)
    dlt, _ = triangulate_dlt(keypoints, K, w2c)
    assert valid.all()
    assert torch.allclose(points[:, :3], joints, atol=1e-6)
    assert torch.allclose(points[:, :3], dlt[:, :3], atol=1e-6)
    assert torch.allclose(points[:, 3], torch.full((25,), 0.8, dtype=torch.float64))


def test_outlier_views_and_left_right_swaps_are_dropped():
    """Two of eight views put the nose 60 px off and two others swap the wrists: the DLT is pulled away (tens of mm),
    the consensus is exact, and each wrist keeps its own side."""
    joints, keypoints, K, w2c = _scene()
    nose, r_wrist, l_wrist = joint_index("Nose"), joint_index("RWrist"), joint_index("LWrist")
    bad = keypoints.clone()
    bad[[1, 5], nose, :2] += 60.0
    bad[[2, 6]] = bad[[2, 6]][:, BODY25_MIRROR]  # every pair of those views swapped
    points, valid = triangulate_robust(bad, K, w2c, BODY25_MIRROR, inlier_px=4.0)
    dlt, _ = triangulate_dlt(bad, K, w2c)
    assert valid.all()
    assert torch.allclose(points[:, :3], joints, atol=1e-6)
    for j in (nose, r_wrist, l_wrist):
        assert (dlt[j, :3] - joints[j]).norm() > 0.01
    # The views' majority names the sides: with most views swapped, the labels follow them.
    mostly_swapped = keypoints.clone()
    mostly_swapped[:5] = mostly_swapped[:5][:, BODY25_MIRROR]
    points, _ = triangulate_robust(mostly_swapped, K, w2c, BODY25_MIRROR, inlier_px=4.0)
    assert torch.allclose(points[r_wrist, :3], joints[l_wrist], atol=1e-6)


def test_a_joint_seen_in_one_view_is_missing_and_a_hidden_partner_does_not_hide_its_pair():
    joints, keypoints, K, w2c = _scene(num_views=4)
    r_elbow, l_elbow, neck = joint_index("RElbow"), joint_index("LElbow"), joint_index("Neck")
    kp = keypoints.clone()
    kp[1:, neck, 2] = 0.0  # the neck in view 0 only
    kp[:, l_elbow, 2] = 0.05  # below min_confidence everywhere
    points, valid = triangulate_robust(kp, K, w2c, BODY25_MIRROR, inlier_px=4.0)
    assert not valid[neck] and not valid[l_elbow]
    assert (points[neck] == 0).all()
    assert valid[r_elbow] and torch.allclose(points[r_elbow, :3], joints[r_elbow], atol=1e-6)


def test_noise_gives_an_error_of_the_noise_scale():
    joints, keypoints, K, w2c = _scene(num_views=12, seed=4)
    rng = np.random.default_rng(0)
    noisy = keypoints.clone()
    noisy[..., :2] += torch.from_numpy(rng.normal(0.0, 1.0, size=noisy[..., :2].shape))
    points, valid = triangulate_robust(noisy, K, w2c, BODY25_MIRROR, inlier_px=5.0)
    error = (points[:, :3] - joints).norm(dim=-1)
    assert valid.all() and float(error.max()) < 0.01  # 1 px at f = 500 and 3 m is 6 mm per view


def test_bad_arguments_are_rejected():
    _, keypoints, K, w2c = _scene(num_views=2)
    with pytest.raises(ValueError, match="inlier_px"):
        triangulate_robust(keypoints, K, w2c, BODY25_MIRROR, inlier_px=0.0)
    with pytest.raises(ValueError, match="permutation"):
        triangulate_robust(keypoints, K, w2c, list(range(24)), inlier_px=4.0)
