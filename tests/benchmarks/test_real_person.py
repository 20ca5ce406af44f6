"""benchmarks/real_person.py's pooling of leave-one-camera-out folds, on a hand case (the script's runs need a trained
model and a real capture, so they stay out of the tests)."""

import pytest

from tests.script_modules import script_module


@pytest.fixture(scope="module")
def rp():
    with script_module("benchmarks/real_person.py") as module:
        yield module


def test_pool_folds_weights_by_counts(rp):
    folds = [
        {"psnr": 20.0, "ssim": 0.6, "pck": 0.5, "pck_num_joints": 10, "mpjpe_3d": 100.0, "mpjpe_3d_num_joints": 30,
         "mpjpe_3d_num_missing": 5},
        {"psnr": 22.0, "ssim": 0.8, "pck": 1.0, "pck_num_joints": 30, "mpjpe_3d": 200.0, "mpjpe_3d_num_joints": 10,
         "mpjpe_3d_num_missing": 15},
    ]  # fmt: skip
    pooled = rp.pool_folds(folds)
    assert pooled["psnr"] == pytest.approx(21.0) and pooled["ssim"] == pytest.approx(0.7)
    assert pooled["pck"] == pytest.approx((0.5 * 10 + 1.0 * 30) / 40) and pooled["pck_num_joints"] == 40
    assert pooled["mpjpe_3d"] == pytest.approx((100.0 * 30 + 200.0 * 10) / 40) == 125.0
    assert pooled["mpjpe_3d_num_joints"] == 40 and pooled["mpjpe_3d_num_missing"] == 20


def test_pool_folds_image_weights_and_unscored_metrics(rp):
    folds = [
        {"psnr": 20.0, "num_images": 1, "mpjpe_3d_triangulated": None, "mpjpe_3d_triangulated_num_joints": 0},
        {"psnr": 24.0, "num_images": 3, "mpjpe_3d_triangulated": None, "mpjpe_3d_triangulated_num_joints": 0},
    ]
    pooled = rp.pool_folds(folds)
    assert pooled["psnr"] == pytest.approx((20.0 + 3 * 24.0) / 4)
    # one test view per fold: nothing triangulated anywhere, so a count of 0 and no value
    assert pooled["mpjpe_3d_triangulated_num_joints"] == 0 and "mpjpe_3d_triangulated" not in pooled
    assert "pck" not in pooled  # no fold has it


def test_pool_folds_skips_a_metric_a_fold_lacks(rp):
    pooled = rp.pool_folds([{"psnr": 20.0, "pck": 0.5, "pck_num_joints": 4}, {"psnr": 24.0}])
    assert pooled == {"psnr": 22.0}


def test_joint_frames_reads_the_model_estimate_of_each_frame(rp, tmp_path):
    """Each ghnerf-keypoints file gives one frame: its model estimate (here the source-view one) against the reference
    of its frame stem. A right/left wrist pair named the wrong way round shows as swapped, with no side-blind error."""
    import json

    import numpy as np

    from dataparsers.body25 import joint_index
    from ghnerf_ns.keypoints.error_analysis import joint_error_table

    truth = np.zeros((25, 4))
    truth[:, 0] = np.arange(25) * 0.1
    truth[:, 3] = 1.0
    pred = truth[:, :3].copy()
    r, left = joint_index("RWrist"), joint_index("LWrist")
    pred[[r, left]] = pred[[left, r]]
    valid = [True] * 25
    valid[joint_index("Nose")] = False
    doc = {"model_estimate": "source_views", "source_views": {"xyz": pred.tolist(), "valid": valid},
           "volumetric": {"xyz": np.zeros((25, 3)).tolist(), "valid": [True] * 25}}  # fmt: skip
    path = tmp_path / "p" / "000040_keypoints3d.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    stems = []

    def reference(stem):
        stems.append(stem)
        return truth

    (frame,) = rp.joint_frames(tmp_path, [path], reference)
    assert stems == ["000040"]
    np.testing.assert_array_equal(frame.pred, pred)
    assert not frame.pred_valid[joint_index("Nose")] and frame.pred_valid.sum() == 24
    table = joint_error_table([frame])
    assert table.swap_rate[r] == 1.0 and table.side_blind_mm[r] == 0.0
    assert table.mpjpe_mm == pytest.approx(2 * 0.3 * 1000 / 24)  # the wrists are 3 joints (0.3 m) apart
