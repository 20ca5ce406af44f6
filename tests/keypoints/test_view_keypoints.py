"""A view's own 3D keypoints (ghnerf_ns/keypoints/view_keypoints.py): made from its source views only."""

import torch

from ghnerf_ns.keypoints.view_keypoints import view_keypoints_3d
from ghnerf_ns.model.feature_pyramid import FeaturePyramid
from ghnerf_ns.model.network import EncodedSources, PreparedView
from ghnerf_ns.model.views import SourceViews, TargetView


def _view(keypoints_3d):
    box = torch.tensor([[-1.0, -1.0, 2.0], [1.0, 1.0, 4.0]])
    near_far = torch.tensor([2.0, 4.0])
    target = TargetView(K=torch.eye(3), w2c=torch.eye(4), height=32, width=32, box=box, near_far=near_far)
    sources = SourceViews(
        images=torch.zeros(2, 3, 32, 32), K=torch.eye(3).repeat(2, 1, 1), w2c=torch.eye(4).repeat(2, 1, 1),
        camera_ids=torch.tensor([0, 2]),
    )  # fmt: skip
    pyramid = FeaturePyramid(torch.zeros(2, 8, 32, 32), torch.zeros(2, 16, 16, 16), torch.zeros(2, 32, 8, 8))
    encoded = EncodedSources(sources=sources, pyramid=pyramid, keypoints_3d=keypoints_3d)
    return PreparedView(target, encoded, "s", 0, "s frame 0: cameras 0, 2")


def test_source_view_keypoints_are_the_estimate_made_when_the_views_were_encoded():
    estimate = torch.zeros(25, 4)
    estimate[:, :3] = torch.arange(75.0).reshape(25, 3)
    estimate[:20, 3] = 1.0  # joints 20-24 were not found in these views
    points, valid = view_keypoints_3d(torch.nn.Module(), _view(estimate), "source-views")
    assert valid.tolist() == [True] * 20 + [False] * 5
    torch.testing.assert_close(points[:, :3], estimate[:, :3])
    assert points[:, 3].tolist() == valid.float().tolist()


def test_a_view_without_an_estimate_has_no_joint():
    points, valid = view_keypoints_3d(torch.nn.Module(), _view(None), "source-views")  # e.g. one source view
    assert points.shape == (25, 4) and not valid.any()


def test_pooled_intrinsics_follow_pixel_centres():
    """Hand-computed: pooling by 2 halves the focal lengths and maps the principal point c to (c + 0.5) / 2 - 0.5."""
    from ghnerf_ns.keypoints.view_keypoints import pooled_view

    K = torch.tensor([[100.0, 0.0, 50.0], [0.0, 120.0, 40.0], [0.0, 0.0, 1.0]])
    pooled, K2 = pooled_view(torch.ones(9, 8, 25), K, 2)
    assert pooled.shape == (4, 4, 25)
    torch.testing.assert_close(K2, torch.tensor([[50.0, 0.0, 24.75], [0.0, 60.0, 19.75], [0.0, 0.0, 1.0]]))


def _blobs(height: int, width: int, centres: torch.Tensor, sigma: float) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    maps = [torch.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2)) for x, y in centres.tolist()]
    return torch.stack(maps, dim=-1)


def test_pooled_search_finds_the_full_resolution_peaks_within_a_pooled_pixel():
    """The viewer's skeleton (max_side) lands within one pooled pixel of the full-resolution search, on each joint,
    with the same joints found; max_side at or above the image size is the full-resolution search itself."""
    from ghnerf_ns.keypoints.extractor import keypoint_extractor
    from ghnerf_ns.keypoints.view_keypoints import view_keypoints_2d

    generator = torch.Generator().manual_seed(3)
    centres = torch.rand(25, 2, generator=generator) * torch.tensor([300.0, 400.0]) + torch.tensor([100.0, 50.0])
    maps = _blobs(512, 480, centres, 12.0)
    maps[..., 7] = 0.0  # a joint with no heat
    extractor = keypoint_extractor(0.1)
    full, found = view_keypoints_2d(maps, extractor)
    for max_side in (256, 160):
        factor = -(-480 // max_side)
        pooled, pooled_found = view_keypoints_2d(maps, extractor, max_side=max_side)
        assert pooled_found.tolist() == found.tolist() and not found[7]
        assert (pooled[found, :2] - full[found, :2]).abs().max() <= factor
        assert (pooled[found, :2] - centres[found]).abs().max() <= factor
        assert (pooled[~found] == 0).all()
    same, _ = view_keypoints_2d(maps, extractor, max_side=480)
    torch.testing.assert_close(same, full)
