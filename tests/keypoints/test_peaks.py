"""2D/3D peak extraction against a brute-force reference (explicit loops: filter, threshold, flood fill, max)."""

import itertools
import math
from collections import deque

import numpy as np
import pytest
import torch
from scipy import ndimage

from ghnerf_ns.keypoints.peaks2d import extract_keypoints_2d, scaled_filter_sigma
from ghnerf_ns.keypoints.peaks3d import extract_keypoints_3d_from_volume
from ghnerf_ns.keypoints.peaks_core import find_region_peaks


# ---------------------------------------------------------------- brute-force reference
def _reflect(i: int, n: int) -> int:
    # scipy "reflect": d c b a | a b c d | d c b a
    period = 2 * n
    i = i % period
    return i if i < n else period - 1 - i


def brute_gaussian(img: np.ndarray, sigmas) -> np.ndarray:
    """Separable Gaussian with scipy's kernel (radius int(4 sigma + 0.5)) and reflect borders, by explicit loops."""
    out = img.astype(np.float64).copy()
    for axis, s in enumerate(sigmas):
        if s == 0:
            continue
        radius = int(4.0 * s + 0.5)
        weights = [math.exp(-0.5 * (k / s) ** 2) for k in range(-radius, radius + 1)]
        total = sum(weights)
        weights = [w / total for w in weights]
        src = out.copy()
        n = src.shape[axis]
        for idx in itertools.product(*[range(d) for d in src.shape]):
            acc = 0.0
            for k, w in zip(range(-radius, radius + 1), weights):
                j = list(idx)
                j[axis] = _reflect(idx[axis] + k, n)
                acc += w * src[tuple(j)]
            out[idx] = acc
    return out


def brute_peaks(maps: np.ndarray, sigma, threshold: float, connectivity: int, rank_by: str):
    """Per channel: filter, threshold, BFS flood fill, region max (first raster on ties), strongest region."""
    ndim = maps.ndim - 1
    sigmas = [sigma] * ndim if np.isscalar(sigma) else list(sigma)
    shape = maps.shape[:-1]
    offsets = [o for o in itertools.product((-1, 0, 1), repeat=ndim) if 0 < sum(abs(v) for v in o) <= connectivity]
    results = []
    for j in range(maps.shape[-1]):
        raw = maps[..., j].astype(np.float64)
        sm = brute_gaussian(raw, sigmas)
        seen = np.zeros(shape, dtype=bool)
        best = None  # (rank, raster_index, idx)
        for start in itertools.product(*[range(d) for d in shape]):  # raster order
            if seen[start] or not sm[start] > threshold:
                continue
            region = []
            queue = deque([start])
            seen[start] = True
            while queue:
                p = queue.popleft()
                region.append(p)
                for o in offsets:
                    q = tuple(a + b for a, b in zip(p, o))
                    if all(0 <= q[a] < shape[a] for a in range(ndim)) and not seen[q] and sm[q] > threshold:
                        seen[q] = True
                        queue.append(q)
            region.sort()  # raster order
            peak = region[0]
            for p in region:
                if sm[p] > sm[peak]:
                    peak = p
            rank = sm[peak] if rank_by == "smoothed" else raw[peak]
            raster = np.ravel_multi_index(peak, shape)
            if best is None or rank > best[0] or (rank == best[0] and raster < best[1]):
                best = (rank, raster, peak)
        if best is None:
            results.append(None)
        else:
            results.append((best[2], raw[best[2]]))
    return results


def _assert_matches_brute(maps, sigma, threshold, connectivity, rank_by):
    got = find_region_peaks(maps, sigma, threshold, connectivity, rank_by)
    ref = brute_peaks(maps, sigma, threshold, connectivity, rank_by)
    for j, r in enumerate(ref):
        if r is None:
            assert not got.found[j] and got.score[j] == 0 and (got.position[j] == 0).all()
        else:
            assert got.found[j]
            np.testing.assert_array_equal(got.position[j], np.array(r[0], dtype=np.float64))
            assert got.score[j] == pytest.approx(r[1], abs=1e-12)


def test_brute_gaussian_matches_scipy():
    # The reference filter itself must be the filter OpenPose uses (scipy.ndimage.gaussian_filter, reflect).
    rng = np.random.default_rng(0)
    img = rng.random((9, 11))
    np.testing.assert_allclose(brute_gaussian(img, [1.3, 1.3]), ndimage.gaussian_filter(img, 1.3), atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("connectivity", [1, 2])
@pytest.mark.parametrize("rank_by", ["smoothed", "raw"])
def test_random_2d_matches_brute_force(seed, connectivity, rank_by):
    rng = np.random.default_rng(seed)
    maps = rng.random((12, 10, 3)) ** 4  # sparse-ish blobs with several regions above threshold
    _assert_matches_brute(maps, 0.8, 0.15, connectivity, rank_by)


@pytest.mark.parametrize("connectivity", [1, 3])
@pytest.mark.parametrize("rank_by", ["smoothed", "raw"])
def test_random_3d_matches_brute_force(connectivity, rank_by):
    rng = np.random.default_rng(3)
    maps = rng.random((6, 5, 7, 2)) ** 3
    _assert_matches_brute(maps, [0.6, 0.5, 0.0], 0.2, connectivity, rank_by)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("connectivity", [1, 2])
def test_map_zero_outside_a_box_matches_brute_force(seed, connectivity):
    """Renders are zero outside the person's box; the fast path crops to it (plus the filter radius) and shifts back."""
    rng = np.random.default_rng(seed)
    maps = np.zeros((30, 26, 3))
    maps[9:17, 12:19] = rng.random((8, 7, 3)) ** 4  # away from the borders: the crop is smaller than the map
    maps[9, 12, 1] = 2.0  # a peak on the box's edge
    _assert_matches_brute(maps, 0.8, 0.15, connectivity, "smoothed")
    corner = np.zeros((30, 26, 2))
    corner[:5, 22:] = rng.random((5, 4, 2)) ** 2  # touching the image border: reflect mode of the real border
    _assert_matches_brute(corner, 1.2, 0.1, connectivity, "raw")
    cropped = find_region_peaks(maps, 0.8, 0.15, connectivity, subpixel=True)
    padded = maps.copy()
    padded[0, 0, :] = padded[-1, -1, :] = 1e-9  # support spanning the map: no crop, the same answer
    full = find_region_peaks(padded, 0.8, 0.15, connectivity, subpixel=True)
    np.testing.assert_allclose(cropped.position, full.position, atol=1e-9)
    np.testing.assert_array_equal(cropped.found, full.found)


def _blob(h, w, cx, cy, s, amp=1.0):
    ys, xs = np.mgrid[0:h, 0:w]
    return amp * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * s * s))


def test_two_blobs_strongest_wins():
    maps = (_blob(30, 40, 8, 10, 2, 0.6) + _blob(30, 40, 30, 20, 2, 0.9))[..., None]
    kp, valid = extract_keypoints_2d(maps, filter_sigma=1.0)
    assert valid.tolist() == [True]
    assert kp[0, :2].tolist() == [30.0, 20.0]
    assert kp[0, 2].item() == pytest.approx(0.9 + 0.6 * math.exp(-(22**2 + 10**2) / 8), abs=1e-6)
    _assert_matches_brute(maps, 1.0, 0.1, 2, "smoothed")


def test_rank_by_raw_versus_smoothed():
    # A broad blob (high smoothed peak) and a one-pixel spike (high raw value, lower smoothed peak).
    maps = _blob(25, 25, 6, 6, 3, 0.8)
    maps[18, 19] = 1.0
    maps = maps[..., None]
    kp_s, _ = extract_keypoints_2d(maps, filter_sigma=1.0, threshold=0.05, rank_by="smoothed")
    kp_r, _ = extract_keypoints_2d(maps, filter_sigma=1.0, threshold=0.05, rank_by="raw")
    assert kp_s[0, :2].tolist() == [6.0, 6.0]
    assert kp_r[0, :2].tolist() == [19.0, 18.0]
    assert kp_r[0, 2].item() == pytest.approx(1.0)


def test_empty_channel_border_peak_and_plateau():
    maps = np.zeros((10, 12, 3))
    maps[0, 11, 1] = 1.0  # border peak (top-right corner)
    maps[4:7, 3:6, 2] = 0.5  # plateau: first pixel in raster order wins
    kp, valid = extract_keypoints_2d(torch.from_numpy(maps), filter_sigma=0.0)
    assert valid.tolist() == [False, True, True]
    assert kp[0].tolist() == [0.0, 0.0, 0.0]
    assert kp[1].tolist() == [11.0, 0.0, 1.0]
    assert kp[2].tolist() == [3.0, 4.0, 0.5]
    assert kp.dtype == torch.float32 and valid.dtype == torch.bool
    _assert_matches_brute(maps, 0.0, 0.1, 2, "smoothed")
    # With smoothing the border peak stays at the border (reflect mode mirrors the map, no shift inward).
    kp, valid = extract_keypoints_2d(maps, filter_sigma=1.0, threshold=0.01)
    assert kp[1, :2].tolist() == [11.0, 0.0]


def test_threshold_is_strict_and_on_smoothed_map():
    maps = np.zeros((5, 5, 1))
    maps[2, 2, 0] = 0.1
    _, valid = extract_keypoints_2d(maps, filter_sigma=0.0, threshold=0.1)
    assert not valid[0]
    maps[2, 2, 0] = 0.3
    _, valid = extract_keypoints_2d(maps, filter_sigma=3.0, threshold=0.1)
    assert not valid[0]  # the smoothed spike is far below 0.1


def test_subpixel_refinement_recovers_offset_centre():
    maps = _blob(40, 40, 17.3, 21.7, 3.0)[..., None]
    kp_int, _ = extract_keypoints_2d(maps, filter_sigma=1.0)
    kp_sub, _ = extract_keypoints_2d(maps, filter_sigma=1.0, subpixel=True)
    assert kp_int[0, :2].tolist() == [17.0, 22.0]
    assert kp_sub[0, 0].item() == pytest.approx(17.3, abs=0.05)
    assert kp_sub[0, 1].item() == pytest.approx(21.7, abs=0.05)
    assert kp_sub[0, 2].item() == kp_int[0, 2].item()  # score still read at the integer peak


def test_nan_is_background_and_numpy_torch_agree():
    rng = np.random.default_rng(5)
    maps = rng.random((8, 9, 4)).astype(np.float32)
    maps[0, 0, 0] = np.nan
    a = extract_keypoints_2d(maps, filter_sigma=1.0)
    b = extract_keypoints_2d(torch.from_numpy(maps), filter_sigma=1.0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.isfinite(a[0]).all()


def test_scaled_filter_sigma():
    assert scaled_filter_sigma(3.0, 512, 768, 512) == 3.0
    assert scaled_filter_sigma(3.0, 256, 300, 512) == 1.5
    assert scaled_filter_sigma(3.0, 64, 64, None) == 3.0
    with pytest.raises(ValueError):
        scaled_filter_sigma(3.0, 64, 64, 0)


def test_3d_world_coordinates_and_sigma_in_metres():
    box = torch.tensor([[0.0, -1.0, 2.0], [1.0, 1.0, 3.0]], dtype=torch.float64)
    res = (11, 21, 11)  # spacing 0.1 m on every axis
    vol = np.zeros(res + (2,))
    vol[3, 15, 7, 0] = 1.0
    vol[1:3, 1:3, 1:3, 1] = 0.05  # below threshold: missing
    kp, valid = extract_keypoints_3d_from_volume(vol, box, filter_sigma_m=0.0, threshold=0.1)
    assert valid.tolist() == [True, False]
    np.testing.assert_allclose(kp[0].numpy(), [0.3, 0.5, 2.7, 1.0], atol=1e-6)
    assert kp[1].tolist() == [0.0, 0.0, 0.0, 0.0]
    # Same physical sigma on grids of different resolutions gives the same blur, so the same peak.
    ref = find_region_peaks(vol, [1.0, 1.0, 1.0], 0.0, 3)
    kp_f, _ = extract_keypoints_3d_from_volume(vol, box, filter_sigma_m=0.1, threshold=0.0)
    assert kp_f[0, 3].item() == pytest.approx(1.0) and ref.found[0]
    _assert_matches_brute(vol, [1.0, 1.0, 1.0], 0.001, 3, "smoothed")


def test_3d_subpixel():
    box = torch.tensor([[0.0, 0.0, 0.0], [1.5, 1.5, 1.5]])
    g = torch.linspace(0, 1.5, 16)
    X, Y, Z = torch.meshgrid(g, g, g, indexing="ij")
    centre = torch.tensor([0.73, 0.41, 1.02])
    vol = torch.exp(-((X - centre[0]) ** 2 + (Y - centre[1]) ** 2 + (Z - centre[2]) ** 2) / (2 * 0.2**2))[..., None]
    kp, valid = extract_keypoints_3d_from_volume(vol, box, filter_sigma_m=0.05, subpixel=True)
    assert valid[0]
    torch.testing.assert_close(kp[0, :3], centre, atol=0.01, rtol=0)
