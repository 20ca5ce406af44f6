"""Source-view 3D keypoints: body-frame naming of a side-confused pose head on a ring rig."""

import numpy as np
import pytest
import torch

from dataparsers.body25 import BODY25_JOINTS, BODY25_MIRROR
from ghnerf_ns.keypoints.source_view_keypoints import triangulate_source_views
from ghnerf_ns.synth.skeleton import pose_at, sample_body_shape, sample_motion
from tests.keypoints.test_triangulation import _project, _rig


def _person_in_ring(seed: int) -> np.ndarray:
    """A synthetic pose (skeleton frame: up +y) stood up in the ring rig's world (+z up, centred near (0, 0, 0.2))."""
    rng = np.random.default_rng(seed)
    joints = pose_at(sample_body_shape(rng), sample_motion(rng), float(rng.uniform(0, 3))).joints
    yaw = rng.uniform(0, 2 * np.pi)
    to_world = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # y up -> z up, a proper rotation
    turn = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    return joints @ (turn @ to_world).T + np.array([0.0, 0.0, 0.2])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_body_frame_names_the_sides_that_most_views_swap(seed):
    """A side-confused pose head: 7 of 12 views exchange every left/right label. The views' vote follows the majority
    and names every pair wrongly; the body frame names them all right. Both to the consensus's accuracy on exact
    keypoints: where a pair's two joints project within the inlier radius of each other (hips, eyes in side views), a
    view's observations may be paired either way, a few millimetres."""
    joints = _person_in_ring(seed)
    K, w2c = _rig(12)
    uv = _project(torch.from_numpy(joints), K, w2c)
    keypoints = torch.cat([uv, torch.full_like(uv[..., :1], 0.8)], dim=-1)
    swapped = torch.randperm(12, generator=torch.Generator().manual_seed(seed))[:7]
    keypoints[swapped] = keypoints[swapped][:, BODY25_MIRROR]
    truth = torch.from_numpy(joints)
    by_body, valid = triangulate_source_views(keypoints, K, w2c, inlier_px=4.0, threshold=0.1, sides="body-frame")
    assert valid.all()
    torch.testing.assert_close(by_body[:, :3], truth, atol=5e-3, rtol=0)
    by_vote, _ = triangulate_source_views(keypoints, K, w2c, inlier_px=4.0, threshold=0.1, sides="vote")
    torch.testing.assert_close(by_vote[:, :3], truth[torch.tensor(BODY25_MIRROR)], atol=5e-3, rtol=0)


def test_unknown_side_rule_is_named_in_the_error():
    K, w2c = _rig(2)
    keypoints = torch.zeros(2, 25, 3, dtype=torch.float64)
    with pytest.raises((ValueError, TypeError), match="source-view-sides|sides"):
        triangulate_source_views(keypoints, K, w2c, 4.0, 0.1, sides="majority")  # type: ignore[arg-type]


@pytest.mark.parametrize("sides", ["body-frame", "vote"])
def test_box_drops_a_joint_that_two_views_agree_on_off_the_body(sides):
    """Two of three views place the nose where a point 1 m beside the person projects (a wrong match the views agree
    on), the third misses it: the consensus keeps that point; the person's box drops it and leaves every other joint
    as it was."""
    joints = _person_in_ring(0)
    K, w2c = _rig(3)
    truth = torch.from_numpy(joints)
    joint = BODY25_JOINTS.index("Nose")
    wrong = truth.clone()
    wrong[joint] += torch.tensor([1.0, 0.0, 0.0], dtype=truth.dtype)
    uv = _project(wrong, K, w2c)
    keypoints = torch.cat([uv, torch.full_like(uv[..., :1], 0.8)], dim=-1)
    keypoints[2, joint, 2] = 0.0
    box = torch.stack([truth.min(dim=0).values - 0.1, truth.max(dim=0).values + 0.1])
    loose, loose_valid = triangulate_source_views(keypoints, K, w2c, 4.0, 0.1, sides)
    assert loose_valid[joint] and torch.linalg.norm(loose[joint, :3] - truth[joint]) > 0.9
    boxed, boxed_valid = triangulate_source_views(keypoints, K, w2c, 4.0, 0.1, sides, box=box)
    assert not boxed_valid[joint] and torch.all(boxed[joint] == 0)
    others = torch.arange(25) != joint
    assert torch.equal(boxed_valid[others], loose_valid[others])
    kept = others & boxed_valid
    torch.testing.assert_close(boxed[kept], loose[kept])


def test_bone_bounds_drop_a_hand_taken_for_a_foot():
    """Every view puts the left foot's three points on the right hand (a pose head firing on the wrong limb end):
    the views agree, so the consensus finds them there. With ``bone_bounds`` they are not found, being far from both
    ankles, and every other joint is named and placed as before."""
    joints = _person_in_ring(2)
    K, w2c = _rig(12)
    observed = joints.copy()
    foot = [BODY25_JOINTS.index(n) for n in ("LBigToe", "LSmallToe", "LHeel")]
    hand = observed[BODY25_JOINTS.index("RWrist")]
    observed[foot] = hand + np.array([[0.0, 0.0, 0.0], [0.03, 0.0, 0.0], [0.0, 0.03, 0.0]])
    uv = _project(torch.from_numpy(observed), K, w2c)
    keypoints = torch.cat([uv, torch.full_like(uv[..., :1], 0.8)], dim=-1)
    truth = torch.from_numpy(joints)
    loose, loose_valid = triangulate_source_views(keypoints, K, w2c, 4.0, 0.1)
    assert loose_valid[foot].all()
    assert (torch.linalg.norm(loose[foot, :3] - truth[foot], dim=-1) > 0.3).all()
    bounded, valid = triangulate_source_views(keypoints, K, w2c, 4.0, 0.1, bone_bounds=True)
    others = torch.ones(25, dtype=torch.bool)
    others[foot] = False
    assert torch.equal(valid, others)
    assert torch.all(bounded[foot] == 0)
    torch.testing.assert_close(bounded[others, :3], truth[others], atol=5e-3, rtol=0)
