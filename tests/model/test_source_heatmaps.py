"""Source-view heatmaps: cell targets (hand case and dense reference), the masked loss, the evidence, the network."""

import math

import pytest
import torch

from dataparsers.body25 import BODY25_MIRROR, joint_index
from ghnerf_ns.keypoints.heatmap_targets import render_gt_heatmaps
from ghnerf_ns.keypoints.side_assignment import MIRROR_PAIRS
from ghnerf_ns.model.encoder_windows import EncoderWindows
from ghnerf_ns.model.geometry import project
from ghnerf_ns.model.human_encoders import HumanEncoderConfig
from ghnerf_ns.model.projection import project_samples
from ghnerf_ns.model.source_heatmaps import (
    SourceHeatmapHead,
    cell_heatmap_targets,
    either_side_evidence,
    keypoint_evidence,
    pooled_heatmap_loss,
    source_heatmap_loss,
)
from tests.model.test_network import _config, _scene


def _keypoints(*joints):
    """(1, 25, 3) keypoints: the given (x, y) joints first (confidence 1), the rest missing."""
    kp = torch.zeros(1, 25, 3)
    for j, (x, y) in enumerate(joints):
        kp[0, j] = torch.tensor([x, y, 1.0])
    return kp


def test_cell_targets_hand_case():
    # Stride 2: cell (i, j) holds pixel (2j + 0.5, 2i + 0.5). A joint at (2.5, 0.5) sits on cell (0, 1).
    targets, valid = cell_heatmap_targets(_keypoints((2.5, 0.5)), (2, 2), stride=2, sigma=2.0, image_hw=(4, 4))
    assert valid[0, 0] and not valid[0, 1:].any()
    expected = torch.tensor([[math.exp(-4 / 8), 1.0], [math.exp(-8 / 8), math.exp(-4 / 8)]])
    assert torch.allclose(targets[0, 0], expected, atol=1e-6)
    assert targets[0, 1:].abs().max() == 0


def test_cell_targets_at_stride_1_are_the_dense_ground_truth():
    kp = _keypoints((3.2, 7.9), (10.0, 1.5), (-2.0, 4.0))[0]
    dense, valid_dense = render_gt_heatmaps(kp, 12, 14, sigma=1.7)
    cells, valid = cell_heatmap_targets(kp[None], (12, 14), stride=1, sigma=1.7, image_hw=(12, 14))
    assert torch.equal(valid[0], valid_dense)
    assert torch.allclose(cells[0], dense.permute(2, 0, 1), atol=1e-6)


def test_loss_counts_valid_maps_only():
    pred = torch.full((2, 25, 2, 2), 0.5, requires_grad=True)
    targets = torch.zeros(2, 25, 2, 2)
    valid = torch.zeros(2, 25, dtype=torch.bool)
    valid[0, 3] = True
    loss = source_heatmap_loss(pred, targets, valid)
    assert float(loss) == pytest.approx(0.25)  # (0.5 - 0)^2 over the 4 cells of the one valid map
    loss.backward()
    assert pred.grad[0, 3].abs().min() > 0 and pred.grad.sum() == pred.grad[0, 3].sum()
    none = source_heatmap_loss(pred, targets, torch.zeros_like(valid))
    assert float(none) == 0.0 and none.requires_grad


R_HIP, L_HIP = joint_index("RHip"), joint_index("LHip")


def test_either_side_loss_hand_case():
    """One view: the hip channels each hold the other hip's Gaussian (labels swapped), the neck is off by 0.5 in one
    cell. Named: the hips cost 2 x 2 cells of 1 (each channel misses its own one-hot and lights the other's) plus the
    neck's 0.25, over 25 x 4 cells. Either-side: the swapped labelling costs nothing, the neck stays."""
    targets = torch.zeros(1, 25, 2, 2)
    targets[0, R_HIP, 0, 0] = 1.0
    targets[0, L_HIP, 1, 1] = 1.0
    pred = targets.clone()
    pred[0, [R_HIP, L_HIP]] = targets[0, [L_HIP, R_HIP]]
    pred[0, joint_index("Neck"), 0, 1] = 0.5
    valid = torch.ones(1, 25, dtype=torch.bool)
    assert float(source_heatmap_loss(pred, targets, valid)) == pytest.approx(4.25 / 100)
    assert float(source_heatmap_loss(pred, targets, valid, BODY25_MIRROR)) == pytest.approx(0.25 / 100)


def _either_side_reference(pred, targets, valid):
    """Slow reference: every view and pair scored both ways in Python loops, the cheaper kept."""
    total, count = pred.new_zeros(()), 0
    paired = {j for pair in MIRROR_PAIRS for j in pair}
    for v in range(pred.shape[0]):

        def sse(channel, joint):
            return ((pred[v, channel] - targets[v, joint]) ** 2).sum() if valid[v, joint] else pred.new_zeros(())

        for j in range(pred.shape[1]):
            if j not in paired:
                total = total + sse(j, j)
        for right, left in MIRROR_PAIRS:
            total = total + torch.minimum(sse(right, right) + sse(left, left), sse(right, left) + sse(left, right))
        count += int(valid[v].sum()) * pred.shape[2] * pred.shape[3]
    return total / max(count, 1)


def test_either_side_loss_matches_the_slow_reference_values_and_gradients():
    gen = torch.Generator().manual_seed(3)
    pred = torch.rand(3, 25, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    targets = torch.rand(3, 25, 4, 5, generator=gen, dtype=torch.float64)
    valid = torch.rand(3, 25, generator=gen) > 0.3
    valid[0, R_HIP], valid[0, L_HIP] = True, False  # one member of a pair missing: its label decides the cost
    fast = pooled_heatmap_loss([(pred, targets, valid)], BODY25_MIRROR)
    (grad_fast,) = torch.autograd.grad(fast, pred)
    slow = _either_side_reference(pred, targets, valid)
    (grad_slow,) = torch.autograd.grad(slow, pred)
    assert float(fast) == pytest.approx(float(slow), rel=1e-12)
    assert torch.allclose(grad_fast, grad_slow, atol=1e-12)


def test_either_side_evidence_lights_both_limbs_in_both_channels():
    maps = torch.zeros(1, 25, 2, 2)
    maps[0, R_HIP, 0, 0] = 0.8
    maps[0, L_HIP, 1, 1] = 0.6
    maps[0, joint_index("Neck"), 0, 1] = 0.3
    out = either_side_evidence(maps, BODY25_MIRROR)
    expected = torch.tensor([[0.8, 0.0], [0.0, 0.6]])
    assert torch.equal(out[0, R_HIP], expected) and torch.equal(out[0, L_HIP], expected)
    assert torch.equal(out[0, joint_index("Neck")], maps[0, joint_index("Neck")])


def test_evidence_is_mean_and_min_over_views():
    sampled = torch.tensor([[[0.2, 0.9], [0.6, 0.1]]])  # (points=1, views=2, joints=2)
    assert torch.allclose(keypoint_evidence(sampled), torch.tensor([[0.4, 0.5, 0.2, 0.1]]))


def test_head_starts_at_its_prior():
    head = SourceHeatmapHead(6, 25, prior=0.01)
    maps = head(torch.randn(2, 6, 5, 7))
    assert maps.shape == (2, 25, 5, 7)
    assert torch.allclose(maps, torch.full_like(maps, 0.01), atol=2e-3)


class _FixedLogits(torch.nn.Module):
    """Stands in for a head's layers: always the same logits."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_bounded_head_cannot_cancel_a_confident_prior():
    """Bound 8: the head's logits z become b + 8 tanh((z - b) / 8) with b = logit(0.01): a head that says b - 100 at
    cell 0 and b + 100 at cell 1 gives b - 8 and b + 8 (tanh(12.5) = 1 to float precision), and b + 1 gives
    b + 8 tanh(1 / 8) = b + 0.99480. So a prior of +20 at cell 0 stays the maximum (b + 12 against b + 8); unbounded,
    the same head moves the peak to cell 1."""
    b = math.log(0.01 / 0.99)
    features, prior = torch.zeros(1, 1, 1, 2), torch.tensor([[[[20.0, 0.0]]]])
    bounded, free = SourceHeatmapHead(1, 1, bound=8.0), SourceHeatmapHead(1, 1)
    bounded.layers = _FixedLogits(torch.tensor([[[[b + 1.0, b + 1.0]]]]))
    assert float(torch.logit(bounded(features).double())[0, 0, 0, 0]) == pytest.approx(b + 0.99480, abs=1e-4)
    own = torch.tensor([[[[b - 100.0, b + 100.0]]]])
    bounded.layers, free.layers = _FixedLogits(own), _FixedLogits(own)
    logits = torch.logit(bounded(features, prior).double())
    torch.testing.assert_close(logits, torch.tensor([[[[b + 12.0, b + 8.0]]]], dtype=torch.double), atol=1e-4, rtol=0)
    assert int(free(features, prior).flatten().argmax()) == 1
    two = SourceHeatmapHead(1, 2, bound=8.0, bounded_joints=[1])  # joint 0 unbounded, joint 1 bounded
    two.layers = _FixedLogits(torch.tensor([[[[b + 100.0]], [[b + 100.0]]]]))
    torch.testing.assert_close(torch.logit(two(torch.zeros(1, 1, 1, 1)).double()).flatten()[1], torch.tensor(b + 8.0,
                               dtype=torch.double), atol=1e-4, rtol=0)  # fmt: skip
    assert float(two(torch.zeros(1, 1, 1, 1)).flatten()[0]) == 1.0  # sigmoid(b + 100) in float32
    with pytest.raises(ValueError, match="logit bound"):
        SourceHeatmapHead(1, 1, bound=-1.0)


def test_maps_are_read_at_the_projection_of_each_sample():
    """A map whose cells hold their own pixel's x coordinate gives back the projection's x (cells convention)."""
    sources, target, _ = _scene(num_views=2)
    stride, (height, width) = 2, sources.hw
    cells_x = torch.arange(width // stride).float() * stride + (stride - 1) / 2
    maps = cells_x.expand(2, 25, height // stride, -1).contiguous()
    xyz = torch.tensor([[[0.1, -0.2, 0.05], [-0.3, 0.25, 0.0]]])
    projected = project_samples(
        xyz, sources.images, sources.images, sources.K, sources.w2c, target.w2c, keypoint_maps=maps
    )
    for view in range(2):
        uv, _ = project(xyz[0], sources.K[view], sources.w2c[view])
        assert torch.allclose(projected.keypoint_heat[0, :, view, 0], uv[:, 0], atol=1e-4)


def test_network_reads_the_maps_and_the_loss_trains_the_encoder_head():
    torch.manual_seed(0)
    net = _config(human_feature_channels=6, keypoint_evidence=True).setup()
    sources, target, _ = _scene(num_views=2)
    features = torch.randn(2, 6, 16, 16)
    maps = torch.rand(2, 25, 16, 16, requires_grad=True)
    pixels = torch.tensor([[4.0, 5.0], [20.0, 11.0], [16.0, 16.0]])
    out = net(sources, features, target, pixels, maps)
    (grad,) = torch.autograd.grad(out.fine.heatmaps.sum(), maps)
    assert grad.abs().sum() > 0  # the rendered heatmaps read the source maps (the keypoint evidence)
    with pytest.raises(ValueError, match="keypoint_evidence is on but encode"):
        net.encode(sources, features)


def test_encoder_head_maps_live_in_the_windows_and_train():
    torch.manual_seed(0)
    encoder = HumanEncoderConfig(name="resnet18", pretrained=False, heatmap_head=True).setup()
    images = torch.rand(2, 3, 64, 64)
    windows = EncoderWindows(origins=((16, 0), (0, 16)), size=(32, 48), padded_hw=(64, 64))
    maps = encoder.encode_lowres(images, windows)
    assert maps.features.shape == (2, 512, 32, 32) and maps.heatmaps.shape == (2, 25, 32, 32)
    inside = maps.heatmaps[0, :, 8:24, 0:24]
    assert torch.allclose(inside, torch.full_like(inside, 0.01), atol=2e-3)  # the head starts at its prior
    assert maps.heatmaps[0, :, :8].abs().max() == 0 and maps.heatmaps[1, :, :, :8].abs().max() == 0
    targets = torch.zeros_like(maps.heatmaps)
    loss = source_heatmap_loss(maps.heatmaps, targets, torch.ones(2, 25, dtype=torch.bool))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.heatmap_head.parameters())
    assert encoder.backbone.conv1.weight.grad.abs().sum() > 0


def test_head_needs_an_encoder_with_features():
    with pytest.raises(ValueError, match="heatmap-head needs a human encoder"):
        HumanEncoderConfig(name="none", pretrained=False, heatmap_head=True).setup()
