"""3D CNN shapes/divisibility and the soft-argmax depth regression."""

import math

import pytest
import torch


@pytest.mark.parametrize("scales,in_ch,shape", [(2, 32, (8, 4, 4)), (3, 16, (8, 16, 8))])
def test_regularizer_shapes(scales, in_ch, shape):
    from ghnerf_ns.model.cost_regularizer import CostRegularizer

    net = CostRegularizer(in_ch, scales)
    feats, logits = net(torch.randn(in_ch, *shape))
    assert feats.shape == (8, *shape)
    assert logits.shape == shape
    (logits.sum() + feats.sum()).backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad and p.dim() > 1)


def test_regularizer_rejects_indivisible_volume():
    from ghnerf_ns.model.cost_regularizer import CostRegularizer

    with pytest.raises(ValueError, match="multiples of 32"):
        CostRegularizer(16, 3)(torch.randn(16, 8, 12, 16))


def test_depth_regression_hand_case():
    from ghnerf_ns.model.cost_regularizer import depth_regression

    values = torch.tensor([2.0, 4.0]).view(2, 1)
    # Equal logits: p = (0.5, 0.5): depth 3, var = 0.5*1 + 0.5*1 = 1 -> std 1.
    depth, std = depth_regression(torch.zeros(2, 1), values, inverse=False)
    torch.testing.assert_close(depth, torch.tensor([3.0]))
    torch.testing.assert_close(std, torch.tensor([1.0]))
    # Inverse (ENeRF level 0): values become disparities 0.5, 0.25 -> depth 0.375, std 0.125.
    depth, std = depth_regression(torch.zeros(2, 1), values, inverse=True)
    torch.testing.assert_close(depth, torch.tensor([0.375]))
    torch.testing.assert_close(std, torch.tensor([0.125]))
    # A one-hot distribution: std is clamped at sqrt(1e-10) = 1e-5, not 0.
    depth, std = depth_regression(torch.tensor([[100.0], [-100.0]]), values, inverse=False)
    torch.testing.assert_close(depth, torch.tensor([2.0]))
    torch.testing.assert_close(std, torch.tensor([math.sqrt(1e-10)]))
