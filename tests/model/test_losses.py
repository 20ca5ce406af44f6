"""Tests of the GHNeRF loss terms and the VGG perceptual loss (offline: random VGG weights)."""

from pathlib import Path
from typing import Dict, List

import pytest
import torch
import torch.nn.functional as F
from torchvision.models.vgg import cfgs, make_layers

from ghnerf_ns.model.losses import (
    GHNeRFLossConfig,
    PerceptualLoss,
    PerceptualWeightsUnavailable,
    coord_loss,
    cse_loss,
    heatmap_loss,
    mask_loss,
    rgb_loss,
)
from ghnerf_ns.runtime.weights import PretrainedWeightsUnavailable, lpips_vgg_available
from tests.model.offline_weights import offline  # noqa: F401  (autouse fixture)


@pytest.fixture(scope="module")
def vgg_state() -> Dict[str, torch.Tensor]:
    """Random VGG16 `features` weights under torchvision's file key names (`features.N.weight`)."""
    torch.manual_seed(0)
    features = make_layers(cfgs["D"], batch_norm=False)  # vgg16().features, without the huge classifier
    return {f"features.{k}": v for k, v in features.state_dict().items()}


def _reference_masked_mse(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Slow, obvious reference: loop over the entries, average the valid squared errors."""
    terms = [(pred[i, j] - gt[i, j]) ** 2 for i in range(pred.shape[0]) for j in range(pred.shape[1]) if mask[i, j]]
    return torch.stack(terms).mean() if terms else pred.sum() * 0


def test_rgb_and_coord_loss_hand_values() -> None:
    pred = torch.tensor([[0.0, 0.5, 1.0], [1.0, 1.0, 1.0]])
    gt = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    assert rgb_loss(pred, gt).item() == pytest.approx((0.25 + 1.0 + 1.0) / 6)
    xyz = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    pred_xyz = torch.tensor([[1.0, 2.0, 5.0]], requires_grad=True)
    loss = coord_loss(pred_xyz, xyz)
    loss.backward()
    assert loss.item() == pytest.approx(4.0 / 3)
    assert xyz.grad is None  # the input points are the target
    torch.testing.assert_close(pred_xyz.grad, torch.tensor([[0.0, 0.0, 4.0 / 3]]))


def test_heatmap_loss_hand_values_per_joint_mask() -> None:
    pred = torch.tensor([[0.5, 0.2, 0.9], [0.0, 1.0, 0.3]], requires_grad=True)
    # The invalid joint's target is garbage (even NaN): it must not matter.
    gt = torch.tensor([[1.0, float("nan"), 0.9], [0.0, 7.0, 0.1]])
    valid = torch.tensor([True, False, True])
    loss = heatmap_loss(pred, gt, valid)
    # valid entries: (0.5-1)^2=0.25, 0, 0, (0.3-0.1)^2=0.04 -> mean over 4 = 0.0725
    assert loss.item() == pytest.approx(0.0725)
    loss.backward()
    expected_grad = torch.tensor([[2 * -0.5, 0.0, 0.0], [0.0, 0.0, 2 * 0.2]]) / 4
    torch.testing.assert_close(pred.grad, expected_grad)


def test_heatmap_loss_per_ray_mask_matches_reference() -> None:
    torch.manual_seed(0)
    pred = torch.rand(7, 25, requires_grad=True)
    gt = torch.rand(7, 25)
    valid = torch.rand(7, 25) > 0.4
    loss = heatmap_loss(pred, gt, valid)
    ref_pred = pred.detach().clone().requires_grad_(True)
    ref = _reference_masked_mse(ref_pred, gt, valid)
    torch.testing.assert_close(loss, ref)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(pred.grad, ref_pred.grad)


def test_heatmap_loss_all_invalid_is_zero_with_grad() -> None:
    pred = torch.rand(4, 25, requires_grad=True)
    loss = heatmap_loss(pred, torch.full((4, 25), float("nan")), torch.zeros(25, dtype=torch.bool))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))


def test_cse_loss_ignores_nan_targets() -> None:
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]], requires_grad=True)
    gt = torch.tensor([[0.0, 2.0], [float("nan"), float("nan")], [1.0, float("nan")]])
    loss = cse_loss(pred, gt)
    # finite targets: (1-0)^2=1, (2-2)^2=0, (0-1)^2=1 -> 2/3
    assert loss.item() == pytest.approx(2.0 / 3)
    loss.backward()
    torch.testing.assert_close(pred.grad, torch.tensor([[2.0, 0.0], [0.0, 0.0], [-2.0, 0.0]]) / 3)
    assert torch.isfinite(pred.grad).all()


def test_cse_loss_matches_reference_and_all_nan() -> None:
    torch.manual_seed(1)
    pred = torch.randn(6, 16, requires_grad=True)
    gt = torch.randn(6, 16)
    gt[torch.rand(6, 16) > 0.5] = float("nan")
    ref_pred = pred.detach().clone().requires_grad_(True)
    loss, ref = cse_loss(pred, gt), _reference_masked_mse(ref_pred, gt, torch.isfinite(gt))
    torch.testing.assert_close(loss, ref)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(pred.grad, ref_pred.grad)
    empty = cse_loss(pred, torch.full_like(gt, float("nan")))
    assert empty.item() == 0.0 and empty.requires_grad


def test_perceptual_loss_matches_reference(vgg_state: Dict[str, torch.Tensor]) -> None:
    loss_fn = PerceptualLoss(state_dict=vgg_state)
    torch.manual_seed(3)
    pred = torch.rand(2, 3, 32, 32, requires_grad=True)
    gt = torch.rand(2, 3, 32, 32)
    loss = loss_fn(pred, gt)
    # Reference: the whole torchvision VGG16 features, activations read at relu1_2, relu2_2, relu3_3, relu4_3.
    vgg_features = make_layers(cfgs["D"], batch_norm=False)
    vgg_features.load_state_dict({k[len("features.") :]: v for k, v in vgg_state.items()})
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x, y, expected = (pred.detach() - mean) / std, (gt - mean) / std, 0.0
    for index, layer in enumerate(vgg_features[:23]):
        x, y = layer(x), layer(y)
        if index in (3, 8, 15, 22):
            expected = expected + F.l1_loss(x, y)
    torch.testing.assert_close(loss.detach(), expected.detach(), rtol=1e-5, atol=1e-6)
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss_fn.parameters())


def test_perceptual_loss_zero_for_identical_positive_otherwise(vgg_state: Dict[str, torch.Tensor]) -> None:
    loss_fn = PerceptualLoss(state_dict=vgg_state).train()
    assert not any(m.training for m in loss_fn.blocks.modules())
    patch = torch.rand(2, 3, 32, 32)
    assert loss_fn(patch, patch.clone()).item() == 0.0
    assert loss_fn(patch, (patch + 0.1).clamp(0, 1)).item() > 0.0


def test_perceptual_loss_from_weights_file_and_cache(
    tmp_path: Path, vgg_state: Dict[str, torch.Tensor], offline: List[str]
) -> None:
    path = tmp_path / "my_vgg.pth"
    torch.save(vgg_state, path)
    from_file = GHNeRFLossConfig(vgg_weights_path=path).make_perceptual_loss()
    assert torch.equal(from_file.blocks[3][5].weight, vgg_state["features.21.weight"])
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(vgg_state, cache / "vgg16-397923af.pth")
    assert PerceptualLoss() is not None and offline == []
    assert lpips_vgg_available() == (True, "")


def test_perceptual_weight_zero_builds_nothing(offline: List[str]) -> None:
    assert GHNeRFLossConfig(perceptual_weight=0.0).make_perceptual_loss() is None
    assert offline == []


def test_perceptual_loss_offline_error_is_clear(offline: List[str]) -> None:
    with pytest.raises(PerceptualWeightsUnavailable) as info:
        GHNeRFLossConfig().make_perceptual_loss()
    message = str(info.value)
    assert isinstance(info.value, PretrainedWeightsUnavailable)
    assert "vgg16-397923af.pth" in message and "hub/checkpoints" in message
    assert "--pipeline.model.loss.perceptual-weight 0" in message
    assert "--pipeline.model.loss.vgg-weights-path FILE" in message
    assert len(message.splitlines()) <= 6
    assert offline == ["https://download.pytorch.org/models/vgg16-397923af.pth"]


def test_lpips_vgg_unavailable_reason() -> None:
    ok, reason = lpips_vgg_available()
    assert not ok and "vgg16-397923af.pth" in reason and "\n" not in reason


def test_mask_loss_hand_case():
    acc = torch.tensor([[0.5], [1.0], [0.0]])
    mask = torch.tensor([[1.0], [0.0], [0.0]])
    torch.testing.assert_close(mask_loss(acc, mask), torch.tensor((0.25 + 1.0 + 0.0) / 3))
