"""Deterministic file writers shared by the dataset writers (images, masks, arrays, OpenPose JSON, npz).

Everything written here is byte-identical for identical inputs (fixed JSON key order and float repr, npz members
with a fixed timestamp), so a dataset is reproducible from its seed.
"""

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import UInt8


def write_jpeg(path: Path, rgb: UInt8[np.ndarray, "H W 3"], quality: int) -> None:
    """RGB image -> JPEG (OpenCV, fixed quality)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"could not write {path}")


def write_png(path: Path, image: UInt8[np.ndarray, "H W"]) -> None:
    """Single-channel uint8 image -> PNG."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def write_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` into a (created) folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array, allow_pickle=False)


def write_json(path: Path, data: Any) -> None:
    """JSON with a fixed layout (no sorting surprises: dicts are written in insertion order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=None, separators=(",", ":")) + "\n")


def write_npz_deterministic(path: Path, **arrays: np.ndarray) -> None:
    """Same content as ``np.savez`` (readable by ``np.load``; object arrays pickled), but with fixed zip timestamps
    so the file is byte-identical across runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, buffer.getvalue())


def write_gray_jpeg(path: Path, image: UInt8[np.ndarray, "H W"], quality: int) -> None:
    """Single-channel uint8 image -> JPEG (masks stored as JPEG, as some capture pipelines do)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"could not write {path}")
