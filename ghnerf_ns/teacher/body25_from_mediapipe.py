"""mediapipe Pose's 33 landmarks as OpenPose BODY_25 keypoints (pure numpy).

mediapipe's "left" is the person's left, as in BODY_25 (``LEFT_SHOULDER`` -> ``LShoulder``), so no side is swapped.
Each BODY_25 joint is one landmark or the midpoint of two:

=============  ================================  ==============================================================
BODY_25        mediapipe landmark(s)             note
=============  ================================  ==============================================================
Nose           0 nose
Neck           11, 12 (shoulders)                midpoint; confidence the smaller of the two. OpenPose's neck
                                                 sits a little above the shoulder line: expect a few pixels
RShoulder ..   12, 14, 16 / 11, 13, 15           right / left shoulder, elbow, wrist
MidHip         23, 24 (hips)                     midpoint; confidence the smaller of the two
RHip ..        24, 26, 28 / 23, 25, 27           right / left hip, knee, ankle
REye, LEye     5, 2                              the eye centres (not the inner/outer corners)
REar, LEar     8, 7
LBigToe        31 left foot index                mediapipe's foot tip, the closest landmark to the big toe
LSmallToe      (none)                            confidence 0: mediapipe has no small-toe landmark
LHeel          29
RBigToe        32 right foot index
RSmallToe      (none)                            confidence 0
RHeel          30
=============  ================================  ==============================================================

Confidence is the landmark's ``visibility``: the legacy ``mp.solutions.pose`` API clears ``presence`` on every
landmark it returns, so visibility is the only per-landmark score there is. mediapipe's coordinates are normalised
to the image (0 = left/top edge, 1 = right/bottom edge); OpenCV pixels, as the calibrations use them, put the centre
of the first pixel at 0, so ``u = x * width - 0.5``. A joint below the confidence threshold or outside the image is
written as ``0, 0, 0``, as OpenPose writes an undetected joint; two joints (the small toes) are always missing.
"""

from typing import Optional, Tuple

import numpy as np
from jaxtyping import Float

from dataparsers.body25 import BODY25_JOINTS, NUM_JOINTS

NUM_LANDMARKS = 33
"""mediapipe Pose's landmark count (``mp.solutions.pose.PoseLandmark``)."""

MEDIAPIPE_LANDMARKS: Tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
"""The 33 landmark names in mediapipe's order (``PoseLandmark`` lower-cased)."""

_SOURCES = {
    "Nose": ("nose",),
    "Neck": ("left_shoulder", "right_shoulder"),
    "RShoulder": ("right_shoulder",),
    "RElbow": ("right_elbow",),
    "RWrist": ("right_wrist",),
    "LShoulder": ("left_shoulder",),
    "LElbow": ("left_elbow",),
    "LWrist": ("left_wrist",),
    "MidHip": ("left_hip", "right_hip"),
    "RHip": ("right_hip",),
    "RKnee": ("right_knee",),
    "RAnkle": ("right_ankle",),
    "LHip": ("left_hip",),
    "LKnee": ("left_knee",),
    "LAnkle": ("left_ankle",),
    "REye": ("right_eye",),
    "LEye": ("left_eye",),
    "REar": ("right_ear",),
    "LEar": ("left_ear",),
    "LBigToe": ("left_foot_index",),
    "LSmallToe": None,
    "LHeel": ("left_heel",),
    "RBigToe": ("right_foot_index",),
    "RSmallToe": None,
    "RHeel": ("right_heel",),
}

BODY25_FROM_MEDIAPIPE: Tuple[Optional[Tuple[int, ...]], ...] = tuple(
    None if _SOURCES[name] is None else tuple(MEDIAPIPE_LANDMARKS.index(s) for s in _SOURCES[name])
    for name in BODY25_JOINTS
)
"""For each BODY_25 joint (OpenPose order), the mediapipe landmark indices whose midpoint it is (one or two), or None
for the joints mediapipe does not have (``LSmallToe``, ``RSmallToe``)."""

MISSING_JOINTS: Tuple[str, ...] = tuple(n for n, s in zip(BODY25_JOINTS, BODY25_FROM_MEDIAPIPE) if s is None)
"""BODY_25 joints the teacher never finds (confidence 0 in every file it writes)."""

DEFAULT_MIN_CONFIDENCE = 0.5
"""Landmark visibility below which a joint is written as missing (mediapipe's own drawing utility hides landmarks
below 0.5)."""


def body25_from_landmarks(
    landmarks: Float[np.ndarray, "L 3"], width: int, height: int, min_confidence: float = DEFAULT_MIN_CONFIDENCE
) -> Float[np.ndarray, "25 3"]:
    """BODY_25 ``(u, v, confidence)`` in pixels of a ``width`` x ``height`` image from mediapipe's landmarks.

    Args:
        landmarks: ``(x, y, visibility)`` per landmark, x and y normalised to the image (mediapipe's
            ``NormalizedLandmark``), in mediapipe's order (:data:`MEDIAPIPE_LANDMARKS`).
        width: image width in pixels (of the image whose coordinates are wanted: normalised coordinates do not
            depend on the size the pose model saw).
        height: image height in pixels.
        min_confidence: joints whose confidence (the smaller one for a midpoint) is below this are missing.

    Returns:
        float32 keypoints; missing joints (low confidence, outside the image, the two small toes) are ``0, 0, 0``.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (NUM_LANDMARKS, 3):
        raise ValueError(f"landmarks must have shape ({NUM_LANDMARKS}, 3) (x, y, visibility), got {landmarks.shape}")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    out = np.zeros((NUM_JOINTS, 3), dtype=np.float64)
    for j, sources in enumerate(BODY25_FROM_MEDIAPIPE):
        if sources is None:
            continue
        picked = landmarks[list(sources)]
        if not np.isfinite(picked).all():
            continue
        confidence = float(picked[:, 2].min())
        u = float(picked[:, 0].mean()) * width - 0.5
        v = float(picked[:, 1].mean()) * height - 0.5
        inside = -0.5 <= u <= width - 0.5 and -0.5 <= v <= height - 0.5
        if confidence >= min_confidence and confidence > 0 and inside:
            out[j] = (u, v, min(confidence, 1.0))
    return out.astype(np.float32)
