"""benchmarks/yolo_keypoints_2d.py's error arithmetic on a hand case, and its reader on a tiny ghnerf-synth folder."""

from pathlib import Path

import numpy as np
import pytest

from tests.script_modules import script_module


@pytest.fixture(scope="module")
def yk():
    with script_module("benchmarks/yolo_keypoints_2d.py") as module:
        yield module


def test_side_blind_errors_hand_case(yk):
    names = yk.COCO_NAMES
    truth = np.zeros((17, 3))
    found = np.zeros((17, 3))
    lw, rw, nose, lear = (names.index(n) for n in ("LWrist", "RWrist", "Nose", "LEar"))
    truth[lw], truth[rw], truth[nose] = (10.0, 20.0, 1.0), (30.0, 20.0, 1.0), (20.0, 5.0, 1.0)
    found[lw] = (29.0, 20.0, 0.9)  # on the right wrist: 1 px side-blind (19 px to its own)
    found[rw] = (30.0, 24.0, 0.9)  # 4 px from its own wrist
    found[nose] = (23.0, 9.0, 0.9)  # 5 px
    truth[lear] = (0.0, 0.0, 0.0)  # missing: no error
    errors = yk.side_blind_errors(found, truth)
    assert errors[lw] == pytest.approx(1.0) and errors[rw] == pytest.approx(4.0) and errors[nose] == pytest.approx(5.0)
    assert np.isnan(errors[lear])
    truth[rw, 2] = 0.0  # the mirror joint is missing: the joint's own distance counts
    assert yk.side_blind_errors(found, truth)[lw] == pytest.approx(19.0)


def test_read_views_masks_the_person_and_maps_coco_to_body25(yk, tmp_path: Path):
    from ghnerf_ns.synth import ZJUSynthConfig, write_zju

    write_zju(ZJUSynthConfig(out=tmp_path, subjects=("390",), frames=1, cameras=4, resolution=64, progress=False))
    views = yk.read_views(tmp_path, ["390"], [0])
    assert len(views) == 2  # the odd cameras
    annots = np.load(tmp_path / "CoreView_390" / "annots.npy", allow_pickle=True).item()
    image, keypoints, height = views[0]
    assert image.shape == (64, 64, 3) and 0 < height <= 64
    body25 = np.asarray(annots["ims"][0]["kpts2d"][1])
    np.testing.assert_array_equal(keypoints[yk.COCO_NAMES.index("RKnee")], body25[10])  # BODY_25's RKnee is 10
    np.testing.assert_array_equal(keypoints[0], body25[0])
    corner = image[:2, :2]  # background: black after masking
    assert (corner == 0).all()
