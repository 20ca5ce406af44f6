"""2D pose views: the left-right flip and the roll/zoom (hand cases, projection stays exact) and the views a training
item carries."""

from pathlib import Path

import numpy as np
import pytest
import torch

from dataparsers.body25 import BODY25_MIRROR, joint_index
from dataparsers.human_common import SOURCES_KEY
from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig
from ghnerf_ns.data.image_loading import LoadedView
from ghnerf_ns.data.pose_view_warp import random_roll_zoom, roll_zoom_transform, warp_view
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


@pytest.mark.parametrize("flip, roll", [(False, 0.0), (True, 0.0), (True, 30.0)])
def test_items_carry_pose_views_whose_keypoints_and_boxes_fit_their_images(two_people: Path, flip: bool, roll: float):
    """Each pose view's keypoints lie on its person and inside the projection of its box through the view's own K and
    w2c, flipped, rolled and zoomed (ghnerf_ns/data/pose_view_warp.py) or not."""
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
        pose_view_roll=roll,
        pose_view_zoom=(0.8, 1.25) if roll else (1.0, 1.0),
    )
    flips = on_mask = counted = 0
    for item in range(6):
        sample = dataset[item]
        images, K, w2c = sample["pose_images"], sample["pose_K"], sample["pose_w2c"]
        assert images.shape == (4, 3, 64, 64) and sample["pose_keypoints"].shape == (4, 25, 3)
        assert sample["pose_boxes"].shape == (4, 2, 3) and sample["pose_cameras"].shape == (4,)
        for view in range(4):
            flips += int(K[view, 0, 0] < 0)
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
    if roll:
        # The same draws without the roll and zoom: the same views, cameras turned and focal lengths scaled.
        dataset._rng = None
        turned = dataset[0]
        dataset.pose_view_roll, dataset.pose_view_zoom, dataset._rng = 0.0, (1.0, 1.0), None
        plain = dataset[0]
        assert torch.equal(plain["pose_cameras"], turned["pose_cameras"])
        for key in ("pose_w2c", "pose_K", "pose_images", "pose_keypoints"):
            assert not torch.allclose(plain[key], turned[key]), key
    assert sorted(BODY25_MIRROR[BODY25_MIRROR[j]] for j in range(25)) == list(range(25))


def test_roll_zoom_hand_case_and_exact_projection():
    """A quarter turn without zoom about the principal point (10, 20) of a camera with fx = fy: pixel (13, 20) goes to
    (10, 23); a world point projects into the warped view where the warp sends its original projection, also for a
    mirrored view (negative fx) and an anisotropic camera; missing keypoints stay (0, 0, 0)."""
    K = np.array([[50.0, 0.0, 10.0], [0.0, 50.0, 20.0], [0.0, 0.0, 1.0]])
    H, _, _ = roll_zoom_transform(K, np.pi / 2, 1.0)
    np.testing.assert_allclose(H @ [13.0, 20.0, 1.0], [10.0, 23.0, 1.0], atol=1e-9)
    H, K_zoom, _ = roll_zoom_transform(K, 0.0, 2.0)
    np.testing.assert_allclose(H @ [13.0, 20.0, 1.0], [16.0, 20.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(K_zoom, [[100.0, 0.0, 10.0], [0.0, 100.0, 20.0], [0.0, 0.0, 1.0]])
    points = torch.tensor([[0.3, -0.2, 4.0], [-0.5, 0.4, 3.0], [0.1, 0.6, 5.0]])
    w2c = np.eye(4, dtype=np.float32)
    w2c[:3, 3] = (0.1, -0.2, 0.5)
    for K_view in (K, np.array([[-40.0, 0.0, 30.0], [0.0, 55.0, 25.0], [0.0, 0.0, 1.0]])):
        uv, _ = project(points, torch.from_numpy(K_view).float(), torch.from_numpy(w2c))
        keypoints = np.zeros((25, 3), np.float32)
        keypoints[:3, :2], keypoints[:3, 2] = uv.numpy(), 1.0
        view = LoadedView(
            np.zeros((48, 64, 3), np.float32), np.zeros((48, 64), np.uint8), K_view.astype(np.float32), w2c, keypoints
        )
        warped = warp_view(view, 0.4, 1.3)
        uv_warped, _ = project(points, torch.from_numpy(warped.K), torch.from_numpy(warped.w2c))
        np.testing.assert_allclose(warped.keypoints[:3, :2], uv_warped.numpy(), atol=1e-3)
        assert (warped.keypoints[3:] == 0).all()


def test_roll_zoom_moves_the_pixels_with_the_keypoints():
    """A bright pixel at a keypoint ends on (within half a pixel of) the warped keypoint; the mask follows."""
    K = np.array([[80.0, 0.0, 31.5], [0.0, 80.0, 31.5], [0.0, 0.0, 1.0]], np.float32)
    image, mask = np.zeros((64, 64, 3), np.float32), np.zeros((64, 64), np.uint8)
    image[20:23, 40:43], mask[20:23, 40:43] = 1.0, 1
    keypoints = np.zeros((25, 3), np.float32)
    keypoints[0] = (41.0, 21.0, 1.0)
    warped = warp_view(LoadedView(image, mask, K, np.eye(4, dtype=np.float32), keypoints), -0.6, 0.9)
    rows, cols = np.nonzero(warped.image[..., 0] > 0.5)
    np.testing.assert_allclose([cols.mean(), rows.mean()], warped.keypoints[0, :2], atol=0.5)
    assert warped.mask[int(round(warped.keypoints[0, 1])), int(round(warped.keypoints[0, 0]))] == 1
    unchanged = random_roll_zoom(warped, np.random.default_rng(0), 0.0, (1.0, 1.0))
    assert unchanged is warped


@pytest.mark.parametrize("roll, zoom", [(-5.0, (1.0, 1.0)), (10.0, (1.2, 0.8)), (0.0, (0.0, 1.0))])
def test_bad_roll_or_zoom_is_named(two_people: Path, roll: float, zoom):
    sources = ZJUMocapDataParserConfig(data=two_people, train_subjects=("377",), test_subjects=()).setup()
    meta = sources.get_dataparser_outputs("train").metadata
    with pytest.raises(ValueError, match="pose-view-roll .* pose-view-zoom"):
        TrainingSampleDataset(
            targets=meta[SOURCES_KEY],
            sources=meta[SOURCES_KEY],
            resolution=64,
            rays=RaySamplingSpec(num_rays=32, num_patches=0, patch_size=8),
            num_views_choices=(2,),
            num_views_probs=(1.0,),
            heatmap_sigma=1.5,
            with_cse=False,
            pose_view_roll=roll,
            pose_view_zoom=zoom,
        )
