"""Bone bounds of the source-view 3D keypoints (ghnerf_ns/keypoints/bone_bounds.py)."""

import numpy as np
import pytest

from dataparsers.body25 import BODY25_MIRROR, joint_index
from ghnerf_ns.keypoints.bone_bounds import BONE_BOUNDS_M, BONE_MARGIN_M, LONGEST_BONE_M, within_bone_bounds
from ghnerf_ns.synth.skeleton import pose_at, sample_body_shape, sample_motion
from tests.keypoints.test_side_assignment import _placed


def test_bounds_add_the_margin_or_half_the_bone():
    """Hand values: a 0.24 m big toe gets 1.5 x 0.24 = 0.36 < 0.24 + 0.15 = 0.39; a 0.492 m thigh gets 0.738."""
    assert BONE_MARGIN_M == 0.15
    assert BONE_BOUNDS_M[("RBigToe", "RAnkle")] == pytest.approx(0.39)
    assert BONE_BOUNDS_M[("RKnee", "RHip")] == pytest.approx(0.738)
    assert set(BONE_BOUNDS_M) == set(LONGEST_BONE_M)
    # Every right joint but the midline ones has a parent, and every parent is checked before its children.
    order = [child for child, _ in LONGEST_BONE_M]
    for child, parent in LONGEST_BONE_M:
        if parent.startswith("R"):
            assert order.index(parent) < order.index(child)


def test_a_foot_point_far_from_both_ankles_is_dropped_labels_ignored():
    """Ankles at x = +-0.1. A big toe 0.6 m from both (a hand taken for a foot) is dropped; a big toe 0.2 m ahead of
    the *other* side's ankle is kept (the labels of a pair are not known yet)."""
    positions, valid = _placed({"RAnkle": (0.1, 0, 0.1), "LAnkle": (-0.1, 0, 0.1), "RBigToe": (0.0, 0.6, 0.6),
                                "LBigToe": (0.1, 0.2, 0.0), "Neck": (0, 0, 1.5), "MidHip": (0, 0, 1.0)})  # fmt: skip
    kept = within_bone_bounds(positions, valid)
    assert not kept[joint_index("RBigToe")]
    assert kept[joint_index("LBigToe")] and kept[joint_index("RAnkle")] and kept[joint_index("LAnkle")]


def test_a_parent_pair_missing_a_point_checks_nothing():
    """One ankle found, 0.7 m (a stride) from the other foot's heel: that heel's own ankle is the missing one, so the
    heel is kept; with no ankle at all it is kept too."""
    positions, valid = _placed({"RAnkle": (0.0, 0.35, 0.1), "RHeel": (0.0, 0.3, 0.05), "LHeel": (0.0, -0.4, 0.05)})
    np.testing.assert_array_equal(within_bone_bounds(positions, valid), valid)
    valid[joint_index("RAnkle")] = False
    np.testing.assert_array_equal(within_bone_bounds(positions, valid), valid)


def test_a_dropped_parent_no_longer_vouches_for_its_children():
    """A right knee 1 m from both hips is dropped. Its ankle, 0.4 m below it, then has one knee to check against and
    is kept unchecked; with both knees found and the ankle 1.0 m from the nearer, it is dropped."""
    positions, valid = _placed({"RHip": (0.1, 0, 1.0), "LHip": (-0.1, 0, 1.0), "MidHip": (0, 0, 1.0),
                                "RKnee": (1.1, 0, 1.0), "LKnee": (-0.1, 0, 0.55), "RAnkle": (1.1, 0, 0.6)})  # fmt: skip
    kept = within_bone_bounds(positions, valid)
    assert not kept[joint_index("RKnee")] and kept[joint_index("LKnee")]
    assert kept[joint_index("RAnkle")]
    positions[joint_index("RKnee")] = (0.1, 0, 0.55)
    kept = within_bone_bounds(positions, valid)
    assert kept[joint_index("RKnee")] and not kept[joint_index("RAnkle")]


@pytest.mark.parametrize("seed", range(6))
def test_synthetic_people_keep_every_joint(seed):
    """The procedural people the bounds were measured on, in any pose and with every pair's labels exchanged at
    random, keep all their joints."""
    rng = np.random.default_rng(seed)
    shape, motion = sample_body_shape(rng), sample_motion(rng)
    for t in rng.uniform(0, 5, size=4):
        joints = pose_at(shape, motion, float(t)).joints.copy()
        for right in range(25):
            if BODY25_MIRROR[right] > right and rng.uniform() < 0.5:
                joints[[right, BODY25_MIRROR[right]]] = joints[[BODY25_MIRROR[right], right]]
        assert within_bone_bounds(joints, np.ones(25, bool)).all()
