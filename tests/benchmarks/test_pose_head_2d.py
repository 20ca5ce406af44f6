"""benchmarks/pose_head_2d.py's arithmetic on hand cases (its end-to-end run on the tiny run is in
tests/e2e/test_joint_errors.py)."""

import numpy as np
import pytest

from dataparsers.body25 import NUM_JOINTS, joint_index
from tests.script_modules import script_module


@pytest.fixture(scope="module")
def ph():
    with script_module("benchmarks/pose_head_2d.py") as module:
        yield module


def test_view_errors_side_blind_and_scaled(ph):
    stride = 4.0
    maps = np.zeros((NUM_JOINTS, 8, 6))
    rw, lw = joint_index("RWrist"), joint_index("LWrist")
    maps[rw, 2, 3] = 0.9  # cell centre (3 * 4 + 1.5, 2 * 4 + 1.5) = (13.5, 9.5)
    maps[lw, 5, 1] = 0.7  # (5.5, 21.5)
    keypoints = np.zeros((NUM_JOINTS, 3))
    keypoints[rw] = (5.5, 25.5, 1.0)  # the left channel's point is 4 px away, the right one's 17.1: side-blind 4
    keypoints[lw] = (13.5, 12.5, 1.0)  # 3 px from the right channel's point
    rows = ph.view_errors(maps, stride, keypoints, person_height=40.0)
    assert rows[rw, 0] == pytest.approx(4 / 40) and rows[lw, 0] == pytest.approx(3 / 40)
    assert rows[rw, 1] == pytest.approx(0.9) and rows[lw, 1] == pytest.approx(0.7)
    assert np.isnan(rows[joint_index("Nose"), 0])  # no keypoint: no error
    table = ph.summary_table(np.stack([rows, rows]), "title")
    wrist = next(line for line in table.splitlines() if line.startswith("| RWrist |"))
    assert wrist == "| RWrist | 2 | 0.100 | 0.00 | 1.00 | 0.90 |"
    pooled = table.splitlines()[-1]
    assert pooled.startswith("| **all** | 4 | 0.087 | 0.50 | 1.00 |")
