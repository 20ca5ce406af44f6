"""Tests of the human feature encoders and the pretrained-weights policy (all offline, random weights)."""

from pathlib import Path
from typing import Dict, List

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import checkpoint_filter_fn

from ghnerf_ns.model.human_encoders import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    HumanEncoderConfig,
    build_human_encoder,
    sample_features_at_pixels,
    vit_block,
)
from ghnerf_ns.runtime.weights import PretrainedWeightsUnavailable, WeightsFileError
from tests.model.offline_weights import offline  # noqa: F401  (autouse fixture)

DINO = "vit_small_patch8_224_dino"


@pytest.fixture(scope="module")
def dino_reference() -> torch.nn.Module:
    """An untouched timm ViT-S/8 with random weights: the reference and the source of a weights file."""
    torch.manual_seed(0)
    return timm.create_model(DINO, pretrained=False, num_classes=0).eval()


@pytest.fixture(scope="module")
def dino_weights_file(dino_reference: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dino") / "dino_random.pth"
    torch.save(dino_reference.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def dino_concat(dino_weights_file: Path) -> torch.nn.Module:
    cfg = HumanEncoderConfig(name="dino_vits8", weights_path=dino_weights_file, dino_fuse="concat")
    return build_human_encoder(cfg).eval()


def _reference_dino_layers(vit: torch.nn.Module, images: torch.Tensor, blocks: List[int]) -> torch.Tensor:
    """timm's own forward (at the model's native size), final-norm patch tokens of `blocks` (0-based), as maps."""
    captured: Dict[int, torch.Tensor] = {}
    hooks = [vit.blocks[b].register_forward_hook(lambda m, i, o, b=b: captured.__setitem__(b, o)) for b in blocks]
    x = (images - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    vit.forward_features(x)
    for h in hooks:
        h.remove()
    gh, gw = images.shape[-2] // 8, images.shape[-1] // 8
    maps = [vit.norm(captured[b])[:, 1:].transpose(1, 2).reshape(images.shape[0], -1, gh, gw) for b in blocks]
    return torch.cat(maps, dim=1)


@pytest.mark.parametrize(
    "name,channels,stride", [("resnet34", 512, 2), ("resnet18", 512, 2), ("resnet18", 512, 4), ("none", 0, 1)]
)
def test_cnn_and_none_shapes_odd_sizes(name: str, channels: int, stride: int) -> None:
    enc = build_human_encoder(
        HumanEncoderConfig(name=name, pretrained=False, resnet_stride=4 if stride == 4 else 2)
    )
    images = torch.rand(2, 3, 45, 61)
    low = enc.forward_lowres(images)
    full = enc(images)
    assert (enc.out_channels, enc.stride) == (channels, stride)
    # ResNet pads 45x61 to 48x64 (multiple of 16): lowres = half (stride 2) or a quarter (stride 4) of that.
    expected_low = {2: (24, 32), 4: (12, 16), 1: (45, 61)}[stride]
    assert low.shape == (2, channels, *expected_low)
    assert full.shape == (2, channels, 45, 61)
    assert torch.isfinite(full).all()


def test_dino_shapes_odd_sizes(dino_concat: torch.nn.Module) -> None:
    images = torch.rand(2, 3, 45, 61)
    assert dino_concat.out_channels == 768 and dino_concat.stride == 8
    assert dino_concat.forward_lowres(images).shape == (2, 768, 6, 8)  # padded to 48x64
    assert dino_concat(images).shape == (2, 768, 45, 61)
    # Trainable ("Fine"): every parameter gets a gradient (DDP would fail on unused ones).
    dino_concat.forward_lowres(torch.rand(1, 3, 16, 16)).sum().backward()
    assert all(p.grad is not None for p in dino_concat.parameters())
    dino_concat.zero_grad(set_to_none=True)


def test_dino_pos_embed_native_grid_unchanged(dino_concat: torch.nn.Module) -> None:
    # At the 28x28 training grid (224x224 inputs) the pretrained embeddings are used as they are.
    assert dino_concat._pos_embed(28, 28) is dino_concat.backbone.pos_embed
    assert dino_concat._pos_embed(4, 5).shape == (1, 1 + 4 * 5, 384)


def test_dino_pos_embed_interpolation_matches_timm_resize(
    dino_concat: torch.nn.Module, dino_reference: torch.nn.Module
) -> None:
    # Reference: timm's own forward of a ViT built for 32x40 inputs, its pos_embed resized by timm's own
    # checkpoint filter; blocks 8 and 10 (0-based) are the paper's "9th and 11th layers" read 1-based.
    ref = timm.create_model(DINO, pretrained=False, num_classes=0, img_size=(32, 40)).eval()
    ref.load_state_dict(checkpoint_filter_fn(dino_reference.state_dict(), ref))
    images = torch.rand(2, 3, 32, 40)
    with torch.no_grad():
        ours = dino_concat.forward_lowres(images)
        expected = _reference_dino_layers(ref, images, [8, 10])
    assert ours.shape == (2, 768, 4, 5)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


def test_dino_pads_with_black(dino_concat: torch.nn.Module) -> None:
    images = torch.rand(1, 3, 29, 35)
    padded = F.pad(images, (0, 5, 0, 3))  # to 32x40 with zeros (black)
    with torch.no_grad():
        torch.testing.assert_close(dino_concat.forward_lowres(images), dino_concat.forward_lowres(padded))


def test_dino_project_starts_as_mean_and_trains_when_frozen(
    dino_weights_file: Path, dino_concat: torch.nn.Module
) -> None:
    cfg = HumanEncoderConfig(name="dino_vits8", weights_path=dino_weights_file, trainable=False)
    enc = build_human_encoder(cfg).train()
    images = torch.rand(1, 3, 16, 24)
    fused = enc.forward_lowres(images)
    with torch.no_grad():
        both = dino_concat.forward_lowres(images)
    assert enc.out_channels == 384 and fused.shape == (1, 384, 2, 3)
    torch.testing.assert_close(fused.detach(), 0.5 * (both[:, :384] + both[:, 384:]), rtol=1e-5, atol=1e-5)
    assert len(enc.backbone.blocks) == 11  # block 12 is never used: not built (no unused parameters)
    # Frozen ("Pre"): no backbone gradient, but the new projection layer is still trained.
    fused.sum().backward()
    assert all(p.grad is None and not p.requires_grad for p in enc.backbone.parameters())
    assert enc.project.weight.grad is not None


def test_dino_layers_validated() -> None:
    with pytest.raises(ValueError, match="dino-layers"):
        build_human_encoder(HumanEncoderConfig(name="dino_vits8", pretrained=False, dino_layers=(9, 13)))


def test_resnet_frozen_mode() -> None:
    enc = build_human_encoder(HumanEncoderConfig(name="resnet18", pretrained=False, trainable=False)).train()
    bn = enc.backbone.bn1
    before = bn.running_mean.clone()
    out = enc(torch.rand(2, 3, 33, 47))
    assert not out.requires_grad and out.grad_fn is None
    assert not any(p.requires_grad for p in enc.parameters())
    assert not bn.training and torch.equal(bn.running_mean, before)  # BatchNorm stays in eval mode


def test_resnet_trainable_mode_has_grads() -> None:
    enc = build_human_encoder(HumanEncoderConfig(name="resnet18", pretrained=False, trainable=True)).train()
    enc(torch.rand(2, 3, 33, 47)).square().mean().backward()
    assert enc.backbone.conv1.weight.grad is not None and enc.backbone.conv1.weight.grad.abs().sum() > 0
    assert enc.backbone.layer3[0].conv1.weight.grad is not None


def test_resnet_pyramid_matches_reference() -> None:
    enc = build_human_encoder(HumanEncoderConfig(name="resnet18", pretrained=False)).eval()
    images = torch.rand(1, 3, 32, 48)  # multiple of 16: no padding
    with torch.no_grad():
        ours = enc.forward_lowres(images)
        x = (images - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        b = enc.backbone
        c1 = b.act1(b.bn1(b.conv1(x)))
        l1 = b.layer1(b.maxpool(c1))
        l2 = b.layer2(l1)
        l3 = b.layer3(l2)
        up = [F.interpolate(f, size=(16, 24), mode="bilinear", align_corners=False) for f in (l1, l2, l3)]
        expected = torch.cat([c1, *up], dim=1)
    torch.testing.assert_close(ours, expected)


def test_sample_features_at_pixels_hand_values() -> None:
    feats = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).view(1, 1, 2, 2)  # stride 2: covers 4x4 pixels
    # Cell centres sit at pixel 0.5 and 2.5; between them values are bilinear; outside: border value.
    xy = torch.tensor([[[0.5, 0.5], [1.5, 0.5], [1.5, 1.5], [2.5, 2.5], [-0.5, -0.5], [3.0, 0.5]]])
    got = sample_features_at_pixels(feats, xy, stride=2)[0, :, 0]
    torch.testing.assert_close(got, torch.tensor([0.0, 0.5, 1.5, 3.0, 0.0, 1.0]))


def test_lowres_sampling_agrees_with_full_resolution() -> None:
    enc = build_human_encoder(HumanEncoderConfig(name="resnet18", pretrained=False)).eval()
    images = torch.rand(2, 3, 21, 27)  # padded to 32x32 inside
    with torch.no_grad():
        low = enc.forward_lowres(images)
        full = enc(images)
    ys, xs = torch.meshgrid(torch.arange(21.0), torch.arange(27.0), indexing="ij")
    xy = torch.stack([xs, ys], dim=-1).view(1, -1, 2).expand(2, -1, -1)
    from_low = sample_features_at_pixels(low, xy, stride=enc.stride)
    from_full = full.flatten(2).transpose(1, 2)
    torch.testing.assert_close(from_low, from_full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sample_features_at_pixels(full, xy, stride=1), from_full, rtol=1e-5, atol=1e-5)


def test_offline_pretrained_error_is_clear(offline: List[str]) -> None:
    with pytest.raises(PretrainedWeightsUnavailable) as info:
        build_human_encoder(HumanEncoderConfig(name="resnet18", pretrained=True))
    message = str(info.value)
    assert "resnet18-5c106cde.pth" in message and "resnet18" in message
    assert "--pipeline.model.human-encoder.weights-path FILE" in message and "human-encoder.weights-path" in message
    assert "--pipeline.model.human-encoder.pretrained False" in message
    assert "URLError" in message and len(message.splitlines()) <= 6
    assert offline == ["https://download.pytorch.org/models/resnet18-5c106cde.pth"]  # one attempt, failed fast


def test_offline_dino_error_names_dino_file(offline: List[str]) -> None:
    with pytest.raises(PretrainedWeightsUnavailable, match="dino_deitsmall8_pretrain.pth"):
        build_human_encoder(HumanEncoderConfig(name="dino_vits8", allow_download=False))
    assert offline == []  # allow_download False: no network attempt at all


def test_weights_from_torch_hub_cache(tmp_path: Path, offline: List[str]) -> None:
    torch.manual_seed(1)
    source = timm.create_model("resnet18", pretrained=False)
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(source.state_dict(), cache / "resnet18-5c106cde.pth")
    enc = build_human_encoder(HumanEncoderConfig(name="resnet18", pretrained=True))
    assert torch.equal(enc.backbone.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    assert offline == []


def test_weights_path_round_trip_nested_and_prefixed(tmp_path: Path) -> None:
    torch.manual_seed(2)
    source = timm.create_model("resnet34", pretrained=False)
    path = tmp_path / "r34.pth"
    # A training checkpoint layout: nested under "state_dict", DDP "module." prefix, with fc and layer4.
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}, "epoch": 3}, path)
    enc = build_human_encoder(HumanEncoderConfig(name="resnet34", weights_path=path))
    own = enc.backbone.state_dict()
    for key, value in own.items():
        assert torch.equal(value, source.state_dict()[key]), key


def test_dino_weights_path_round_trip(dino_concat: torch.nn.Module, dino_reference: torch.nn.Module) -> None:
    ref = dino_reference.state_dict()
    for key, value in dino_concat.backbone.state_dict().items():
        assert torch.equal(value, ref[key]), key


def test_bad_weights_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsFileError, match="garbage.pth"):
        build_human_encoder(HumanEncoderConfig(name="resnet18", weights_path=garbage))
    with pytest.raises(WeightsFileError, match="missing.pth"):
        build_human_encoder(HumanEncoderConfig(name="resnet18", weights_path=tmp_path / "missing.pth"))
    wrong = tmp_path / "resnet34_for_resnet18.pth"
    torch.save(timm.create_model("resnet34", pretrained=False).state_dict(), wrong)
    with pytest.raises(WeightsFileError, match="resnet34_for_resnet18.pth.*unexpected tensors"):
        build_human_encoder(HumanEncoderConfig(name="resnet18", weights_path=wrong))


def test_weights_path_with_pretrained_false_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pretrained False"):
        build_human_encoder(HumanEncoderConfig(name="resnet18", pretrained=False, weights_path=tmp_path / "w.pth"))


def test_config_setup_builds_encoder() -> None:
    enc = HumanEncoderConfig(name="none").setup()
    assert enc.out_channels == 0


def test_fused_vit_block_matches_timm_block_values_and_gradients(dino_reference: torch.nn.Module) -> None:
    block = dino_reference.blocks[3]
    x = torch.randn(2, 21, 384, requires_grad=True)
    ours, theirs = vit_block(block, x), block(x)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    probe = torch.randn_like(ours)
    params = [x, block.attn.qkv.weight, block.attn.proj.weight, block.norm1.weight]
    for got, want in zip(
        torch.autograd.grad((ours * probe).sum(), params), torch.autograd.grad((theirs * probe).sum(), params)
    ):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_resnet_stride_4_is_the_stride_2_pyramid_pooled_at_its_finest_level() -> None:
    """conv1 average-pooled onto layer1's grid and layers 2-3 upsampled to it, from the same weights."""
    torch.manual_seed(0)
    enc2 = build_human_encoder(HumanEncoderConfig(name="resnet18", pretrained=False)).eval()
    enc4 = build_human_encoder(HumanEncoderConfig(name="resnet18", pretrained=False, resnet_stride=4)).eval()
    enc4.load_state_dict(enc2.state_dict())
    images = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        pyramid = enc2.backbone((images - enc2._mean) / enc2._std)
        low4 = enc4.forward_lowres(images)
    torch.testing.assert_close(low4[:, :64], torch.nn.functional.avg_pool2d(pyramid[0], 2))
    torch.testing.assert_close(low4[:, 64:128], pyramid[1])
    layer3 = torch.nn.functional.interpolate(pyramid[3], size=(16, 24), mode="bilinear", align_corners=False)
    torch.testing.assert_close(low4[:, 256:], layer3)
    with pytest.raises(ValueError, match="resnet-stride 3"):
        build_human_encoder(HumanEncoderConfig(name="resnet18", pretrained=False, resnet_stride=3))
