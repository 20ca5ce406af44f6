"""Multi-view consistency of 2D keypoints (ghnerf_ns/teacher/consistency.py) on a synthetic rig with lens distortion:
the distortion model against OpenCV, clean views pass, a moved view is flagged and outvoted, swapped sides are found
and exchanged back, dropping removes what is flagged, masks are checked."""

import cv2
import numpy as np
import pytest

from dataparsers.body25 import BODY25_MIRROR, joint_index
from ghnerf_ns.teacher.consistency import (
    check_frame,
    drop_flagged,
    fix_mirrored,
    mask_agreement,
    project_points,
    undistort_to_normalised,
)

WIDTH, HEIGHT = 1000, 800
DIST = np.array([-0.21, 0.06, 0.0012, -0.0008, -0.004])


def _look_at(centre: np.ndarray, target=(0.0, 0.0, 0.9)) -> np.ndarray:
    """(3, 4) OpenCV world-to-camera of a camera at ``centre`` looking at ``target`` (world z up)."""
    z = np.asarray(target) - centre
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x = x / np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    return np.concatenate([R, (-R @ centre)[:, None]], axis=1)


def _rig(num_views: int = 5, offset: float = 0.3):
    K, dist, w2c = [], [], []
    for v in range(num_views):
        a = 2 * np.pi * v / num_views + offset
        w2c.append(_look_at(np.array([3.2 * np.cos(a), 3.2 * np.sin(a), 1.3 + 0.1 * v])))
        K.append(np.array([[820.0 + 15 * v, 0.0, 505.0 - 3 * v], [0.0, 818.0 + 15 * v, 396.0 + 2 * v], [0, 0, 1]]))
        dist.append(DIST * (1 + 0.1 * v))
    sizes = np.tile([WIDTH, HEIGHT], (num_views, 1)).astype(np.float64)
    return np.stack(K), np.stack(dist), np.stack(w2c), sizes


def _joints(seed: int = 0) -> np.ndarray:
    """25 points spread like a standing person: 0.6 x 0.4 x 1.7 m (right joints at -x, left at +x)."""
    rng = np.random.default_rng(seed)
    points = rng.uniform([-0.3, -0.2, 0.05], [0.3, 0.2, 1.75], size=(25, 3))
    for j, m in enumerate(BODY25_MIRROR):  # make mirror pairs clearly apart (0.3-0.6 m)
        if j < m:
            points[j, 0], points[m, 0] = -abs(points[j, 0]) - 0.15, abs(points[m, 0]) + 0.15
    return points


def _observe(points, K, dist, w2c, noise_px=0.0, seed=1) -> np.ndarray:
    """(V, 25, 3) keypoints projected with OpenCV (an independent implementation of the camera model)."""
    rng = np.random.default_rng(seed)
    out = []
    for v in range(len(K)):
        rvec = cv2.Rodrigues(w2c[v][:, :3])[0]
        pix = cv2.projectPoints(points, rvec, w2c[v][:, 3], K[v], dist[v])[0][:, 0]
        pix = pix + rng.normal(scale=noise_px, size=pix.shape)
        out.append(np.concatenate([pix, np.full((len(points), 1), 0.9)], axis=1))
    return np.stack(out).astype(np.float32)


def test_projection_and_undistortion_match_opencv():
    K, dist, w2c, _ = _rig()
    points = _joints()
    kp = _observe(points, K, dist, w2c)
    for v in range(len(K)):
        pix, depth = project_points(points, K[v], dist[v], w2c[v])
        np.testing.assert_allclose(pix, kp[v, :, :2], atol=1e-3)
        assert (depth > 0).all()
        ours = undistort_to_normalised(kp[v, :, :2].astype(np.float64), K[v], dist[v])
        reference = cv2.undistortPointsIter(
            kp[v, :, None, :2].astype(np.float64),
            K[v],
            dist[v],
            None,
            None,
            (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12),
        )[:, 0]
        np.testing.assert_allclose(ours, reference, atol=1e-7)


def test_consistent_views_are_not_flagged_and_the_joints_are_recovered():
    K, dist, w2c, sizes = _rig()
    points = _joints()
    kp = _observe(points, K, dist, w2c, noise_px=0.7)
    result = check_frame(kp, K, dist, w2c, sizes)
    assert result.triangulated.all()
    assert not result.flagged.any() and not result.view_flagged.any()
    assert np.nanmax(result.errors) < 4.0 and (result.view_median < 1.5).all()
    np.testing.assert_allclose(result.points, points, atol=0.01)  # ~1 px noise at ~4 px/cm: millimetres
    np.testing.assert_allclose(result.joint_threshold_px, 0.02 * WIDTH)


def test_a_moved_view_is_flagged_and_outvoted():
    K, dist, w2c, sizes = _rig()
    points = _joints()
    kp = _observe(points, K, dist, w2c, noise_px=0.5)
    kp[2, :, :2] += np.array([45.0, -30.0], dtype=np.float32)  # view 2 off by 54 px (threshold: 20 px, view: 10 px)
    result = check_frame(kp, K, dist, w2c, sizes)
    assert result.view_flagged.tolist() == [False, False, True, False, False]
    assert result.flagged[2].all() and not result.flagged[[0, 1, 3, 4]].any()
    assert result.view_median[2] > 40 and (np.delete(result.view_median, 2) < 2).all()
    np.testing.assert_allclose(result.points, points, atol=0.01)  # the other four views decide
    dropped = drop_flagged(kp, result)
    assert (dropped[2] == 0).all()
    np.testing.assert_array_equal(dropped[[0, 1, 3, 4]], kp[[0, 1, 3, 4]])


def test_single_wrong_joints_are_flagged_in_their_view_only():
    K, dist, w2c, sizes = _rig()
    kp = _observe(_joints(), K, dist, w2c, noise_px=0.5)
    wrist, knee = joint_index("RWrist"), joint_index("LKnee")
    kp[1, wrist, :2] += 80.0
    kp[4, knee, 1] -= 60.0
    result = check_frame(kp, K, dist, w2c, sizes)
    expected = np.zeros((5, 25), bool)
    expected[1, wrist] = expected[4, knee] = True
    np.testing.assert_array_equal(result.flagged, expected)
    assert not result.view_flagged.any()
    dropped = drop_flagged(kp, result)
    assert (dropped[1, wrist] == 0).all() and (dropped[4, knee] == 0).all()
    assert int((dropped[..., 2] == 0).sum()) == 2


def test_a_mirrored_view_is_flagged_and_its_sides_exchanged_back():
    """A detector that takes the person's back for their front labels every left joint right: flagged; the exchange
    agrees with the other views and is made; the check then passes."""
    K, dist, w2c, sizes = _rig()
    kp = _observe(_joints(), K, dist, w2c, noise_px=0.5)
    clean = kp.copy()
    kp[3] = kp[3, list(BODY25_MIRROR)]
    result = check_frame(kp, K, dist, w2c, sizes)
    assert result.view_flagged.tolist() == [False, False, False, True, False]
    fixed, swapped = fix_mirrored(kp, result, K, dist, w2c)
    assert swapped[3] and not any(swapped[v] for v in (0, 1, 2, 4))
    assert "RKnee/LKnee" in swapped[3] and len(swapped[3]) == 11
    np.testing.assert_array_equal(fixed, clean)
    again = check_frame(fixed, K, dist, w2c, sizes)
    assert not again.flagged.any() and not again.view_flagged.any()


def test_two_against_two_decides_no_side():
    """Four views, two of them mirrored: whichever side the triangulation takes, as many views say "keep" as say
    "exchange", and nothing is exchanged. (The cameras sit at 45 degrees to the body's left-right axis, so that every
    view tells the sides apart; a view that sees a pair on one ray has no vote.)"""
    K, dist, w2c, sizes = _rig(4, offset=np.pi / 4)
    kp = _observe(_joints(), K, dist, w2c, noise_px=0.5)
    kp[[0, 1]] = kp[[0, 1]][:, list(BODY25_MIRROR)]
    result = check_frame(kp, K, dist, w2c, sizes)
    assert result.flagged.sum() >= 2 * 11  # two views disagree on the sides
    fixed, swapped = fix_mirrored(kp, result, K, dist, w2c)
    assert not any(swapped)
    np.testing.assert_array_equal(fixed, kp)


def test_joints_seen_once_or_disagreeing_pairs():
    K, dist, w2c, sizes = _rig()
    kp = _observe(_joints(), K, dist, w2c, noise_px=0.3)
    nose, neck = joint_index("Nose"), joint_index("Neck")
    kp[1:, nose] = 0.0  # the nose is seen by view 0 only: not checked, not flagged, not triangulated
    kp[2:, neck] = 0.0  # the neck is seen by views 0 and 1, which disagree: both flagged
    kp[1, neck, :2] += 120.0
    kp[3, joint_index("LEye"), 2] = 0.05  # below min_confidence: takes no part
    result = check_frame(kp, K, dist, w2c, sizes)
    assert not result.triangulated[nose] and not result.checked[:, nose].any() and not result.flagged[:, nose].any()
    assert not result.triangulated[neck] and result.flagged[[0, 1], neck].all()
    assert np.isfinite(result.errors[[0, 1], neck]).all() and result.errors[1, neck] > 20
    assert not result.used[3, joint_index("LEye")] and np.isnan(result.errors[3, joint_index("LEye")])
    assert not result.view_flagged.any()


def test_thresholds_scale_with_the_image_size():
    K, dist, w2c, sizes = _rig()
    kp = _observe(_joints(), K, dist, w2c, noise_px=0.3)
    kp[0, joint_index("RAnkle"), :2] += 30.0  # 42 px: above 2 % of a 1000 px side (20 px) ...
    assert check_frame(kp, K, dist, w2c, sizes).flagged[0, joint_index("RAnkle")]
    # ... below 2 % of 3000 px (the same error in a larger image is a smaller fraction of it)
    assert not check_frame(kp, K, dist, w2c, sizes * 3).flagged[0, joint_index("RAnkle")]
    with pytest.raises((ValueError, TypeError)):  # TypeError: the suite's jaxtyping hook checks the shapes first
        check_frame(kp, K[:3], dist, w2c, sizes)


def test_mask_agreement():
    K, dist, w2c, sizes = _rig(3)
    points = _joints()
    kp = _observe(points, K, dist, w2c)
    result = check_frame(kp, K, dist, w2c, sizes)
    full = np.zeros((HEIGHT, WIDTH), bool)
    for u, v in np.round(kp[0, :, :2]).astype(int):
        full[v - 3 : v + 4, u - 3 : u + 4] = True
    elsewhere = np.zeros((HEIGHT, WIDTH), bool)
    elsewhere[:50, :50] = True
    agreement = mask_agreement(result.points, [full, elsewhere, None], K, dist, w2c)
    assert agreement[0] == pytest.approx(1.0) and agreement[1] == pytest.approx(0.0) and agreement[2] is None
