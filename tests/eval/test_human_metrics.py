"""ENeRF human-protocol metrics: PSNR in the box, SSIM/LPIPS on the box crop, heatmap and CSE MSE."""

import math

import numpy as np
import pytest
import torch

from ghnerf_ns.eval import lpips_metric
from ghnerf_ns.eval.human_metrics import (
    box_crop,
    cse_mse,
    heatmap_mse,
    lpips_on_box_crop,
    psnr_in_box,
    ssim_on_box_crop,
)
from ghnerf_ns.eval.ssim import ssim_skimage


def _mask(h=20, w=24, y0=4, y1=15, x0=6, x1=19):
    m = torch.zeros(h, w, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


def test_psnr_constant_error_inside_mask_only():
    gt = torch.full((20, 24, 3), 0.5)
    pred = gt + 0.1
    mask = _mask()
    pred[~mask] = 0.0  # large errors outside the mask are ignored
    assert psnr_in_box(pred, gt, mask).item() == pytest.approx(20.0, abs=1e-4)
    with pytest.raises(ValueError, match="box mask is empty"):
        psnr_in_box(pred, gt, torch.zeros(20, 24, dtype=torch.bool))


def test_box_crop_is_bounding_rect():
    mask = torch.zeros(10, 12, dtype=torch.bool)
    mask[2, 3] = True
    mask[6, 9] = True
    assert box_crop(mask) == (3, 2, 7, 5)


def test_ssim_identical_is_one_and_outside_pixels_do_not_matter():
    rng = np.random.default_rng(0)
    gt = torch.from_numpy(rng.random((20, 24, 3)).astype(np.float32))
    mask = _mask()
    assert ssim_on_box_crop(gt, gt, mask).item() == pytest.approx(1.0, abs=1e-6)
    pred = gt.clone()
    pred[~mask] = 1.0 - pred[~mask]
    assert ssim_on_box_crop(pred, gt, mask).item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("data_range", [2.0, 1.0])
def test_ssim_matches_skimage(data_range):
    skimage_metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    a = rng.random((17, 23, 3))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    ref = skimage_metrics.structural_similarity(a, b, channel_axis=-1, data_range=data_range)
    got = ssim_skimage(torch.from_numpy(a), torch.from_numpy(b), data_range=data_range)
    assert got.item() == pytest.approx(ref, abs=1e-10)


def test_ssim_enerf_parity_data_range_two():
    # ENeRF parity: ENeRF's skimage call on float images used data_range = 2 (dtype range); pinned as the default.
    skimage_metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(2)
    gt = rng.random((16, 16, 3)).astype(np.float32)
    pred = np.clip(gt + 0.1 * rng.standard_normal(gt.shape), 0, 1).astype(np.float32)
    mask = torch.ones(16, 16, dtype=torch.bool)
    ours = ssim_on_box_crop(torch.from_numpy(pred), torch.from_numpy(gt), mask).item()
    assert ours == pytest.approx(
        skimage_metrics.structural_similarity(gt, pred, channel_axis=-1, data_range=2.0), abs=1e-5
    )
    assert ours > skimage_metrics.structural_similarity(gt, pred, channel_axis=-1, data_range=1.0)


def test_heatmap_mse_over_valid_joints_only():
    gt = torch.zeros(4, 5, 3)
    pred = torch.zeros(4, 5, 3)
    pred[..., 0] = 0.5  # error 0.25 on joint 0
    pred[..., 1] = 9.0  # joint 1 invalid: ignored
    pred[0, 0, 2] = 1.0  # one pixel error 1 on joint 2
    valid = torch.tensor([True, False, True])
    expected = (20 * 0.25 + 1.0) / 40
    assert heatmap_mse(pred, gt, valid).item() == pytest.approx(expected)
    pixel_mask = torch.zeros(4, 5, dtype=torch.bool)
    pixel_mask[0, 0] = True
    assert heatmap_mse(pred, gt, valid, pixel_mask).item() == pytest.approx((0.25 + 1.0) / 2)
    assert heatmap_mse(pred, gt, torch.zeros(3, dtype=torch.bool)) is None


def test_cse_mse_ignores_nan_pixels():
    gt = torch.zeros(3, 3, 2)
    gt[0, 0, 1] = float("nan")
    gt[1, :, :] = float("nan")
    pred = torch.ones(3, 3, 2)
    pred[2, 2] = 3.0
    # 5 defined pixels x 2 dims: four pixels with error 1 each dim, one with error 9 each dim.
    assert cse_mse(pred, gt).item() == pytest.approx((8 * 1.0 + 2 * 9.0) / 10)
    assert cse_mse(pred, torch.full((3, 3, 2), float("nan"))) is None


def test_lpips_availability_looks_at_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ok, reason = lpips_metric.lpips_available()
    assert not ok and str(tmp_path) in reason and "vgg16-397923af.pth" in reason
    gt = torch.rand(20, 24, 3)
    assert lpips_on_box_crop(gt, gt, _mask()) is None
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth").write_bytes(b"")
    assert lpips_metric.lpips_available() == (True, "")


def test_lpips_on_box_crop_matches_direct_call():
    lpips = pytest.importorskip("lpips")
    torch.manual_seed(0)
    # Random backbone (pnet_rand) so that nothing is downloaded; the protocol (crop, zeroing, [-1, 1]) is what is
    # tested.
    net = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False).eval()
    gt = torch.rand(40, 44, 3)
    pred = (gt + 0.2 * torch.randn(40, 44, 3)).clamp(0, 1)
    mask = _mask(40, 44, 5, 37, 4, 40)
    value = lpips_on_box_crop(pred, gt, mask, model=net)
    crop = lambda t: (t * mask[..., None])[5:37, 4:40].permute(2, 0, 1)[None] * 2 - 1  # noqa: E731
    with torch.no_grad():
        expected = net(crop(gt), crop(pred)).item()
    assert value is not None and value.item() == pytest.approx(expected, rel=1e-5)
    assert lpips_on_box_crop(gt, gt, mask, model=net).item() == pytest.approx(0.0, abs=1e-7)
    assert not math.isnan(value.item())
