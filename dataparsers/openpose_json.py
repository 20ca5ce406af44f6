"""Read and write OpenPose BODY_25 keypoint JSON (``<image stem>_keypoints.json``).

The format is OpenPose's ``--write_json`` output: ``{"version": 1.3, "people": [{"pose_keypoints_2d": [x0, y0, c0,
x1, ...]} ...]}`` with 25 * 3 = 75 numbers per person. A file with ``"people": []`` means the detector found nobody:
all joints get confidence 0 (masked out of losses and metrics, never treated as zeros).

``write_openpose_json`` is the inverse (used by ``ghnerf-keypoints`` and ``ghnerf-synth``); reading what it wrote
gives the same numbers back.
"""

import json
import math
from pathlib import Path
from typing import Any, Dict

import numpy as np
from jaxtyping import Float

from dataparsers.body25 import NUM_JOINTS
from dataparsers.human_common import DatasetFormatError

OPENPOSE_SUFFIX = "_keypoints.json"
"""OpenPose's file-name suffix after the image stem."""


def _person_keypoints(person: object, path: Path, index: int) -> np.ndarray:
    """One person's (25, 3) keypoints, validated."""
    if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
        raise DatasetFormatError(f"{path}: people[{index}] has no 'pose_keypoints_2d'; not an OpenPose BODY_25 file")
    values = person["pose_keypoints_2d"]
    if not isinstance(values, list) or len(values) != NUM_JOINTS * 3:
        size = len(values) if isinstance(values, list) else type(values).__name__
        raise DatasetFormatError(
            f"{path}: people[{index}].pose_keypoints_2d has {size} values, expected {NUM_JOINTS * 3} (BODY_25 x, y, "
            "confidence); re-run OpenPose with --model_pose BODY_25"
        )
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise DatasetFormatError(f"{path}: people[{index}].pose_keypoints_2d holds non-finite or non-numeric values")
    keypoints = np.asarray(values, dtype=np.float32).reshape(NUM_JOINTS, 3)
    if (keypoints[:, 2] < 0).any():
        raise DatasetFormatError(f"{path}: people[{index}] has negative confidences")
    return keypoints


def read_openpose_json(path: Path) -> Float[np.ndarray, "25 3"]:
    """BODY_25 keypoints ``(x, y, confidence)`` of the person in an OpenPose JSON file.

    With several people the one with the highest total confidence is taken (the datasets hold one person; a spurious
    low-confidence detection must not replace them). No person: all zeros (confidence 0).

    Raises:
        DatasetFormatError: the file is missing, not JSON, or not BODY_25 OpenPose output.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fp:
            data = json.load(fp)
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: keypoint file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetFormatError(f"{path}: not valid JSON ({err}); re-create the keypoint file") from None
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise DatasetFormatError(f"{path}: expected an OpenPose JSON object with a 'people' list")
    people = [_person_keypoints(person, path, i) for i, person in enumerate(data["people"])]
    if not people:
        return np.zeros((NUM_JOINTS, 3), dtype=np.float32)
    return max(people, key=lambda keypoints: float(keypoints[:, 2].sum()))


def openpose_document(keypoints: Float[np.ndarray, "25 3"]) -> Dict[str, Any]:
    """OpenPose 1.3 ``*_keypoints.json`` content for one person (BODY_25).

    Joints with confidence 0 are written as ``0, 0, 0`` (OpenPose's convention for an undetected joint); keypoints
    without any confident joint give ``"people": []``, as OpenPose writes when it detects nobody.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if not np.isfinite(keypoints).all():
        raise ValueError("keypoints must be finite")
    if (keypoints[:, 2] < 0).any():
        raise ValueError("confidences must be >= 0")
    if not (keypoints[:, 2] > 0).any():
        return {"version": 1.3, "people": []}
    values = np.where(keypoints[:, 2:3] > 0, keypoints, 0.0)
    person = {
        "person_id": [-1],
        "pose_keypoints_2d": [float(v) for v in values.reshape(-1)],
        "face_keypoints_2d": [],
        "hand_left_keypoints_2d": [],
        "hand_right_keypoints_2d": [],
        "pose_keypoints_3d": [],
        "face_keypoints_3d": [],
        "hand_left_keypoints_3d": [],
        "hand_right_keypoints_3d": [],
    }
    return {"version": 1.3, "people": [person]}


def write_openpose_json(path: Path, keypoints: Float[np.ndarray, "25 3"]) -> None:
    """Write BODY_25 ``(x, y, confidence)`` keypoints as an OpenPose JSON file (see :func:`openpose_document`)."""
    try:
        document = openpose_document(keypoints)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fp:
        json.dump(document, fp)
