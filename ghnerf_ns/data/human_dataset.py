"""Whole-image dataset over a split's target images (for eval, ns-render dataset and the viewer's frustums).

Cameras are the undistorted pinhole cameras at the working resolution, and every camera carries two small integer
metadata entries (``ghnerf_split``, ``ghnerf_row``) so that the model can find the source views of an eval image from
the camera alone (nerfstudio's eval loop and ns-render pass only the camera).

The training split's dataset is ordered camera-major (camera, then subject, then frame): nerfstudio's viewer draws the
frustums of ``np.linspace(0, len - 1, max_num_display_images)`` dataset positions, so with the trainer's 12 display
images this shows the input-camera rig (one frustum per camera of a 12-camera rig) instead of one camera many times.
Positions are not index rows: ``ghnerf_row`` metadata and :meth:`HumanImageDataset.position_of_row` map between them.
"""

from copy import copy
from typing import Dict

import numpy as np
import torch
from nerfstudio.cameras.cameras import Cameras, CameraType
from nerfstudio.data.dataparsers.base_dataparser import DataparserOutputs
from nerfstudio.data.datasets.base_dataset import InputDataset

from dataparsers.human_common import SOURCES_KEY, TARGETS_KEY, HumanImageIndex, opencv_to_nerfstudio_c2w
from ghnerf_ns.data.image_loading import load_view, working_camera
from ghnerf_ns.data.keypoint_source import read_keypoints
from ghnerf_ns.keypoints.heatmap_targets import joint_validity
from ghnerf_ns.keypoints.metrics import DEFAULT_TORSO
from ghnerf_ns.model.geometry import box_mask

SPLIT_KEY = "ghnerf_split"
"""Camera metadata key: 0 for the training split's targets, 1 for the eval split's."""
ROW_KEY = "ghnerf_row"
"""Camera metadata key: the image's row in its split's :class:`HumanImageIndex`."""


def working_cameras(index: HumanImageIndex, resolution: int, split_id: int) -> Cameras:
    """nerfstudio Cameras (OpenGL c2w, pixel-centre principal point) of every row at the working resolution."""
    n = len(index)
    Ks = np.zeros((n, 3, 3), np.float32)
    w2cs = np.zeros((n, 4, 4), np.float32)
    sizes = np.zeros((n, 2), np.int64)
    for row in range(n):
        Ks[row], w2cs[row], sizes[row] = working_camera(index, row, resolution)
    c2w = opencv_to_nerfstudio_c2w(w2cs[:, :3, :]).astype(np.float32)
    return Cameras(
        camera_to_worlds=torch.from_numpy(c2w),
        fx=torch.from_numpy(Ks[:, 0, 0:1]),
        fy=torch.from_numpy(Ks[:, 1, 1:2]),
        cx=torch.from_numpy(Ks[:, 0, 2:3] + 0.5),
        cy=torch.from_numpy(Ks[:, 1, 2:3] + 0.5),
        width=torch.from_numpy(sizes[:, 0:1]),
        height=torch.from_numpy(sizes[:, 1:2]),
        camera_type=CameraType.PERSPECTIVE,
        metadata={
            SPLIT_KEY: torch.full((n, 1), split_id, dtype=torch.long),
            ROW_KEY: torch.arange(n, dtype=torch.long)[:, None],
        },
    )


def camera_major_order(camera: np.ndarray, subject_idx: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Rows sorted by (camera, subject, frame) (per-row arrays of a HumanImageIndex): the training split's display
    order."""
    return np.lexsort((frame, subject_idx, camera)).astype(np.int64)


class HumanImageDataset(InputDataset):
    """A split's target images, decoded on access (undistorted, masked, working resolution)."""

    def __init__(
        self,
        dataparser_outputs: DataparserOutputs,
        resolution: int,
        split_id: int,
        heatmap_sigma: float,
        with_cse: bool = True,
    ):
        outputs = copy(dataparser_outputs)
        # InputDataset composites masks itself when mask_filenames are set; we do ENeRF's masking in load_view instead.
        outputs.mask_filenames = None
        super().__init__(outputs)
        self.index: HumanImageIndex = dataparser_outputs.metadata[TARGETS_KEY]
        self._metadata = dataparser_outputs.metadata
        self._joints3d_cache: Dict = {}
        self.resolution = resolution
        self.split_id = split_id
        self.with_cse = with_cse
        self.heatmap_sigma = heatmap_sigma
        # Dataset position -> index row (identity for the eval split, whose order ns-render dataset's file names
        # follow).
        self.rows = (
            camera_major_order(self.index.camera, self.index.subject_idx, self.index.frame)
            if split_id == 0
            else np.arange(len(self.index), dtype=np.int64)
        )
        self._positions = np.argsort(self.rows)
        self.cameras = working_cameras(self.index, resolution, split_id)[torch.from_numpy(self.rows)]

    def position_of_row(self, row: int) -> int:
        """Dataset position (``cameras``/``__getitem__`` index) of an index row."""
        return int(self._positions[row])

    def __len__(self) -> int:
        return len(self.index)

    def get_data(self, image_idx: int, image_type="float32") -> Dict:
        row = int(self.rows[image_idx])  # image_idx is a dataset position
        view = load_view(
            self.index, row, self.resolution, keypoints=read_keypoints(self.index, row), with_cse=self.with_cse
        )
        h, w = view.mask.shape
        keypoints = torch.from_numpy(view.keypoints)
        box = torch.from_numpy(self.index.box(row))
        data: Dict = {
            "image_idx": image_idx,
            "image": torch.from_numpy(view.image),
            "fg_mask": torch.from_numpy(view.mask.astype(bool))[..., None],
            "keypoints": keypoints,
            "joints_valid": joint_validity(keypoints, h, w, self.heatmap_sigma),
            "box": box,
            "box_mask": box_mask(box, torch.from_numpy(view.K), torch.from_numpy(view.w2c), h, w)[..., None],
        }
        if view.cse is not None:
            data["cse"] = torch.from_numpy(view.cse)
        if self.index.joints3d_files:
            key = (int(self.index.subject_idx[row]), int(self.index.frame[row]))
            path = self.index.joints3d_files.get(key)
            if path is not None:
                data["joints3d"] = torch.from_numpy(np.load(path, allow_pickle=False).astype(np.float32))
        data["torso_diameter"] = torch.tensor(self._torso_diameter(row, view.keypoints, view.K, view.w2c, data))
        return data

    def _torso_diameter(self, row: int, keypoints: np.ndarray, K: np.ndarray, w2c: np.ndarray, data: Dict) -> float:
        """PCK's scale where the view's own annotation lacks a torso joint (occluded): the distance between the frame's
        3D ground-truth torso joints projected into the view (the synthetic ``joints3d``, else the annotated 2D
        keypoints of every camera of the frame triangulated). NaN where the annotation has both joints (PCK uses
        them) or no 3D torso is known (the image is then excluded from PCK and counted)."""
        a, b = DEFAULT_TORSO
        if keypoints[a, 2] > 0 and keypoints[b, 2] > 0:
            return float("nan")
        joints3d = data.get("joints3d")
        if joints3d is None:
            joints3d = self._annotated_joints3d(int(self.index.subject_idx[row]), int(self.index.frame[row]))
        if not (joints3d[a, 3] > 0 and joints3d[b, 3] > 0):
            return float("nan")
        cam = joints3d[[a, b], :3].double().numpy() @ w2c[:3, :3].T.astype(np.float64) + w2c[:3, 3]
        if (cam[:, 2] <= 0).any():
            return float("nan")
        uv = cam[:, :2] / cam[:, 2:] * np.diag(K)[:2] + K[:2, 2]
        return float(np.linalg.norm(uv[0] - uv[1]))

    def _annotated_joints3d(self, subject_idx: int, frame: int) -> torch.Tensor:
        """The frame's annotated 2D keypoints of all its cameras (test and input) triangulated, cached per frame."""
        from ghnerf_ns.keypoints.keypoints3d import annotated_joints3d

        key = (subject_idx, frame)
        if key not in self._joints3d_cache:
            sources = self._metadata.get(SOURCES_KEY)
            indices = [self.index] + ([sources] if sources is not None and sources is not self.index else [])
            self._joints3d_cache[key] = annotated_joints3d(indices, self.index.subjects[subject_idx], frame)
        return self._joints3d_cache[key]
