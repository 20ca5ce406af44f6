"""mediapipe's 33 landmarks as BODY_25 (ghnerf_ns/teacher/body25_from_mediapipe.py): the table, the person's left and
right, midpoints, the two small toes that mediapipe lacks, thresholds, joints outside the image, pixel convention."""

from pathlib import Path

import numpy as np
import pytest

from dataparsers.body25 import BODY25_JOINTS, BODY25_MIRROR, joint_index
from dataparsers.openpose_json import read_openpose_json, write_openpose_json
from ghnerf_ns.teacher.body25_from_mediapipe import (
    BODY25_FROM_MEDIAPIPE,
    MEDIAPIPE_LANDMARKS,
    MISSING_JOINTS,
    NUM_LANDMARKS,
    body25_from_landmarks,
)

WIDTH, HEIGHT = 640, 480

EXPECTED_SINGLE = {
    "Nose": 0,
    "RShoulder": 12,
    "RElbow": 14,
    "RWrist": 16,
    "LShoulder": 11,
    "LElbow": 13,
    "LWrist": 15,
    "RHip": 24,
    "RKnee": 26,
    "RAnkle": 28,
    "LHip": 23,
    "LKnee": 25,
    "LAnkle": 27,
    "REye": 5,
    "LEye": 2,
    "REar": 8,
    "LEar": 7,
    "LBigToe": 31,
    "LHeel": 29,
    "RBigToe": 32,
    "RHeel": 30,
}
"""BODY_25 joint -> mediapipe landmark index (mp.solutions.pose.PoseLandmark), written out by hand."""


def _landmarks(visibility: float = 0.9) -> np.ndarray:
    """Every landmark at its own position inside the image (x = (i + 1) / 40, y = (i + 1) / 36)."""
    i = np.arange(NUM_LANDMARKS, dtype=np.float64)
    return np.stack([(i + 1) / 40, (i + 1) / 36, np.full(NUM_LANDMARKS, visibility)], axis=1)


def _pixel(landmarks: np.ndarray, index: int) -> np.ndarray:
    return np.array([landmarks[index, 0] * WIDTH - 0.5, landmarks[index, 1] * HEIGHT - 0.5])


def test_landmark_names_follow_mediapipe_order():
    assert len(MEDIAPIPE_LANDMARKS) == NUM_LANDMARKS
    named = {
        "nose": 0,
        "left_eye": 2,
        "right_eye": 5,
        "left_ear": 7,
        "right_ear": 8,
        "left_shoulder": 11,
        "right_shoulder": 12,
        "left_hip": 23,
        "right_hip": 24,
        "left_heel": 29,
        "right_foot_index": 32,
    }
    assert all(MEDIAPIPE_LANDMARKS[i] == name for name, i in named.items())


def test_each_joint_is_its_landmark_in_pixels():
    lm = _landmarks()
    out = body25_from_landmarks(lm, WIDTH, HEIGHT)
    assert out.shape == (25, 3) and out.dtype == np.float32
    for name, index in EXPECTED_SINGLE.items():
        j = joint_index(name)
        assert BODY25_FROM_MEDIAPIPE[j] == (index,), name
        np.testing.assert_allclose(out[j, :2], _pixel(lm, index), atol=1e-3, err_msg=name)
        assert out[j, 2] == pytest.approx(0.9)


def test_left_and_right_are_the_persons_on_both_sides():
    """mediapipe's left_* landmarks become BODY_25's L* joints (both name the person's left): no swap."""
    for j, name in enumerate(BODY25_JOINTS):
        sources = BODY25_FROM_MEDIAPIPE[j]
        if sources is None or name[0] not in "RL" or len(sources) != 1:
            continue
        landmark = MEDIAPIPE_LANDMARKS[sources[0]]
        assert landmark.startswith("left_" if name[0] == "L" else "right_"), (name, landmark)
        mirrored = BODY25_FROM_MEDIAPIPE[BODY25_MIRROR[j]]
        other = "right_" if name[0] == "L" else "left_"
        assert MEDIAPIPE_LANDMARKS[mirrored[0]] == other + landmark.split("_", 1)[1]


def test_neck_and_midhip_are_midpoints_with_the_smaller_confidence():
    lm = _landmarks()
    lm[11, 2], lm[12, 2] = 0.95, 0.6  # shoulders
    lm[23, 2], lm[24, 2] = 0.7, 0.99  # hips
    out = body25_from_landmarks(lm, WIDTH, HEIGHT)
    neck, midhip = joint_index("Neck"), joint_index("MidHip")
    np.testing.assert_allclose(out[neck, :2], (_pixel(lm, 11) + _pixel(lm, 12)) / 2, atol=1e-3)
    np.testing.assert_allclose(out[midhip, :2], (_pixel(lm, 23) + _pixel(lm, 24)) / 2, atol=1e-3)
    assert out[neck, 2] == pytest.approx(0.6) and out[midhip, 2] == pytest.approx(0.7)
    lm[12, 2] = 0.2  # one shoulder below the threshold: no neck, no right shoulder, the left one stays
    out = body25_from_landmarks(lm, WIDTH, HEIGHT, min_confidence=0.5)
    assert (out[neck] == 0).all() and (out[joint_index("RShoulder")] == 0).all()
    assert out[joint_index("LShoulder"), 2] == pytest.approx(0.95)


def test_small_toes_are_always_missing():
    out = body25_from_landmarks(_landmarks(1.0), WIDTH, HEIGHT, min_confidence=0.0)
    assert MISSING_JOINTS == ("LSmallToe", "RSmallToe")
    for name in MISSING_JOINTS:
        assert BODY25_FROM_MEDIAPIPE[joint_index(name)] is None
        assert (out[joint_index(name)] == 0).all()
    assert int((out[:, 2] > 0).sum()) == 23


def test_low_confidence_and_outside_image_joints_are_zeros():
    lm = _landmarks()
    lm[14, 2] = 0.3  # right elbow: low visibility
    lm[15, 0] = 1.2  # left wrist: right of the image
    lm[27, 1] = -0.05  # left ankle: above the image
    lm[0, 0] = 1.0  # nose on the right edge (x = 1 is the edge, u = width - 0.5): inside
    out = body25_from_landmarks(lm, WIDTH, HEIGHT, min_confidence=0.5)
    for name in ("RElbow", "LWrist", "LAnkle"):
        assert (out[joint_index(name)] == 0).all(), name
    assert out[joint_index("Nose"), 0] == pytest.approx(WIDTH - 0.5)
    assert body25_from_landmarks(lm, WIDTH, HEIGHT, min_confidence=0.2)[joint_index("RElbow"), 2] == pytest.approx(0.3)


def test_pixel_convention_does_not_depend_on_the_processed_size():
    """Normalised coordinates (0 = left edge, 1 = right edge) land on OpenCV pixel centres: the image centre is
    (w - 1) / 2, whatever resolution mediapipe was given."""
    lm = _landmarks()
    lm[0, :2] = 0.5
    for w, h in ((640, 480), (1920, 1080), (7, 5)):
        out = body25_from_landmarks(lm, w, h)
        np.testing.assert_allclose(out[0, :2], [(w - 1) / 2, (h - 1) / 2], atol=1e-4)


def test_written_as_openpose_json_with_missing_joints_as_zeros(tmp_path: Path):
    lm = _landmarks()
    lm[16, 2] = 0.1
    out = body25_from_landmarks(lm, WIDTH, HEIGHT)
    path = tmp_path / "openpose" / "cam" / "000000_keypoints.json"
    write_openpose_json(path, out)
    back = read_openpose_json(path)
    np.testing.assert_array_equal(back, out)
    assert (back[joint_index("RWrist")] == 0).all() and (back[joint_index("LSmallToe")] == 0).all()


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"\(33, 3\)"):
        body25_from_landmarks(np.zeros((25, 3)), WIDTH, HEIGHT)
    with pytest.raises(ValueError, match="image size"):
        body25_from_landmarks(_landmarks(), 0, HEIGHT)
    lm = _landmarks()
    lm[13] = np.nan  # a non-finite landmark is missing, not propagated
    out = body25_from_landmarks(lm, WIDTH, HEIGHT)
    assert np.isfinite(out).all() and (out[joint_index("LElbow")] == 0).all()
