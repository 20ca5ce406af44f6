"""psi (view pooling): softmax weights, permutation invariance, generic channels, single view."""

import pytest
import torch


@pytest.mark.parametrize("channels", [11, 35, 384])
def test_weights_sum_to_one_and_view_permutation_invariance(channels):
    from ghnerf_ns.model.aggregation import ViewPooling

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
    from ghnerf_ns.model.aggregation import ViewPooling

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
