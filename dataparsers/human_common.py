"""The contract between the human dataparsers and the GHNeRF method.

The dataparsers (ZJU-MoCap, RenderPeople, EasyMocap) return nerfstudio ``DataparserOutputs`` whose ``metadata`` holds
two :class:`HumanImageIndex` objects under the keys below:

- ``TARGETS_KEY``: one row per image of the split, aligned with ``image_filenames`` / ``cameras``.
- ``SOURCES_KEY``: the *input* cameras (source-view pool) of every subject of the split. For the training split
  this is the same set as the targets; for the test split it holds the test subjects' input cameras, which are in no
  training split (they are unseen people), so that the model can find source views for them.

Nothing here decodes an image: a full ZJU-MoCap index (hundreds of thousands of images) stays a handful of numpy
arrays. Everything is in OpenCV conventions (world-to-camera ``R|t`` in metres, ``K`` at the native resolution,
distortion ``(k1, k2, p1, p2, k3)``); the conversion to nerfstudio's OpenGL ``Cameras`` happens once, in
:func:`opencv_to_nerfstudio_c2w`.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Protocol, Sequence, Tuple, runtime_checkable

import numpy as np

TARGETS_KEY = "ghnerf_targets"
"""``DataparserOutputs.metadata`` key of the split's own images (a :class:`HumanImageIndex`)."""
SOURCES_KEY = "ghnerf_sources"
"""``DataparserOutputs.metadata`` key of the split subjects' input-camera images (a :class:`HumanImageIndex`)."""

OPENPOSE_DIRNAME = "openpose"
"""Folder (beside the image folders) of optional per-image OpenPose JSON files:
``openpose/<cam>/<stem>_keypoints.json``."""
CSE_DIRNAME = "cse"
"""Folder (beside the image folders) of optional per-image CSE targets: ``cse/<cam>/<stem>.npy``, shape (h, w, D),
float16/float32, NaN where there is no body (DensePose CSE teacher output, any resolution: resized at load)."""
SYNTH_GT_DIRNAME = "ghnerf_synth"
"""Folder (inside a subject) of ground truth that real datasets lack, written only by ``ghnerf-synth``:
``ghnerf_synth/joints3d/<frame:06d>.npy`` (25, 4: xyz metres in the dataset's world frame + validity)."""


class DatasetFormatError(ValueError):
    """A dataset file is missing or malformed. The message names the file, what is wrong and how to fix it."""


@runtime_checkable
class FrameBoxEstimator(Protocol):
    """Computes a subject's 3D box at a frame without SMPL (``dataparsers.person_box.PersonBoxEstimator``)."""

    def box(self, frame: int) -> np.ndarray: ...


@dataclass
class HumanImageIndex:
    """Per-image metadata of a multi-view human dataset (one row per image). Arrays only, no decoded pixels."""

    subjects: List[str]
    """Subject names (e.g. ``CoreView_313``); ``subject_idx`` indexes into this list."""
    image_filenames: List[Path]
    """Image paths (absolute), one per row."""
    mask_filenames: List[Optional[Path]]
    """Foreground mask paths, one per row (None where the dataset has no mask for that image)."""
    subject_idx: np.ndarray
    """(N,) int32: index into ``subjects``."""
    frame: np.ndarray
    """(N,) int32: frame number as the dataset numbers it (ZJU: 0-based image number; RenderPeople: pose index)."""
    camera: np.ndarray
    """(N,) int32: camera index inside the subject's rig (0-based position in ``annots['cams']`` / cameras.json)."""
    K: np.ndarray
    """(N, 3, 3) float32: OpenCV intrinsics at the native image resolution (integer-pixel-centre convention)."""
    w2c: np.ndarray
    """(N, 3, 4) float32: OpenCV world-to-camera ``[R | t]``, t in metres."""
    dist: np.ndarray
    """(N, 5) float32: OpenCV distortion (k1, k2, p1, p2, k3); zeros when there is none."""
    width: np.ndarray
    """(N,) int32: native image width in pixels."""
    height: np.ndarray
    """(N,) int32: native image height in pixels."""
    keypoints_2d: np.ndarray
    """(N, 25, 3) float32: BODY_25 (x, y, confidence) in native, *distorted* pixel coordinates (as annotated);
    confidence 0 marks a missing joint. Where OpenPose JSON files exist they are read lazily instead
    (``keypoint_files``)."""
    keypoint_files: List[Optional[Path]]
    """Per row: an OpenPose ``*_keypoints.json`` that replaces/completes ``keypoints_2d`` for that image, or None."""
    cse_files: List[Optional[Path]]
    """Per row: a CSE target ``.npy`` (see ``CSE_DIRNAME``), or None."""
    frame_boxes: Dict[Tuple[int, int], np.ndarray] = field(default_factory=dict)
    """(subject_idx, frame) -> (2, 3) float32 axis-aligned 3D box of the human (min, max), metres, world frame. Filled
    lazily through :meth:`box` from ``box_sources``, so parsing reads no vertex files."""
    box_sources: Dict[Tuple[int, int], Path] = field(default_factory=dict)
    """(subject_idx, frame) -> file the box is computed from (SMPL vertices, e.g. ZJU ``vertices/<i>.npy``)."""
    box_estimators: Dict[int, FrameBoxEstimator] = field(default_factory=dict)
    """subject_idx -> SMPL-free box (triangulated keypoints, else mask visual hull) for the frames that have neither
    a ``frame_boxes`` entry nor a ``box_sources`` file."""
    box_descriptions: Dict[int, str] = field(default_factory=dict)
    """subject_idx -> where that subject's boxes come from, in words (the start-up summary line)."""
    box_padding: float = 0.1
    """Metres added on every side of the vertex bounds (ENeRF: 0.1)."""
    joints3d_files: Dict[Tuple[int, int], Path] = field(default_factory=dict)
    """(subject_idx, frame) -> synthetic 3D joint ground truth (``ghnerf_synth/joints3d``), where it exists."""

    def __len__(self) -> int:
        return len(self.image_filenames)

    def __deepcopy__(self, memo: dict) -> "HumanImageIndex":
        # nerfstudio's InputDataset deep-copies dataparser metadata; the index is never mutated after parsing (the lazy
        # box table only grows), so sharing it avoids copying hundreds of thousands of rows per dataset.
        return self

    def box(self, row: int) -> np.ndarray:
        """The (2, 3) 3D box of the human in image ``row``: from its vertex file, else from the subject's SMPL-free
        estimator, computed on first use."""
        key = (int(self.subject_idx[row]), int(self.frame[row]))
        if key not in self.frame_boxes:
            src = self.box_sources.get(key)
            if src is None:
                estimator = self.box_estimators.get(key[0])
                if estimator is None:
                    raise DatasetFormatError(
                        f"no 3D box for subject {self.subjects[key[0]]} frame {key[1]}: no vertices file was found"
                    )
                self.frame_boxes[key] = estimator.box(key[1])
                return self.frame_boxes[key]
            verts = np.load(src, allow_pickle=False)
            if verts.ndim != 2 or verts.shape[1] != 3 or not np.isfinite(verts).all():
                raise DatasetFormatError(f"{src}: expected finite (num_vertices, 3) vertices, got shape {verts.shape}")
            pad = self.box_padding
            self.frame_boxes[key] = np.stack([verts.min(0) - pad, verts.max(0) + pad]).astype(np.float32)
        return self.frame_boxes[key]

    def select(self, rows: Sequence[int]) -> "HumanImageIndex":
        """A new index with only the given rows (boxes/paths tables are shared, they are keyed by subject/frame)."""
        rows = np.asarray(rows, dtype=np.int64)
        return HumanImageIndex(
            subjects=self.subjects,
            image_filenames=[self.image_filenames[i] for i in rows],
            mask_filenames=[self.mask_filenames[i] for i in rows],
            subject_idx=self.subject_idx[rows],
            frame=self.frame[rows],
            camera=self.camera[rows],
            K=self.K[rows],
            w2c=self.w2c[rows],
            dist=self.dist[rows],
            width=self.width[rows],
            height=self.height[rows],
            keypoints_2d=self.keypoints_2d[rows],
            keypoint_files=[self.keypoint_files[i] for i in rows],
            cse_files=[self.cse_files[i] for i in rows],
            frame_boxes=self.frame_boxes,
            box_sources=self.box_sources,
            box_padding=self.box_padding,
            joints3d_files=self.joints3d_files,
            box_estimators=self.box_estimators,
            box_descriptions=self.box_descriptions,
        )


def opencv_to_nerfstudio_c2w(w2c: np.ndarray) -> np.ndarray:
    """OpenCV world-to-camera (..., 3, 4) -> nerfstudio OpenGL camera-to-world (..., 3, 4).

    nerfstudio cameras look down -z with +y up; OpenCV cameras look down +z with +y down, so the y and z camera axes
    flip sign.
    """
    R = w2c[..., :3, :3]
    t = w2c[..., :3, 3:]
    Rt = np.swapaxes(R, -1, -2)
    c2w = np.concatenate([Rt, -Rt @ t], axis=-1)
    c2w[..., :3, 1:3] *= -1
    return c2w


def opencv_intrinsics_to_nerfstudio(K: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(fx, fy, cx, cy) for nerfstudio from OpenCV ``K`` (..., 3, 3).

    nerfstudio shoots rays through pixel centres (``u + 0.5``) while OpenCV/ENeRF use integer pixel coordinates, so
    the principal point moves by half a pixel; otherwise every ray would be off by 0.5 px.
    """
    return K[..., 0, 0], K[..., 1, 1], K[..., 0, 2] + 0.5, K[..., 1, 2] + 0.5
