"""Source views of different working sizes share one canvas: padded, never resampled, so K stays exact."""

import numpy as np
import torch

from ghnerf_ns.data.image_loading import LoadedView, stack_views
from ghnerf_ns.model.projection import sample_source_maps


def view(height: int, width: int, seed: int) -> LoadedView:
    rng = np.random.default_rng(seed)
    K = np.array([[50.0, 0.0, width / 2 - 0.5], [0.0, 52.0, height / 2 - 0.5], [0.0, 0.0, 1.0]], np.float32)
    w2c = np.eye(4, dtype=np.float32)
    w2c[2, 3] = 3.0
    return LoadedView(rng.random((height, width, 3), dtype=np.float32), np.ones((height, width), np.uint8), K, w2c)


def test_views_are_padded_right_and_bottom_with_their_cameras_unchanged():
    portrait, landscape = view(64, 32, 0), view(32, 64, 1)
    images, K, w2c = stack_views([portrait, landscape])
    assert images.shape == (2, 3, 64, 64)
    torch.testing.assert_close(images[0, :, :, :32], torch.from_numpy(portrait.image).permute(2, 0, 1))
    torch.testing.assert_close(images[1, :, :32, :], torch.from_numpy(landscape.image).permute(2, 0, 1))
    assert float(images[0, :, :, 32:].abs().max()) == 0.0 and float(images[1, :, 32:, :].abs().max()) == 0.0
    torch.testing.assert_close(K, torch.from_numpy(np.stack([portrait.K, landscape.K])))
    torch.testing.assert_close(w2c, torch.from_numpy(np.stack([portrait.w2c, landscape.w2c])))
    single, _, _ = stack_views([portrait])
    assert single.shape == (1, 3, 64, 32)  # one view keeps its own size


def test_projections_read_the_same_pixels_as_in_the_unpadded_view():
    """What the network reads at a 3D point's projection (bilinear, ENeRF's K-scaling rule) is the same colour in the
    padded canvas as in the view alone, for the image and for a half-resolution feature map of it."""
    portrait, square = view(64, 32, 2), view(64, 64, 3)
    images, K, w2c = stack_views([portrait, square])
    rng = np.random.default_rng(4)
    # Points in front of the cameras that project well inside the portrait image.
    uv = rng.uniform([4.0, 4.0], [27.0, 59.0], size=(50, 2))
    z = rng.uniform(2.5, 3.5, size=(50, 1))
    cam = np.concatenate([(uv - portrait.K[:2, 2]) / np.diag(portrait.K)[:2] * z, z], axis=1)
    points = torch.from_numpy(cam - np.array([0.0, 0.0, 3.0])).float()
    alone = torch.from_numpy(portrait.image).permute(2, 0, 1)[None]
    for scale in (1, 2):
        padded_maps = torch.nn.functional.avg_pool2d(images, scale)
        alone_maps = torch.nn.functional.avg_pool2d(alone, scale)
        got = sample_source_maps(points, padded_maps, K, w2c, 64, 64)[:, 0]
        want = sample_source_maps(points, alone_maps, K[:1], w2c[:1], 64, 32)[:, 0]
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
