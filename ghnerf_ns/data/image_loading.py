"""Decode one dataset image the way ENeRF prepares ZJU-MoCap views.

Order (ENeRF ``read_data``): read image and mask, dilate the mask (5x5), undistort both with the camera's OpenCV
distortion, resize to the working resolution (INTER_AREA for the image, nearest for the mask), scale ``K``, and paint
everything outside the dilated mask black. Keypoints and CSE targets follow the same undistortion and scaling, so every
target lives in the undistorted pinhole camera the network renders.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from dataparsers.human_common import HumanImageIndex
from ghnerf_ns.runtime.user_errors import GHNeRFConfigError


class ImageReadError(IOError):
    """An image or mask file exists in the index but cannot be decoded (truncated, corrupt, unreadable)."""


@dataclass
class LoadedView:
    """One decoded view at the working resolution (numpy, worker-friendly)."""

    image: np.ndarray
    """(H, W, 3) float32 RGB in [0, 1], background black."""
    mask: np.ndarray
    """(H, W) uint8, 1 on the (dilated) foreground."""
    K: np.ndarray
    """(3, 3) float32 OpenCV intrinsics at (H, W)."""
    w2c: np.ndarray
    """(4, 4) float32 OpenCV world-to-camera."""
    keypoints: Optional[np.ndarray] = None
    """(25, 3) float32 (x, y, confidence) in undistorted working-resolution pixels; confidence 0 = missing."""
    cse: Optional[np.ndarray] = None
    """(H, W, D) float32 CSE target, NaN where there is none."""


def working_size(width: int, height: int, resolution: int) -> Tuple[int, int]:
    """(width, height) at which a (width, height) image is processed: long side = ``resolution``, both multiples of 32.

    The cost-volume 3D CNNs halve the volume three times at 1/8 resolution, so H and W must be multiples of 32.
    """
    if resolution % 32 != 0 or resolution <= 0:
        raise GHNeRFConfigError(
            f"--pipeline.datamanager.resolution {resolution} is not a positive multiple of 32 (the cost-volume CNN "
            f"needs it); use e.g. {max(32, 32 * round(resolution / 32))}"
        )
    scale = resolution / max(width, height)
    w = max(32, int(round(width * scale / 32)) * 32)
    h = max(32, int(round(height * scale / 32)) * 32)
    return w, h


def working_camera(index: HumanImageIndex, row: int, resolution: int) -> Tuple[np.ndarray, np.ndarray, Tuple[int, int]]:
    """(K (3, 3), w2c (4, 4), (width, height)) of image ``row`` at the working resolution, without decoding it.

    The camera is the undistorted pinhole camera of the image (distortion is removed at load time).
    """
    native_w, native_h = int(index.width[row]), int(index.height[row])
    work_w, work_h = working_size(native_w, native_h, resolution)
    K = index.K[row].astype(np.float32).copy()
    # ENeRF parity: intrinsics are scaled with K[:2] *= ratio (integer-pixel convention kept as ENeRF does).
    K[0] *= work_w / native_w
    K[1] *= work_h / native_h
    w2c = np.eye(4, dtype=np.float32)
    w2c[:3] = index.w2c[row]
    return K, w2c, (work_w, work_h)


def _read_rgb(path: Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if data is None:
        raise ImageReadError(f"{path}: cannot decode image (missing, truncated or not an image)")
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)


def _read_mask(path: Optional[Path], shape: Tuple[int, int]) -> np.ndarray:
    if path is None:
        return np.ones(shape, np.uint8)
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise ImageReadError(f"{path}: cannot decode mask (missing, truncated or not an image)")
    if data.ndim == 3:
        data = data[..., 0]
    if data.shape[:2] != shape:
        raise ImageReadError(f"{path}: mask is {data.shape[1]}x{data.shape[0]} but its image is {shape[1]}x{shape[0]}")
    return (data != 0).astype(np.uint8)


def undistort_keypoints(keypoints: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Move (J, 3) keypoints from distorted to undistorted pixels of the same ``K`` (confidence unchanged)."""
    out = keypoints.astype(np.float32).copy()
    if not np.any(dist):
        return out
    pts = cv2.undistortPoints(out[:, None, :2].astype(np.float64), K.astype(np.float64), dist.astype(np.float64), P=K)
    out[:, :2] = pts[:, 0, :].astype(np.float32)
    return out


def _load_cse(
    path: Path, K: np.ndarray, dist: np.ndarray, native: Tuple[int, int], K_work: np.ndarray, work: Tuple[int, int]
) -> np.ndarray:
    """Resample a (h, w, D) CSE map (any resolution, distorted image space) into the undistorted working camera."""
    cse = np.load(path, allow_pickle=False)
    if cse.ndim != 3:
        raise ImageReadError(f"{path}: CSE target must be (height, width, D), got shape {cse.shape}")
    cse = cse.astype(np.float32)
    h, w = cse.shape[:2]
    # For every working pixel, where it lands in the distorted native image, then in the CSE map's own resolution.
    map_x, map_y = cv2.initUndistortRectifyMap(
        K.astype(np.float64), dist.astype(np.float64), None, K_work.astype(np.float64), work, cv2.CV_32FC1
    )
    map_x *= w / native[0]
    map_y *= h / native[1]
    channels = [
        cv2.remap(
            cse[..., c : c + 4], map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan
        )
        for c in range(0, cse.shape[-1], 4)
    ]
    channels = [c[..., None] if c.ndim == 2 else c for c in channels]
    return np.concatenate(channels, axis=-1)


def working_keypoints(index: HumanImageIndex, row: int, keypoints: np.ndarray, resolution: int) -> np.ndarray:
    """(25, 3) native, distorted keypoints of image ``row`` moved into its undistorted working camera
    (:func:`working_camera`), without decoding the image."""
    _, _, (work_w, work_h) = working_camera(index, row, resolution)
    out = undistort_keypoints(keypoints, index.K[row].astype(np.float32), index.dist[row].astype(np.float32))
    out[:, 0] *= work_w / int(index.width[row])
    out[:, 1] *= work_h / int(index.height[row])
    return out


def load_view(
    index: HumanImageIndex,
    row: int,
    resolution: int,
    dilate_px: int = 5,
    keypoints: Optional[np.ndarray] = None,
    with_cse: bool = False,
) -> LoadedView:
    """Decode image ``row`` of ``index`` at the working resolution.

    Args:
        index: the dataset index.
        row: image row.
        resolution: working long side (multiple of 32).
        dilate_px: mask dilation kernel size (ENeRF: 5).
        keypoints: (25, 3) native distorted keypoints to transform along (None: skip).
        with_cse: also load the CSE target when the index has one for this row.
    """
    image = _read_rgb(index.image_filenames[row])
    native_h, native_w = image.shape[:2]
    if (native_w, native_h) != (int(index.width[row]), int(index.height[row])):
        raise ImageReadError(
            f"{index.image_filenames[row]}: image is {native_w}x{native_h} but the dataset's cameras say "
            f"{int(index.width[row])}x{int(index.height[row])}"
        )
    mask = _read_mask(index.mask_filenames[row], (native_h, native_w))
    if dilate_px > 1:
        mask = cv2.dilate(mask, np.ones((dilate_px, dilate_px), np.uint8))
    K = index.K[row].astype(np.float32)
    dist = index.dist[row].astype(np.float32)
    if np.any(dist):
        image = cv2.undistort(image, K, dist)
        mask = cv2.undistort(mask, K, dist)
    K_work, w2c, (work_w, work_h) = working_camera(index, row, resolution)
    if (work_w, work_h) != (native_w, native_h):
        image = cv2.resize(image, (work_w, work_h), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (work_w, work_h), interpolation=cv2.INTER_NEAREST)
    rgb = image.astype(np.float32) / 255.0
    rgb[mask == 0] = 0.0
    kps = None if keypoints is None else working_keypoints(index, row, keypoints, resolution)
    cse = None
    if with_cse and index.cse_files[row] is not None:
        cse = _load_cse(index.cse_files[row], K, dist, (native_w, native_h), K_work, (work_w, work_h))
    return LoadedView(image=rgb, mask=mask, K=K_work, w2c=w2c, keypoints=kps, cse=cse)


def stack_views(
    views: Sequence[LoadedView],
) -> Tuple[Float[Tensor, "num_views 3 H W"], Float[Tensor, "num_views 3 3"], Float[Tensor, "num_views 4 4"]]:
    """(images, K, w2c) of views that may differ in working size, on one canvas for the cost volume.

    Views of one render are encoded and warped as one batch, so they share a size: the largest width and height among
    them. Each image is padded with black on the right and bottom, never resampled, so its ``K`` (whose origin is the
    top-left pixel) stays exact, and a portrait view next to a landscape one keeps its aspect ratio. Black is what a
    masked image already holds around the person, and every size is a multiple of 32, so the canvas is too.
    """
    height = max(v.image.shape[0] for v in views)
    width = max(v.image.shape[1] for v in views)
    images = np.zeros((len(views), height, width, 3), dtype=np.float32)
    for i, view in enumerate(views):
        h, w = view.image.shape[:2]
        images[i, :h, :w] = view.image
    return (
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(np.stack([v.K for v in views])),
        torch.from_numpy(np.stack([v.w2c for v in views])),
    )
