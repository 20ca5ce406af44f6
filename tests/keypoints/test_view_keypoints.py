"""The per-frame 3D keypoint cache behind rendered views' 2D keypoints (ghnerf_ns/keypoints/view_keypoints.py)."""

import torch

import ghnerf_ns.keypoints.view_keypoints as view_keypoints
from ghnerf_ns.keypoints.keypoints3d import KeypointQueryError
from ghnerf_ns.keypoints.view_keypoints import FrameKeypoints3DCache


def test_cache_computes_once_per_frame_and_weights(monkeypatch):
    calls = []

    def estimate(model, subject, frame):
        calls.append((subject, frame))
        if frame == 99:
            raise KeypointQueryError("one input camera")
        return torch.full((25, 4), float(frame)), torch.ones(25, dtype=torch.bool)

    monkeypatch.setattr(view_keypoints, "model_keypoints_3d", estimate)
    model = torch.nn.Module()  # what the cache reads of a GHNeRFModel: its network's and human encoder's weights
    model.network, model.human_encoder = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    cache = FrameKeypoints3DCache(size=2)
    points, valid = cache.get(model, "s", 1)
    assert points[0, 0] == 1.0 and valid.all()
    cache.get(model, "s", 1)
    assert calls == [("s", 1)]  # same frame, same weights: cached
    with torch.no_grad():
        model.network.weight.add_(1.0)  # a training step
    cache.get(model, "s", 1)
    assert calls == [("s", 1), ("s", 1)]  # new weights: estimated again
    assert cache.get(model, "s", 99) is None and cache.get(model, "s", 99) is None  # no estimate: remembered as None
    assert calls.count(("s", 99)) == 1
    cache.get(model, "s", 2)  # size 2: the least recently used entry (frame 1) goes
    cache.get(model, "s", 1)
    assert calls[-1] == ("s", 1) and calls.count(("s", 1)) == 3
