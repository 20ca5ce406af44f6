"""Turn a synthetic ZJU-MoCap subject into a "real rig": cameras of different image sizes (crops to portrait,
upscaled cameras) and frames with missing views, editing images, masks, CSE maps, ``annots.npy`` (K, kpts2d) together
so that every file stays consistent with the edited cameras (OpenCV integer-pixel-centre convention).
"""

from pathlib import Path
from typing import Iterator, Tuple

import cv2
import numpy as np

MASK_DIRS = ("mask", "mask_cihp")


def _annots(subject: Path) -> dict:
    return np.load(subject / "annots.npy", allow_pickle=True).item()


def _camera_files(subject: Path, annots: dict, camera: int) -> Iterator[Tuple[int, Path, list, Path]]:
    """(frame, image, mask files, CSE file) of every frame of ``camera``."""
    for frame, entry in enumerate(annots["ims"]):
        rel = Path(entry["ims"][camera])
        image = subject / rel
        masks = [subject / d / rel.with_suffix(".png") for d in MASK_DIRS]
        masks = [m for m in masks if m.is_file()]
        yield frame, image, masks, subject / "cse" / rel.with_suffix(".npy")


def _set_K(annots: dict, camera: int, K: np.ndarray) -> None:
    old = annots["cams"]["K"][camera]
    annots["cams"]["K"][camera] = K.tolist() if isinstance(old, list) else K


def crop_camera(subject: Path, camera: int, x0: int, y0: int, width: int, height: int) -> None:
    """Crop every image of ``camera`` (and its masks, CSE maps, keypoints) to ``width`` x ``height`` at (x0, y0)."""
    annots = _annots(subject)
    for frame, image_path, masks, cse_path in _camera_files(subject, annots, camera):
        image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
        native_h, native_w = image.shape[:2]
        assert x0 + width <= native_w and y0 + height <= native_h, "crop outside the image"
        cv2.imwrite(str(image_path), image[y0 : y0 + height, x0 : x0 + width], [cv2.IMWRITE_JPEG_QUALITY, 95])
        for mask_path in masks:
            mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
            cv2.imwrite(str(mask_path), mask[y0 : y0 + height, x0 : x0 + width])
        if cse_path.is_file():
            cse = np.load(cse_path)
            step = native_w // cse.shape[1]
            assert x0 % step == y0 % step == width % step == height % step == 0, "crop not aligned with the CSE grid"
            np.save(cse_path, cse[y0 // step : (y0 + height) // step, x0 // step : (x0 + width) // step])
        kpts = annots["ims"][frame]["kpts2d"]
        kpts[camera, :, 0] -= x0
        kpts[camera, :, 1] -= y0
    K = np.asarray(annots["cams"]["K"][camera], dtype=np.float64).copy()
    K[0, 2] -= x0
    K[1, 2] -= y0
    _set_K(annots, camera, K)
    np.save(subject / "annots.npy", annots, allow_pickle=True)


def scale_camera(subject: Path, camera: int, factor: int) -> None:
    """Upscale every image of ``camera`` (and masks, keypoints) by an integer factor; CSE maps keep their size (any
    resolution is allowed). Pixel centres map as ``x' + 0.5 = (x + 0.5) * factor``."""
    annots = _annots(subject)
    for frame, image_path, masks, _ in _camera_files(subject, annots, camera):
        image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
        size = (image.shape[1] * factor, image.shape[0] * factor)
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(str(image_path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        for mask_path in masks:
            mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
            cv2.imwrite(str(mask_path), cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST))
        kpts = annots["ims"][frame]["kpts2d"]
        kpts[camera, :, :2] = (kpts[camera, :, :2] + 0.5) * factor - 0.5
    K = np.asarray(annots["cams"]["K"][camera], dtype=np.float64).copy()
    K[:2, :2] *= factor
    K[:2, 2] = (K[:2, 2] + 0.5) * factor - 0.5
    _set_K(annots, camera, K)
    np.save(subject / "annots.npy", annots, allow_pickle=True)


def drop_view(subject: Path, camera: int, frame: int) -> Path:
    """Delete one image (a frame where that camera dropped out); returns its path."""
    path = subject / _annots(subject)["ims"][frame]["ims"][camera]
    path.unlink()
    return path


def make_real_rig(subject: Path, portrait_cameras: Tuple[int, ...], scaled_cameras: Tuple[int, ...]) -> None:
    """A square synthetic subject with some cameras cropped to portrait (central, about 0.55 of the width) and some
    upscaled x2: its cameras have up to three different image sizes."""
    first = _annots(subject)["ims"][0]["ims"][0]
    side = cv2.imread(str(subject / first)).shape[1]
    for i, camera in enumerate(portrait_cameras):
        width = (side * 9 // 16 // 8) * 8 - 8 * i  # different portrait widths, multiples of 8 (CSE grid)
        crop_camera(subject, camera, (side - width) // 2 // 8 * 8, 0, width, side)
    for camera in scaled_cameras:
        scale_camera(subject, camera, 2)
