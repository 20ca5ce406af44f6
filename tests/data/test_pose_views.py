"""2D pose views: the left-right flip (hand case, projection stays exact) and the views a training item carries."""

from pathlib import Path

import numpy as np
import pytest
import torch

from dataparsers.body25 import BODY25_MIRROR, joint_index
from dataparsers.human_common import SOURCES_KEY
from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig
from ghnerf_ns.data.image_loading import LoadedView
from ghnerf_ns.data.training_samples import RaySamplingSpec, TrainingSampleDataset, flip_view
from ghnerf_ns.model.geometry import project
from ghnerf_ns.synth import ZJUSynthConfig, write_zju


def test_flip_view_hand_case():
    image = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    K = np.array([[10.0, 0.0, 0.5], [0.0, 10.0, 1.0], [0.0, 0.0, 1.0]], np.float32)
    keypoints = np.zeros((25, 3), np.float32)
    keypoints[joint_index("RWrist")] = (0.0, 1.0, 0.9)
    keypoints[joint_index("Nose")] = (1.5, 0.0, 1.0)
    view = LoadedView(image, np.eye(2, 3, dtype=np.uint8), K, np.eye(4, dtype=np.float32), keypoints=keypoints)
    flipped = flip_view(view)
    assert np.array_equal(flipped.image[:, 0], image[:, 2]) and np.array_equal(flipped.mask[:, 2], view.mask[:, 0])
    # Pixel u -> 2 - u; the right wrist becomes the left one, the nose stays the nose.
    assert tuple(flipped.keypoints[joint_index("LWrist")]) == (2.0, 1.0, pytest.approx(0.9))
    assert tuple(flipped.keypoints[joint_index("Nose")]) == (0.5, 0.0, 1.0)
    assert flipped.keypoints[joint_index("RWrist"), 2] == 0.0
    np.testing.assert_allclose(flipped.K[0], [-10.0, 0.0, 1.5])
    # A world point projects into the flipped image at the mirrored column.
    point = torch.tensor([[0.3, -0.2, 4.0]])
    uv, _ = project(point, torch.from_numpy(K), torch.eye(4))
    uv_flipped, _ = project(point, torch.from_numpy(flipped.K), torch.eye(4))
    assert float(uv_flipped[0, 0]) == pytest.approx(2.0 - float(uv[0, 0]))
    assert float(uv_flipped[0, 1]) == pytest.approx(float(uv[0, 1]))
    assert flip_view(flipped).keypoints.tolist() == keypoints.tolist()  # an involution


@pytest.fixture(scope="module")
def two_people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pose_views") / "zju"
    write_zju(ZJUSynthConfig(out=out, subjects=("377", "390"), frames=2, cameras=6, resolution=64, seed=5,
                             progress=False))  # fmt: skip
    return out


@pytest.mark.parametrize("flip, degrees, zoom", [(False, 0.0, 0.0), (True, 0.0, 0.0), (True, 40.0, 0.3)])
def test_items_carry_pose_views_whose_keypoints_and_boxes_fit_their_images(
    two_people: Path, flip: bool, degrees: float, zoom: float
):
    parser = ZJUMocapDataParserConfig(data=two_people, train_subjects=("377", "390"), test_subjects=())
    meta = parser.setup().get_dataparser_outputs("train").metadata
    sources = meta[SOURCES_KEY]
    dataset = TrainingSampleDataset(
        targets=sources,
        sources=sources,
        resolution=64,
        rays=RaySamplingSpec(num_rays=32, num_patches=0, patch_size=8),
        num_views_choices=(2,),
        num_views_probs=(1.0,),
        heatmap_sigma=1.5,
        with_cse=False,
        seed=1,
        num_pose_views=4,
        flip_pose_views=flip,
        pose_view_rotation=degrees,
        pose_view_zoom=zoom,
    )
    flips = on_mask = counted = turned = 0
    for item in range(6):
        sample = dataset[item]
        images, K, w2c = sample["pose_images"], sample["pose_K"], sample["pose_w2c"]
        assert images.shape == (4, 3, 64, 64) and sample["pose_keypoints"].shape == (4, 25, 3)
        assert sample["pose_boxes"].shape == (4, 2, 3) and sample["pose_cameras"].shape == (4,)
        for view in range(4):
            flips += int(K[view, 0, 0] < 0)
            turned += int(abs(float(K[view, 0, 1])) > 1e-3)  # a rotation puts fy's share into K[0, 1]
            kp = sample["pose_keypoints"][view]
            valid = kp[:, 2] > 0
            # Each keypoint lies on the person (the image is black off the dilated mask) ...
            cols = kp[valid, 0].round().long().clamp(0, 63)
            rows = kp[valid, 1].round().long().clamp(0, 63)
            on_mask += int((images[view, :, rows, cols].amax(dim=0) > 0).sum())
            counted += int(valid.sum())
            # ... and inside the projection of that view's own person's box.
            corners = torch.cartesian_prod(*sample["pose_boxes"][view].T)
            uv, _ = project(corners, K[view], w2c[view])
            assert (kp[valid, :2] >= uv.amin(0) - 1).all() and (kp[valid, :2] <= uv.amax(0) + 1).all()
    assert on_mask >= 0.9 * counted
    assert (flips > 0) == flip
    assert (turned > 0) == (degrees > 0)
    assert sorted(BODY25_MIRROR[BODY25_MIRROR[j]] for j in range(25)) == list(range(25))
