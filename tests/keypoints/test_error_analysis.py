"""Per-joint 3D error statistics: hand-computed cases for swaps, side-blind errors and the body frame."""

import numpy as np
import pytest

from dataparsers.body25 import joint_index
from ghnerf_ns.keypoints.error_analysis import (
    BODY25_MIRROR,
    FrameKeypoints3D,
    body_frame,
    format_joint_table,
    joint_error_table,
)


def _person() -> np.ndarray:
    """Ground truth with validity: a person facing +y, +z up, right hand towards +x (all joints distinct)."""
    gt = np.zeros((25, 4))
    gt[:, 3] = 1.0
    gt[:, 0] = np.arange(25) * 0.01  # distinct positions for every joint
    gt[joint_index("MidHip"), :3] = (0.0, 0.0, 1.0)
    gt[joint_index("Neck"), :3] = (0.0, 0.0, 1.5)
    gt[joint_index("Nose"), :3] = (0.0, 0.1, 1.65)
    gt[joint_index("RWrist"), :3] = (0.5, 0.0, 1.0)
    gt[joint_index("LWrist"), :3] = (-0.5, 0.0, 1.0)
    return gt


def test_mirror_pairs_are_an_involution_with_midline_fixed() -> None:
    mirror = np.asarray(BODY25_MIRROR)
    assert (mirror[mirror] == np.arange(25)).all()
    assert mirror[joint_index("RWrist")] == joint_index("LWrist")
    assert mirror[joint_index("LBigToe")] == joint_index("RBigToe")
    assert [j for j in range(25) if mirror[j] == j] == [joint_index(n) for n in ("Nose", "Neck", "MidHip")]


def test_body_frame_of_a_person_facing_plus_y() -> None:
    np.testing.assert_allclose(body_frame(_person()[:, :3]), np.eye(3), atol=1e-12)


def test_swapped_wrist_hand_case() -> None:
    gt = _person()
    pred = gt[:, :3].copy()
    rw, lw = joint_index("RWrist"), joint_index("LWrist")
    pred[rw] = (-0.5, 0.0, 1.02)  # on the left wrist, 20 mm above it: 1000.2 mm from its own truth
    pred[joint_index("Nose")] += (0.0, -0.08, 0.0)  # 80 mm too far back (into the head)
    valid = np.ones(25, bool)
    valid[joint_index("Neck")] = False  # not found: not scored, but the body frame still comes from the truth
    table = joint_error_table([FrameKeypoints3D(pred, valid, gt)])
    assert table.count[joint_index("Neck")] == 0 and np.isnan(table.mean_mm[joint_index("Neck")])
    np.testing.assert_allclose(table.mean_mm[rw], np.hypot(1000.0, 20.0))
    np.testing.assert_allclose(table.side_blind_mm[rw], 20.0)
    assert table.swap_rate[rw] == 1.0 and table.swap_rate[lw] == 0.0
    assert np.isnan(table.swap_rate[joint_index("Nose")])
    np.testing.assert_allclose(table.offset_body_mm[joint_index("Nose")], (0.0, -80.0, 0.0), atol=1e-9)
    np.testing.assert_allclose(table.offset_body_mm[rw], (-1000.0, 0.0, 20.0), atol=1e-9)
    scored = 24
    np.testing.assert_allclose(table.mpjpe_mm, (np.hypot(1000.0, 20.0) + 80.0) / scored)
    np.testing.assert_allclose(table.side_blind_mpjpe_mm, (20.0 + 80.0) / scored)
    text = format_joint_table([table, table], ["vol", "tri"])
    assert "| RWrist | 1000 | 100% | 20 | 1000 | 100% | 20 | -1000, 0, 20 |" in text
    assert text.splitlines()[-1].startswith("| **MPJPE** | **45** | **5%** | **4** |")  # 1 of 22 left/right joints


def test_rates_pool_over_frames_and_bad_shapes_are_named() -> None:
    gt = _person()
    swapped = gt[:, :3].copy()
    swapped[joint_index("RWrist")] = gt[joint_index("LWrist"), :3]
    frames = [
        FrameKeypoints3D(gt[:, :3].copy(), np.ones(25, bool), gt),
        FrameKeypoints3D(swapped, np.ones(25, bool), gt),
    ]
    table = joint_error_table(frames)
    assert table.swap_rate[joint_index("RWrist")] == 0.5
    np.testing.assert_allclose(table.overall_swap_rate, 1 / 44)
    np.testing.assert_allclose(table.median_mm[joint_index("RWrist")], 500.0)
    with pytest.raises(ValueError, match=r"pred \[25, 3\]"):
        joint_error_table([FrameKeypoints3D(np.zeros((24, 3)), np.ones(24, bool), gt[:24])])
    with pytest.raises(ValueError, match="at least one frame"):
        joint_error_table([])
