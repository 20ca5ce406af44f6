"""A capture in the ``easymocap-data`` layout as the teacher sees it: sequences, calibration, cameras, frames.

::

    <seq>/intri.yml, extri.yml                   names, K_<cam>, dist_<cam>; Rot_<cam> | R_<cam>, T_<cam> (metres)
    <seq>/images/<cam>/<frame>.jpg               (.jpeg, .png)
    <seq>/openpose/<cam>/<frame>_keypoints.json  written by the teacher (BODY_25)
    <seq>/masks/<cam>/<frame>.png                written by the teacher (0 / 255)

The calibration reader here is a small twin of :func:`dataparsers.easymocap_calib.read_calibration`: that module
validates through nerfstudio's cameras (torch), which the teacher's venv does not have. It reads the same keys and
skips the same ``none`` placeholders; the dataparser remains the judge of a calibration when the capture is parsed.
Cameras and frames are chosen as the dataparser chooses them (calibrated cameras with an image folder, natural
name order; frames are image stems).
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from dataparsers.human_common import OPENPOSE_DIRNAME, DatasetFormatError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
"""Image file types read (as the easymocap-data dataparser)."""
MASK_DIRNAME = "masks"
"""Folder the teacher writes masks to (the dataparser's first choice of ``--mask-folder auto``)."""
PLACEHOLDER_NAME = "none"


def natural_key(name: str) -> Tuple:
    """Sort key that orders embedded numbers by value (``cam2`` before ``cam10``), as the dataparser sorts."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


@dataclass
class Rig:
    """Calibrated cameras of one sequence, OpenCV conventions, float64."""

    names: List[str]
    K: Dict[str, np.ndarray]
    """(3, 3) intrinsics."""
    dist: Dict[str, np.ndarray]
    """(5,) distortion (k1, k2, p1, p2, k3)."""
    w2c: Dict[str, np.ndarray]
    """(3, 4) world-to-camera [R | T], metres."""


def _open(path: Path):
    import cv2

    if not path.is_file():
        raise DatasetFormatError(f"{path}: not found; a sequence needs intri.yml and extri.yml (OpenCV FileStorage)")
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
        opened = fs.isOpened()
    except Exception as err:  # cv2.error
        raise DatasetFormatError(f"{path}: not a readable OpenCV FileStorage YAML file ({str(err)[:200]})") from None
    if not opened:
        raise DatasetFormatError(f"{path}: cannot be opened as an OpenCV FileStorage YAML file")
    return fs


def _matrix(fs, path: Path, key: str, size: Optional[int] = None) -> Optional[np.ndarray]:
    node = fs.getNode(key)
    if node.isNone():
        return None
    value = node.mat()
    if value is None:
        raise DatasetFormatError(f"{path}: {key} is not an opencv-matrix")
    value = np.asarray(value, dtype=np.float64)
    if size is not None and value.size != size:
        raise DatasetFormatError(f"{path}: {key} has {value.size} values, expected {size}")
    if not np.isfinite(value).all():
        raise DatasetFormatError(f"{path}: {key} contains NaN or inf; fix the calibration")
    return value


def read_rig(seq: Path) -> Rig:
    """The cameras of ``seq/intri.yml`` and ``seq/extri.yml``.

    Raises:
        DatasetFormatError: a missing or unreadable file, or a named camera without K, R or T.
    """
    import cv2

    intri_path, extri_path = seq / "intri.yml", seq / "extri.yml"
    intri, extri = _open(intri_path), _open(extri_path)
    node = intri.getNode("names")
    if node.isNone() or not node.isSeq():
        raise DatasetFormatError(f"{intri_path}: no 'names' list of cameras (EasyMocap writes names: [cam, ...])")
    names = [node.at(i).string() for i in range(node.size())]
    names = [n for n in names if not (n == PLACEHOLDER_NAME and intri.getNode(f"K_{n}").isNone())]
    if not names:
        raise DatasetFormatError(f"{intri_path}: 'names' lists no camera")
    rig = Rig(names=names, K={}, dist={}, w2c={})
    for name in names:
        k = _matrix(intri, intri_path, f"K_{name}", 9)
        if k is None:
            raise DatasetFormatError(f"{intri_path}: camera {name} is in names but has no K_{name}")
        d = _matrix(intri, intri_path, f"dist_{name}")
        d = np.zeros(5) if d is None else d.reshape(-1)
        rot = _matrix(extri, extri_path, f"Rot_{name}", 9)
        if rot is None:
            rvec = _matrix(extri, extri_path, f"R_{name}", 3)
            if rvec is None:
                raise DatasetFormatError(f"{extri_path}: camera {name} has neither Rot_{name} (3x3) nor R_{name}")
            rot = cv2.Rodrigues(rvec.reshape(3, 1))[0]
        t = _matrix(extri, extri_path, f"T_{name}", 3)
        if t is None:
            raise DatasetFormatError(f"{extri_path}: camera {name} has no T_{name}")
        rig.K[name] = k.reshape(3, 3)
        rig.dist[name] = np.pad(d[:5], (0, max(0, 5 - d.size)))
        rig.w2c[name] = np.concatenate([rot.reshape(3, 3), t.reshape(3, 1)], axis=1)
    return rig


def find_sequences(data: Path) -> List[Path]:
    """``data`` itself when it holds ``intri.yml``, else its sub-folders that do (natural order), as ``--data`` of
    the easymocap-data dataparser."""
    data = Path(data)
    if not data.is_dir():
        raise DatasetFormatError(
            f"{data}: --data is not a folder; pass a sequence (intri.yml, extri.yml, images/) or a folder of sequences"
        )
    if (data / "intri.yml").is_file():
        return [data]
    found = sorted((p for p in data.iterdir() if (p / "intri.yml").is_file()), key=lambda p: natural_key(p.name))
    if not found:
        raise DatasetFormatError(
            f"{data}: no intri.yml at its root or in any sub-folder; --data must be a sequence in the easymocap-data "
            "layout (intri.yml, extri.yml, images/<camera>/<frame>.jpg) or a folder of such sequences "
            "(scripts/pose2sim_to_easymocap.py converts a Pose2Sim/Qualisys capture)"
        )
    return found


def sequence_cameras(seq: Path, rig: Rig, wanted: Sequence[str] = ()) -> List[str]:
    """Calibrated cameras with an ``images/<camera>/`` folder, natural order (only ``wanted`` ones when given)."""
    images = seq / "images"
    if not images.is_dir():
        raise DatasetFormatError(f"{images}: not found; expected images/<camera>/<frame>.jpg")
    folders = {p.name for p in images.iterdir() if p.is_dir()}
    unknown = sorted(folders - set(rig.names), key=natural_key)
    if unknown:
        raise DatasetFormatError(
            f"{seq / 'intri.yml'}: cameras {', '.join(unknown[:5])} have images in images/ but no calibration; add "
            "them to intri.yml/extri.yml or move their folders out of images/"
        )
    cameras = sorted(folders, key=natural_key)
    if wanted:
        missing = [c for c in wanted if c not in cameras]
        if missing:
            raise DatasetFormatError(
                f"{seq}: --cameras {' '.join(missing)} not found; the calibrated cameras with images are "
                f"{' '.join(cameras)}"
            )
        cameras = [c for c in cameras if c in wanted]
    if len(cameras) < 2:
        raise DatasetFormatError(f"{images}: {len(cameras)} camera folder(s); a multi-view capture needs at least 2")
    return cameras


def _frame_matches(stem: str, wanted: str) -> bool:
    return stem == wanted or (stem.isdigit() and wanted.isdigit() and int(stem) == int(wanted))


def frame_images(seq: Path, cameras: Sequence[str], frames: Sequence[str] = ()) -> Dict[str, Dict[str, Path]]:
    """frame stem -> camera -> image path, natural frame order; ``frames`` selects stems (``7`` matches ``000007``).

    Raises:
        DatasetFormatError: no image at all, or a selected frame no camera has.
    """
    found: Dict[str, Dict[str, Path]] = {}
    for cam in cameras:
        names = [n for n in os.listdir(seq / "images" / cam) if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES]
        # One image per stem, in the dataparser's order of preference (.jpg, .jpeg, .png).
        for name in sorted(names, key=lambda n: IMAGE_SUFFIXES.index(os.path.splitext(n)[1].lower())):
            found.setdefault(os.path.splitext(name)[0], {}).setdefault(cam, seq / "images" / cam / name)
    if not found:
        raise DatasetFormatError(f"{seq / 'images'}: no .jpg/.png images in any camera folder")
    stems = sorted(found, key=natural_key)
    if frames:
        missing = [f for f in frames if not any(_frame_matches(s, f) for s in stems)]
        if missing:
            shown = " ".join(stems[:10]) + (" ..." if len(stems) > 10 else "")
            raise DatasetFormatError(f"{seq}: --frames {' '.join(missing)} not found; the frames are {shown}")
        stems = [s for s in stems if any(_frame_matches(s, f) for f in frames)]
    return {s: found[s] for s in stems}


def keypoint_path(seq: Path, camera: str, stem: str) -> Path:
    """Where the dataparser looks for an image's OpenPose JSON."""
    return seq / OPENPOSE_DIRNAME / camera / f"{stem}_keypoints.json"


def mask_path(seq: Path, camera: str, stem: str) -> Path:
    """Where the teacher writes an image's mask (the dataparser reads ``masks/<camera>/<stem>.png``)."""
    return seq / MASK_DIRNAME / camera / f"{stem}.png"


def image_size(path: Path) -> Tuple[int, int]:
    """(width, height) of an image file without decoding its pixels where the format allows (PIL), else OpenCV."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            return tuple(image.size)
    except Exception:  # PIL missing or a format it cannot read: let OpenCV decode it
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DatasetFormatError(f"{path}: cannot be read as an image; re-extract or remove it") from None
        return image.shape[1], image.shape[0]
