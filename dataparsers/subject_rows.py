"""The frame x camera loop shared by every human dataparser: one subject's index rows from its folders.

A parser knows its own path rules (where a camera's images, masks, OpenPose and CSE files are, and an image's file
name candidates); :class:`SubjectRows` does the rest the same way for every layout: first existing image name, its
mask (folders and suffixes in preference order), the optional OpenPose JSON and CSE target beside it, skipping and
reporting images or masks that are missing, and building the :class:`HumanImageIndex` with per-camera sizes read
from one image header each. No image is decoded.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from nerfstudio.utils.rich_utils import CONSOLE

from dataparsers.body25 import NUM_JOINTS
from dataparsers.camera_checks import probe_image_size
from dataparsers.human_common import OPENPOSE_DIRNAME, DatasetFormatError, HumanImageIndex
from dataparsers.index_utils import warn_skipped
from dataparsers.openpose_json import OPENPOSE_SUFFIX
from dataparsers.path_safety import Folder


@dataclass
class CameraFolders:
    """Where one camera's files are (each a listed folder; a folder that does not exist lists as empty)."""

    images: Folder
    """Images of the camera."""
    masks: Tuple[Folder, ...]
    """Mask folders, in preference order."""
    openpose: Folder
    """Optional OpenPose JSON files ``<image stem>_keypoints.json``."""
    cse: Folder
    """Optional CSE targets ``<image stem>.npy``."""


class SubjectRows:
    """Collects one subject's rows (call :meth:`add` per (frame, camera)), then :meth:`report` and :meth:`index`.

    Args:
        root: the subject's folder (for messages).
        subject: subject name.
        s_idx: the subject's index in the split.
        use_masks: a row needs a mask (rows without one are skipped and reported).
        mask_suffixes: mask file suffixes tried in order after the image stem.
    """

    def __init__(self, root: Path, subject: str, s_idx: int, use_masks: bool, mask_suffixes: Sequence[str] = (".png",)):
        self.root = root
        self.subject = subject
        self.s_idx = s_idx
        self.use_masks = use_masks
        self.mask_suffixes = tuple(mask_suffixes)
        self.frames: List[int] = []
        self.cameras: List[int] = []
        self.images: List[Path] = []
        self.masks: List[Optional[Path]] = []
        self.keypoint_files: List[Optional[Path]] = []
        self.cse_files: List[Optional[Path]] = []
        self.missing_images: List[str] = []
        self.missing_masks: List[str] = []
        self.attempts = 0

    def add(self, frame: int, camera: int, folders: CameraFolders, names: Sequence[str], shown: str) -> None:
        """One (frame, camera): the first of ``names`` that exists in the image folder; ``shown`` names it in
        reports."""
        self.attempts += 1
        image = None
        for name in names:
            image = folders.images.file(name)
            if image is not None:
                break
        if image is None:
            self.missing_images.append(shown)
            return
        stem = name.rpartition(".")[0] or name
        mask: Optional[Path] = None
        if self.use_masks:
            for folder in folders.masks:
                for suffix in self.mask_suffixes:
                    mask = folder.file(stem + suffix)
                    if mask is not None:
                        break
                if mask is not None:
                    break
            if mask is None:
                self.missing_masks.append(shown)
                return
        self.frames.append(frame)
        self.cameras.append(camera)
        self.images.append(image)
        self.masks.append(mask)
        self.keypoint_files.append(folders.openpose.file(stem + OPENPOSE_SUFFIX))
        self.cse_files.append(folders.cse.file(stem + ".npy"))

    def report(self, mask_folders: str, no_masks_option: str, keypoints_in_memory: bool) -> None:
        """Warn about skipped rows (one line per reason); a subject without any mask is an error.

        Args:
            mask_folders: the mask folders looked in, for the message (``"mask/ or mask_cihp/"``).
            no_masks_option: the option that runs without masks (``"--mask-folder none"``).
            keypoints_in_memory: the dataset ships 2D keypoints (ZJU kpts2d): missing OpenPose files are not reported.
        """
        if self.use_masks and not self.images and self.missing_masks:
            raise DatasetFormatError(
                f"{self.root}: no foreground masks found in {mask_folders}; download the masks or pass the dataparser "
                f"option {no_masks_option} to run without masks"
            )
        warn_skipped(self.subject, "image file missing", self.missing_images, self.attempts)
        warn_skipped(self.subject, "mask missing", self.missing_masks, self.attempts)
        missing_keypoints = sum(f is None for f in self.keypoint_files)
        if missing_keypoints and not keypoints_in_memory:
            CONSOLE.print(
                f"[bold yellow]Warning: {self.subject}: {missing_keypoints} of {len(self.images)} images have no "
                f"OpenPose file in {OPENPOSE_DIRNAME}/; their joints are masked (confidence 0)"
            )

    def camera_sizes(self, num_cameras: int, one_size: bool = False) -> np.ndarray:
        """(num_cameras, 2) native (width, height) from one image header per camera (``one_size``: per subject)."""
        sizes = np.zeros((num_cameras, 2), dtype=np.int64)
        cameras = np.asarray(self.cameras, dtype=np.int64)
        if one_size:  # a rendered dataset (SHERF) has one resolution: one header per subject
            sizes[:] = probe_image_size(self.images[0]) if self.images else (0, 0)
            return sizes
        for c in np.unique(cameras):
            sizes[c] = probe_image_size(self.images[int(np.argmax(cameras == c))])
        return sizes

    def index(
        self,
        K: np.ndarray,
        w2c: np.ndarray,
        dist: np.ndarray,
        sizes: np.ndarray,
        keypoints_2d: Optional[np.ndarray] = None,
    ) -> HumanImageIndex:
        """The rows as a :class:`HumanImageIndex` (``subjects`` and boxes are filled by the parser base).

        Args:
            K, w2c, dist, sizes: per camera id (C, 3, 3), (C, 3, 4), (C, 5), (C, 2) (width, height).
            keypoints_2d: optional (num_frames, C, 25, 3) in-memory keypoints indexed by (frame, camera); zeros
                otherwise (OpenPose files are read lazily).
        """
        frames = np.array(self.frames, dtype=np.int32)
        cams = np.array(self.cameras, dtype=np.int32)
        n = len(cams)
        keypoints = (
            keypoints_2d[frames, cams].reshape(-1, NUM_JOINTS, 3)
            if keypoints_2d is not None
            else np.zeros((n, NUM_JOINTS, 3), dtype=np.float32)
        )
        return HumanImageIndex(
            subjects=[],  # filled by concat_indexes
            image_filenames=self.images,
            mask_filenames=self.masks,
            subject_idx=np.full(n, self.s_idx, dtype=np.int32),
            frame=frames,
            camera=cams,
            K=K[cams].astype(np.float32).reshape(-1, 3, 3),
            w2c=w2c[cams].astype(np.float32).reshape(-1, 3, 4),
            dist=dist[cams].astype(np.float32).reshape(-1, 5),
            width=sizes[cams, 0].astype(np.int32),
            height=sizes[cams, 1].astype(np.int32),
            keypoints_2d=keypoints,
            keypoint_files=self.keypoint_files,
            cse_files=self.cse_files,
        )
