"""Pose-view augmentation: the photometric one changes only the person's pixels, within [0, 1]; the geometric one moves
image, mask, keypoints and intrinsics together (hand case, projection stays exact)."""

from dataclasses import replace

import numpy as np
import torch

from ghnerf_ns.data.image_loading import LoadedView
from ghnerf_ns.data.view_augment import augment_view, rotate_scale_view, warp_view
from ghnerf_ns.model.geometry import project


def _view() -> LoadedView:
    rng = np.random.default_rng(0)
    image = np.zeros((32, 24, 3), np.float32)
    mask = np.zeros((32, 24), np.uint8)
    mask[8:28, 6:18] = 1
    image[mask > 0] = rng.uniform(0.2, 0.8, size=(int(mask.sum()), 3))
    keypoints = rng.uniform(0, 20, size=(25, 3)).astype(np.float32)
    return LoadedView(image=image, mask=mask, K=np.eye(3, dtype=np.float32), w2c=np.eye(4, dtype=np.float32),
                      keypoints=keypoints)  # fmt: skip


def test_changes_only_the_person() -> None:
    view = _view()
    original = view.image.copy()
    changed = [augment_view(view, np.random.default_rng(s)) for s in range(8)]
    for out in changed:
        assert out.image.dtype == np.float32 and out.image.shape == view.image.shape
        np.testing.assert_array_equal(out.image[view.mask == 0], 0.0)  # the background stays black
        assert out.image.min() >= 0.0 and out.image.max() <= 1.0
        np.testing.assert_array_equal(out.keypoints, view.keypoints)
        np.testing.assert_array_equal(out.K, view.K)
        np.testing.assert_array_equal(out.mask, view.mask)
    means = [out.image[view.mask > 0].mean() for out in changed]
    assert np.ptp(means) > 0.05  # the exposure really varies
    np.testing.assert_array_equal(view.image, original)  # the input is not modified in place


def test_empty_mask_is_left_alone() -> None:
    view = _view()
    view.mask[:] = 0
    assert augment_view(view, np.random.default_rng(0)) is view


def test_warp_view_hand_case() -> None:
    """A quarter turn and a 2x zoom about the mask's centre (4.5, 5.5): the pixel 2 right of it goes 4 up."""
    image = np.zeros((20, 16, 3), np.float32)
    mask = np.zeros((20, 16), np.uint8)
    mask[3:9, 2:8] = 1  # centre (x, y) = (4.5, 5.5)
    image[5:7, 6:8] = 1.0  # a bright 2x2 square centred 2 px right of the centre
    keypoints = np.zeros((25, 3), np.float32)
    keypoints[0] = (6.5, 5.5, 0.8)
    K = np.array([[20.0, 0.0, 5.0], [0.0, 20.0, 6.0], [0.0, 0.0, 1.0]], np.float32)
    view = LoadedView(image=image, mask=mask, K=K, w2c=np.eye(4, dtype=np.float32), keypoints=keypoints)
    out = warp_view(view, 90.0, 2.0)
    np.testing.assert_allclose(out.keypoints[0], (4.5, 1.5, 0.8), atol=1e-5)  # counter-clockwise as displayed
    ys, xs = np.nonzero(out.image[..., 0] > 0.5)
    assert abs(xs.mean() - 4.5) < 0.5 and abs(ys.mean() - 1.5) < 0.5  # the bright square went with it
    assert out.image[out.mask == 0].max() == 0.0  # the background stays black
    # K' = A K: the world point that projected to (6.5, 5.5) now projects to the moved keypoint.
    point = torch.tensor([[(6.5 - 5.0) / 20.0 * 3.0, (5.5 - 6.0) / 20.0 * 3.0, 3.0]])
    uv, _ = project(point, torch.from_numpy(out.K), torch.eye(4))
    np.testing.assert_allclose(uv[0].numpy(), (4.5, 1.5), atol=1e-4)


def test_random_warps_keep_projection_exact() -> None:
    rng = np.random.default_rng(3)
    view = _view()
    view = LoadedView(image=view.image, mask=view.mask, K=np.array([[30.0, 0, 12.0], [0, 31.0, 16.0], [0, 0, 1]],
                      np.float32), w2c=np.eye(4, dtype=np.float32), keypoints=None)  # fmt: skip
    points = torch.from_numpy(rng.uniform([-0.3, -0.4, 2.0], [0.3, 0.4, 3.0], size=(20, 3)).astype(np.float32))
    uv, _ = project(points, torch.from_numpy(view.K), torch.eye(4))
    seen = set()
    for seed in range(6):
        kp = np.concatenate([uv.numpy(), np.ones((20, 1), np.float32)], axis=1)[:25]
        out = rotate_scale_view(replace(view, keypoints=kp), np.random.default_rng(seed), 45.0, 0.5)
        moved, _ = project(points, torch.from_numpy(out.K), torch.eye(4))
        np.testing.assert_allclose(moved.numpy(), out.keypoints[:, :2], atol=2e-3)
        seen.add(round(float(out.K[0, 1]), 3))
    assert len(seen) == 6  # every draw is a different warp
    assert rotate_scale_view(view, rng, 0.0, 0.0) is view
