"""The assembled cascade: output shapes for every option, the split API, errors, and a tiny training run."""

import pytest
import torch
import tyro

from ghnerf_ns.model.geometry import box_near_far, image_pixels, project
from ghnerf_ns.model.losses import heatmap_loss
from ghnerf_ns.model.network import CascadeLevelConfig, GHNeRFNetworkConfig
from ghnerf_ns.model.projection import sample_source_maps
from ghnerf_ns.model.views import SourceViews, TargetView
from tests.model.cascade_scenes import look_at, render_plane, ring_rig

SIZE = 32


def _config(**kwargs):
    # Coarse level with 8 planes instead of 32 keeps the tests fast; everything else is the default cascade.
    return GHNeRFNetworkConfig(coarse=CascadeLevelConfig(num_planes=8), **kwargs)


def _scene(num_views=2, size=SIZE):
    K, w2c = ring_rig(num_views, size=size, focal=40.0 * size / 32)
    images = torch.stack([render_plane(K[i], w2c[i], size, size) for i in range(num_views)])
    sources = SourceViews(images=images, K=K, w2c=w2c, camera_ids=torch.arange(num_views))
    box = torch.tensor([[-1.0, -1.0, -0.3], [1.0, 1.0, 0.3]])
    tw = look_at((0.15, 0.25, -3.0))
    target = TargetView(K=K[0].clone(), w2c=tw, height=size, width=size, box=box, near_far=box_near_far(box, tw))
    gt = render_plane(K[0], tw, size, size)
    return sources, target, gt


@pytest.mark.parametrize("num_views", [2, 3])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"human_feature_channels": 6, "cse_dim": 16, "coord_branch": True},
        {"color_mode": "regress", "cse_dim": 4},
    ],
)
def test_output_shapes(num_views, options):
    torch.manual_seed(0)
    net = _config(**options).setup()
    sources, target, _ = _scene(num_views)
    human = torch.randn(num_views, 6, 8, 8) if options.get("human_feature_channels") else None
    pixels = torch.tensor([[0.0, 0.0], [31.0, 31.0], [10.0, 20.0], [15.5, 3.25], [7.0, 7.0]])
    out = net(sources, human, target, pixels)
    for level, samples in ((out.coarse, 8), (out.fine, 4)):
        assert level.rgb.shape == (5, 3)
        for name in ("accumulation", "depth", "z_depth", "depth_enerf", "depth_mvs"):
            assert getattr(level, name).shape == (5, 1), name
        assert level.weights.shape == (5, samples) and level.z_samples.shape == (5, samples)
        assert torch.isfinite(level.rgb).all() and torch.isfinite(level.depth).all()
    assert out.coarse.heatmaps is None and out.coarse.cse is None and out.coarse.coords_pred is None
    assert out.fine.heatmaps.shape == (5, 25)
    cse_dim = options.get("cse_dim", 0)
    assert (out.fine.cse is None) if not cse_dim else out.fine.cse.shape == (5, cse_dim)
    if options.get("coord_branch"):
        assert out.fine.coords_pred.shape == out.fine.coords_target.shape == (5, 4, 3)

        # The target is the sample position normalised by the box: undoing it lands back on the rays' pixels.
        center, half = target.box.mean(0), (target.box[1] - target.box[0]) / 2
        uv, z = project(out.fine.coords_target * half + center, target.K, target.w2c)
        torch.testing.assert_close(uv, pixels[:, None].expand(-1, 4, -1), atol=1e-3, rtol=0)
        torch.testing.assert_close(z, out.fine.z_samples, atol=1e-4, rtol=1e-4)
    # depth is the ray distance of the normalised expected z-depth, inside the box's z-range (+ ray slant).
    near, far = target.near_far.tolist()
    assert (out.fine.z_depth >= near - 1e-4).all() and (out.fine.z_depth <= far + 1e-4).all()
    assert (out.fine.depth >= out.fine.z_depth - 1e-6).all()
    # ENeRF parity: the coarse level's "enerf" depth is a disparity, the fine one metres.
    assert (out.coarse.depth_enerf <= 1 / near + 1e-5).all() and (out.coarse.depth_enerf >= 1 / far - 1e-5).all()
    assert (out.fine.depth_enerf >= near - 1e-4).all() and (out.fine.depth_enerf <= far + 1e-4).all()


def test_split_api_chunks_equal_one_shot_and_volumes_are_per_target():
    torch.manual_seed(0)
    net = _config(human_feature_channels=3).setup().eval()
    sources, target, _ = _scene(2)
    human = torch.randn(2, 3, 32, 32)

    pixels = image_pixels(SIZE, SIZE, torch.device("cpu"))
    with torch.no_grad():
        encoded = net.encode(sources, human)
        volumes = net.build_volumes(encoded, target)
        assert volumes.coarse.features.shape == (8, 8, 4, 4) and volumes.coarse.depth.shape == (4, 4)
        assert volumes.fine.features.shape == (8, 8, 16, 16) and volumes.fine.near_far.shape == (2, 16, 16)
        # coarse is in disparity, fine in metres, both inside the box range
        near, far = target.near_far.tolist()
        assert (volumes.coarse.depth_mvs >= near - 1e-4).all() and (volumes.coarse.depth_mvs <= far + 1e-4).all()
        assert (volumes.fine.depth_values >= near - 1e-4).all() and (volumes.fine.depth_values <= far + 1e-4).all()
        whole = net.render_rays(encoded, volumes, target, pixels)
        parts = [net.render_rays(encoded, volumes, target, chunk) for chunk in pixels.split(300)]
        full = net(sources, human, target, pixels)
    for name in ("rgb", "depth", "heatmaps", "accumulation"):
        joined = torch.cat([getattr(p.fine, name) for p in parts])
        torch.testing.assert_close(joined, getattr(whole.fine, name), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(getattr(full.fine, name), getattr(whole.fine, name), atol=1e-5, rtol=1e-5)


def test_bad_inputs_give_clear_errors():
    net = _config().setup()
    sources, target, _ = _scene(2)
    bad = SourceViews(images=torch.rand(2, 3, 30, 32), K=sources.K, w2c=sources.w2c, camera_ids=sources.camera_ids)
    with pytest.raises(ValueError, match="multiples of 32"):
        net.encode(bad)
    with pytest.raises(ValueError, match="human_feature_channels"):
        net.encode(sources, torch.randn(2, 4, 8, 8))
    with pytest.raises(ValueError, match="human_feature_channels"):
        _config(human_feature_channels=4).setup().encode(sources)
    with pytest.raises(ValueError, match="num_planes"):
        GHNeRFNetworkConfig(coarse=CascadeLevelConfig(num_planes=6)).setup()


def test_param_groups_partition_parameters_and_all_receive_gradients():
    torch.manual_seed(0)
    net = _config(human_feature_channels=3, cse_dim=4, coord_branch=True).setup()
    groups = net.param_groups()
    assert set(groups) == {"feature_pyramid", "cost_regularizer", "field"}
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))
    sources, target, gt = _scene(2)
    pixels = torch.rand(64, 2) * 31
    out = net(sources, torch.randn(2, 3, 16, 16), target, pixels)
    loss = (
        out.coarse.rgb.sum()
        + out.fine.rgb.sum()
        + out.fine.heatmaps.sum()
        + out.fine.cse.sum()
        + ((out.fine.coords_pred - out.fine.coords_target) ** 2).sum()
    )
    loss.backward()
    for name, params in groups.items():
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), name


def test_tiny_training_loop_reduces_colour_loss():
    torch.manual_seed(0)
    net = _config().setup()
    sources, target, gt = _scene(2)
    # A fixed batch of 128 rays (every 8th pixel) keeps 30 CPU steps to seconds.
    pixels = image_pixels(SIZE, SIZE, torch.device("cpu"))[::8]
    gt_rgb = gt.permute(1, 2, 0).reshape(-1, 3)[::8]
    weights = (net.config.coarse.loss_weight, net.config.fine.loss_weight)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        out = net(sources, None, target, pixels)
        loss = weights[0] * ((out.coarse.rgb - gt_rgb) ** 2).mean() + weights[1] * ((out.fine.rgb - gt_rgb) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_config_is_a_tyro_cli_with_named_levels():
    config = tyro.cli(GHNeRFNetworkConfig, args=["--coarse.num-planes", "16", "--color-mode", "regress"])
    assert (config.coarse.num_planes, config.fine.num_planes, config.color_mode) == (16, 8, "regress")
    default = GHNeRFNetworkConfig()
    assert (default.coarse.num_samples, default.fine.num_samples) == (8, 4)  # GHNeRF supplement
    assert (default.coarse.loss_weight, default.fine.loss_weight) == (0.1, 1.0)  # ENeRF


def test_human_projection_commutes_with_the_sample_lookup_and_can_be_turned_off():
    """Projecting the low-resolution human map once per source image equals projecting every sampled feature (the
    lookup is bilinear with border padding: weights sum to 1, so the bias commutes too), values and gradients."""
    torch.manual_seed(0)
    net = _config(human_feature_channels=6, human_projection_dim=3).setup()
    assert net.human_projection is not None and net.fields[1].psi_h.in_channels == 3
    assert _config(human_feature_channels=6, human_projection_dim=0).setup().fields[1].psi_h.in_channels == 6
    assert _config(human_projection_dim=8).setup().human_projection is None  # no human encoder: nothing to project
    sources, _, _ = _scene(2)
    human = torch.randn(2, 6, 8, 8, requires_grad=True)
    encoded = net.encode(sources, human)
    points = torch.rand(50, 3) * 2 - 1  # includes points projecting outside the images (border values)
    fast = sample_source_maps(points, encoded.human_features, sources.K, sources.w2c, SIZE, SIZE)
    sampled = sample_source_maps(points, human, sources.K, sources.w2c, SIZE, SIZE)  # (points, views, 6)
    weight, bias = net.human_projection.weight[:, :, 0, 0], net.human_projection.bias
    reference = sampled @ weight.T + bias
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)
    probe = torch.randn_like(fast)
    grads_fast = torch.autograd.grad((fast * probe).sum(), (human, net.human_projection.weight))
    grads_ref = torch.autograd.grad((reference * probe).sum(), (human, net.human_projection.weight))
    for got, want in zip(grads_fast, grads_ref):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_heads_start_at_their_prior_and_detached_weights_keep_the_forward_pass():
    sources, target, _ = _scene()
    pixels = torch.rand(64, 2) * (SIZE - 1)
    torch.manual_seed(0)
    net = _config(cse_dim=4, heatmap_prior=0.01).setup()
    out = net(sources, None, target, pixels).fine
    # Composited heads: sum_i w_i h_i with h_i ~ 0.01 (small last-layer weights), CSE exactly 0 at the start.
    ratio = out.heatmaps / out.accumulation.clamp_min(1e-6)
    assert ratio[out.accumulation[:, 0] > 0.05].sub(0.01).abs().max() < 0.005
    assert (out.cse == 0).all()

    torch.manual_seed(0)
    detached = _config(cse_dim=4, heatmap_prior=0.01, detach_head_weights=True).setup()
    detached.load_state_dict(net.state_dict())
    out_d = detached(sources, None, target, pixels).fine
    torch.testing.assert_close(out_d.heatmaps, out.heatmaps)  # eq. 4's forward pass is unchanged
    heatmap_loss(out_d.heatmaps, torch.ones_like(out_d.heatmaps), torch.ones(25, dtype=torch.bool)).backward()
    density_grads = [p.grad for p in detached.fields[1].g_sigma.parameters()]
    assert all(g is None or g.abs().max() == 0 for g in density_grads)  # the head loss leaves the density alone
    assert detached.fields[1].g_h[-2].weight.grad.abs().max() > 0
    heatmap_loss(out.heatmaps, torch.ones_like(out.heatmaps), torch.ones(25, dtype=torch.bool)).backward()
    assert net.fields[1].g_sigma[0].weight.grad.abs().max() > 0  # without detaching it reaches the density
