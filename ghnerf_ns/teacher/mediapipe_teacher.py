"""One image through mediapipe Pose: BODY_25 keypoints and a foreground mask.

mediapipe 0.10.21 is the last release whose wheel ships the models of its legacy ``mp.solutions.pose`` API (pose
detector, the "full" landmark model with its segmentation head); later releases download them at run time. Only
``model_complexity=1`` is inside the wheel (the lite and heavy models are downloaded), so that is the one used.
Images are processed independently (``static_image_mode``: no tracking, no smoothing across frames or cameras).

mediapipe Pose finds one person per image, the most prominent one: a capture with several people gets keypoints
and a mask of one of them (not necessarily the same one in every view; the consistency check then flags the views
that disagree).
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from jaxtyping import Float, UInt8

from dataparsers.body25 import NUM_JOINTS
from dataparsers.human_common import DatasetFormatError
from ghnerf_ns.teacher.body25_from_mediapipe import DEFAULT_MIN_CONFIDENCE, NUM_LANDMARKS, body25_from_landmarks

MEDIAPIPE_VERSION = "0.10.21"
"""The release the teacher is written and checked against (``make teacher`` installs it)."""
DEFAULT_MAX_SIDE = 1280
"""Images whose long side exceeds this are downsized before mediapipe (which resizes to 224/256 px inside anyway);
keypoints and masks are returned at the original resolution."""


class TeacherSetupError(RuntimeError):
    """mediapipe is missing or unusable in this interpreter; the message says how to install the teacher."""


INSTALL_HINT = (
    "the teacher needs mediapipe==0.10.21 in its own venv: run `make teacher` in the ghnerf_ns repository (creates "
    ".venv-teacher), or point GHNERF_TEACHER_PYTHON to a Python that has mediapipe 0.10.21, numpy<2 and jaxtyping"
)


@dataclass
class ImageAnnotation:
    """The teacher's output for one image, at the image's own resolution."""

    keypoints: Float[np.ndarray, "25 3"]
    """BODY_25 ``(u, v, confidence)`` in pixels; all zeros when no person was found."""
    mask: Optional[UInt8[np.ndarray, "H W"]]
    """Foreground 0 / 255, or None when masks were not asked for or no person was found."""
    size: Tuple[int, int]
    """(width, height) of the image."""
    detected: bool
    """mediapipe found a person."""


class MediapipeTeacher:
    """mediapipe Pose on static images, with its segmentation mask."""

    def __init__(self, min_detection_confidence: float = 0.5, segmentation: bool = True):
        os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ start-up chatter
        try:
            import mediapipe as mp
        except ImportError as err:
            raise TeacherSetupError(f"cannot import mediapipe ({err}); {INSTALL_HINT}") from None
        if getattr(mp, "__version__", MEDIAPIPE_VERSION) != MEDIAPIPE_VERSION:
            print(
                f"Warning: mediapipe {mp.__version__} is installed; the teacher is checked with {MEDIAPIPE_VERSION}, "
                "and newer releases no longer ship the pose models in the wheel"
            )
        try:
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=True,
                model_complexity=1,
                enable_segmentation=segmentation,
                min_detection_confidence=min_detection_confidence,
            )
        except Exception as err:  # a release without the bundled models tries to download them
            raise TeacherSetupError(f"mediapipe Pose did not start ({str(err)[:300]}); {INSTALL_HINT}") from None
        self.segmentation = segmentation

    def process(
        self, rgb: UInt8[np.ndarray, "H W 3"]
    ) -> Tuple[Optional[Float[np.ndarray, "33 3"]], Optional[Float[np.ndarray, "H W"]]]:
        """mediapipe's 33 landmarks ``(x, y, visibility)`` (normalised coordinates) and the segmentation probability at
        the input's resolution; ``(None, None)`` when nobody is found."""
        results = self._pose.process(np.ascontiguousarray(rgb))
        if results.pose_landmarks is None:
            return None, None
        landmarks = np.array(
            [(lm.x, lm.y, lm.visibility) for lm in results.pose_landmarks.landmark], dtype=np.float64
        ).reshape(NUM_LANDMARKS, 3)
        segmentation = None
        if self.segmentation and results.segmentation_mask is not None:
            segmentation = np.asarray(results.segmentation_mask, dtype=np.float32)
        return landmarks, segmentation

    def close(self) -> None:
        self._pose.close()

    def annotate(
        self,
        path: Path,
        max_side: int = DEFAULT_MAX_SIDE,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        mask_threshold: float = 0.5,
        mask_dilate: int = 0,
    ) -> ImageAnnotation:
        """Keypoints and mask of the image file ``path`` (see :class:`ImageAnnotation`).

        Args:
            max_side: downsize larger images to this long side for mediapipe (0: never).
            min_confidence: landmark visibility below which a joint is missing.
            mask_threshold: segmentation probability above which a pixel is foreground.
            mask_dilate: grow the mask by this many pixels (a safety margin for hair and loose clothes).
        """
        import cv2

        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DatasetFormatError(f"{path}: cannot be read as an image; re-extract or remove it")
        height, width = bgr.shape[:2]
        scale = min(1.0, max_side / max(width, height)) if max_side > 0 else 1.0
        if scale < 1.0:
            small = (max(1, round(width * scale)), max(1, round(height * scale)))
            bgr = cv2.resize(bgr, small, interpolation=cv2.INTER_AREA)
        landmarks, segmentation = self.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        if landmarks is None:
            return ImageAnnotation(np.zeros((NUM_JOINTS, 3), np.float32), None, (width, height), False)
        # Normalised coordinates do not depend on the size mediapipe saw: map them onto the original image.
        keypoints = body25_from_landmarks(landmarks, width, height, min_confidence)
        mask = None
        if segmentation is not None:
            if segmentation.shape != (height, width):
                segmentation = cv2.resize(segmentation, (width, height), interpolation=cv2.INTER_LINEAR)
            mask = np.where(segmentation > mask_threshold, 255, 0).astype(np.uint8)
            if mask_dilate > 0:
                kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * mask_dilate + 1, 2 * mask_dilate + 1))
                mask = cv2.dilate(mask, kernel)
        return ImageAnnotation(keypoints, mask, (width, height), True)
