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
    pair_candidates,
)
from ghnerf_ns.synth.skeleton import pose_at, rest_pose, sample_body_shape, sample_motion

SIGMA_M = 0.03
THRESHOLD = 0.02


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q  # a proper rotation: world frames of calibrated rigs are right-handed


def _gt_candidates(joints: np.ndarray):
    return {right: [joints[right], joints[left]] for right, left in MIRROR_PAIRS}


def test_mirror_pairs_are_the_eleven_right_left_pairs():
    assert len(MIRROR_PAIRS) == 11
    assert (joint_index("RWrist"), joint_index("LWrist")) in MIRROR_PAIRS
    assert all(BODY25_MIRROR[r] == left and r != left for r, left in MIRROR_PAIRS)


def test_left_axis_points_to_the_persons_left_on_synthetic_people():
    """The sign convention (left = up x forward) checked on the synthetic skeleton's truth, in its body frame (left
    is +x there) and under random proper rotations of the world."""
    rng = np.random.default_rng(0)
    valid = np.ones(25, bool)
    joints = rest_pose(sample_body_shape(rng)).joints
    np.testing.assert_allclose(body_left_axis(joints, valid, _gt_candidates(joints)), [1.0, 0.0, 0.0], atol=0.1)
    for _ in range(20):
        shape, motion = sample_body_shape(rng), sample_motion(rng)
        joints = pose_at(shape, motion, float(rng.uniform(0, 5))).joints
        joints = joints @ _random_rotation(rng).T + rng.normal(size=3)
        left = body_left_axis(joints, valid, _gt_candidates(joints))
        assert left is not None
        for name in ("Shoulder", "Hip", "Eye"):
            assert np.dot(joints[joint_index("L" + name)] - joints[joint_index("R" + name)], left) > 0


def test_left_axis_needs_neck_midhip_and_a_forward_cue():
    joints = rest_pose(sample_body_shape(np.random.default_rng(1))).joints
    valid = np.ones(25, bool)
    valid[joint_index("Neck")] = False
    assert body_left_axis(joints, valid, _gt_candidates(joints)) is None
    assert body_left_axis(joints, np.ones(25, bool), {}) is None  # no feet, no ears
    nose_only = {joint_index("REar"): _gt_candidates(joints)[joint_index("REar")]}
    assert body_left_axis(joints, np.ones(25, bool), nose_only) is not None


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
