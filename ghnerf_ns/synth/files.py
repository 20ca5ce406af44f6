"""Deterministic file writers shared by the dataset writers (images, masks, arrays, OpenPose JSON, npz).

Everything written here is byte-identical for identical inputs (fixed JSON key order and float repr, npz members
with a fixed timestamp), so a dataset is reproducible from its seed.
"""

import io
import json
import zipfile
from pathlib import Path
from typing import Any, Dict

import numpy as np
from jaxtyping import Float, UInt8


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


def openpose_json(keypoints: Float[np.ndarray, "25 3"]) -> Dict[str, Any]:
    """OpenPose 1.3 ``*_keypoints.json`` content for one person (BODY_25).

    Joints with confidence 0 are written as ``0, 0, 0`` (OpenPose's convention for an undetected joint); an image
    without any visible joint gets ``"people": []``, as OpenPose writes when it detects nobody.
    """
    if not np.any(keypoints[:, 2] > 0):
        return {"version": 1.3, "people": []}
    values = np.where(keypoints[:, 2:3] > 0, keypoints, 0.0)
    person = {
        "person_id": [-1],
        "pose_keypoints_2d": [float(v) for v in values.reshape(-1)],
        "face_keypoints_2d": [],
        "hand_left_keypoints_2d": [],
        "hand_right_keypoints_2d": [],
        "pose_keypoints_3d": [],
        "face_keypoints_3d": [],
        "hand_left_keypoints_3d": [],
        "hand_right_keypoints_3d": [],
    }
    return {"version": 1.3, "people": [person]}


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
