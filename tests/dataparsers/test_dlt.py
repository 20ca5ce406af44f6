"""One DLT (dataparsers.triangulation.dlt_homogeneous) behind both callers: the person box's robust per-joint
triangulation and ghnerf_ns's batched triangulate_dlt give what their own DLTs gave before they shared it (copies
of those below), on a hand-made rig with one joint seen wrongly by one camera."""

from typing import Tuple

import numpy as np
import pytest
import torch

import dataparsers.person_box as person_box
from dataparsers.person_box import triangulate_joint
from ghnerf_ns.keypoints.triangulation import triangulate_dlt

JOINTS = np.array([[0.1, 0.2, 1.0], [-0.3, 0.1, 1.6], [0.2, -0.25, 0.2], [0.0, 0.05, 0.9], [0.25, 0.3, 1.3]])
WRONG_JOINT, WRONG_VIEW = 3, 1


def _old_person_box_dlt(P: np.ndarray, xy: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """dataparsers/person_box.py's _dlt before the shared solve."""
    rows = np.concatenate([xy[..., 0:1, None] * P[..., 2:3, :] - P[..., 0:1, :],
                           xy[..., 1:2, None] * P[..., 2:3, :] - P[..., 1:2, :]], axis=-2)  # fmt: skip
    rows = rows * weight[..., None, None]
    A = rows.reshape(*rows.shape[:-3], -1, 4)
    X = np.linalg.svd(A)[2][..., -1, :]
    w = np.where(np.abs(X[..., 3:]) < 1e-12, 1e-12, X[..., 3:])
    return X[..., :3] / w


def _old_triangulate_dlt(keypoints, K, w2c, min_confidence=0.1, weighted=True, min_views=2):
    """ghnerf_ns/keypoints/triangulation.py's triangulate_dlt before the shared solve."""
    dtype = keypoints.dtype
    kp = keypoints.to(torch.float64)
    conf = kp[..., 2]
    used = torch.isfinite(kp).all(dim=-1) & (conf >= min_confidence)
    xy1 = torch.cat([torch.nan_to_num(kp[..., :2]), torch.ones_like(kp[..., :1])], dim=-1)
    normalised = torch.einsum("vab,vjb->vja", torch.linalg.inv(K.to(torch.float64)), xy1)
    xn = normalised[..., 0] / normalised[..., 2]
    yn = normalised[..., 1] / normalised[..., 2]
    P = w2c.to(torch.float64)[:, :3, :]
    row_x = xn[..., None] * P[:, None, 2, :] - P[:, None, 0, :]
    row_y = yn[..., None] * P[:, None, 2, :] - P[:, None, 1, :]
    weight = torch.where(used, conf if weighted else torch.ones_like(conf), torch.zeros_like(conf))[..., None]
    rows = torch.stack([row_x * weight, row_y * weight], dim=1)
    A = rows.permute(2, 0, 1, 3).reshape(kp.shape[1], -1, 4)
    A = A / A.flatten(1).norm(dim=-1).clamp_min(1e-12)[:, None, None]
    _, _, Vh = torch.linalg.svd(A)
    X = Vh[:, -1, :]
    w = X[:, 3]
    at_infinity = w.abs() < 1e-12
    xyz = X[:, :3] / torch.where(at_infinity, torch.ones_like(w), w)[:, None]
    depth = torch.einsum("vab,jb->vja", P, torch.cat([xyz, torch.ones_like(xyz[:, :1])], dim=-1))[..., 2]
    in_front = torch.where(used, depth > 0, torch.ones_like(used)).all(dim=0)
    num_used = used.sum(dim=0)
    valid = (num_used >= min_views) & ~at_infinity & torch.isfinite(xyz).all(dim=-1) & in_front
    score = torch.where(used, conf, torch.zeros_like(conf)).sum(dim=0) / num_used.clamp_min(1)
    out = torch.cat([xyz, score[:, None]], dim=-1)
    out = torch.where(valid[:, None], out, torch.zeros_like(out))
    return out.to(dtype), valid


def _rig(num_views: int = 5) -> Tuple[np.ndarray, np.ndarray]:
    """(K (V, 3, 3), w2c (V, 4, 4)): OpenCV cameras on a ring 3 m from the z axis, looking at (0, 0, 1)."""
    Ks, w2cs = [], []
    for v in range(num_views):
        a = 2 * np.pi * v / num_views + 0.2
        centre = np.array([3 * np.cos(a), 3 * np.sin(a), 1.2 + 0.1 * v])
        z = np.array([0.0, 0.0, 1.0]) - centre
        z /= np.linalg.norm(z)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        w2c = np.eye(4)
        w2c[:3, :3], w2c[:3, 3] = R, -R @ centre
        w2cs.append(w2c)
        Ks.append(np.array([[500.0 + 10 * v, 0, 256], [0, 505.0, 250], [0, 0, 1]]))
    return np.stack(Ks), np.stack(w2cs)


def _keypoints(K: np.ndarray, w2c: np.ndarray) -> np.ndarray:
    """(V, J, 3) pixels + confidence of JOINTS, with WRONG_JOINT 40 px off in WRONG_VIEW (still confident)."""
    cam = np.einsum("vab,jb->vja", w2c[:, :3, :3], JOINTS) + w2c[:, None, :3, 3]
    pix = np.einsum("vab,vjb->vja", K, cam)
    pix = pix[..., :2] / pix[..., 2:3]
    pix[WRONG_VIEW, WRONG_JOINT] += 40.0
    conf = 0.5 + 0.1 * np.arange(len(K))[:, None] + 0.02 * np.arange(len(JOINTS))[None, :]
    return np.concatenate([pix, conf[..., None]], axis=-1)


def test_person_box_dlt_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    K, w2c = _rig()
    kp = _keypoints(K, w2c)
    P = w2c[:, :3]
    xy = np.einsum("vab,vjb->vja", np.linalg.inv(K), np.concatenate([kp[..., :2], np.ones_like(kp[..., :1])], -1))
    xy = xy[..., :2] / xy[..., 2:3]
    focal, tolerance = K[:, 0, 0], np.full(len(K), 5.0)
    pairs = np.stack(np.triu_indices(len(K), k=1), axis=1)
    for j in range(len(JOINTS)):
        conf = kp[:, j, 2]
        np.testing.assert_allclose(
            person_box._dlt(P[pairs], xy[pairs, j], conf[pairs]),
            _old_person_box_dlt(P[pairs], xy[pairs, j], conf[pairs]), atol=1e-6, rtol=0,
        )  # fmt: skip
        all_views = person_box._dlt(P, xy[:, j], conf)
        np.testing.assert_allclose(all_views, _old_person_box_dlt(P, xy[:, j], conf), atol=1e-6, rtol=0)
        assert (np.linalg.norm(all_views - JOINTS[j]) > 1e-3) == (j == WRONG_JOINT)
        new = triangulate_joint(P, xy[:, j], conf, focal, tolerance)
        with monkeypatch.context() as m:
            m.setattr(person_box, "_dlt", _old_person_box_dlt)
            old = triangulate_joint(P, xy[:, j], conf, focal, tolerance)
        np.testing.assert_allclose(new, old, atol=1e-6, rtol=0)
        np.testing.assert_allclose(new, JOINTS[j], atol=1e-6)  # the wrong view is outvoted


@pytest.mark.parametrize("weighted", [True, False])
def test_triangulate_dlt_is_unchanged(weighted: bool) -> None:
    K, w2c = _rig()
    kp = torch.from_numpy(_keypoints(K, w2c))
    kp[0, 2, 2] = 0.05  # joint 2: one view below min_confidence
    kp[[0, 2, 3, 4], 4, 2] = 0.0  # joint 4: a single view left -> invalid
    K, w2c = torch.from_numpy(K), torch.from_numpy(w2c)
    new, new_valid = triangulate_dlt(kp, K, w2c, weighted=weighted)
    old, old_valid = _old_triangulate_dlt(kp, K, w2c, weighted=weighted)
    assert new_valid.tolist() == old_valid.tolist() == [True, True, True, True, False]
    torch.testing.assert_close(new, old, atol=1e-6, rtol=0)
    exact = [j for j in range(4) if j != WRONG_JOINT]
    torch.testing.assert_close(new[exact, :3], torch.from_numpy(JOINTS[exact]), atol=1e-6, rtol=0)
    assert (new[WRONG_JOINT, :3] - torch.from_numpy(JOINTS[WRONG_JOINT])).norm() > 1e-3
