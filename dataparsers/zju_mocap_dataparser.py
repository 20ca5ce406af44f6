"""ZJU-MoCap dataparser (``zju-mocap-data``): several ``CoreView_*`` folders as released, split by subject and camera.

Reads each subject's ``annots.npy`` (restricted unpickler), checks that the listed images exist with one folder
listing per camera (no image is decoded), and emits nerfstudio ``Cameras`` plus two :class:`HumanImageIndex`
tables (targets of the split, and the input-camera source pool of its subjects). Distortion stays in the index and
is removed when images are loaded.

Defaults follow ENeRF's ZJU-MoCap protocol (``lib/datasets/zjumocap/enerf.py``, ``configs/enerf/zjumocap``): input
(source/training) cameras are the even camera indices, test cameras the odd ones; training uses frames 0..599 and
evaluation every 100th of them; masks from ``mask/`` (falling back to ``mask_cihp/``); human box = SMPL vertex bounds
+- 0.1 m. Subjects are split between training and testing so that test people are never seen in training.
"""

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Literal, Optional, Tuple, Type

import numpy as np
from nerfstudio.data.dataparsers.base_dataparser import DataParser, DataParserConfig, DataparserOutputs
from nerfstudio.utils.rich_utils import CONSOLE

from dataparsers.camera_checks import probe_image_size
from dataparsers.human_common import CSE_DIRNAME, OPENPOSE_DIRNAME, SYNTH_GT_DIRNAME, DatasetFormatError, HumanImageIndex
from dataparsers.index_utils import concat_indexes, index_range, make_outputs, no_gc, resolve_subjects, view_ids, warn_skipped
from dataparsers.openpose_json import OPENPOSE_SUFFIX
from dataparsers.path_safety import DatasetTree, Folder
from dataparsers.zju_annots import ZJUAnnots, read_zju_annots

# ENeRF parity: masks come from mask/ (read_data; its TODO notes it is not mask_cihp/), mask_cihp/ is the fallback.
MASK_FOLDERS = {"auto": ("mask", "mask_cihp"), "mask": ("mask",), "mask_cihp": ("mask_cihp",), "none": ()}
"""Mask folders tried in order for each ``mask_folder`` option."""


def zju_subject_name(name: str) -> str:
    """``"313"`` -> ``"CoreView_313"``; full names pass through."""
    return f"CoreView_{name}" if name.isdigit() else name


def vertex_number(image_path: str, frame: int) -> int:
    """Number of the SMPL ``vertices/<i>.npy`` file of a frame, from its (camera 0) image path.

    CoreView_313/315 name images ``CoreView_313_Camera_(1)_0001_<time>.jpg`` and number their SMPL files by the
    1-based ``split('_')[4]`` (neuralbody ``multi_view_dataset.py``); the other subjects use the 0-based image number
    (``000000.jpg``). Anything else falls back to the position in ``annots['ims']``.
    """
    base = posixpath.basename(image_path)
    parts = base.split("_")
    if base.startswith("CoreView") and len(parts) > 4 and parts[4].isdigit():
        return int(parts[4])
    stem = posixpath.splitext(base)[0]
    return int(stem) if stem.isdigit() else frame


@dataclass
class ZJUMocapDataParserConfig(DataParserConfig):
    """ZJU-MoCap (Neural Body release: ``<data>/CoreView_*/annots.npy``, ``Camera*/``, ``mask*/``, ``vertices/``)."""

    _target: Type = field(default_factory=lambda: ZJUMocapDataParser)
    data: Path = Path("data/zju_mocap")
    """Dataset root holding the CoreView_* subject folders."""
    train_subjects: Tuple[str, ...] = (
        "CoreView_315", "CoreView_377", "CoreView_387", "CoreView_390", "CoreView_393", "CoreView_394",
    )  # fmt: skip
    """Subjects of the training split ("315" is accepted for "CoreView_315")."""
    test_subjects: Tuple[str, ...] = ("CoreView_313", "CoreView_386")
    """Unseen subjects of the val/test split (never used for training)."""
    train_frames: Tuple[int, int, int] = (0, 600, 1)
    """(start, end, step) over annots['ims'] for training; end -1 = through the last frame (ENeRF: frames 0..599)."""
    # ENeRF parity: frames [0, 600, 1] for training and every 100th for testing (configs/enerf/zjumocap/*.yaml).
    eval_frames: Tuple[int, int, int] = (0, 600, 100)
    """(start, end, step) of the val/test frames; ENeRF evaluates every 100th frame: 0, 100, ..., 500."""
    # ENeRF parity: input_views [0, -1, 2] / test_views [1, -1, 2] (lib/datasets/zjumocap/enerf.py: even cameras are
    # sources and training targets, odd cameras are only rendered at test time).
    input_views: Tuple[int, int, int] = (0, -1, 2)
    """(start, end, step) of the input cameras (training targets and source views); end -1 = through the last
    camera. ENeRF's [0,-1,2]: the even cameras."""
    input_view_ids: Tuple[int, ...] = ()
    """Explicit input camera ids (0-based positions in annots['cams']); overrides input_views when given."""
    test_views: Tuple[int, int, int] = (1, -1, 2)
    """(start, end, step) of the test (target) cameras of the val/test split. ENeRF's [1,-1,2]: the odd cameras."""
    test_view_ids: Tuple[int, ...] = ()
    """Explicit test camera ids; overrides test_views when given."""
    mask_folder: Literal["auto", "mask", "mask_cihp", "none"] = "auto"
    """Foreground masks: "auto" prefers mask/ (as ENeRF) and falls back to mask_cihp/ (313/315 ship only that);
    "none" runs without masks. Images without a mask are skipped and reported; a subject without any is an error."""
    vertices_folder: str = "vertices"
    """Subject sub-folder of SMPL vertex files that give each frame's 3D box ("new_vertices" for the newer fit)."""
    # ENeRF parity: SMPL vertex bounds +- 0.1 m (lib/datasets/zjumocap/enerf.py). Unlike ENeRF, which always reads
    # new_vertices/{frame + 1}, the file number follows each subject's own numbering (see vertex_number).
    box_padding: float = 0.1
    """Metres added on every side of the SMPL vertex bounds (ENeRF: 0.1)."""
    allow_symlinks_outside_root: bool = False
    """Follow symlinks inside the dataset whose target is outside the root (refused by default)."""


class ZJUMocapDataParser(DataParser):
    """Parses ZJU-MoCap into nerfstudio outputs plus :class:`HumanImageIndex` metadata (see module docstring)."""

    config: ZJUMocapDataParserConfig

    def __init__(self, config: ZJUMocapDataParserConfig):
        super().__init__(config=config)
        self.config = config

    def _generate_dataparser_outputs(self, split: str = "train", **kwargs: Optional[Dict]) -> DataparserOutputs:
        with no_gc():
            return self._parse(split)

    def _parse(self, split: str) -> DataparserOutputs:
        cfg = self.config
        if split not in ("train", "val", "test"):
            raise DatasetFormatError(f"unknown split {split!r}; expected train, val or test")
        training = split == "train"
        option = "train_subjects" if training else "test_subjects"
        tree = DatasetTree(Path(cfg.data), cfg.allow_symlinks_outside_root)
        wanted = cfg.train_subjects if training else cfg.test_subjects
        subjects = resolve_subjects(tree.root, wanted, zju_subject_name, option, split)

        target_parts: List[HumanImageIndex] = []
        source_parts: List[HumanImageIndex] = []
        for s_idx, subject in enumerate(subjects):
            annots = read_zju_annots(tree, subject)
            where = f"{subject}/annots.npy"
            inputs = view_ids(cfg.input_views, cfg.input_view_ids, annots.num_cameras, "input_view_ids", where)
            frames = index_range(cfg.train_frames if training else cfg.eval_frames, annots.num_frames,
                                 "train_frames" if training else "eval_frames")  # fmt: skip
            sources = self._subject_index(tree, subject, s_idx, annots, frames, inputs)
            source_parts.append(sources)
            if training:
                target_parts.append(sources)
            else:
                tests = view_ids(cfg.test_views, cfg.test_view_ids, annots.num_cameras, "test_view_ids", where)
                target_parts.append(self._subject_index(tree, subject, s_idx, annots, frames, tests))
        targets = concat_indexes(subjects, target_parts, cfg.box_padding)
        # Training: the targets are the input cameras themselves, so the same table (and memory) serves both.
        sources_index = targets if training else concat_indexes(subjects, source_parts, cfg.box_padding)
        return make_outputs(targets, sources_index, cfg.mask_folder != "none", split, f"ZJU-MoCap {tree.root}")

    def _subject_index(
        self,
        tree: DatasetTree,
        subject: str,
        s_idx: int,
        annots: ZJUAnnots,
        frames: List[int],
        cameras: List[int],
    ) -> HumanImageIndex:
        """Index rows (frame-major) of one subject for the given frames and cameras, skipping missing files."""
        cfg = self.config
        mask_dirs = MASK_FOLDERS[cfg.mask_folder]
        frame_rows: List[int] = []
        camera_rows: List[int] = []
        images: List[Path] = []
        masks: List[Optional[Path]] = []
        keypoint_files: List[Optional[Path]] = []
        cse_files: List[Optional[Path]] = []
        missing_images: List[str] = []
        missing_masks: List[str] = []
        # Per image folder: (images, mask folders, openpose, cse). One listing each, then dict lookups per row:
        # this loop runs ~400k times on the full dataset.
        folders: Dict[str, Tuple[Folder, List[Folder], Folder, Folder]] = {}

        def beside(top: str, cam_dir: str) -> Folder:
            """``<subject>/<top>/<camera folder>``: where masks, OpenPose and CSE files mirror the image folders."""
            return tree.folder(posixpath.join(subject, top, cam_dir).rstrip("/"))

        for f in frames:
            names = annots.image_paths[f]
            for c in cameras:
                rel = names[c]
                rel_dir, _, base = rel.rpartition("/")
                group = folders.get(rel_dir)
                if group is None:
                    # The camera folder as named inside the subject (masks etc. mirror it under their own folder).
                    cam_dir = rel_dir[len(subject) + 1 :] if rel_dir.startswith(subject + "/") else ""
                    group = folders[rel_dir] = (
                        tree.folder(rel_dir),
                        [beside(top, cam_dir) for top in mask_dirs],
                        beside(OPENPOSE_DIRNAME, cam_dir),
                        beside(CSE_DIRNAME, cam_dir),
                    )
                image_folder, mask_folders, openpose_folder, cse_folder = group
                image = image_folder.file(base)
                if image is None:
                    missing_images.append(rel)
                    continue
                stem = base.rpartition(".")[0] or base
                mask: Optional[Path] = None
                for mask_folder in mask_folders:
                    mask = mask_folder.file(stem + ".png")
                    if mask is not None:
                        break
                if mask_dirs and mask is None:
                    missing_masks.append(rel)
                    continue
                frame_rows.append(f)
                camera_rows.append(c)
                images.append(image)
                masks.append(mask)
                keypoint_files.append(openpose_folder.file(stem + OPENPOSE_SUFFIX))
                cse_files.append(cse_folder.file(stem + ".npy"))
        total = len(frames) * len(cameras)
        if mask_dirs and not images and missing_masks:
            raise DatasetFormatError(
                f"{tree.root / subject}: no foreground masks found in {' or '.join(d + '/' for d in mask_dirs)}; "
                "download the masks or pass the dataparser option --mask-folder none to run without masks"
            )
        warn_skipped(subject, "image file missing", missing_images, total)
        warn_skipped(subject, "mask missing", missing_masks, total)
        if annots.frames_without_kpts:
            CONSOLE.print(
                f"[bold yellow]Warning: {subject}: {annots.frames_without_kpts} frames of annots.npy have no kpts2d; "
                "their joints are masked (confidence 0)"
            )

        frame_ids = np.array(frame_rows, dtype=np.int32)
        cam_ids = np.array(camera_rows, dtype=np.int32)
        sizes = self._camera_sizes(tree, annots, frame_ids, cam_ids)
        box_sources, joints3d_files = self._frame_files(tree, subject, s_idx, annots, sorted(set(frame_ids.tolist())))
        return HumanImageIndex(
            subjects=[],  # filled by concat_indexes
            image_filenames=images,
            mask_filenames=masks,
            subject_idx=np.full(len(images), s_idx, dtype=np.int32),
            frame=frame_ids,
            camera=cam_ids,
            K=annots.K[cam_ids].astype(np.float32).reshape(-1, 3, 3),
            w2c=annots.w2c[cam_ids].astype(np.float32).reshape(-1, 3, 4),
            dist=annots.dist[cam_ids].astype(np.float32).reshape(-1, 5),
            width=sizes[cam_ids, 0].astype(np.int32),
            height=sizes[cam_ids, 1].astype(np.int32),
            keypoints_2d=annots.kpts2d[frame_ids, cam_ids].reshape(-1, 25, 3),
            keypoint_files=keypoint_files,
            cse_files=cse_files,
            box_sources=box_sources,
            box_padding=cfg.box_padding,
            joints3d_files=joints3d_files,
        )

    @staticmethod
    def _camera_sizes(tree: DatasetTree, annots: ZJUAnnots, frame_ids: np.ndarray, cam_ids: np.ndarray) -> np.ndarray:
        """(num_cameras, 2) native (width, height) per camera, from one image header each (no pixels decoded)."""
        sizes = np.zeros((annots.num_cameras, 2), dtype=np.int64)
        for c in np.unique(cam_ids):
            first = int(np.argmax(cam_ids == c))
            sizes[c] = probe_image_size(tree.path(annots.image_paths[int(frame_ids[first])][int(c)]))
        return sizes

    def _frame_files(
        self, tree: DatasetTree, subject: str, s_idx: int, annots: ZJUAnnots, frames: List[int]
    ) -> Tuple[Dict[Tuple[int, int], Path], Dict[Tuple[int, int], Path]]:
        """Per frame: the SMPL vertices file (for the lazy 3D box) and synthetic joints, where they exist."""
        box_sources: Dict[Tuple[int, int], Path] = {}
        joints3d: Dict[Tuple[int, int], Path] = {}
        no_vertices: List[str] = []
        for f in frames:
            vert_rel = f"{subject}/{self.config.vertices_folder}/{vertex_number(annots.image_paths[f][0], f)}.npy"
            if tree.exists(vert_rel):
                box_sources[(s_idx, f)] = tree.path(vert_rel)
            else:
                no_vertices.append(vert_rel)
            joints_rel = f"{subject}/{SYNTH_GT_DIRNAME}/joints3d/{f:06d}.npy"
            if tree.exists(joints_rel):
                joints3d[(s_idx, f)] = tree.path(joints_rel)
        if no_vertices:
            CONSOLE.print(
                f"[bold yellow]Warning: {subject}: {len(no_vertices)} of {len(frames)} frames have no SMPL vertices "
                f"file (e.g. {no_vertices[0]}); their 3D box is unavailable (set --vertices-folder?)"
            )
        return box_sources, joints3d
