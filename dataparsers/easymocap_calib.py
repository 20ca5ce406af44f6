"""Read an EasyMocap / EasyVolcap camera calibration: ``intri.yml`` and ``extri.yml`` (OpenCV FileStorage).

::

    intri.yml   names: [cam, ...]   K_<cam> 3x3   dist_<cam> 1x5 (k1 k2 p1 p2 k3; may be shorter or absent)
                (EasyVolcap also writes H_<cam>, W_<cam>: the image size the calibration belongs to)
    extri.yml   Rot_<cam> 3x3 world-to-camera rotation, or R_<cam> 3x1 Rodrigues vector;  T_<cam> 3x1, metres

Some writers put ``none`` placeholders between the names (the ZJU-MoCap rig in ``reference/zju_rig`` has them);
those are skipped. Values are validated like every other calibration (:func:`check_cameras`), and a rig whose
translations look like millimetres is refused with the fix.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from dataparsers.camera_checks import as_float_array, check_cameras
from dataparsers.human_common import DatasetFormatError

PLACEHOLDER_NAME = "none"
"""A ``names`` entry that is no camera (written by some EasyMocap versions between the real names)."""
MAX_RIG_RADIUS = 50.0
"""Metres: camera centres farther than this from the rig's centre mean T is not in metres (ZJU annots use mm)."""


@dataclass
class Calibration:
    """Cameras of one sequence by name, OpenCV conventions (float64)."""

    names: List[str]
    """Camera names in ``names`` order."""
    K: Dict[str, np.ndarray]
    """(3, 3) intrinsics at the native image resolution (integer pixel centres)."""
    w2c: Dict[str, np.ndarray]
    """(3, 4) world-to-camera ``[R | T]``, metres."""
    dist: Dict[str, np.ndarray]
    """(5,) distortion (k1, k2, p1, p2, k3)."""
    size: Dict[str, Optional[tuple]]
    """(width, height) the calibration was made at, where the file says (EasyVolcap ``W_``/``H_``), else None."""


class _Storage:
    """A FileStorage opened for reading, with clear errors."""

    def __init__(self, path: Path):
        import cv2

        self.path = path
        if not path.is_file():
            raise DatasetFormatError(f"{path}: not found; an EasyMocap sequence needs intri.yml and extri.yml")
        try:
            self.fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
            opened = self.fs.isOpened()
        except Exception as err:  # cv2.error surfaces as SystemError from the constructor
            raise DatasetFormatError(
                f"{path}: not a readable OpenCV FileStorage YAML file ({str(err)[:200]})"
            ) from None
        if not opened:
            raise DatasetFormatError(f"{path}: cannot be opened as an OpenCV FileStorage YAML file")

    def names(self) -> List[str]:
        node = self.fs.getNode("names")
        if node.isNone() or not node.isSeq():
            raise DatasetFormatError(f"{self.path}: no 'names' list of cameras (EasyMocap writes names: [cam, ...])")
        return [node.at(i).string() for i in range(node.size())]

    def matrix(self, key: str) -> Optional[np.ndarray]:
        node = self.fs.getNode(key)
        if node.isNone():
            return None
        if node.isInt() or node.isReal():
            return np.array([node.real()])
        value = node.mat()
        if value is None:
            raise DatasetFormatError(f"{self.path}: {key} is not an opencv-matrix")
        return np.asarray(value, dtype=np.float64)


def read_calibration(intri_path: Path, extri_path: Path) -> Calibration:
    """Validated cameras of one sequence.

    Raises:
        DatasetFormatError: a missing or unreadable file, a named camera without K, R or T, bad values, or
            translations that are not in metres.
    """
    intri, extri = _Storage(intri_path), _Storage(extri_path)
    names: List[str] = []
    for name in intri.names():
        if name in names:
            raise DatasetFormatError(f"{intri_path}: camera {name} is listed twice in names")
        if name == PLACEHOLDER_NAME and intri.matrix(f"K_{name}") is None:
            continue
        names.append(name)
    if not names:
        raise DatasetFormatError(f"{intri_path}: 'names' lists no camera")
    K: Dict[str, np.ndarray] = {}
    w2c: Dict[str, np.ndarray] = {}
    dist: Dict[str, np.ndarray] = {}
    size: Dict[str, Optional[tuple]] = {}
    for name in names:
        k = intri.matrix(f"K_{name}")
        if k is None:
            raise DatasetFormatError(f"{intri_path}: camera {name} is in names but has no K_{name}")
        K[name] = as_float_array(k, (3, 3), intri_path, f"K_{name}")
        d = intri.matrix(f"dist_{name}")
        d = np.zeros(5) if d is None else as_float_array(d, (d.size,), intri_path, f"dist_{name}")
        if d.size > 5 and np.any(d[5:]):
            raise DatasetFormatError(
                f"{intri_path}: dist_{name} has {d.size} coefficients; only OpenCV's k1 k2 p1 p2 k3 are supported "
                "(re-calibrate without the rational/thin-prism model)"
            )
        dist[name] = np.pad(d[:5], (0, 5 - min(d.size, 5)))
        h, w = intri.matrix(f"H_{name}"), intri.matrix(f"W_{name}")
        size[name] = (int(w.ravel()[0]), int(h.ravel()[0])) if h is not None and w is not None else None
        rot = extri.matrix(f"Rot_{name}")
        if rot is None:
            rvec = extri.matrix(f"R_{name}")
            if rvec is None:
                raise DatasetFormatError(
                    f"{extri_path}: camera {name} has neither Rot_{name} (3x3) nor R_{name} (Rodrigues)"
                )
            rot = _rodrigues(as_float_array(rvec, (3,), extri_path, f"R_{name}"))
        rot = as_float_array(rot, (3, 3), extri_path, f"Rot_{name}")
        t = extri.matrix(f"T_{name}")
        if t is None:
            raise DatasetFormatError(f"{extri_path}: camera {name} has no T_{name}")
        t = as_float_array(t, (3,), extri_path, f"T_{name}")
        w2c[name] = np.concatenate([rot, t[:, None]], axis=1)
    stacked_K = np.stack([K[n] for n in names])
    stacked = np.stack([w2c[n] for n in names])
    check_cameras(
        stacked_K, np.broadcast_to(np.eye(3), stacked.shape[:1] + (3, 3)), stacked[:, :, 3], intri_path, names
    )
    check_cameras(np.broadcast_to(np.eye(3), stacked_K.shape), stacked[:, :, :3], stacked[:, :, 3], extri_path, names)
    centres = -np.einsum("cji,cj->ci", stacked[:, :, :3], stacked[:, :, 3])
    radius = float(np.linalg.norm(centres - centres.mean(0), axis=1).max())
    if radius > MAX_RIG_RADIUS:
        raise DatasetFormatError(
            f"{extri_path}: camera centres lie up to {radius:.0f} m from the rig's centre; T must be in metres "
            "(millimetres, as in ZJU-MoCap's annots.npy, must be divided by 1000)"
        )
    return Calibration(names=names, K=K, w2c=w2c, dist=dist, size=size)


def _rodrigues(rvec: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(rvec.reshape(3, 1))[0]
