"""OpenPose BODY_25 JSON: validation, no-person handling and exact round trip."""

import json
from pathlib import Path

import numpy as np
import pytest

from dataparsers.human_common import DatasetFormatError
from dataparsers.openpose_json import read_openpose_json, write_openpose_json


def test_round_trip_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(0, 512, (25, 2)), rng.uniform(0.1, 1, (25, 1))], 1).astype(np.float32)
    keypoints[3] = 0.0  # a missing joint
    path = tmp_path / "cam" / "0000_keypoints.json"
    write_openpose_json(path, keypoints)
    assert np.array_equal(read_openpose_json(path), keypoints)
    data = json.loads(path.read_text())
    assert len(data["people"]) == 1 and len(data["people"][0]["pose_keypoints_2d"]) == 75


def test_no_person_means_all_joints_masked(tmp_path: Path) -> None:
    path = tmp_path / "0000_keypoints.json"
    write_openpose_json(path, np.zeros((25, 3), np.float32))
    assert json.loads(path.read_text())["people"] == []
    out = read_openpose_json(path)
    assert out.shape == (25, 3) and (out[:, 2] == 0).all()


def test_picks_the_most_confident_person(tmp_path: Path) -> None:
    weak = [1.0, 2.0, 0.1] * 25
    strong = [5.0, 6.0, 0.9] * 25
    path = tmp_path / "k.json"
    path.write_text(
        json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": weak}, {"pose_keypoints_2d": strong}]})
    )
    assert np.allclose(read_openpose_json(path)[0], [5.0, 6.0, 0.9])


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"people": 3}', "'people' list"),
        ('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}', "has 3 values, expected 75"),
        ('{"people": [{"pose_keypoints_2d": [NaN' + ", 0" * 74 + "]}]}", "non-finite"),
        ('{"people": [{"pose_keypoints_2d": [0, 0, -1' + ", 0" * 72 + "]}]}", "negative confidences"),
        ('{"people": [{"face_keypoints_2d": []}]}', "no 'pose_keypoints_2d'"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad_keypoints.json"
    path.write_text(content)
    with pytest.raises(DatasetFormatError, match=rf"bad_keypoints\.json: .*{message}"):
        read_openpose_json(path)
