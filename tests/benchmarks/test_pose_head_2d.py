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
    # The hips: both channels on one hip (cell (2, 3)), the other hip only a weaker second blob (cell (6, 4)), which
    # the pair's second point finds; the knees: only the left one annotated, the nearer of the two points counts.
    rh, lh, rk, lk = (joint_index(n) for n in ("RHip", "LHip", "RKnee", "LKnee"))
    maps[rh, 2, 3] = maps[lh, 2, 3] = 0.8
    maps[lh, 6, 4] = 0.3  # (17.5, 25.5)
    keypoints[rh] = (17.5, 27.5, 1.0)  # 2 px from the second point
    keypoints[lh] = (13.5, 9.5, 1.0)  # on the first
    maps[rk, 1, 1], maps[lk, 7, 5] = 0.6, 0.5  # (5.5, 5.5) and (21.5, 29.5)
    keypoints[lk] = (20.5, 29.5, 1.0)
    keypoints[joint_index("Nose")] = (1.5, 5.5, 1.0)  # its channel is flat zero: the first cell, (1.5, 1.5)
    more = ph.view_errors(maps, stride, keypoints, person_height=40.0)
    assert more[rh, 0] == pytest.approx(2 / 40) and more[lh, 0] == 0.0
    assert more[lk, 0] == pytest.approx(1 / 40) and np.isnan(more[rk, 0])
    assert more[joint_index("Nose"), 0] == pytest.approx(4 / 40)
    table = ph.summary_table(np.stack([rows, rows]), "title")
    wrist = next(line for line in table.splitlines() if line.startswith("| RWrist |"))
    assert wrist == "| RWrist | 2 | 0.100 | 0.00 | 1.00 | 0.90 |"
    pooled = table.splitlines()[-1]
    assert pooled.startswith("| **all** | 4 | 0.087 | 0.50 | 1.00 |")
