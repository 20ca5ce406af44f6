"""Synthetic camera rigs (a ring of calibrated cameras like ZJU-MoCap's light stage) and their exact projection.

Conventions are OpenCV's throughout: ``R`` world-to-camera, ``t`` metres, ``K`` with integer pixel centres,
distortion ``(k1, k2, p1, p2, k3)``. Rays are cast through the *distorted* pixel positions (unprojected with
``cv2.undistortPointsIter``), so an image rendered here is what a real lens would record and
``cv2.projectPoints`` of a 3D point lands exactly where that point is drawn.
"""

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
from jaxtyping import Float

ZJU_WORLD_FROM_BODY: np.ndarray = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""Rotation from the body-model frame (+y up, person faces +z) to ZJU-MoCap's world frame, whose vertical axis is
-z (the real rig has its cameras at z ~ -1.9 m above a floor at z = 0)."""

UNDISTORT_CRITERIA = (3, 60, 1e-12)  # cv2.TERM_CRITERIA_COUNT | EPS, 60 iterations, 1e-12: exact for our lenses.


@dataclass
class RigCamera:
    """One calibrated camera (OpenCV conventions)."""

    K: Float[np.ndarray, "3 3"]
    """Intrinsics, pixels, integer pixel centres."""
    R: Float[np.ndarray, "3 3"]
    """World-to-camera rotation."""
    t: Float[np.ndarray, "3"]
    """World-to-camera translation, metres."""
    dist: Float[np.ndarray, "5"]
    """OpenCV distortion (k1, k2, p1, p2, k3); zeros for an ideal pinhole."""
    width: int
    """Image width in pixels."""
    height: int
    """Image height in pixels."""

    @property
    def center(self) -> Float[np.ndarray, "3"]:
        """Camera centre in world coordinates."""
        return -self.R.T @ self.t

    def pixel_rays(
        self, pixels: Float[np.ndarray, "num_rays 2"]
    ) -> Tuple[Float[np.ndarray, "num_rays 3"], Float[np.ndarray, "num_rays 3"]]:
        """World-space rays (origins, unit directions) through distorted pixel positions."""
        normalized = undistort_normalized(pixels, self.K, self.dist)
        dirs_cam = np.concatenate([normalized, np.ones((normalized.shape[0], 1))], axis=1)
        dirs = dirs_cam @ self.R  # R^T applied to each row: camera -> world
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        origins = np.broadcast_to(self.center, dirs.shape).copy()
        return origins, dirs

    def project(self, points: Float[np.ndarray, "num_points 3"]) -> Float[np.ndarray, "num_points 2"]:
        """``cv2.projectPoints`` with this camera's K, R, t and distortion (the ground-truth 2D projection)."""
        import cv2

        rvec, _ = cv2.Rodrigues(self.R)
        uv, _ = cv2.projectPoints(points.reshape(-1, 1, 3), rvec, self.t.reshape(3, 1), self.K, self.dist)
        return uv.reshape(-1, 2)


def undistort_normalized(
    pixels: Float[np.ndarray, "num_points 2"], K: Float[np.ndarray, "3 3"], dist: Float[np.ndarray, "5"]
) -> Float[np.ndarray, "num_points 2"]:
    """Distorted pixel positions -> ideal normalized image coordinates (x/z, y/z)."""
    import cv2

    if not np.any(dist):
        homog = np.concatenate([pixels, np.ones((pixels.shape[0], 1))], axis=1)
        return (homog @ np.linalg.inv(K).T)[:, :2]
    out = cv2.undistortPointsIter(pixels.reshape(-1, 1, 2).astype(np.float64), K, dist, None, None, UNDISTORT_CRITERIA)
    return out.reshape(-1, 2)


def pixel_grid(width: int, height: int, downscale: int = 1) -> Float[np.ndarray, "num_pixels 2"]:
    """Centres of a (height // downscale, width // downscale) pixel grid, in full-resolution pixel coordinates.

    Row-major (y outer, x inner), so ``values.reshape(h, w, ...)`` restores the image layout.
    """
    w, h = max(1, width // downscale), max(1, height // downscale)
    # A low-resolution pixel covers `downscale` full-resolution pixels; its centre sits at (i + 0.5) * s - 0.5.
    xs = (np.arange(w) + 0.5) * downscale - 0.5
    ys = (np.arange(h) + 0.5) * downscale - 0.5
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float64)


def look_at(
    center: Float[np.ndarray, "3"], target: Float[np.ndarray, "3"], up: Float[np.ndarray, "3"], roll: float = 0.0
) -> Tuple[Float[np.ndarray, "3 3"], Float[np.ndarray, "3"]]:
    """OpenCV world-to-camera (R, t) of a camera at ``center`` looking at ``target`` with image-up close to ``up``."""
    z = target - center
    z = z / np.linalg.norm(z)
    down = -up / np.linalg.norm(up)
    x = np.cross(down, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=0)
    c, s = np.cos(roll), np.sin(roll)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ R
    return R, -R @ center


def sample_distortion(rng: np.random.Generator) -> Float[np.ndarray, "5"]:
    """Lens distortion in the range of the real ZJU rig (k1 ~ -0.22..-0.34, k2/k3 of opposite signs, small p1/p2).

    Resampled until the radial map is monotonic well past the image corners, so every pixel has one ray.
    """
    radii = np.linspace(0.0, 1.1, 221)
    while True:
        k1 = rng.uniform(-0.32, -0.22)
        k2 = rng.uniform(0.0, 0.4)
        k3 = -1.2 * k2 + rng.uniform(-0.05, 0.1)
        p1, p2 = rng.uniform(-0.01, 0.0), rng.uniform(0.0, 0.01)
        r2 = radii**2
        derivative = 1 + 3 * k1 * r2 + 5 * k2 * r2**2 + 7 * k3 * r2**3
        if derivative.min() > 0.25:
            return np.array([k1, k2, p1, p2, k3])


def make_ring_rig(
    rng: np.random.Generator,
    num_cameras: int,
    resolution: int,
    look_target: Float[np.ndarray, "3"],
    ground_center: Float[np.ndarray, "3"],
    up: Float[np.ndarray, "3"],
    radius: float = 3.0,
    height: float = 1.9,
    distortion: bool = True,
    jitter: bool = True,
) -> List[RigCamera]:
    """A ring of ``num_cameras`` cameras around ``ground_center`` at about ``radius`` m and ``height`` m, all looking
    at ``look_target``. Intrinsics follow the real ZJU rig scaled to ``resolution`` (fx ~ 1.05 x size, principal
    point near the centre); ``jitter`` adds per-camera variation like a real calibration (a rendered RenderPeople
    rig uses ``jitter=False``: ideal pinholes with the principal point at the image centre)."""
    up = up / np.linalg.norm(up)
    # Two horizontal axes orthogonal to `up`, for placing cameras on the ring.
    helper = np.array([1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = helper - up * (helper @ up)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    cameras = []
    start = rng.uniform(0, 2 * np.pi)
    for i in range(num_cameras):
        azimuth = start + 2 * np.pi * i / num_cameras
        if jitter:
            azimuth += rng.uniform(-0.3, 0.3) * np.pi / num_cameras
            r = radius * rng.uniform(0.93, 1.07)
            h = height + rng.uniform(-0.08, 0.08)
            target = look_target + rng.uniform(-0.05, 0.05, size=3)
            roll = np.deg2rad(rng.uniform(-1.5, 1.5))
            f = 1.05 * resolution * rng.uniform(0.97, 1.06)
            fy = f * rng.uniform(1.0, 1.006)
            cx = resolution / 2 + resolution * rng.uniform(-0.05, 0.05)
            cy = resolution / 2 + resolution * rng.uniform(-0.05, 0.01)
        else:
            r, h, target, roll = radius, height + 0.15 * np.sin(3 * azimuth), look_target, 0.0
            f = fy = 1.05 * resolution
            cx = cy = resolution / 2
        center = ground_center + r * (np.cos(azimuth) * e1 + np.sin(azimuth) * e2) + h * up
        R, t = look_at(center, target, up, roll)
        K = np.array([[f, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        dist = sample_distortion(rng) if distortion else np.zeros(5)
        cameras.append(RigCamera(K=K, R=R, t=t, dist=dist, width=resolution, height=resolution))
    return cameras
