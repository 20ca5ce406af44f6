"""Encoder windows around the projected human box: placement, coverage, and windowed encoding against whole images."""

import math

import pytest
import torch
import torch.nn.functional as F

from ghnerf_ns.model.encoder_windows import EncoderWindows, box_windows
from ghnerf_ns.model.human_encoders import HumanEncoder, HumanEncoderConfig, build_human_encoder
from tests.model.cascade_scenes import look_at

BOX = torch.tensor([[-0.3, -0.2, -0.9], [0.3, 0.2, 0.9]])


def _rig(positions, focal=200.0, size=(240, 320)):
    K = torch.tensor([[focal, 0.0, size[1] / 2 - 0.5], [0.0, focal, size[0] / 2 - 0.5], [0.0, 0.0, 1.0]])
    w2c = torch.stack([look_at(p) for p in positions])
    return K.expand(len(positions), 3, 3).clone(), w2c


def test_hand_case_one_camera_on_the_axis():
    # Camera at z = -5 looking at the origin along +z (cascade_scenes.look_at): the box's nearest face (z = -0.9) spans
    # x in [-0.3, 0.3] at depth 4.1: u = 159.5 +- 200 * 0.3 / 4.1 = 159.5 +- 14.63; v = 119.5 +- 200 * 0.2 / 4.1.
    K, w2c = _rig([(0.0, 0.0, -5.0)])
    windows = box_windows(K, w2c, BOX, (240, 320), multiple=16, margin=16)
    assert windows is not None and windows.padded_hw == (240, 320)
    u0, u1 = 159.5 - 200 * 0.3 / 4.1 - 16, 159.5 + 200 * 0.3 / 4.1 + 16
    v0, v1 = 119.5 - 200 * 0.2 / 4.1 - 16, 119.5 + 200 * 0.2 / 4.1 + 16
    (top, left), (height, width) = windows.origins[0], windows.size
    assert (top, left) == (int(v0) // 16 * 16, int(u0) // 16 * 16) == (80, 128)
    assert top + height >= v1 and left + width >= u1 and height % 16 == 0 and width % 16 == 0
    assert (height, width) == (80, 64)


def test_windows_cover_every_point_of_the_box_in_every_view_and_share_a_size():
    torch.manual_seed(0)
    angles = [0.0, 0.7, 2.0, 4.0]
    K, w2c = _rig([(4 * math.sin(a), 0.3, -4 * math.cos(a)) for a in angles])
    windows = box_windows(K, w2c, BOX, (240, 320), multiple=8, margin=16)
    assert windows is not None and len(windows.origins) == 4
    points = BOX[0] + torch.rand(2000, 3) * (BOX[1] - BOX[0])
    cam = torch.einsum("vij,nj->vni", w2c[:, :3, :3], points) + w2c[:, None, :3, 3]
    uv = torch.einsum("vij,vnj->vni", K, cam)
    uv = uv[..., :2] / uv[..., 2:]
    for view, (top, left) in enumerate(windows.origins):
        assert top % 8 == 0 and left % 8 == 0
        assert top + windows.size[0] <= 240 and left + windows.size[1] <= 320
        # Every box point is inside its view's window with the margin left for bilinear lookups.
        assert (uv[view, :, 0] >= left + 15).all() and (uv[view, :, 0] <= left + windows.size[1] - 15).all()
        assert (uv[view, :, 1] >= top + 15).all() and (uv[view, :, 1] <= top + windows.size[0] - 15).all()


def test_no_windows_when_a_corner_is_behind_a_camera_or_the_box_fills_the_image():
    K, w2c = _rig([(0.0, 0.0, -5.0), (0.0, 0.0, -0.5)])  # the second camera is inside the box's depth range
    assert box_windows(K, w2c, BOX, (240, 320), 16, 16) is None
    K, w2c = _rig([(0.0, 0.0, -2.2)], focal=900.0)  # the box fills the view
    assert box_windows(K, w2c, BOX, (240, 320), 16, 16) is None


class _PoolingEncoder(HumanEncoder):
    """A local encoder (2x2 average pooling: stride 2) for which windowed and whole-image features must agree."""

    out_channels = 3
    stride = 2
    pad_multiple = 4

    def _backbone_features(self, x, windows=None):
        return F.avg_pool2d(x, 2)


def test_windowed_encoding_pastes_each_window_at_its_place_and_zero_elsewhere():
    encoder = _PoolingEncoder(HumanEncoderConfig(name="none", pretrained=False))
    images = torch.rand(2, 3, 30, 38)  # padded to 32 x 40
    whole = encoder.forward_lowres(images)
    windows = EncoderWindows(origins=((4, 8), (12, 0)), size=(12, 16), padded_hw=(32, 40))
    windowed = encoder.forward_lowres(images, windows)
    assert windowed.shape == whole.shape == (2, 3, 16, 20)
    for view, (top, left) in enumerate(windows.origins):
        rows, cols = slice(top // 2, (top + 12) // 2), slice(left // 2, (left + 16) // 2)
        torch.testing.assert_close(windowed[view, :, rows, cols], whole[view, :, rows, cols])
        outside = windowed[view].clone()
        outside[:, rows, cols] = 0
        assert float(outside.abs().max()) == 0.0
    with pytest.raises(ValueError, match="do not fit"):
        encoder.forward_lowres(images, EncoderWindows(origins=((2, 0), (0, 0)), size=(12, 16), padded_hw=(32, 40)))


@pytest.fixture(scope="module")
def dino() -> HumanEncoder:
    torch.manual_seed(0)
    return build_human_encoder(HumanEncoderConfig(name="dino_vits8", pretrained=False, dino_fuse="concat")).eval()


def test_dino_window_tokens_keep_their_whole_image_positions(dino: HumanEncoder):
    enc = dino
    windows = EncoderWindows(origins=((8, 16), (0, 0)), size=(16, 24), padded_hw=(48, 64))
    pos = enc._window_pos_embed(windows)
    full = enc._pos_embed(6, 8)
    grid = full[0, 1:].reshape(6, 8, -1)
    assert pos.shape == (2, 1 + 2 * 3, 384)
    torch.testing.assert_close(pos[:, 0], full[:, 0].expand(2, -1))
    torch.testing.assert_close(pos[0, 1:], grid[1:3, 2:5].reshape(6, -1))
    torch.testing.assert_close(pos[1, 1:], grid[0:2, 0:3].reshape(6, -1))
    # A window covering the whole padded image is the whole-image encoding.
    images = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        whole = enc.forward_lowres(images)
        same = enc.forward_lowres(images, EncoderWindows(origins=((0, 0),), size=(48, 64), padded_hw=(48, 64)))
    torch.testing.assert_close(same, whole, atol=1e-5, rtol=1e-5)
