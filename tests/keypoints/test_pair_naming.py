"""Side-blind pair observations and their naming (ghnerf_ns/keypoints/pair_naming.py): hand-computed maps."""

import numpy as np
import torch

from dataparsers.body25 import joint_index
from ghnerf_ns.keypoints.pair_naming import name_pairs_by_reference, named_keypoints_2d, side_blind_pair_keypoints

R_WRIST, L_WRIST = joint_index("RWrist"), joint_index("LWrist")
R_KNEE, L_KNEE = joint_index("RKnee"), joint_index("LKnee")


def _blob(height: int, width: int, row: float, col: float, peak: float, sigma: float = 0.8) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    return peak * np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * sigma**2))


def test_collapsed_pair_takes_the_two_peaks_of_its_summed_map():
    """Both wrist channels peak on the right wrist (cell row 2, col 2); the left channel also has a weaker blob on the
    left wrist (row 6, col 7). The pair's observations become (2, 2) and (6, 7), sub-cell exact for blobs centred on
    cells, scored by the larger channel value there."""
    maps = np.zeros((9, 10, 25))
    maps[..., R_WRIST] = _blob(9, 10, 2, 2, 0.9)
    maps[..., L_WRIST] = _blob(9, 10, 2, 2, 0.7) + _blob(9, 10, 6, 7, 0.5)
    channels = np.zeros((25, 3))
    channels[R_WRIST] = (2.0, 2.0, 0.9)  # (x, y, score) in cells
    channels[L_WRIST] = (2.0, 2.0, 0.7)
    out = side_blind_pair_keypoints(maps, channels, filter_sigma=0.0, threshold=0.1)
    np.testing.assert_allclose(out[R_WRIST], (2.0, 2.0, 0.9), atol=1e-9)
    np.testing.assert_allclose(out[L_WRIST], (7.0, 6.0, 0.5), atol=1e-3)  # the 0.9 blob adds ~1e-5 there
    others = [j for j in range(25) if j not in (R_WRIST, L_WRIST)]
    np.testing.assert_array_equal(out[others], channels[others])  # nothing else changes


def test_distinct_peaks_stay_and_a_lone_peak_fills_one_slot():
    maps = np.zeros((9, 10, 25))
    maps[..., R_WRIST] = _blob(9, 10, 2, 2, 0.9)
    maps[..., L_WRIST] = _blob(9, 10, 6, 7, 0.6)
    channels = np.zeros((25, 3))
    channels[R_WRIST] = (2.0, 2.0, 0.9)
    channels[L_WRIST] = (7.0, 6.0, 0.6)
    np.testing.assert_array_equal(side_blind_pair_keypoints(maps, channels, 0.0, 0.1), channels)
    # The left channel missing and the summed map with a single peak: the peak in the first slot, the second empty.
    maps[..., L_WRIST] = 0.0
    channels[L_WRIST] = 0.0
    channels[R_WRIST] = (0.0, 0.0, 0.0)  # not found by the channel search either
    out = side_blind_pair_keypoints(maps, channels, 0.0, 0.1)
    np.testing.assert_allclose(out[R_WRIST], (2.0, 2.0, 0.9), atol=1e-9)
    assert out[L_WRIST, 2] == 0.0


def test_channel_peaks_one_cell_apart_stay_two_observations():
    """Two hips one cell apart, each channel on its own one (an either-side pose head): closer than the separation rule,
    but their summed map has a single peak, so the two channel peaks are kept (not merged to the middle)."""
    hips = (joint_index("RHip"), joint_index("LHip"))
    maps = np.zeros((9, 10, 25))
    maps[..., hips[0]] = _blob(9, 10, 4, 4, 0.8, sigma=1.0)
    maps[..., hips[1]] = _blob(9, 10, 4, 5, 0.8, sigma=1.0)
    channels = np.zeros((25, 3))
    channels[hips[0]] = (4.0, 4.0, 0.8)
    channels[hips[1]] = (5.0, 4.0, 0.8)
    np.testing.assert_array_equal(side_blind_pair_keypoints(maps, channels, 0.0, 0.1), channels)


def test_name_pairs_by_reference_hand_computed():
    """Wrists observed swapped: exchanged back. A lone left-knee observation next to the right knee's reference moves
    to the right slot. A pair without both references keeps its labels; midline joints never move."""
    keypoints = np.zeros((25, 3))
    keypoints[R_WRIST] = (10.0, 50.0, 0.9)
    keypoints[L_WRIST] = (40.0, 50.0, 0.8)
    keypoints[L_KNEE] = (21.0, 80.0, 0.7)
    keypoints[0] = (25.0, 10.0, 0.95)
    reference = np.zeros((25, 2))
    reference[R_WRIST], reference[L_WRIST] = (41.0, 49.0), (11.0, 51.0)
    reference[R_KNEE], reference[L_KNEE] = (20.0, 80.0), (30.0, 80.0)
    valid = np.zeros(25, bool)
    valid[[R_WRIST, L_WRIST, R_KNEE, L_KNEE]] = True
    out = name_pairs_by_reference(keypoints, reference, valid)
    np.testing.assert_array_equal(out[R_WRIST], (40.0, 50.0, 0.8))
    np.testing.assert_array_equal(out[L_WRIST], (10.0, 50.0, 0.9))
    np.testing.assert_array_equal(out[R_KNEE], (21.0, 80.0, 0.7))
    assert out[L_KNEE, 2] == 0.0
    np.testing.assert_array_equal(out[0], keypoints[0])
    valid[L_WRIST] = False
    np.testing.assert_array_equal(name_pairs_by_reference(keypoints, reference, valid)[[R_WRIST, L_WRIST]],
                                  keypoints[[R_WRIST, L_WRIST]])  # fmt: skip


def test_named_keypoints_2d_on_a_side_blind_render():
    """Both wrist channels light both wrists alike (a side-blind render): each channel's own peak is the same wrist.
    Named by references, the pair gets both wrists on their own sides; without references nothing changes."""
    maps = np.zeros((32, 32, 25))
    both = _blob(32, 32, 16, 8, 0.6) + _blob(32, 32, 16, 24, 0.58)
    maps[..., R_WRIST] = both
    maps[..., L_WRIST] = both
    heatmaps = torch.from_numpy(maps).float()
    keypoints = torch.zeros(25, 3)
    keypoints[R_WRIST] = torch.tensor([8.0, 16.0, 0.6])
    keypoints[L_WRIST] = torch.tensor([8.0, 16.0, 0.6])  # collapsed onto one wrist
    found = torch.zeros(25, dtype=torch.bool)
    found[[R_WRIST, L_WRIST]] = True
    reference = torch.zeros(25, 2)
    reference[R_WRIST], reference[L_WRIST] = torch.tensor([23.0, 17.0]), torch.tensor([9.0, 15.0])
    ref_valid = torch.zeros(25, dtype=torch.bool)
    ref_valid[[R_WRIST, L_WRIST]] = True
    named, named_found = named_keypoints_2d(heatmaps, keypoints, found, reference, ref_valid, 0.0, 0.1)
    assert named_found[[R_WRIST, L_WRIST]].all() and named_found.sum() == 2
    torch.testing.assert_close(named[R_WRIST, :2], torch.tensor([24.0, 16.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(named[L_WRIST, :2], torch.tensor([8.0, 16.0]), atol=1e-3, rtol=0)
    unchanged = named_keypoints_2d(heatmaps, keypoints, found, None, None, 0.0, 0.1)
    assert unchanged[0] is keypoints and unchanged[1] is found
