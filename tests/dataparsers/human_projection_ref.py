"""Test helpers: project 3D points with parsed nerfstudio cameras + index distortion (reference implementation)."""

import numpy as np
from nerfstudio.cameras.cameras import Cameras


def opencv_from_nerfstudio(cameras: Cameras, row: int):
    """(K, R, t) in OpenCV conventions from one nerfstudio camera (undoing the +0.5 px principal-point shift)."""
    c2w = cameras.camera_to_worlds[row].double().numpy().copy()
    c2w[:, 1:3] *= -1  # OpenGL (x right, y up, looking down -z) -> OpenCV (y down, +z forward)
    R = c2w[:, :3].T
    t = -R @ c2w[:, 3]
    fx, fy = float(cameras.fx[row]), float(cameras.fy[row])
    cx, cy = float(cameras.cx[row]) - 0.5, float(cameras.cy[row]) - 0.5
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    return K, R, t


def project(points: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """OpenCV's pinhole + Brown-Conrady (k1, k2, p1, p2, k3) projection, written out term by term."""
    cam = points @ R.T + t
    x, y = cam[:, 0] / cam[:, 2], cam[:, 1] / cam[:, 2]
    k1, k2, p1, p2, k3 = (float(v) for v in dist)
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([K[0, 0] * xd + K[0, 2], K[1, 1] * yd + K[1, 2]], axis=1)
