"""Read and validate a ZJU-MoCap ``annots.npy`` into typed numpy arrays.

``annots.npy`` (Neural Body release) is ``np.save`` of ``{'cams': {'K', 'R', 'T', 'D'}, 'ims': [...]}``: per-camera
lists of intrinsics, world-to-camera rotation, translation in **millimetres** and distortion ``(k1, k2, p1, p2, k3)``,
and per frame ``{'ims': [image path per camera], 'kpts2d': (num_cams, 25, 3)}``. CoreView_313/315 store plain
Python lists instead of arrays; a frame may lack ``kpts2d``. It is loaded with the restricted unpickler.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import List

import numpy as np

from dataparsers.body25 import NUM_JOINTS
from dataparsers.camera_checks import as_float_array, check_cameras
from dataparsers.human_common import DatasetFormatError
from dataparsers.path_safety import DatasetTree
from dataparsers.safe_pickle import load_npy_object

ZJU_T_UNIT = 1000.0
"""annots ``T`` is in millimetres (``neuralbody tools/custom/get_annots.py`` writes ``T * 1000``)."""


@dataclass
class ZJUAnnots:
    """One subject's calibration, image paths and 2D keypoints."""

    K: np.ndarray
    """(C, 3, 3) float64 intrinsics."""
    w2c: np.ndarray
    """(C, 3, 4) float64 world-to-camera ``[R | T / 1000]`` (metres)."""
    dist: np.ndarray
    """(C, 5) float64 distortion (k1, k2, p1, p2, k3)."""
    image_paths: List[List[str]]
    """[frame][camera] validated image path relative to the dataset root (subject folder included)."""
    kpts2d: np.ndarray
    """(F, C, 25, 3) float32 BODY_25 keypoints in native distorted pixels; confidence 0 where missing."""
    frames_without_kpts: int
    """Number of frames whose entry has no ``kpts2d`` (their joints have confidence 0)."""

    @property
    def num_cameras(self) -> int:
        return self.K.shape[0]

    @property
    def num_frames(self) -> int:
        return len(self.image_paths)


def _camera_list(cams: dict, key: str, path: Path) -> list:
    if key not in cams:
        raise DatasetFormatError(f"{path}: annots['cams'] has no '{key}'; expected keys K, R, T, D")
    value = cams[key]
    if isinstance(value, np.ndarray):
        value = list(value)
    if not isinstance(value, (list, tuple)):
        raise DatasetFormatError(f"{path}: annots['cams']['{key}'] must be a list over cameras")
    return list(value)


def read_zju_annots(tree: DatasetTree, subject: str) -> ZJUAnnots:
    """Load ``<subject>/annots.npy`` safely and validate shapes, numbers and image paths.

    Raises:
        DatasetFormatError: missing file, not a dict, bad camera matrices, per-frame camera counts that do not match
            the calibration, bad ``kpts2d`` shapes, or image paths outside the dataset root.
    """
    path = tree.path(f"{subject}/annots.npy")
    if not path.is_file():
        raise DatasetFormatError(f"{path}: annots.npy not found; every CoreView_* folder needs the released annots.npy")
    annots = load_npy_object(path)
    if not isinstance(annots, dict) or not isinstance(annots.get("cams"), dict) or "ims" not in annots:
        raise DatasetFormatError(f"{path}: expected a dict with 'cams' (dict) and 'ims' (list); re-download annots.npy")
    cams = annots["cams"]
    Ks, Rs, Ts, Ds = (_camera_list(cams, key, path) for key in ("K", "R", "T", "D"))
    num_cams = len(Ks)
    if num_cams == 0 or not len(Rs) == len(Ts) == len(Ds) == num_cams:
        raise DatasetFormatError(
            f"{path}: annots['cams'] lists differ in length (K {len(Ks)}, R {len(Rs)}, T {len(Ts)}, D {len(Ds)})"
        )
    K = np.stack([as_float_array(k, (3, 3), path, f"cams['K'][{c}]") for c, k in enumerate(Ks)])
    R = np.stack([as_float_array(r, (3, 3), path, f"cams['R'][{c}]") for c, r in enumerate(Rs)])
    T = np.stack([as_float_array(t, (3,), path, f"cams['T'][{c}]") for c, t in enumerate(Ts)]) / ZJU_T_UNIT
    dist = np.zeros((num_cams, 5))
    for c, d in enumerate(Ds):
        d = np.asarray(d, dtype=np.float64).reshape(-1)
        if d.size > 5 or not np.isfinite(d).all():
            raise DatasetFormatError(f"{path}: cams['D'][{c}] must be up to 5 finite numbers (k1 k2 p1 p2 k3)")
        dist[c, : d.size] = d
    check_cameras(K, R, T, path, [str(c) for c in range(num_cams)])

    frames = annots["ims"]
    if isinstance(frames, np.ndarray):
        frames = list(frames)
    if not isinstance(frames, (list, tuple)) or not frames:
        raise DatasetFormatError(f"{path}: annots['ims'] must be a non-empty list of frames")
    image_paths: List[List[str]] = []
    kpts2d = np.zeros((len(frames), num_cams, NUM_JOINTS, 3), dtype=np.float32)
    frames_without_kpts = 0
    for f, frame in enumerate(frames):
        if not isinstance(frame, dict) or "ims" not in frame:
            raise DatasetFormatError(f"{path}: annots['ims'][{f}] must be a dict with 'ims'")
        names = frame["ims"]
        names = list(names) if isinstance(names, (list, tuple, np.ndarray)) else None
        if names is None or len(names) != num_cams:
            got = "not a list" if names is None else f"{len(names)} images"
            raise DatasetFormatError(
                f"{path}: frame {f} lists {got} but annots['cams'] has {num_cams} cameras; the annots do not match"
            )
        if not all(isinstance(n, str) for n in names):
            raise DatasetFormatError(f"{path}: frame {f} image paths must be strings")
        # Paths are relative to the subject folder; absolute paths and '..' escapes from the root are refused.
        image_paths.append(tree.join_all(subject, names, path, f"frame {f} image path"))
        if frame.get("kpts2d") is None:
            frames_without_kpts += 1
            continue
        try:
            kp = np.asarray(frame["kpts2d"], dtype=np.float32)
        except (TypeError, ValueError):
            raise DatasetFormatError(f"{path}: frame {f}: kpts2d is not numeric") from None
        if kp.shape != (num_cams, NUM_JOINTS, 3):
            raise DatasetFormatError(
                f"{path}: frame {f}: kpts2d has shape {kp.shape}, expected ({num_cams}, {NUM_JOINTS}, 3) (BODY_25 per "
                "camera); re-download annots.npy"
            )
        # A NaN keypoint is a missing joint, never a value to learn from.
        bad = ~np.isfinite(kp).all(-1)
        kp[bad] = 0.0
        kpts2d[f] = kp
    w2c = np.concatenate([R, T[..., None]], axis=-1)
    return ZJUAnnots(
        K=K, w2c=w2c, dist=dist, image_paths=image_paths, kpts2d=kpts2d, frames_without_kpts=frames_without_kpts
    )
