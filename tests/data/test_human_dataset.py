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
