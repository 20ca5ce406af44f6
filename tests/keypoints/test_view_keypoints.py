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
