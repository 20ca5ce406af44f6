"""SMPL-free person box: robust keypoint triangulation (a wrong view is outvoted) and the masks' visual hull."""

import cv2
import numpy as np
import pytest

from dataparsers.person_box import keypoint_box, mask_hull_box, triangulate_joint, undistort_normalized

SIZE = (200, 160)  # (width, height)


def ring(num: int, up_z: bool = True, radius: float = 3.0):
    """``num`` cameras on a ring looking at a person standing at the origin (+z or -z up), with distortion."""
    up = np.array([0.0, 0.0, 1.0 if up_z else -1.0])
    target = 0.9 * up
    K = np.array([[170.0, 0, 99.5], [0, 171.0, 79.0], [0, 0, 1]])
    Ks, w2cs, dists = [], [], []
    for i in range(num):
        a = 2 * np.pi * i / num + 0.3
        centre = radius * np.array([np.cos(a), np.sin(a), 0.0]) + 1.7 * up
        z = (target - centre) / np.linalg.norm(target - centre)
        x = np.cross(-up, z)
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        Ks.append(K)
        w2cs.append(np.concatenate([R, (-R @ centre)[:, None]], 1))
        dists.append(np.array([-0.12, 0.03, 0.001, -0.001, 0.0]))
    return np.stack(Ks), np.stack(w2cs), np.stack(dists), np.tile(SIZE, (num, 1))


def body_joints(up_z: bool = True) -> np.ndarray:
    rng = np.random.default_rng(0)
    joints = rng.uniform([-0.3, -0.15, 0.05], [0.3, 0.15, 1.7], size=(25, 3))
    return joints if up_z else joints * [1, 1, -1]


def keypoints_of(joints, K, w2c, dist) -> np.ndarray:
    out = []
    for k, P, d in zip(K, w2c, dist):
        uv = cv2.projectPoints(joints, cv2.Rodrigues(P[:, :3])[0], P[:, 3], k, d)[0][:, 0]
        out.append(np.concatenate([uv, np.full((len(joints), 1), 0.9)], 1))
    return np.stack(out)


@pytest.mark.parametrize("up_z", [True, False])
def test_exact_keypoints_triangulate_exactly(up_z: bool) -> None:
    K, w2c, dist, sizes = ring(6, up_z)
    joints = body_joints(up_z)
    kps = keypoints_of(joints, K, w2c, dist)
    box = keypoint_box(kps, K, w2c, dist, sizes, margin=0.0)
    np.testing.assert_allclose(box, [joints.min(0), joints.max(0)], atol=1e-5)
    xy = np.stack([undistort_normalized(kps[v, 3:4, :2], K[v], dist[v])[0] for v in range(6)])
    X = triangulate_joint(w2c, xy, kps[:, 3, 2], K[:, 0, 0], np.full(6, 5.0))
    np.testing.assert_allclose(X, joints[3], atol=1e-6)


def test_a_wrong_view_is_outvoted() -> None:
    K, w2c, dist, sizes = ring(5)
    joints = body_joints()
    kps = keypoints_of(joints, K, w2c, dist)
    clean = keypoint_box(kps, K, w2c, dist, sizes, margin=0.3)
    wrong = kps.copy()
    wrong[2, :, :2] = wrong[2, ::-1, :2] + 35.0  # another person's joints, shifted: confident but wrong
    robust = keypoint_box(wrong, K, w2c, dist, sizes, margin=0.3)
    assert np.abs(robust - clean).max() < 1e-4
    assert (joints >= robust[0]).all() and (joints <= robust[1]).all()


def test_joints_seen_once_widen_the_box_and_few_joints_give_none() -> None:
    K, w2c, dist, sizes = ring(4)
    joints = body_joints()
    kps = keypoints_of(joints, K, w2c, dist)
    top = int(np.argmax(joints[:, 2]))
    kps[1:, top, 2] = 0.0  # the highest joint is detected by one camera only
    box = keypoint_box(kps, K, w2c, dist, sizes, margin=0.3)
    assert box[1][2] >= joints[top, 2]  # placed on its ray at the body's depth: the box still holds it
    kps[:, 4:, 2] = 0.0
    kps[1:, :, 2] = 0.0
    assert keypoint_box(kps, K, w2c, dist, sizes, margin=0.3) is None  # nothing seen twice: the masks take over


def _silhouette(points: np.ndarray, K, P, d, size) -> np.ndarray:
    mask = np.zeros(size[::-1], np.uint8)
    uv = cv2.projectPoints(points, cv2.Rodrigues(P[:, :3])[0], P[:, 3], K, d)[0][:, 0]
    for u, v in np.round(uv).astype(int):
        cv2.circle(mask, (int(u), int(v)), 3, 255, -1)
    return mask > 0


@pytest.mark.parametrize("num", [4, 8])
def test_visual_hull_holds_the_body(num: int) -> None:
    K, w2c, dist, sizes = ring(num)
    rng = np.random.default_rng(1)
    body = rng.uniform([-0.25, -0.15, 0.0], [0.25, 0.15, 1.75], size=(3000, 3)) + [0.4, -0.3, 0.0]
    masks = [_silhouette(body, K[v], w2c[v], dist[v], SIZE) for v in range(num)]
    box = mask_hull_box(masks, K, w2c, dist, sizes, padding=0.1)
    assert (body >= box[0]).all() and (body <= box[1]).all()
    assert (box[1] - box[0] - (body.max(0) - body.min(0))).max() < 1.0  # a bound on the person, not the room
    if num >= 6:  # one bad silhouette (an empty mask) does not carve the person away
        masks[0][:] = False
        box = mask_hull_box(masks, K, w2c, dist, sizes, padding=0.1)
        assert (body >= box[0]).all() and (body <= box[1]).all()
