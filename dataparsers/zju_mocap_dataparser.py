"""ZJU-MoCap dataparser (``zju-mocap-data``): several ``CoreView_*`` folders as released, split by subject and camera.

Reads each subject's ``annots.npy`` (restricted unpickler), checks that the listed images exist with one folder
listing per camera (no image is decoded), and emits nerfstudio ``Cameras`` plus two :class:`HumanImageIndex`
tables (targets of the split, and the input-camera source pool of its subjects). Distortion stays in the index and
is removed when images are loaded.

Defaults follow ENeRF's ZJU-MoCap protocol (``lib/datasets/zjumocap/enerf.py``, ``configs/enerf/zjumocap``): input
(source/training) cameras are the even camera indices, test cameras the odd ones; training uses frames 0..599 and
evaluation every 100th of them; masks from ``mask/`` (falling back to ``mask_cihp/``); human box = SMPL vertex bounds +-
0.1 m (frames without a vertex file: triangulated kpts2d, see ``dataparsers.person_box``). Subjects are split between
training and testing so that test people are never seen in training.
"""

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Literal, Tuple, Type

from nerfstudio.utils.rich_utils import CONSOLE

from dataparsers.human_common import CSE_DIRNAME, OPENPOSE_DIRNAME, HumanImageIndex
from dataparsers.human_parser import HumanDataParser, HumanDataParserConfig, SubjectData
from dataparsers.index_utils import index_range, resolve_subjects, view_ids
from dataparsers.path_safety import DatasetTree
from dataparsers.subject_rows import CameraFolders, SubjectRows
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
class ZJUMocapDataParserConfig(HumanDataParserConfig):
    """ZJU-MoCap (Neural Body release: ``<data>/CoreView_*/annots.npy``, ``Camera*/``, ``mask*/``, ``vertices/``)."""

    _target: Type = field(default_factory=lambda: ZJUMocapDataParser)
    data: Path = Path("data/zju_mocap")
    """Dataset root holding the CoreView_* subject folders."""
    train_subjects: Tuple[str, ...] = (
        "CoreView_315", "CoreView_377", "CoreView_387", "CoreView_390", "CoreView_393", "CoreView_394",
    )  # fmt: skip
    """Subjects of the training split ("315" is accepted for "CoreView_315")."""
    test_subjects: Tuple[str, ...] = ("CoreView_313", "CoreView_386")
    """Unseen subjects of the test split (ns-eval) and, without --val-subjects, of the val split (never trained on)."""
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
    """Subject sub-folder of SMPL vertex files that give each frame's 3D box ("new_vertices" for the newer fit).
    Frames without one get the SMPL-free box (triangulated kpts2d, else the masks' visual hull)."""
    # ENeRF parity: SMPL vertex bounds +- 0.1 m (lib/datasets/zjumocap/enerf.py). Unlike ENeRF, which always reads
    # new_vertices/{frame + 1}, the file number follows each subject's own numbering (see vertex_number).
    box_padding: float = 0.1
    """Metres added on every side of the SMPL vertex bounds (ENeRF: 0.1)."""


class ZJUMocapDataParser(HumanDataParser):
    """Parses ZJU-MoCap into nerfstudio outputs plus :class:`HumanImageIndex` metadata (see module docstring)."""

    config: ZJUMocapDataParserConfig
    dataset_name = "ZJU-MoCap"

    def __init__(self, config: ZJUMocapDataParserConfig):
        super().__init__(config=config)
        self.vertex_padding = config.box_padding

    def _uses_masks(self) -> bool:
        return self.config.mask_folder != "none"

    def _subjects(self, tree: DatasetTree, training: bool, split: str) -> List[str]:
        cfg = self.config
        option = "train_subjects" if training else "test_subjects"
        wanted = cfg.train_subjects if training else cfg.test_subjects
        if split == "val" and cfg.val_subjects:
            option, wanted = "val_subjects", cfg.val_subjects
        return resolve_subjects(tree.root, wanted, zju_subject_name, option, split)

    def _subject(self, tree: DatasetTree, subject: str, s_idx: int, training: bool) -> SubjectData:
        cfg = self.config
        annots = read_zju_annots(tree, subject)
        where = f"{subject}/annots.npy"
        inputs = view_ids(cfg.input_views, cfg.input_view_ids, annots.num_cameras, "input_view_ids", where)
        frames = index_range(cfg.train_frames if training else cfg.eval_frames, annots.num_frames,
                             "train_frames" if training else "eval_frames")  # fmt: skip
        if annots.frames_without_kpts:
            CONSOLE.print(
                f"[bold yellow]Warning: {subject}: {annots.frames_without_kpts} frames of annots.npy have no kpts2d; "
                "their joints are masked (confidence 0)"
            )
        sources = self._subject_index(tree, subject, s_idx, annots, frames, inputs)
        targets = sources
        if not training:
            tests = view_ids(cfg.test_views, cfg.test_view_ids, annots.num_cameras, "test_view_ids", where)
            targets = self._subject_index(tree, subject, s_idx, annots, frames, tests)
        smpl_files, missing = self._vertex_files(tree, subject, annots, frames)
        return SubjectData(
            targets=targets, sources=sources, folder=subject, smpl_files=smpl_files,
            smpl_label=f"SMPL vertices ({cfg.vertices_folder}/, +-{cfg.box_padding} m)", smpl_missing=missing,
            keypoints_label="annots.npy kpts2d, or OpenPose JSON where present", keypoints_in_memory=True,
        )  # fmt: skip

    def _subject_index(
        self, tree: DatasetTree, subject: str, s_idx: int, annots: ZJUAnnots, frames: List[int], cameras: List[int]
    ) -> HumanImageIndex:
        """Index rows (frame-major) of one subject for the given frames and cameras, skipping missing files."""
        mask_dirs = MASK_FOLDERS[self.config.mask_folder]
        rows = SubjectRows(tree.root / subject, subject, s_idx, use_masks=bool(mask_dirs))
        # Per image folder, its CameraFolders: one listing each, then dict lookups per row (~400k rows in the full
        # dataset). Masks, OpenPose and CSE files mirror the camera folder under their own top folder.
        folders: Dict[str, CameraFolders] = {}

        def beside(top: str, cam_dir: str):
            return tree.folder(posixpath.join(subject, top, cam_dir).rstrip("/"))

        for f in frames:
            names = annots.image_paths[f]
            for c in cameras:
                rel = names[c]
                rel_dir, _, base = rel.rpartition("/")
                group = folders.get(rel_dir)
                if group is None:
                    cam_dir = rel_dir[len(subject) + 1 :] if rel_dir.startswith(subject + "/") else ""
                    group = folders[rel_dir] = CameraFolders(
                        images=tree.folder(rel_dir),
                        masks=tuple(beside(top, cam_dir) for top in mask_dirs),
                        openpose=beside(OPENPOSE_DIRNAME, cam_dir),
                        cse=beside(CSE_DIRNAME, cam_dir),
                    )
                rows.add(f, c, group, (base,), rel)
        rows.report(" or ".join(d + "/" for d in mask_dirs), "--mask-folder none", keypoints_in_memory=True)
        sizes = rows.camera_sizes(annots.num_cameras)
        return rows.index(annots.K, annots.w2c, annots.dist, sizes, keypoints_2d=annots.kpts2d)

    def _vertex_files(
        self, tree: DatasetTree, subject: str, annots: ZJUAnnots, frames: List[int]
    ) -> Tuple[Dict[int, Path], List[str]]:
        """Per frame: the SMPL vertices file of the lazy 3D box where it exists; the missing ones' paths."""
        files: Dict[int, Path] = {}
        missing: List[str] = []
        for f in frames:
            vert_rel = f"{subject}/{self.config.vertices_folder}/{vertex_number(annots.image_paths[f][0], f)}.npy"
            if tree.exists(vert_rel):
                files[f] = tree.path(vert_rel)
            else:
                missing.append(vert_rel)
        return files, missing
