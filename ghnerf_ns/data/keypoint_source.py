"""Where an image's 2D keypoints come from: the dataset's own annotations, completed by OpenPose JSON files.

An OpenPose JSON file (any teacher's output, ``openpose/<cam>/<stem>_keypoints.json``) takes the place of the dataset's
annotation joint by joint wherever it is confident; joints it misses keep the dataset's value. A JSON file with no
person leaves every joint to the annotation (or masked when there is none).
"""

import numpy as np

from dataparsers.human_common import HumanImageIndex
from dataparsers.openpose_json import read_openpose_json


def read_keypoints(index: HumanImageIndex, row: int) -> np.ndarray:
    """(25, 3) BODY_25 keypoints of image ``row`` in native, distorted pixels; confidence 0 marks a missing joint."""
    keypoints = index.keypoints_2d[row].astype(np.float32).copy()
    path = index.keypoint_files[row]
    if path is not None:
        teacher = read_openpose_json(path).astype(np.float32)
        use = teacher[:, 2] > 0
        keypoints[use] = teacher[use]
    return keypoints
