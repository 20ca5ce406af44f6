"""KeypointExtractorConfig wiring: scale-aware 2D sigma and the 3D path."""

import numpy as np
import torch

from ghnerf_ns.keypoints.extractor import KeypointExtractor, KeypointExtractorConfig
from ghnerf_ns.keypoints.peaks2d import extract_keypoints_2d


def test_setup_and_scaled_sigma():
    extractor = KeypointExtractorConfig(reference_resolution=512, filter_sigma=3.0).setup()
    assert isinstance(extractor, KeypointExtractor)
    rng = np.random.default_rng(0)
    maps = torch.from_numpy(rng.random((64, 80, 25)).astype(np.float32))
    kp, valid = extractor.extract_2d(maps)
    # 64 px shorter side at a 512 reference: sigma 3 * 64 / 512 = 0.375 px.
    ref = extract_keypoints_2d(maps, filter_sigma=0.375, threshold=0.1, connectivity=2)
    assert torch.equal(kp, ref[0]) and torch.equal(valid, ref[1])
    fixed = KeypointExtractorConfig(reference_resolution=None, connectivity="faces").setup().extract_2d(maps)
    ref_fixed = extract_keypoints_2d(maps, filter_sigma=3.0, connectivity=1)
    assert torch.equal(fixed[0], ref_fixed[0])


def test_extract_3d_through_config():
    joint = torch.tensor([0.2, -0.1, 0.5])

    def query(points):
        heat = torch.exp(-((points - joint) ** 2).sum(-1, keepdim=True) / (2 * 0.1**2)).expand(-1, 25)
        return torch.full((points.shape[0],), 10.0), heat

    box = torch.tensor([[-0.5, -0.5, 0.0], [0.5, 0.5, 1.0]])
    kp, valid = KeypointExtractorConfig(volume_resolution=21, volume_chunk=1000).setup().extract_3d(query, box)
    assert valid.all() and kp.shape == (25, 4)
    torch.testing.assert_close(kp[:, :3], joint.expand(25, 3), atol=0.03, rtol=0)
