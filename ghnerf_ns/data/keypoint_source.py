"""Where an image's 2D keypoints come from: the dataset's own annotations, completed by OpenPose JSON files.

An OpenPose JSON file (any teacher's output, ``openpose/<cam>/<stem>_keypoints.json``) takes the place of the dataset's
annotation joint by joint wherever it is confident; joints it misses keep the dataset's value. A JSON file with no
person leaves every joint to the annotation (or masked when there is none).
"""

from typing import Tuple

import numpy as np

from dataparsers.human_common import HumanImageIndex
from dataparsers.openpose_json import read_openpose_json


def read_keypoints(index: HumanImageIndex, row: int) -> np.ndarray:
    """(25, 3) BODY_25 keypoints of image ``row`` in native, distorted pixels; confidence 0 marks a missing joint."""
    return read_keypoints_checked(index, row)[0]


def read_keypoints_checked(index: HumanImageIndex, row: int) -> Tuple[np.ndarray, bool]:
    """:func:`read_keypoints` plus whether the image has an OpenPose JSON file that holds no (confident) person.

    Such an image keeps only the dataset's own joints (usually none: every joint is masked); training counts and
    reports these files instead of failing on them.
    """
    keypoints = index.keypoints_2d[row].astype(np.float32).copy()
    path = index.keypoint_files[row]
    no_person = False
    if path is not None:
        teacher = read_openpose_json(path).astype(np.float32)
        use = teacher[:, 2] > 0
        keypoints[use] = teacher[use]
        no_person = not bool(use.any())
    return keypoints, no_person


OCCLUDED_CONFIDENCE = 0.5
"""Confidence given to an occluded joint that keeps its position (:func:`with_occluded_positions`)."""


def with_occluded_positions(keypoints: np.ndarray) -> np.ndarray:
    """(25, 3) keypoints where every occluded joint whose annotation still places it (confidence 0 at a finite position
    other than the (0, 0) of an undetected OpenPose joint; ghnerf-synth writes every joint's projection) gets
    confidence :data:`OCCLUDED_CONFIDENCE`: a 2D target at the position the joint projects to, behind the body."""
    out = keypoints.copy()
    placed = np.isfinite(out[:, :2]).all(axis=-1) & (np.abs(out[:, :2]).sum(axis=-1) > 0)
    out[(out[:, 2] <= 0) & placed, 2] = OCCLUDED_CONFIDENCE
    return out

