"""Body-frame left/right assignment of volumetric 3D keypoints (ghnerf_ns/keypoints/side_assignment.py)."""

import numpy as np
import pytest
import torch

from dataparsers.body25 import BODY25_MIRROR, joint_index
from ghnerf_ns.keypoints.extractor import KeypointExtractorConfig
from ghnerf_ns.keypoints.peaks3d import extract_keypoints_3d_from_volume, volumetric_heatmap_grid
from ghnerf_ns.keypoints.side_assignment import (
    MIRROR_PAIRS,
    assign_sides_in_volume,
    body_left_axis,
    name_sides,
    pair_candidates,
)
from ghnerf_ns.synth.skeleton import pose_at, rest_pose, sample_body_shape, sample_motion

SIGMA_M = 0.03
THRESHOLD = 0.02


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q  # a proper rotation: world frames of calibrated rigs are right-handed


def _shuffled(joints: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The joints with the labels of each mirror pair exchanged at random (side-blind points)."""
    out = joints.copy()
    for right, left in MIRROR_PAIRS:
        if rng.uniform() < 0.5:
            out[[right, left]] = out[[left, right]]
    return out


def _posed(seed: int, t: float = 0.7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    joints = pose_at(sample_body_shape(rng), sample_motion(rng), t).joints
    return joints @ _random_rotation(rng).T + rng.normal(size=3)


def test_mirror_pairs_are_the_eleven_right_left_pairs():
    assert len(MIRROR_PAIRS) == 11
    assert (joint_index("RWrist"), joint_index("LWrist")) in MIRROR_PAIRS
    assert all(BODY25_MIRROR[r] == left and r != left for r, left in MIRROR_PAIRS)


def test_left_axis_points_to_the_persons_left_on_synthetic_people():
    """The sign convention (left = up x forward) checked on the synthetic skeleton's truth, in its body frame (left
    is +x there) and under random proper rotations of the world, with every pair's labels shuffled."""
    rng = np.random.default_rng(0)
    valid = np.ones(25, bool)
    joints = rest_pose(sample_body_shape(rng)).joints
    np.testing.assert_allclose(body_left_axis(_shuffled(joints, rng), valid), [1.0, 0.0, 0.0], atol=0.1)
    for _ in range(20):
        shape, motion = sample_body_shape(rng), sample_motion(rng)
        joints = pose_at(shape, motion, float(rng.uniform(0, 5))).joints
        joints = joints @ _random_rotation(rng).T + rng.normal(size=3)
        left = body_left_axis(_shuffled(joints, rng), valid)
        assert left is not None
        for name in ("Shoulder", "Hip", "Eye"):
            assert np.dot(joints[joint_index("L" + name)] - joints[joint_index("R" + name)], left) > 0


def test_left_axis_needs_neck_midhip_and_a_forward_cue():
    joints = rest_pose(sample_body_shape(np.random.default_rng(1))).joints
    valid = np.ones(25, bool)
    valid[joint_index("Neck")] = False
    assert body_left_axis(joints, valid) is None
    no_cue = np.ones(25, bool)
    # No face, and each foot cue needs both of its back points (heels, ankles).
    no_cue[[joint_index("Nose"), joint_index("LHeel"), joint_index("LAnkle")]] = False
    assert body_left_axis(joints, no_cue) is None
    nose_only = np.zeros(25, bool)
    nose_only[[joint_index("Neck"), joint_index("MidHip"), joint_index("Nose")]] = True
    np.testing.assert_allclose(body_left_axis(joints, nose_only), [1.0, 0.0, 0.0], atol=0.1)


def _placed(points: dict) -> tuple:
    positions, valid = np.zeros((25, 3)), np.zeros(25, bool)
    for name, point in points.items():
        positions[joint_index(name)] = point
        valid[joint_index(name)] = True
    return positions, valid


def test_left_axis_hand_computed():
    """Up +z, nose 0.1 m ahead of the neck along +y: up x forward = z x y = -x, which only signs the shoulder line
    (along x, slanted 45 degrees in the horizontal plane here): left = unit(-1, 1, 0). With feet (toes 0.2 m ahead of
    the heels and 0.1 m ahead of the ankles, along +y) their lateral direction -x is averaged in:
    left = unit(unit(-1, 1, 0) + 2 * (-1, 0, 0))."""
    positions, valid = _placed({"Neck": (0, 0, 1.5), "MidHip": (0, 0, 1.0), "Nose": (0, 0.1, 1.7),
                                "RShoulder": (0.2, -0.2, 1.5), "LShoulder": (-0.2, 0.2, 1.5)})  # fmt: skip
    line = np.array([-1.0, 1.0, 0.0]) / np.sqrt(2.0)
    np.testing.assert_allclose(body_left_axis(positions, valid), line, atol=1e-12)
    # The labels of the shoulders do not matter, only their line.
    positions[[joint_index("RShoulder"), joint_index("LShoulder")]] = positions[
        [joint_index("LShoulder"), joint_index("RShoulder")]
    ]
    np.testing.assert_allclose(body_left_axis(positions, valid), line, atol=1e-12)
    feet, feet_valid = _placed({"RBigToe": (0.1, 0.2, 0), "LBigToe": (-0.1, 0.2, 0), "RSmallToe": (0.15, 0.18, 0),
                                "LSmallToe": (-0.15, 0.18, 0), "RHeel": (0.1, -0.02, 0), "LHeel": (-0.1, 0.02, 0),
                                "RAnkle": (0.1, 0.09, 0.1), "LAnkle": (-0.1, 0.09, 0.1)})  # fmt: skip
    positions, valid = positions + feet, valid | feet_valid
    expected = line + 2.0 * np.array([-1.0, 0.0, 0.0])
    np.testing.assert_allclose(body_left_axis(positions, valid), expected / np.linalg.norm(expected), atol=1e-12)


def test_a_face_turned_does_not_name_a_step_by_its_stride():
    """Mid-stride, the feet 0.7 m apart along forward and 0.2 m sideways, with the nose found 80 degrees off: the
    face only signs the axis; the shoulder line and the feet give its direction, so the legs keep their sides. (Had
    the face a vote, the axis would turn about 20 degrees and order the feet by their step: 0.7 sin 20 > 0.2 cos 20.)
    """
    up, forward, left = np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0]), np.array([-1.0, 0.0, 0.0])
    joints = {"Neck": 1.5 * up, "MidHip": 1.0 * up, "RShoulder": 1.5 * up - 0.18 * left,
              "LShoulder": 1.5 * up + 0.18 * left, "RHip": 1.0 * up - 0.1 * left,
              "LHip": 1.0 * up + 0.1 * left}  # fmt: skip
    turned = np.cos(np.radians(80.0)) * forward + np.sin(np.radians(80.0)) * left
    joints["Nose"] = 1.65 * up + 0.1 * turned
    for side, sign, step in (("R", -1.0, -0.35), ("L", 1.0, 0.35)):
        joints[side + "Knee"] = 0.55 * up + sign * 0.1 * left + 0.5 * step * forward
        joints[side + "Ankle"] = 0.1 * up + sign * 0.1 * left + step * forward
        joints[side + "Heel"] = joints[side + "Ankle"] - 0.1 * up - 0.05 * forward
        joints[side + "BigToe"] = joints[side + "Ankle"] - 0.1 * up + 0.15 * forward + sign * 0.02 * left
        joints[side + "SmallToe"] = joints[side + "Ankle"] - 0.1 * up + 0.12 * forward + sign * 0.06 * left
    truth, valid = _placed(joints)
    named, _, _ = name_sides(_shuffled(truth, np.random.default_rng(5)), valid)
    for name in ("RKnee", "RAnkle", "RBigToe", "RHeel", "LKnee", "LAnkle"):
        np.testing.assert_allclose(named[joint_index(name)], truth[joint_index(name)], atol=1e-12)


def test_shuffled_pairs_are_named_and_extra_columns_move_with_their_points():
    for seed in range(10):
        joints = _posed(seed)
        rng = np.random.default_rng(100 + seed)
        score = np.arange(25, dtype=np.float64)  # each point's own value
        rows = np.concatenate([joints, score[:, None]], axis=-1)
        shuffled = _shuffled(rows, rng)
        named, valid, count = name_sides(shuffled, np.ones(25, bool))
        assert count == 11 and valid.all()
        np.testing.assert_allclose(named, rows, atol=1e-12)


def test_a_face_found_far_off_still_gives_the_sides():
    """The nose moved 60 degrees around the neck (a badly found face): the shoulder line keeps the sides."""
    joints = _posed(3)
    neck, midhip, nose = joint_index("Neck"), joint_index("MidHip"), joint_index("Nose")
    up = (joints[neck] - joints[midhip]) / np.linalg.norm(joints[neck] - joints[midhip])
    offset = joints[nose] - joints[neck]
    angle = np.radians(60.0)
    rotated = (offset * np.cos(angle) + np.cross(up, offset) * np.sin(angle)
               + up * np.dot(up, offset) * (1 - np.cos(angle)))  # fmt: skip
    bad = joints.copy()
    bad[nose] = joints[neck] + rotated
    valid = np.ones(25, bool)
    valid[[joint_index("REar"), joint_index("LHeel")]] = False  # only the nose gives the forward direction
    named, _, _ = name_sides(_shuffled(bad, np.random.default_rng(0)), valid)
    for right, left in MIRROR_PAIRS:
        for j in (right, left):
            if valid[j]:
                np.testing.assert_allclose(named[j], bad[j], atol=1e-12)


def test_lone_points_turned_feet_and_no_frame():
    """A hidden left elbow: the right one, seen in the left slot, goes back to the right. A right foot turned inwards
    (its toes past the left ones along the left axis) is named by its ankle. Without a neck nothing is renamed."""
    joints = rest_pose(sample_body_shape(np.random.default_rng(2))).joints  # left is +x, up +y, forward +z
    r_el, l_el = joint_index("RElbow"), joint_index("LElbow")
    observed = joints.copy()
    observed[[r_el, l_el]] = observed[[l_el, r_el]]
    valid = np.ones(25, bool)
    valid[r_el] = False  # the slot that now holds the left elbow: hidden
    named, named_valid, count = name_sides(observed, valid)
    assert count == 11 and named_valid[r_el] and not named_valid[l_el]
    np.testing.assert_allclose(named[r_el], joints[r_el])

    turned = joints.copy()
    r_ankle = joint_index("RAnkle")
    r_toe, l_toe = joint_index("RBigToe"), joint_index("LBigToe")
    turned[[r_ankle, joint_index("RSmallToe"), joint_index("RHeel")]] += np.array([0.0, 0.0, 0.3])  # a step forward
    turned[r_toe] = turned[r_ankle] + np.array([0.19, -0.05, 0.1])  # its toe turned 19 cm towards the left
    assert turned[r_toe][0] > turned[l_toe][0]
    observed = turned.copy()
    observed[[r_toe, l_toe]] = observed[[l_toe, r_toe]]
    named, _, _ = name_sides(observed, np.ones(25, bool))
    np.testing.assert_allclose(named[[r_toe, l_toe]], turned[[r_toe, l_toe]])

    no_neck = np.ones(25, bool)
    no_neck[joint_index("Neck")] = False
    same, _, count = name_sides(observed, no_neck)
    assert count == 0 and np.array_equal(same, observed)


def test_pair_candidates_hand_computed():
    volume = np.zeros((9, 1, 1))
    volume[[1, 2, 3, 6], 0, 0] = [0.5, 0.9, 0.4, 0.7]  # local maxima at x=2 (0.9) and x=6 (0.7)
    spacing = np.array([0.1, 1.0, 1.0])
    assert pair_candidates(volume, spacing, 0.1, 0.05) == [(2, 0, 0), (6, 0, 0)]
    assert pair_candidates(volume, spacing, 0.1, 0.5) == [(2, 0, 0)]  # 0.4 m apart: one joint
    assert pair_candidates(volume, spacing, 0.8, 0.05) == [(2, 0, 0)]  # 0.7 is background
    assert pair_candidates(volume, spacing, 0.95, 0.05) == []


def _volume(joints: np.ndarray, channel_positions: np.ndarray, box: torch.Tensor, res: int = 56) -> np.ndarray:
    """A volumetric heatmap with channel j a Gaussian (sigma 4 cm) at ``channel_positions[j]`` (a list of centres)."""
    grid = volumetric_heatmap_grid(box, res).numpy()
    out = np.zeros((*grid.shape[:3], 25))
    for j, centres in enumerate(channel_positions):
        for c in centres:
            out[..., j] = np.maximum(out[..., j], np.exp(-((grid - c) ** 2).sum(-1) / (2 * 0.04**2)))
    return out


def test_swapped_and_collapsed_pairs_are_put_back_on_their_sides():
    joints = pose_at(sample_body_shape(np.random.default_rng(3)), sample_motion(np.random.default_rng(4)), 0.7).joints
    joints = joints @ _random_rotation(np.random.default_rng(5)).T
    box = torch.tensor(np.stack([joints.min(0) - 0.2, joints.max(0) + 0.2]))
    channels = [[p] for p in joints]
    r_wrist, l_wrist = joint_index("RWrist"), joint_index("LWrist")
    r_knee, l_knee = joint_index("RKnee"), joint_index("LKnee")
    r_ankle, l_ankle = joint_index("RAnkle"), joint_index("LAnkle")
    channels[r_wrist], channels[l_wrist] = [joints[l_wrist]], [joints[r_wrist]]  # swapped
    channels[r_ankle], channels[l_ankle] = [joints[l_ankle]], [joints[r_ankle]]  # swapped
    channels[r_knee], channels[l_knee] = [joints[r_knee], joints[l_knee]], [joints[r_knee]]  # left one collapsed
    volume = _volume(joints, channels, box)
    field, field_valid = extract_keypoints_3d_from_volume(volume, box.float(), SIGMA_M, THRESHOLD)
    field_err = np.linalg.norm(field[:, :3].numpy() - joints, axis=-1)
    assert field_err[[r_wrist, l_wrist, r_ankle, l_ankle, l_knee]].min() > 0.15  # the field's own peaks are wrong

    box_np = box.numpy()
    assigned, valid = assign_sides_in_volume(
        volume, box_np, field.double().numpy(), field_valid.numpy(), SIGMA_M, THRESHOLD
    )
    voxel = float(np.linalg.norm((box_np[1] - box_np[0]) / 55))
    assert valid.all()
    np.testing.assert_array_less(np.linalg.norm(assigned[:, :3] - joints, axis=-1), voxel)
    assert (assigned[:, 3] > 0.8).all()  # a Gaussian of height 1 read at the nearest grid point


def test_extractor_option_and_fallback_without_body_frame():
    joints = rest_pose(sample_body_shape(np.random.default_rng(6))).joints
    box = torch.tensor(np.stack([joints.min(0) - 0.2, joints.max(0) + 0.2]), dtype=torch.float32)
    channels = [[p] for p in joints]
    r_wrist, l_wrist = joint_index("RWrist"), joint_index("LWrist")
    channels[r_wrist], channels[l_wrist] = [joints[l_wrist]], [joints[r_wrist]]
    grid_joints = torch.tensor(joints, dtype=torch.float32)

    def query(points):
        heat = torch.stack(
            [
                torch.stack(
                    [torch.exp(-((points - torch.tensor(c, dtype=torch.float32)) ** 2).sum(-1) / 0.0032) for c in cs]
                ).amax(0)
                for cs in channels
            ],
            dim=-1,
        )
        return torch.full((points.shape[0],), 50.0), heat

    def error(side: str, **kw):
        config = KeypointExtractorConfig(volume_resolution=48, side_assignment=side, density_weighting=False, **kw)
        kp, valid = config.setup().extract_3d(query, box)
        assert valid.all()
        return (kp[:, :3] - grid_joints).norm(dim=-1)

    assert error("field")[[r_wrist, l_wrist]].min() > 0.3
    assert error("body-frame").max() < 0.06
    # Everything at a single point: no pair has two candidates, the field's peaks stay.
    channels = [[joints[0]]] * 25
    torch.testing.assert_close(error("body-frame"), error("field"))
    with pytest.raises((ValueError, TypeError), match="side_assignment"):  # TypeError: the test-time type checker
        error("nonsense")  # type: ignore[arg-type]
