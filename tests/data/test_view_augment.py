"""Pose-view augmentation: only the person's pixels change, within [0, 1]; geometry and keypoints are untouched."""

import numpy as np

from ghnerf_ns.data.image_loading import LoadedView
from ghnerf_ns.data.view_augment import augment_view


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
