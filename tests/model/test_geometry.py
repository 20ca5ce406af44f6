"""Camera-convention round trips and hand cases for ghnerf_ns.model.geometry."""

import math

import numpy as np
import pytest
import torch
from nerfstudio.cameras.cameras import Cameras

from dataparsers.human_common import opencv_to_nerfstudio_c2w
from ghnerf_ns.model.geometry import (
    box_corners,
    box_mask,
    box_near_far,
    c2w_opengl_to_w2c_opencv,
    cameras_to_opencv,
    distance_to_z_depth,
    image_pixels,
    inside_box,
    intrinsics_from_nerfstudio,
    intrinsics_to_nerfstudio,
    pixel_directions,
    project,
    scale_intrinsics,
    w2c_opencv_to_c2w_opengl,
    z_depth_to_distance,
)
from tests.model.cascade_scenes import intrinsics, look_at


def _random_w2c(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    eye = torch.randn(3, generator=g) * 2 + torch.tensor([0.0, 0.0, -4.0])
    return look_at(eye.tolist(), (torch.randn(3, generator=g) * 0.2).tolist())


def test_c2w_w2c_round_trip_and_matches_dataparser_contract():
    w2c = torch.stack([_random_w2c(s) for s in range(4)])
    c2w = w2c_opencv_to_c2w_opengl(w2c)
    # Same conversion as the dataparsers' boundary (numpy, 3x4 input).
    np.testing.assert_allclose(c2w.numpy(), opencv_to_nerfstudio_c2w(w2c[:, :3].numpy().astype(np.float64)), atol=1e-5)
    torch.testing.assert_close(c2w_opengl_to_w2c_opencv(c2w), w2c, atol=1e-5, rtol=0)


def test_intrinsics_half_pixel_round_trip():
    K = torch.tensor([[50.0, 0.0, 15.5], [0.0, 60.0, 12.0], [0.0, 0.0, 1.0]])
    fx, fy, cx, cy = intrinsics_to_nerfstudio(K)
    assert (float(cx), float(cy)) == (16.0, 12.5)  # nerfstudio's pixel-centre convention: +0.5
    torch.testing.assert_close(intrinsics_from_nerfstudio(fx, fy, cx, cy), K)


def test_rays_match_nerfstudio_cameras():
    """Our OpenCV rays through integer pixels == nerfstudio's rays through pixel centres of the converted camera."""
    K = torch.tensor([[30.0, 0.0, 9.3], [0.0, 33.0, 6.1], [0.0, 0.0, 1.0]])
    w2c = _random_w2c(3)
    fx, fy, cx, cy = intrinsics_to_nerfstudio(K)
    cams = Cameras(
        camera_to_worlds=w2c_opencv_to_c2w_opengl(w2c)[None], fx=fx, fy=fy, cx=cx, cy=cy, width=20, height=14
    )
    bundle = cams.generate_rays(camera_indices=0)
    origins, dirs = pixel_directions(image_pixels(14, 20, torch.device("cpu")), K, w2c)
    torch.testing.assert_close(origins, bundle.origins.reshape(-1, 3), atol=1e-5, rtol=0)
    unit = dirs / dirs.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(unit, bundle.directions.reshape(-1, 3), atol=1e-5, rtol=0)
    K2, w2c2 = cameras_to_opencv(cams[0])
    torch.testing.assert_close(K2, K)
    torch.testing.assert_close(w2c2, w2c, atol=1e-5, rtol=0)


def test_project_known_points_and_directions_are_z_parametrised():
    K = intrinsics(32, 40.0)  # principal point (15.5, 15.5)
    w2c = torch.eye(4)
    pts = torch.tensor([[0.0, 0.0, 2.0], [1.0, -0.5, 4.0], [0.2, 0.1, -1.0]])
    uv, z = project(pts, K, w2c)
    # (15.5 + 40*0/2, ...), (15.5 + 40*1/4, 15.5 - 40*0.5/4) = (25.5, 10.5); the last point is behind the camera.
    torch.testing.assert_close(uv[:2], torch.tensor([[15.5, 15.5], [25.5, 10.5]]))
    torch.testing.assert_close(z, torch.tensor([2.0, 4.0, -1.0]))
    w2c = _random_w2c(1)
    pixels = torch.tensor([[3.0, 7.0], [20.25, 11.5]])
    o, d = pixel_directions(pixels, K, w2c)
    pts = o + d * 2.5
    uv, z = project(pts, K, w2c)
    torch.testing.assert_close(uv, pixels, atol=1e-4, rtol=0)
    torch.testing.assert_close(z, torch.full((2,), 2.5), atol=1e-5, rtol=0)


def test_z_depth_distance_round_trip():
    K = intrinsics(32, 40.0)
    pixels = torch.tensor([[15.5, 15.5], [55.5, 15.5]])
    z = torch.tensor([2.0, 3.0])
    dist = z_depth_to_distance(z, pixels, K)
    # centre pixel: distance == z; u offset 40 px = one focal length: 45 degrees -> z * sqrt(2).
    torch.testing.assert_close(dist, torch.tensor([2.0, 3.0 * math.sqrt(2.0)]))
    torch.testing.assert_close(distance_to_z_depth(dist, pixels, K), z)


def test_scale_intrinsics_enerf_rule():
    K = torch.tensor([[40.0, 0.0, 15.5], [0.0, 44.0, 13.5], [0.0, 0.0, 1.0]])
    expected = torch.tensor([[10.0, 0.0, 3.875], [0.0, 22.0, 6.75], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(scale_intrinsics(K, 0.25, 0.5), expected)


def test_box_corners_order_and_near_far_hand_case():
    box = torch.tensor([[-1.0, -2.0, 1.0], [1.0, 2.0, 3.0]])
    corners = box_corners(box)
    assert corners.shape == (8, 3)
    torch.testing.assert_close(corners[0], box[0])
    torch.testing.assert_close(corners[7], box[1])
    torch.testing.assert_close(corners[1], torch.tensor([-1.0, -2.0, 3.0]))  # z fastest (ENeRF order)
    torch.testing.assert_close(corners[4], torch.tensor([1.0, -2.0, 1.0]))  # x slowest
    w2c = torch.eye(4)
    torch.testing.assert_close(box_near_far(box, w2c), torch.tensor([1.0, 3.0]))
    w2c[2, 3] = -1.5  # camera moved to z=1.5: corner z in [-0.5, 1.5] -> near clamped to 0.1
    torch.testing.assert_close(box_near_far(box, w2c), torch.tensor([0.1, 1.5]))
    w2c[2, 3] = -10.0
    with pytest.raises(ValueError, match="behind the camera"):
        box_near_far(box, w2c)


def test_box_mask_hand_case():
    # Camera at the origin looking down +z, f=10, principal point (10, 10). A box spanning x,y in [-1, 1] and
    # z in [5, 10]: its front face projects to [8, 12]^2 and contains the back face's [9, 11]^2, so the hull is
    # the 5x5 pixel square [8, 12]^2 (cv2.fillPoly includes boundary pixels).
    K = torch.tensor([[10.0, 0.0, 10.0], [0.0, 10.0, 10.0], [0.0, 0.0, 1.0]])
    box = torch.tensor([[-1.0, -1.0, 5.0], [1.0, 1.0, 10.0]])
    mask = box_mask(box, K, torch.eye(4), 20, 24)
    assert mask.shape == (20, 24) and mask.dtype == torch.bool
    expected = torch.zeros(20, 24, dtype=torch.bool)
    expected[8:13, 8:13] = True
    assert torch.equal(mask, expected)


def test_inside_box_hand_case():
    box = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    points = torch.tensor([[0.5, 1.0, 1.5], [1.0, 2.0, 3.0], [1.01, 1.0, 1.0], [0.5, -0.1, 1.0]])
    assert inside_box(points, box).tolist() == [True, True, False, False]
