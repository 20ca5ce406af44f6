"""Orbit camera paths: geometry (look-at, radius, height, up axis from the cameras) and the JSON ns-render reads."""

import numpy as np
import torch
from nerfstudio.cameras.camera_paths import get_path_from_json

from ghnerf_ns.cli.camera_path import Orbit, camera_path_json, look_at_c2w, orbit_c2ws, orbit_from_cameras


def _opencv_w2c_looking_at(position: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Slow reference: OpenCV world-to-camera (x right, y down, z forward) of a camera at ``position``."""
    forward = (target - position) / np.linalg.norm(target - position)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    w2c = np.eye(4)
    w2c[:3, :3], w2c[:3, 3] = R, -R @ position
    return w2c


def test_look_at_is_opengl_and_faces_target():
    c2w = look_at_c2w(np.array([3.0, 0.0, 0.0]), np.zeros(3), np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(c2w[:3, 2], [1.0, 0.0, 0.0])  # z backward: away from the target
    np.testing.assert_allclose(c2w[:3, 1], [0.0, 0.0, 1.0])  # y up
    np.testing.assert_allclose(c2w[:3, 0], [0.0, 1.0, 0.0])  # x right = up x back
    assert np.linalg.det(c2w[:3, :3]) > 0


def test_orbit_around_box_centre_with_minus_z_up_world():
    # ZJU-style rig: world up is -z; 6 cameras on a ring of radius 3 at height z = -1 (0.5 above the box centre).
    box = np.array([[-0.3, -0.2, -1.5], [0.5, 0.4, 0.5]])
    centre = box.mean(0)
    up = np.array([0.0, 0.0, -1.0])
    w2cs = []
    for a in np.linspace(0, 2 * np.pi, 6, endpoint=False):
        pos = centre + 3.0 * np.array([np.cos(a), np.sin(a), 0.0]) + 0.5 * up
        w2cs.append(_opencv_w2c_looking_at(pos, centre, up))
    orbit = orbit_from_cameras(box, np.stack(w2cs))
    np.testing.assert_allclose(orbit.up, up, atol=1e-6)
    np.testing.assert_allclose(orbit.centre, centre)
    np.testing.assert_allclose(orbit.radius, np.hypot(3.0, 0.5))
    np.testing.assert_allclose(orbit.start, [1.0, 0.0, 0.0], atol=1e-9)  # towards the first camera
    poses = orbit_c2ws(orbit, 8)
    offsets = poses[:, :3, 3] - centre
    np.testing.assert_allclose(np.linalg.norm(offsets, axis=1), orbit.radius)
    np.testing.assert_allclose(offsets @ up, 0.0, atol=1e-9)  # at the box centre's height
    np.testing.assert_allclose(poses[:, :3, :3] @ np.array([0.0, 0.0, -1.0]), -offsets / orbit.radius, atol=1e-9)
    np.testing.assert_allclose(poses[:, :3, 1] @ up, 1.0, atol=1e-9)  # upright: camera y is the world's up
    angles = np.degrees(np.arctan2(offsets[:, 1], offsets[:, 0])) % 360
    np.testing.assert_allclose(np.sort(angles), np.arange(8) * 45.0, atol=1e-7)


def test_json_round_trips_through_nerfstudio():
    orbit = Orbit(centre=np.zeros(3), up=np.array([0.0, 0.0, 1.0]), start=np.array([1.0, 0.0, 0.0]), radius=2.0)
    poses = orbit_c2ws(orbit, 5)
    data = camera_path_json(poses, 40.0, 96, 64, 2.0, "CoreView_386", 4)
    assert data["ghnerf_subject"] == "CoreView_386" and data["ghnerf_frame"] == 4 and data["fps"] == 2.5
    cameras = get_path_from_json(data)
    assert len(cameras) == 5 and int(cameras.width[0]) == 96 and int(cameras.height[0]) == 64
    torch.testing.assert_close(cameras.camera_to_worlds, torch.from_numpy(poses[:, :3]).float())
    expected_f = 0.5 * 64 / np.tan(np.radians(20.0))
    torch.testing.assert_close(cameras.fy[:, 0].double(), torch.full((5,), expected_f, dtype=torch.float64))
