"""Camera conventions and small projective helpers for the GHNeRF network.

Conventions (one place for all of them):

* The network works in **OpenCV** conventions: ``K`` (3x3) and world-to-camera ``w2c`` (4x4, metres), camera looking
  down +z, +y down. Pixel ``(u, v)`` is the *integer-pixel* coordinate, i.e. the centre of the top-left pixel is
  ``(0, 0)`` (ENeRF/OpenCV). Feature maps are always sampled with ``grid_sample(align_corners=True)`` and normalised
  coordinates ``2 * u / (W - 1) - 1``, which maps pixel centre ``u`` of a ``W``-wide map exactly onto its ``u``-th
  texel.
* nerfstudio ``Cameras`` are OpenGL camera-to-world (3x4: +y up, looking down -z) and shoot rays through pixel
  centres ``u + 0.5``; hence ``cx_opencv = cx_nerfstudio - 0.5`` (same for ``cy``).
* Resolution changes use ENeRF's rule ``K[:2] *= s`` (:func:`scale_intrinsics`): pixel ``u`` of the full image is
  addressed as ``u * s`` in the map of ``s`` times the size. This is ENeRF parity (``get_proj_mats`` /
  ``get_img_feat``), not the exact half-pixel-aware rescaling; every projection in the network uses it consistently.
* "z-depth" is the camera-space z of a point; "ray distance" is the Euclidean distance from the camera centre, which
  is what nerfstudio calls depth (the viewer computes ``directions * depth`` with unit directions). For a pixel
  ``(u, v)``: ``distance = z * ||K^-1 [u, v, 1]||``.
"""

from contextlib import contextmanager
from typing import Iterator, Tuple

import numpy as np
import torch
from jaxtyping import Bool, Float
from nerfstudio.cameras.cameras import Cameras
from torch import Tensor


@contextmanager
def full_precision() -> Iterator[None]:
    """Autocast off (CUDA and CPU) inside: camera geometry (projections, plane-sweep homographies) must stay float32.

    Under mixed precision a matmul runs in half precision; bfloat16's 8-bit mantissa puts a projected point at 512 px
    about a pixel off on average (3 px at most), float16's 0.1-0.4 px. Callers cast their geometric inputs to float32
    inside this context with :func:`full` (an input already in half precision would stay so).
    """
    with torch.autocast("cpu", enabled=False), torch.autocast("cuda", enabled=False):
        yield


def full(tensor: Tensor) -> Tensor:
    """``tensor`` in float32 if it is in half precision (float64 stays float64), for :func:`full_precision` code."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


# Rotation that flips the camera y and z axes: OpenGL <-> OpenCV camera frames (its own inverse).
_FLIP_YZ = (1.0, -1.0, -1.0)


def c2w_opengl_to_w2c_opencv(c2w: Float[Tensor, "*bs 3 4"]) -> Float[Tensor, "*bs 4 4"]:
    """nerfstudio (OpenGL) camera-to-world -> OpenCV world-to-camera 4x4."""
    flip = c2w.new_tensor(_FLIP_YZ)
    R_cv = c2w[..., :3, :3] * flip  # flips the y and z columns (camera axes)
    t = c2w[..., :3, 3:]
    R_w2c = R_cv.transpose(-1, -2)
    w2c = torch.zeros(*c2w.shape[:-2], 4, 4, dtype=c2w.dtype, device=c2w.device)
    w2c[..., :3, :3] = R_w2c
    w2c[..., :3, 3:] = -R_w2c @ t
    w2c[..., 3, 3] = 1.0
    return w2c


def w2c_opencv_to_c2w_opengl(w2c: Float[Tensor, "*bs 4 4"]) -> Float[Tensor, "*bs 3 4"]:
    """OpenCV world-to-camera 4x4 -> nerfstudio (OpenGL) camera-to-world 3x4."""
    R = w2c[..., :3, :3]
    t = w2c[..., :3, 3:]
    Rt = R.transpose(-1, -2)
    c2w = torch.cat([Rt, -Rt @ t], dim=-1)
    return torch.cat([c2w[..., :3, :3] * c2w.new_tensor(_FLIP_YZ), c2w[..., :3, 3:]], dim=-1)


def intrinsics_from_nerfstudio(
    fx: Float[Tensor, "*bs 1"], fy: Float[Tensor, "*bs 1"], cx: Float[Tensor, "*bs 1"], cy: Float[Tensor, "*bs 1"]
) -> Float[Tensor, "*bs 3 3"]:
    """OpenCV ``K`` from nerfstudio intrinsics (principal point moved by -0.5 px: integer-pixel convention)."""
    zeros, ones = torch.zeros_like(fx), torch.ones_like(fx)
    rows = [
        torch.cat([fx, zeros, cx - 0.5], dim=-1),
        torch.cat([zeros, fy, cy - 0.5], dim=-1),
        torch.cat([zeros, zeros, ones], dim=-1),
    ]
    return torch.stack(rows, dim=-2)


def intrinsics_to_nerfstudio(
    K: Float[Tensor, "*bs 3 3"],
) -> Tuple[Float[Tensor, "*bs 1"], Float[Tensor, "*bs 1"], Float[Tensor, "*bs 1"], Float[Tensor, "*bs 1"]]:
    """(fx, fy, cx, cy) for nerfstudio ``Cameras`` from an OpenCV ``K`` (inverse of
    :func:`intrinsics_from_nerfstudio`)."""
    return K[..., 0, 0:1], K[..., 1, 1:2], K[..., 0, 2:3] + 0.5, K[..., 1, 2:3] + 0.5


def cameras_to_opencv(cameras: Cameras) -> Tuple[Float[Tensor, "*bs 3 3"], Float[Tensor, "*bs 4 4"]]:
    """OpenCV ``(K, w2c)`` of nerfstudio pinhole ``Cameras`` (any batch shape).

    The cameras must be in the same world frame as the source views and the human box: if a dataparser applies a
    transform/scale to the cameras, undo it (or apply it to the sources and the box) before calling the network.
    """
    K = intrinsics_from_nerfstudio(cameras.fx, cameras.fy, cameras.cx, cameras.cy)
    return K, c2w_opengl_to_w2c_opencv(cameras.camera_to_worlds)


def scale_intrinsics(K: Float[Tensor, "*bs 3 3"], sx: float, sy: float) -> Float[Tensor, "*bs 3 3"]:
    """``K`` for a map ``sx`` times as wide and ``sy`` times as tall (ENeRF parity: ``K[:2] *= s``, no half-pixel
    term)."""
    scale = K.new_tensor([sx, sy, 1.0]).unsqueeze(-1)
    return K * scale


def camera_centers(w2c: Float[Tensor, "*bs 4 4"]) -> Float[Tensor, "*bs 3"]:
    """World position of each camera centre (``-R^T t``)."""
    R = w2c[..., :3, :3]
    t = w2c[..., :3, 3:]
    return (-R.transpose(-1, -2) @ t)[..., 0]


def project(
    points: Float[Tensor, "*bs 3"], K: Float[Tensor, "3 3"], w2c: Float[Tensor, "4 4"]
) -> Tuple[Float[Tensor, "*bs 2"], Float[Tensor, "*bs"]]:
    """Project world points into one camera: integer-pixel ``(u, v)`` and camera z-depth.

    The perspective division clamps z at 1e-6 (ENeRF's convention) so points behind the camera give finite, far-away
    pixels instead of NaNs.
    """
    with full_precision():
        points, w2c, K = full(points), full(w2c).to(full(points)), full(K).to(full(points))
        cam = points @ w2c[:3, :3].T + w2c[:3, 3]
        pix = cam @ K.T
        z = cam[..., 2]
        uv = pix[..., :2] / torch.clamp_min(pix[..., 2:3], 1e-6)
    return uv, z


def pixel_directions(
    pixels: Float[Tensor, "*bs 2"], K: Float[Tensor, "3 3"], w2c: Float[Tensor, "4 4"]
) -> Tuple[Float[Tensor, "*bs 3"], Float[Tensor, "*bs 3"]]:
    """World ray origin and *un-normalised* direction ``R^T K^-1 [u, v, 1]`` (camera z = 1 per unit of ``t``).

    With this parametrisation the point at parameter ``z`` has camera z-depth ``z`` (ENeRF's rays).
    """
    ones = torch.ones_like(pixels[..., :1])
    cam_dirs = torch.cat([pixels, ones], dim=-1) @ torch.linalg.inv(K).T
    dirs = cam_dirs @ w2c[:3, :3]  # (R^T d)^T = d^T R
    origins = camera_centers(w2c).expand_as(dirs)
    return origins, dirs


def z_depth_to_distance(
    z: Float[Tensor, "*bs"], pixels: Float[Tensor, "*bs 2"], K: Float[Tensor, "3 3"]
) -> Float[Tensor, "*bs"]:
    """Camera z-depth -> Euclidean distance from the camera centre along the pixel's ray (nerfstudio depth)."""
    ones = torch.ones_like(pixels[..., :1])
    cam_dirs = torch.cat([pixels, ones], dim=-1) @ torch.linalg.inv(K).T
    return z * torch.linalg.norm(cam_dirs, dim=-1)


def distance_to_z_depth(
    distance: Float[Tensor, "*bs"], pixels: Float[Tensor, "*bs 2"], K: Float[Tensor, "3 3"]
) -> Float[Tensor, "*bs"]:
    """Inverse of :func:`z_depth_to_distance`."""
    ones = torch.ones_like(pixels[..., :1])
    cam_dirs = torch.cat([pixels, ones], dim=-1) @ torch.linalg.inv(K).T
    return distance / torch.linalg.norm(cam_dirs, dim=-1)


def image_pixels(height: int, width: int, device: torch.device) -> Float[Tensor, "num_pixels 2"]:
    """All integer-pixel ``(u, v)`` coordinates of an image, row-major (``v`` slowest), for rendering whole images."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack([u, v], dim=-1).reshape(-1, 2)


def box_corners(box: Float[Tensor, "2 3"]) -> Float[Tensor, "8 3"]:
    """The 8 corners of an axis-aligned box given as (min, max), in ENeRF's ``get_bound_corners`` order (x slowest,
    z fastest): corner ``i`` takes the max on x, y, z iff bit 2, 1, 0 of ``i`` is set."""
    idx = torch.arange(8, device=box.device)
    bits = torch.stack([(idx >> k) & 1 for k in (2, 1, 0)], dim=-1)  # (8, 3) in {0, 1}
    return torch.where(bits.bool(), box[1], box[0])


def inside_box(points: Float[Tensor, "N 3"], box: Float[Tensor, "2 3"]) -> Bool[Tensor, " N"]:
    """Whether each point lies in the axis-aligned ``box`` (min, max corners; boundary included), on the points'
    device."""
    box = box.to(points)
    return ((points >= box[0]) & (points <= box[1])).all(dim=-1)


def box_in_front(box: Float[Tensor, "2 3"], w2c: Float[Tensor, "4 4"], min_near: float = 0.1) -> bool:
    """Whether some corner of the box lies beyond ``min_near`` in front of the camera (else :func:`box_near_far`
    raises)."""
    return bool((box_corners(box) @ w2c[2, :3] + w2c[2, 3]).max() > min_near)


def box_near_far(box: Float[Tensor, "2 3"], w2c: Float[Tensor, "4 4"], min_near: float = 0.1) -> Float[Tensor, "2"]:
    """Camera z-range of the box corners: ``[max(min z, min_near), max z]`` (ENeRF ``read_tar``, near clamped at 0.1).

    Raises:
        ValueError: when the whole box is behind ``min_near`` (the camera does not see the human; see
            :func:`box_in_front`).
    """
    corners = box_corners(box)
    z = corners @ w2c[2, :3] + w2c[2, 3]
    near = torch.clamp_min(z.min(), min_near)
    far = z.max()
    if bool(far <= near):  # far >= min z, so this is far <= min_near: not box_in_front
        raise ValueError(
            f"the human box lies behind the camera (corner z-range [{float(z.min()):.3f}, {float(far):.3f}] m, "
            f"min_near={min_near}); check the camera pose convention (OpenCV w2c expected) and the box"
        )
    return torch.stack([near, far])


def box_mask(
    box: Float[Tensor, "2 3"], K: Float[Tensor, "3 3"], w2c: Float[Tensor, "4 4"], height: int, width: int
) -> Bool[Tensor, "H W"]:
    """Pixels inside the 2D convex hull of the projected box corners (ENeRF ``get_bound_2d_mask``).

    Uses ``cv2.fillPoly`` on the hull like ENeRF, so the rasterisation rule (which boundary pixels are in) matches.
    """
    import cv2  # heavy optional import: only masks need it

    uv, _ = project(box_corners(box), K, w2c)
    pts = np.round(uv.detach().cpu().double().numpy()).astype(np.int32)
    hull = cv2.convexHull(pts)
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(mask, [hull.reshape(-1, 2)], 1)
    return torch.from_numpy(mask.astype(bool)).to(box.device)
