"""psi (view pooling): softmax weights, permutation invariance, generic channels, single view, and the channels-first
fast path (used for the wide human features) against a slow reference."""

import pytest
import torch

from ghnerf_ns.model.psi_pooling import ViewPooling


@pytest.mark.parametrize("channels", [11, 35, 384])
def test_weights_sum_to_one_and_view_permutation_invariance(channels):
    torch.manual_seed(0)
    psi = ViewPooling(channels, hidden_dim=32, out_dim=16)
    feats = torch.randn(5, 7, 3, channels)
    dirs = torch.randn(5, 7, 3, 4)
    out = psi(feats, dirs)
    assert out.pooled.shape == (5, 7, 16) and out.view_weights.shape == (5, 7, 3)
    torch.testing.assert_close(out.view_weights.sum(-1), torch.ones(5, 7))
    assert (out.pooled >= 0).all()  # final ReLU
    perm = torch.tensor([2, 0, 1])
    permuted = psi(feats[:, :, perm], dirs[:, :, perm])
    torch.testing.assert_close(permuted.pooled, out.pooled, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(permuted.view_weights, out.view_weights[:, :, perm], atol=1e-6, rtol=1e-5)


def test_variance_is_unbiased_enerf_parity_and_single_view_is_finite():
    psi = ViewPooling(2, hidden_dim=4, out_dim=3)
    with torch.no_grad():  # make the view bias zero so psi sees the raw features
        psi.view_fc[0].weight.zero_()
        psi.view_fc[0].bias.zero_()
        psi.global_fc[0].weight.zero_()
        psi.global_fc[0].weight[0, 2] = 1.0  # g_0 = var of channel 0
        psi.global_fc[0].bias.zero_()
    feats = torch.tensor([[[0.0, 0.0], [2.0, 0.0]]])  # 2 views: channel-0 values 0 and 2
    captured = {}
    handle = psi.global_fc.register_forward_hook(lambda m, i, o: captured.update(g=o))  # returns None: no override
    psi(feats, torch.zeros(1, 2, 4))
    handle.remove()
    # unbiased variance of (0, 2) = 2 (the biased one would be 1)
    torch.testing.assert_close(captured["g"][0, :, 0], torch.tensor([2.0, 2.0]))
    single = psi(torch.randn(4, 1, 2), torch.randn(4, 1, 4))
    assert torch.isfinite(single.pooled).all()
    torch.testing.assert_close(single.view_weights, torch.ones(4, 1))


def _psi_reference(psi, features, ray_diff):
    """ENeRF's Agg written plainly: cat [x, var, mean] per view, torch.var, one global_fc call."""
    x = features + psi.view_fc(ray_diff)
    mean = x.mean(dim=-2, keepdim=True)
    var = torch.var(x, dim=-2, keepdim=True, unbiased=True) if x.shape[-2] > 1 else torch.zeros_like(mean)
    stats = torch.cat([var, mean], dim=-1).expand(*x.shape[:-1], -1)
    g = psi.global_fc[1](psi.global_fc[0](torch.cat([x, stats], dim=-1)))
    weights = torch.softmax(psi.weight_fc(g), dim=-2)
    return psi.out_fc((weights * g).sum(dim=-2)), weights[..., 0]


@pytest.mark.parametrize("num_views", [1, 2, 3])
def test_psi_channels_first_and_points_first_layouts_match_the_reference(num_views):
    torch.manual_seed(num_views)
    psi = ViewPooling(40, hidden_dim=32, out_dim=16).double()
    # grid_sample's layout: (views, C, points), seen as (rays, samples, views, C) by a permuted view.
    base = torch.randn(num_views, 40, 5 * 3, dtype=torch.double, requires_grad=True)
    channels_first = base.permute(2, 0, 1).reshape(5, 3, num_views, 40)
    assert not channels_first.is_contiguous()
    points_first = base.detach().permute(2, 0, 1).contiguous().reshape(5, 3, num_views, 40).requires_grad_()
    ray_diff = torch.randn(5, 3, num_views, 4, dtype=torch.double)
    expected, expected_weights = _psi_reference(psi, points_first, ray_diff)
    for features in (channels_first, points_first):
        out = psi(features, ray_diff)
        torch.testing.assert_close(out.pooled, expected)
        torch.testing.assert_close(out.view_weights, expected_weights)
    (grad_fast,) = torch.autograd.grad(psi(channels_first, ray_diff).pooled.square().sum(), base)
    (grad_ref,) = torch.autograd.grad(expected.square().sum(), points_first)
    torch.testing.assert_close(grad_fast.permute(2, 0, 1).reshape(5, 3, num_views, 40), grad_ref)
