"""DLT triangulation: exact recovery, noise robustness, excluded views and invalid joints."""

import math

import torch

from ghnerf_ns.keypoints.triangulation import triangulate_dlt


def _look_at_w2c(centre, target=(0.0, 0.0, 1.0)):
    centre = torch.tensor(centre, dtype=torch.float64)
    z = torch.tensor(target, dtype=torch.float64) - centre
    z = z / z.norm()
    x = torch.linalg.cross(z, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    R = torch.stack([x, y, z])  # OpenCV: rows are camera axes in world
    w2c = torch.eye(4, dtype=torch.float64)
    w2c[:3, :3] = R
    w2c[:3, 3] = -R @ centre
    return w2c


def _rig(num_views=4):
    Ks, w2cs = [], []
    for v in range(num_views):
        a = 2 * math.pi * v / num_views
        w2cs.append(_look_at_w2c((3 * math.cos(a), 3 * math.sin(a), 1.2)))
        Ks.append(torch.tensor([[500.0 + 10 * v, 0, 256], [0, 505.0, 250], [0, 0, 1]], dtype=torch.float64))
    return torch.stack(Ks), torch.stack(w2cs)


def _project(points, K, w2c):
    cam = torch.einsum("vab,jb->vja", w2c[:, :3, :3], points) + w2c[:, None, :3, 3]
    pix = torch.einsum("vab,vjb->vja", K, cam)
    return pix[..., :2] / pix[..., 2:3]


def test_exact_recovery_from_four_views():
    K, w2c = _rig()
    points = torch.tensor([[0.1, 0.2, 1.0], [-0.3, 0.1, 1.6], [0.2, -0.25, 0.2]], dtype=torch.float64)
    kp = torch.cat([_project(points, K, w2c), torch.full((4, 3, 1), 0.8, dtype=torch.float64)], dim=-1)
    out, valid = triangulate_dlt(kp, K, w2c)
    assert valid.all()
    torch.testing.assert_close(out[:, :3], points, atol=1e-9, rtol=0)
    torch.testing.assert_close(out[:, 3], torch.full((3,), 0.8, dtype=torch.float64))


def test_noise_robustness_and_confidence_weighting():
    K, w2c = _rig()
    gen = torch.Generator().manual_seed(0)
    points = torch.rand(25, 3, generator=gen, dtype=torch.float64) * torch.tensor([0.6, 0.6, 1.6]) - torch.tensor(
        [0.3, 0.3, -0.1]
    )
    pix = _project(points, K, w2c) + torch.randn(4, 25, 2, generator=gen, dtype=torch.float64) * 1.0
    kp = torch.cat([pix, torch.ones(4, 25, 1, dtype=torch.float64)], dim=-1)
    out, valid = triangulate_dlt(kp.float(), K.float(), w2c.float())
    assert valid.all() and out.dtype == torch.float32
    err_mm = (out[:, :3].double() - points).norm(dim=-1) * 1000
    assert err_mm.mean() < 10.0  # 1 px noise at ~500 px focal length and 3 m: a few mm
    # A grossly wrong view with a tiny confidence barely moves the weighted estimate.
    kp_bad = kp.clone()
    kp_bad[0, :, :2] += 40.0
    kp_bad[0, :, 2] = 0.12
    out_w, _ = triangulate_dlt(kp_bad, K, w2c, weighted=True)
    out_u, _ = triangulate_dlt(kp_bad, K, w2c, weighted=False)
    err_w = (out_w[:, :3] - points).norm(dim=-1).mean()
    err_u = (out_u[:, :3] - points).norm(dim=-1).mean()
    assert err_w < err_u


def test_missing_views():
    K, w2c = _rig()
    points = torch.tensor([[0.0, 0.1, 1.0], [0.1, 0.0, 1.2], [0.2, 0.1, 0.8], [0.0, 0.0, 1.0]], dtype=torch.float64)
    kp = torch.cat([_project(points, K, w2c), torch.ones(4, 4, 1, dtype=torch.float64)], dim=-1)
    kp[[0, 1], 0, 2] = 0.0  # joint 0: two views left -> still exact
    kp[[0, 1, 2], 1, 2] = 0.05  # joint 1: one confident view -> invalid
    kp[:, 2, 2] = 0.0  # joint 2: no view
    kp[3, 3, :2] = float("nan")  # joint 3: a NaN view is excluded, not propagated
    out, valid = triangulate_dlt(kp, K, w2c)
    assert valid.tolist() == [True, False, False, True]
    torch.testing.assert_close(out[0, :3], points[0], atol=1e-9, rtol=0)
    torch.testing.assert_close(out[3, :3], points[3], atol=1e-9, rtol=0)
    assert (out[1] == 0).all() and (out[2] == 0).all()
