"""3D CNN shapes/divisibility and the soft-argmax depth regression."""

import math

import pytest
import torch
import torch.nn.functional as F

from ghnerf_ns.model.cost_regularizer import Conv3d, CostRegularizer, depth_regression


@pytest.mark.parametrize("scales,in_ch,shape", [(2, 32, (8, 4, 4)), (3, 16, (8, 16, 8))])
def test_regularizer_shapes(scales, in_ch, shape):
    net = CostRegularizer(in_ch, scales)
    feats, logits = net(torch.randn(in_ch, *shape))
    assert feats.shape == (8, *shape)
    assert logits.shape == shape
    (logits.sum() + feats.sum()).backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad and p.dim() > 1)


def test_regularizer_rejects_indivisible_volume():
    with pytest.raises(ValueError, match="multiples of 32"):
        CostRegularizer(16, 3)(torch.randn(16, 8, 12, 16))


def test_depth_regression_hand_case():
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


@pytest.mark.parametrize(
    "stride,channels,bias", [(1, (8, 8), False), (2, (16, 32), True), (1, (8, 1), False), (1, (4, 16), True)]
)
def test_cpu_conv3d_fast_path_matches_the_reference_conv_values_and_gradients(stride, channels, bias):
    torch.manual_seed(0)
    conv = Conv3d(channels[0], channels[1], 3, stride=stride, padding=1, bias=bias)
    x = torch.randn(1, channels[0], 4, 12, 16, requires_grad=True)
    ours = conv(x)
    reference = F.conv3d(x, conv.weight, conv.bias, stride=stride, padding=1)  # PyTorch's own path
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    probe = torch.randn_like(ours)
    params = [x, conv.weight] + ([conv.bias] if bias else [])
    got = torch.autograd.grad((ours * probe).sum(), params)
    want = torch.autograd.grad((reference * probe).sum(), params)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-4, rtol=1e-4)
    assert set(conv.state_dict()) == set(torch.nn.Conv3d(channels[0], channels[1], 3, bias=bias).state_dict())
    with torch.no_grad():  # inference takes oneDNN's 3D kernel (fast forward); training the 2D-plane path
        torch.testing.assert_close(conv(x), reference, atol=1e-5, rtol=1e-5)
