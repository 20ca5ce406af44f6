"""One image through the teacher (ghnerf_ns/teacher/mediapipe_teacher.py) with a stand-in for mediapipe Pose: the
image is downsized for the model (--max-side) and keypoints and masks come back at the original resolution; masks
are thresholded and dilated; no person gives empty keypoints and no mask. (The real mediapipe runs in
test_teacher_cli.py when .venv-teacher exists.)"""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from dataparsers.body25 import joint_index
from ghnerf_ns.teacher.mediapipe_teacher import MediapipeTeacher, TeacherSetupError


class FakePose:
    """Answers like ``mp.solutions.pose.Pose.process``: normalised landmarks and a segmentation at the input size."""

    def __init__(self, found: bool = True):
        self.found = found
        self.seen_shapes = []

    def process(self, rgb: np.ndarray):
        self.seen_shapes.append(rgb.shape)
        if not self.found:
            return SimpleNamespace(pose_landmarks=None, segmentation_mask=None)
        h, w = rgb.shape[:2]
        landmarks = [SimpleNamespace(x=0.5, y=0.25, visibility=0.9) for _ in range(33)]
        landmarks[0] = SimpleNamespace(x=0.25, y=0.75, visibility=0.95)  # the nose
        segmentation = np.zeros((h, w), np.float32)
        segmentation[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 0.8  # the middle half is the person
        return SimpleNamespace(pose_landmarks=SimpleNamespace(landmark=landmarks), segmentation_mask=segmentation)

    def close(self):
        pass


def _teacher(pose: FakePose) -> MediapipeTeacher:
    teacher = MediapipeTeacher.__new__(MediapipeTeacher)  # skip __init__: no mediapipe in this venv
    teacher._pose, teacher.segmentation = pose, True
    return teacher


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "000000.jpg"
    cv2.imwrite(str(path), np.full((2000, 1200, 3), 90, np.uint8))
    return path


def test_downsized_for_the_model_and_mapped_back(image: Path):
    pose = FakePose()
    result = _teacher(pose).annotate(image, max_side=500)
    assert pose.seen_shapes == [(500, 300, 3)]  # long side 500, aspect kept
    assert result.detected and result.size == (1200, 2000)
    np.testing.assert_allclose(result.keypoints[joint_index("Nose")], [0.25 * 1200 - 0.5, 0.75 * 2000 - 0.5, 0.95])
    assert result.mask.shape == (2000, 1200) and set(np.unique(result.mask).tolist()) == {0, 255}
    assert result.mask[1000, 600] == 255 and result.mask[100, 100] == 0
    assert abs(int((result.mask > 0).sum()) - 600 * 1000) < 0.02 * 600 * 1000  # the middle half, at full size
    assert (result.keypoints[[joint_index("LSmallToe"), joint_index("RSmallToe")]] == 0).all()


def test_full_size_without_max_side_and_dilation(image: Path):
    pose = FakePose()
    plain = _teacher(pose).annotate(image, max_side=0)
    grown = _teacher(FakePose()).annotate(image, max_side=0, mask_dilate=10)
    assert pose.seen_shapes == [(2000, 1200, 3)]
    assert int((grown.mask > 0).sum()) > int((plain.mask > 0).sum())
    assert grown.mask[500 - 8, 600] == 255 and plain.mask[500 - 8, 600] == 0
    assert _teacher(FakePose()).annotate(image, mask_threshold=0.9).mask.max() == 0  # 0.8 < 0.9: background


def test_nobody_found(image: Path):
    result = _teacher(FakePose(found=False)).annotate(image)
    assert not result.detected and result.mask is None and (result.keypoints == 0).all()


def test_unreadable_image_and_missing_mediapipe(tmp_path: Path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="cannot be read as an image"):
        _teacher(FakePose()).annotate(bad)
    if importlib.util.find_spec("mediapipe") is None:  # the main venv: the teacher says how to install it
        with pytest.raises(TeacherSetupError, match="make teacher"):
            MediapipeTeacher()
