"""Validation of OpenCV camera parameters read from dataset files, and building nerfstudio ``Cameras``.

Bad calibration (NaN, a singular or reflected ``R``, a negative focal length) would otherwise surface much later as
NaN losses; here it fails at parse time naming the file and the camera.
"""

from pathlib import Path
from typing import Sequence, Tuple

import numpy as np
import torch
from nerfstudio.cameras.cameras import Cameras, CameraType

from dataparsers.human_common import DatasetFormatError, opencv_intrinsics_to_nerfstudio, opencv_to_nerfstudio_c2w

ROTATION_TOLERANCE = 1e-3
"""Max deviation of ``R R^T`` from identity and of ``det R`` from 1 (calibration files store ~6 digits)."""


def as_float_array(value: object, shape: Tuple[int, ...], source: Path, what: str) -> np.ndarray:
    """``value`` as a finite float64 array reshaped to ``shape`` (same number of elements), or a clear error."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetFormatError(f"{source}: {what} is not numeric ({type(value).__name__})") from None
    if array.size != int(np.prod(shape)):
        raise DatasetFormatError(f"{source}: {what} has shape {array.shape}, expected {shape}")
    if not np.isfinite(array).all():
        raise DatasetFormatError(f"{source}: {what} contains NaN or inf; fix the calibration")
    return array.reshape(shape)


def check_cameras(
    K: np.ndarray, R: np.ndarray, T: np.ndarray, source: Path, camera_names: Sequence[str]
) -> None:
    """Check stacked intrinsics ``K`` (C,3,3), rotations ``R`` (C,3,3) and translations ``T`` (C,3).

    Raises:
        DatasetFormatError: naming ``source`` and the first bad camera.
    """
    for c, name in enumerate(camera_names):
        for what, array in (("K", K[c]), ("R", R[c]), ("T", T[c])):
            if not np.isfinite(array).all():
                raise DatasetFormatError(f"{source}: camera {name}: {what} contains NaN or inf; fix the calibration")
        k = K[c]
        if k[0, 0] <= 0 or k[1, 1] <= 0 or abs(k[2, 2] - 1) > 1e-6 or np.abs(k[2, :2]).max() > 1e-6:
            raise DatasetFormatError(
                f"{source}: camera {name}: K is not a pinhole intrinsic matrix (positive fx, fy; last row 0 0 1): "
                f"{k.tolist()}"
            )
        r = R[c]
        orthogonality = np.abs(r @ r.T - np.eye(3)).max()
        det = np.linalg.det(r)
        if orthogonality > ROTATION_TOLERANCE or abs(det - 1) > ROTATION_TOLERANCE:
            raise DatasetFormatError(
                f"{source}: camera {name}: R is not a rotation (|R R^T - I| = {orthogonality:.2g}, det = {det:.4g}); "
                "fix the calibration (R must be the world-to-camera rotation)"
            )


def nerfstudio_cameras(K: np.ndarray, w2c: np.ndarray, width: np.ndarray, height: np.ndarray) -> Cameras:
    """nerfstudio perspective ``Cameras`` (OpenGL c2w, pixel-centre principal point) from OpenCV K (N,3,3), w2c (N,3,4).

    No distortion is passed: nerfstudio's distortion order differs and images are undistorted when loaded.
    """
    fx, fy, cx, cy = opencv_intrinsics_to_nerfstudio(K.astype(np.float32))
    c2w = opencv_to_nerfstudio_c2w(w2c.astype(np.float32))

    def column(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).reshape(-1, 1)

    return Cameras(
        camera_to_worlds=torch.from_numpy(np.ascontiguousarray(c2w)),
        fx=column(fx),
        fy=column(fy),
        cx=column(cx),
        cy=column(cy),
        width=torch.from_numpy(np.asarray(width, dtype=np.int64)).reshape(-1, 1),
        height=torch.from_numpy(np.asarray(height, dtype=np.int64)).reshape(-1, 1),
        camera_type=CameraType.PERSPECTIVE,
    )


def camera_scene_box(w2c: np.ndarray, padding: float) -> np.ndarray:
    """(2, 3) box around all camera centres (+ ``padding``): the rigs surround the people, so it covers them."""
    R = w2c[:, :3, :3]
    t = w2c[:, :3, 3:]
    centres = -(np.swapaxes(R, 1, 2) @ t)[..., 0]
    return np.stack([centres.min(0) - padding, centres.max(0) + padding]).astype(np.float32)


def probe_image_size(path: Path) -> Tuple[int, int]:
    """(width, height) from the image header only (PIL reads no pixels until asked)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as err:
        raise DatasetFormatError(
            f"{path}: cannot read the image header ({err}); the image is corrupt: re-download it"
        ) from None


def nearest_view_angles(w2c: np.ndarray) -> np.ndarray:
    """(C,) degrees from each camera's viewing direction to its nearest other camera's (180 with one camera)."""
    axes = np.asarray(w2c, dtype=np.float64)[:, 2, :3]  # row 2 of R: the optical axis in world coordinates
    axes = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    cosines = np.clip(axes @ axes.T, -1.0, 1.0)
    np.fill_diagonal(cosines, -1.0)
    return np.degrees(np.arccos(cosines.max(1))) if len(axes) > 1 else np.full(len(axes), 180.0)
