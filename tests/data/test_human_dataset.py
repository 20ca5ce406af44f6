"""The dataset's row order for nerfstudio's viewer."""

import numpy as np
import pytest

from ghnerf_ns.data.human_dataset import camera_major_order


@pytest.mark.parametrize("subjects, frames, cameras", [(3, 4, 12), (3, 5, 21), (2, 7, 12), (1, 1, 12)])
def test_camera_major_order_gives_one_display_frustum_per_camera(subjects, frames, cameras):
    # Rows in the dataparser's order: subject, then frame, then camera.
    subject_idx = np.repeat(np.arange(subjects), frames * cameras)
    frame = np.tile(np.repeat(np.arange(frames), cameras), subjects)
    camera = np.tile(np.arange(cameras), subjects * frames)
    order = camera_major_order(camera, subject_idx, frame)
    assert sorted(order.tolist()) == list(range(len(order)))
    cams = camera[order]
    assert (np.diff(cams) >= 0).all()
    picked = np.linspace(0, len(order) - 1, 12, dtype=np.int32)  # nerfstudio's viewer _pick_drawn_image_idxs
    assert len(set(cams[picked].tolist())) == 12  # 12 different cameras of the rig


def test_occluded_joints_that_keep_a_position_become_targets():
    from ghnerf_ns.data.keypoint_source import OCCLUDED_CONFIDENCE, with_occluded_positions

    keypoints = np.array([[10.0, 20.0, 0.9], [30.0, 40.0, 0.0], [0.0, 0.0, 0.0], [np.nan, 5.0, 0.0]], np.float32)
    out = with_occluded_positions(keypoints)
    # Visible joints unchanged; an occluded joint at a real position gets the occluded confidence; OpenPose's 0, 0, 0
    # (undetected) and a non-finite position stay missing.
    assert out[:, 2].tolist() == pytest.approx([0.9, OCCLUDED_CONFIDENCE, 0.0, 0.0])
    np.testing.assert_array_equal(out[:2, :2], keypoints[:2, :2])
    assert keypoints[1, 2] == 0.0  # the input is not modified


def test_pck_scale_of_an_image_whose_torso_joint_is_occluded(tmp_path_factory):
    """Every eval image gets a PCK scale: the annotated torso where both joints are visible (NaN here: pck() measures
    it itself), else the frame's 3D ground-truth torso projected into the view."""
    import torch

    from dataparsers.human_common import TARGETS_KEY
    from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig
    from ghnerf_ns.data.human_dataset import HumanImageDataset
    from ghnerf_ns.data.image_loading import working_camera
    from ghnerf_ns.keypoints.metrics import DEFAULT_TORSO
    from ghnerf_ns.model.geometry import project
    from ghnerf_ns.synth import ZJUSynthConfig, write_zju

    root = tmp_path_factory.mktemp("torso") / "zju"
    write_zju(ZJUSynthConfig(out=root, subjects=("386",), frames=1, cameras=12, resolution=64, seed=1, progress=False))
    outputs = ZJUMocapDataParserConfig(
        data=root, train_subjects=("386",), test_subjects=("386",), eval_frames=(0, 1, 1)
    ).setup().get_dataparser_outputs("test")
    dataset = HumanImageDataset(outputs, 64, 1, 2.0)
    a, b = DEFAULT_TORSO
    seen = {"annotated": 0, "projected": 0}
    for position in range(len(dataset)):
        data = dataset.get_data(position)
        occluded = not (data["keypoints"][a, 2] > 0 and data["keypoints"][b, 2] > 0)
        diameter = float(data["torso_diameter"])
        if not occluded:
            assert np.isnan(diameter)
            seen["annotated"] += 1
            continue
        row = int(dataset.rows[position])
        K, w2c, _ = working_camera(outputs.metadata[TARGETS_KEY], row, 64)
        uv, _ = project(data["joints3d"][[a, b], :3].double(), torch.from_numpy(K).double(),
                        torch.from_numpy(w2c).double())  # fmt: skip
        assert abs(diameter - float((uv[0] - uv[1]).norm())) < 1e-3
        seen["projected"] += 1
    assert seen["annotated"] > 0 and seen["projected"] > 0  # the rig shows the torso whole and half hidden
