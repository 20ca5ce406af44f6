"""Whole-image rendering: the encode cache (hits, LRU/byte bounds, weight-change invalidation, same image as an uncached
render), fine-only rendering equal to the full cascade's fine level, images that callers may edit."""

from dataclasses import replace

import pytest
import torch

from ghnerf_ns.model.geometry import box_near_far
from ghnerf_ns.model.network import CascadeLevelConfig, GHNeRFNetworkConfig
from ghnerf_ns.model.views import SourceViews, TargetView
from ghnerf_ns.render.image_renderer import EncodeCache, render_image, source_cache_key, tensor_bytes, weights_version
from tests.model.cascade_scenes import look_at, render_plane, ring_rig

SIZE = 32


def _network(human_channels=6):
    torch.manual_seed(0)
    config = GHNeRFNetworkConfig(
        coarse=CascadeLevelConfig(num_planes=8), human_feature_channels=human_channels, cse_dim=4
    )
    return config.setup().eval()


def _scene(frame=0, height=SIZE, width=SIZE):
    K, w2c = ring_rig(2, size=SIZE)
    images = torch.stack([render_plane(K[i], w2c[i], SIZE, SIZE) for i in range(2)])
    sources = SourceViews(images=images, K=K, w2c=w2c, camera_ids=torch.arange(2), subject=0, frame=frame)
    box = torch.tensor([[-0.6, -0.6, -0.3], [0.6, 0.6, 0.3]])
    tw = look_at((0.15, 0.25, -3.0))
    target = TargetView(K=K[0].clone(), w2c=tw, height=height, width=width, box=box, near_far=box_near_far(box, tw))
    return sources, target


def _human(sources):
    generator = torch.Generator().manual_seed(int(sources.frame) + 1)
    return torch.randn(sources.num_views, 6, SIZE // 2, SIZE // 2, generator=generator)


def test_cache_hit_gives_the_uncached_image_and_encodes_once():
    net = _network()
    sources, target = _scene()
    cache = EncodeCache(capacity=2)
    calls = []

    def encode():
        calls.append(1)
        return net.encode(sources, _human(sources))

    key = source_cache_key(sources, weights_version(net))
    first = render_image(net, cache.get_or_encode(key, encode), target, chunk=97)
    moved = replace_target(target, look_at((-0.2, 0.1, -3.0)))
    render_image(net, cache.get_or_encode(key, encode), moved, chunk=97)  # the viewer moved: cache hit
    again = render_image(net, cache.get_or_encode(key, encode), target, chunk=1000)
    assert (cache.hits, cache.misses, len(calls)) == (2, 1, 1)
    with torch.no_grad():
        uncached = render_image(net, net.encode(sources, _human(sources)), target, chunk=64)
    assert first["box_mask"].any() and not first["box_mask"].all()
    for name in ("rgb", "depth", "accumulation", "heatmaps", "cse"):
        torch.testing.assert_close(again[name], uncached[name], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(first[name], uncached[name], rtol=1e-5, atol=1e-6)


def replace_target(target, w2c):
    return replace(target, w2c=w2c, near_far=box_near_far(target.box, w2c))


def test_cache_is_lru_bounded_by_count_and_bytes_and_keyed_by_weights():
    net = _network()
    sets = [_scene(frame=f)[0] for f in range(3)]
    encoded = [net.encode(s, _human(s)) for s in sets]
    keys = [source_cache_key(s, weights_version(net)) for s in sets]
    cache = EncodeCache(capacity=2)
    for key, value in zip(keys, encoded):
        assert cache.get_or_encode(key, lambda v=value: v) is value
    assert keys[0] not in cache and keys[1] in cache and keys[2] in cache and len(cache) == 2
    cache.get_or_encode(keys[1], lambda: pytest.fail("must hit"))  # keys[1] becomes most recent
    cache.get_or_encode(keys[0], lambda: encoded[0])
    assert keys[2] not in cache and keys[1] in cache

    one = tensor_bytes(encoded[0])
    assert one >= encoded[0].sources.images.numel() * 4 + encoded[0].human_features.numel() * 4
    small = EncodeCache(capacity=10, max_bytes=int(1.5 * one))
    for key, value in zip(keys, encoded):
        small.get_or_encode(key, lambda v=value: v)
    assert len(small) == 1 and keys[2] in small and small.nbytes <= 1.5 * one

    before = weights_version(net)
    with torch.no_grad():
        next(net.parameters()).add_(0.01)  # an optimiser step or load_state_dict modifies weights in place
    assert weights_version(net) != before
    assert source_cache_key(sets[0], weights_version(net)) not in cache


def test_fine_only_rendering_matches_the_cascade_and_pads_any_size():
    net = _network(human_channels=0)
    sources, target = _scene(height=37, width=45)  # not multiples of 32: padded, cropped back
    encoded = net.encode(sources)
    out = render_image(net, encoded, target, chunk=50)
    assert out["rgb"].shape == (37, 45, 3) and out["heatmaps"].shape == (37, 45, 25) and out["cse"].shape == (37, 45, 4)
    assert not out["rgb"].requires_grad

    padded = replace(target, height=64, width=64)
    with torch.no_grad():
        volumes = net.build_volumes(encoded, padded)
        rows, cols = torch.nonzero(out["box_mask"][..., 0], as_tuple=True)
        pixels = torch.stack([cols, rows], dim=-1).float()
        both = net.render_rays(encoded, volumes, padded, pixels)
        fine_only = net.render_rays(encoded, volumes, padded, pixels, levels=("fine",))
    assert both.coarse is not None and fine_only.coarse is None
    torch.testing.assert_close(fine_only.fine.rgb, both.fine.rgb)
    torch.testing.assert_close(out["rgb"][rows, cols], both.fine.rgb, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out["heatmaps"][rows, cols], both.fine.heatmaps, rtol=1e-5, atol=1e-6)
    outside = ~out["box_mask"][..., 0]
    assert (out["rgb"][outside] == 0).all() and torch.allclose(out["depth"][outside], target.near_far[1])
    with pytest.raises(ValueError, match="levels"):
        net.render_rays(encoded, volumes, padded, pixels, levels=("coarse",))


def test_rendered_images_are_ordinary_tensors_that_callers_may_edit():
    net = _network(human_channels=0)
    sources, target = _scene()
    out = render_image(net, net.encode(sources), target, chunk=200)
    for value in out.values():
        assert not value.is_inference()
    out["rgb"][0, 0] = 1.0  # an inference tensor would raise here (viewer overlays, metrics crops edit in place)
