"""RenderPeople dataparser (``renderpeople-data``) for the SHERF release layout.

::

    <data>/human_list.txt                    one subject folder per line
    <data>/<subject>/cameras.json            {"camera0000": {"K": 3x3, "R": 3x3 (world-to-camera), "T": 3 (metres)}}
    <data>/<subject>/img/camera0000/0000.jpg mask/camera0000/0000.png (pose index, 4 digits)
    <data>/<subject>/outputs_re_fitting/refit_smpl_2nd.npz   'smpl': pickled dict with transl (num_poses, 3), ...
    <data>/<subject>/openpose/camera0000/0000_keypoints.json (optional, OpenPose BODY_25: the paper's teacher)

Split by subject as SHERF (``sherf/train.py``): the first 450 subjects of ``human_list.txt`` train, the next 30 test.
Training uses every camera as target and source; the test split renders target cameras from the observation
(input) views ``[0, 16, 31]``. The human's box is the SMPL translation +- a fixed half extent (the SMPL fit is read with
the restricted unpickler); without an SMPL file the synthetic 3D joints give it.
"""

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Type

import numpy as np
from nerfstudio.data.dataparsers.base_dataparser import DataParser, DataParserConfig, DataparserOutputs
from nerfstudio.utils.rich_utils import CONSOLE

from dataparsers.camera_checks import as_float_array, check_cameras, probe_image_size
from dataparsers.human_common import CSE_DIRNAME, OPENPOSE_DIRNAME, SYNTH_GT_DIRNAME, DatasetFormatError, HumanImageIndex
from dataparsers.index_utils import concat_indexes, index_range, make_outputs, no_gc, resolve_subjects, warn_skipped
from dataparsers.openpose_json import OPENPOSE_SUFFIX
from dataparsers.path_safety import DatasetTree
from dataparsers.safe_pickle import load_npz

SMPL_FIT = "outputs_re_fitting/refit_smpl_2nd.npz"
"""SHERF's SMPL fit per subject (``RenderPeople_dataset.py``)."""
IMAGE_SUFFIXES = (".jpg", ".png")


@dataclass
class RenderPeopleDataParserConfig(DataParserConfig):
    """RenderPeople as released by SHERF (``human_list.txt``, per-subject ``cameras.json``, ``img/``, ``mask/``)."""

    _target: Type = field(default_factory=lambda: RenderPeopleDataParser)
    data: Path = Path("data/RenderPeople_recon/20230228")
    """Dataset root holding human_list.txt and the subject folders."""
    num_train_subjects: int = 450
    """The first this many subjects of human_list.txt train (SHERF: 450)."""
    num_test_subjects: int = 30
    """The next this many subjects are the unseen val/test subjects (SHERF: 30, i.e. human_list[450:480]); 0 = all
    remaining."""
    train_poses: Tuple[int, int, int] = (0, 20, 2)
    """(start, end, step) pose indices for training (SHERF: poses 0, 2, ..., 18); end -1 = through the last pose."""
    eval_poses: Tuple[int, int, int] = (0, 10, 2)
    """(start, end, step) pose indices for val/test (SHERF evaluates 5 poses; assumed 0, 2, ..., 8)."""
    input_view_ids: Tuple[int, ...] = (0, 16, 31)
    """Observation (source) cameras of the val/test split (SHERF: 0, 16, 31 of 36). With fewer cameras than these ids
    need, the same number of evenly spaced cameras is used instead (and said so)."""
    train_view_ids: Tuple[int, ...] = ()
    """Training cameras (targets and sources); empty = every camera (SHERF trains on all 36)."""
    test_view_step: int = 2
    """Val/test targets are every this-many-th camera among those that are not input views (SHERF: every second)."""
    test_view_ids: Tuple[int, ...] = ()
    """Explicit val/test target cameras; overrides test_view_step when given."""
    use_masks: bool = True
    """Use mask/ (images without one are skipped and reported; a subject without any is an error). False: no masks."""
    smpl_box_half_extent: float = 1.3
    """Half side (metres) of the cube around the SMPL translation that bounds the human: a posed SMPL body reaches at
    most ~1.25 m from its translation (root joint offset ~0.23 m + raised hands or feet ~1 m)."""
    joints_box_padding: float = 0.3
    """Metres added around the synthetic 3D joints when they give the box (joints lie inside the body surface)."""
    allow_symlinks_outside_root: bool = False
    """Follow symlinks inside the dataset whose target is outside the root (refused by default)."""


def read_human_list(tree: DatasetTree) -> List[str]:
    """Subject folder names from ``human_list.txt`` (one per line, blank lines ignored), validated as plain names."""
    path = tree.path("human_list.txt")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: not found; --data must be the folder holding human_list.txt") from None
    except UnicodeDecodeError:
        raise DatasetFormatError(f"{path}: not UTF-8 text; expected one subject folder name per line") from None
    names = []
    for n, line in enumerate(lines, start=1):
        name = line.strip()
        if not name:
            continue
        if tree.relative(name, path, f"line {n} subject") != name or "/" in name or "\\" in name:
            raise DatasetFormatError(f"{path}: line {n}: {name!r} must be a plain folder name inside the root")
        names.append(name)
    return names


def read_cameras_json(tree: DatasetTree, subject: str) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """Validated camera names (sorted), K (C,3,3) and w2c (C,3,4) from ``<subject>/cameras.json``."""
    path = tree.path(f"{subject}/cameras.json")
    try:
        with open(path, encoding="utf-8") as fp:
            data = json.load(fp)
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: not found; every subject needs its cameras.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetFormatError(f"{path}: not valid JSON ({err}); re-download it") from None
    if not isinstance(data, dict) or not data:
        raise DatasetFormatError(f"{path}: expected an object {{'camera0000': {{'K', 'R', 'T'}}, ...}}")
    names = sorted(data)
    Ks, Rs, Ts = [], [], []
    for name in names:
        cam = data[name]
        if not isinstance(cam, dict) or not {"K", "R", "T"} <= set(cam):
            raise DatasetFormatError(f"{path}: camera {name} must have keys K, R, T")
        Ks.append(as_float_array(cam["K"], (3, 3), path, f"camera {name} K"))
        Rs.append(as_float_array(cam["R"], (3, 3), path, f"camera {name} R"))
        Ts.append(as_float_array(cam["T"], (3,), path, f"camera {name} T"))
    K, R, T = np.stack(Ks), np.stack(Rs), np.stack(Ts)
    check_cameras(K, R, T, path, names)
    return names, K, np.concatenate([R, T[..., None]], axis=-1)


def evenly_spaced(count: int, num_cameras: int) -> List[int]:
    """``count`` camera ids spread evenly over ``num_cameras`` (like 0, 16, 31 spread over 36 cameras)."""
    return sorted({int(i) for i in (np.arange(count) * num_cameras) // max(count, 1)})


class RenderPeopleDataParser(DataParser):
    """Parses the SHERF RenderPeople layout into nerfstudio outputs plus :class:`HumanImageIndex` metadata."""

    config: RenderPeopleDataParserConfig

    def __init__(self, config: RenderPeopleDataParserConfig):
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
        tree = DatasetTree(Path(cfg.data), cfg.allow_symlinks_outside_root)
        if not tree.root.is_dir():
            raise DatasetFormatError(f"{tree.root}: dataset root not found; pass the folder holding human_list.txt")
        everyone = read_human_list(tree)
        if training:
            wanted = everyone[: cfg.num_train_subjects]
            option = "num_train_subjects"
        else:
            end = len(everyone) if cfg.num_test_subjects <= 0 else cfg.num_train_subjects + cfg.num_test_subjects
            wanted = everyone[cfg.num_train_subjects : end]
            option = "num_test_subjects"
        subjects = resolve_subjects(tree.root, wanted, lambda name: name, option, split)

        target_parts: List[HumanImageIndex] = []
        source_parts: List[HumanImageIndex] = []
        for s_idx, subject in enumerate(subjects):
            names, K, w2c = read_cameras_json(tree, subject)
            self._check_image_folders(tree, subject, names)
            num_cams = len(names)
            train_views = list(cfg.train_view_ids) or list(range(num_cams))
            inputs = list(cfg.input_view_ids)
            if any(not 0 <= c < num_cams for c in inputs):
                inputs = evenly_spaced(len(inputs), num_cams)
                CONSOLE.print(
                    f"[bold yellow]Warning: {subject} has {num_cams} cameras: input views {tuple(cfg.input_view_ids)} "
                    f"do not exist, using evenly spaced {tuple(inputs)}"
                )
            for c in train_views + list(cfg.test_view_ids):
                if not 0 <= c < num_cams:
                    raise DatasetFormatError(f"{subject}: camera id {c} does not exist ({num_cams} cameras)")
            poses = index_range(cfg.train_poses if training else cfg.eval_poses, self._num_poses(tree, subject, names),
                                "train_poses" if training else "eval_poses")  # fmt: skip
            boxes = self._pose_boxes(tree, subject, s_idx, poses)
            joints3d = self._joints3d_files(tree, subject, s_idx, poses)
            build = lambda cams: self._subject_index(tree, subject, s_idx, names, K, w2c, poses, cams, boxes, joints3d)  # noqa: E731
            if training:
                target_parts.append(build(train_views))
                continue
            tests = list(cfg.test_view_ids) or [c for c in range(num_cams) if c not in inputs][:: cfg.test_view_step]
            target_parts.append(build(tests))
            source_parts.append(build(inputs))
        targets = concat_indexes(subjects, target_parts, 0.0)
        sources = targets if training else concat_indexes(subjects, source_parts, 0.0)
        return make_outputs(targets, sources, cfg.use_masks, split, f"RenderPeople {tree.root}")

    @staticmethod
    def _check_image_folders(tree: DatasetTree, subject: str, names: List[str]) -> None:
        """Every ``img/<camera>`` folder must have its calibration in cameras.json."""
        folders = tree.listing(f"{subject}/img")
        if folders is None:
            raise DatasetFormatError(f"{tree.path(subject)}: no img/ folder; expected img/camera0000/0000.jpg ...")
        unknown = sorted(set(folders) - set(names))
        if unknown:
            raise DatasetFormatError(
                f"{tree.path(subject)}/cameras.json: cameras {', '.join(unknown[:5])} have images in img/ but no "
                "calibration; re-download cameras.json"
            )

    @staticmethod
    def _num_poses(tree: DatasetTree, subject: str, names: List[str]) -> int:
        """Poses available: highest pose number among the first camera's images + 1."""
        listing = tree.listing(f"{subject}/img/{names[0]}") or {}
        numbers = [int(stem) for stem, ext in map(posixpath.splitext, listing) if stem.isdigit() and ext in IMAGE_SUFFIXES]
        return max(numbers) + 1 if numbers else 0

    def _pose_boxes(self, tree: DatasetTree, subject: str, s_idx: int, poses: List[int]) -> Dict[Tuple[int, int], np.ndarray]:
        """(subject, pose) -> (2, 3) box, from the SMPL translation, else from synthetic joints, else an error."""
        cfg = self.config
        boxes: Dict[Tuple[int, int], np.ndarray] = {}
        smpl_rel = f"{subject}/{SMPL_FIT}"
        if tree.exists(smpl_rel):
            path = tree.path(smpl_rel)
            archive = load_npz(path)
            smpl = archive.get("smpl")
            smpl = smpl.item() if isinstance(smpl, np.ndarray) and smpl.dtype == object and smpl.ndim == 0 else smpl
            if not isinstance(smpl, dict) or "transl" not in smpl:
                raise DatasetFormatError(f"{path}: expected key 'smpl' holding a dict with 'transl' (num_poses, 3)")
            transl = np.asarray(smpl["transl"], dtype=np.float64).reshape(-1, 3)
            if not np.isfinite(transl).all():
                raise DatasetFormatError(f"{path}: smpl transl contains NaN or inf")
            for pose in poses:
                if pose >= len(transl):
                    raise DatasetFormatError(f"{path}: no SMPL fit for pose {pose} (transl has {len(transl)} poses)")
                h = cfg.smpl_box_half_extent
                boxes[(s_idx, pose)] = np.stack([transl[pose] - h, transl[pose] + h]).astype(np.float32)
            return boxes
        for pose in poses:
            joints_rel = f"{subject}/{SYNTH_GT_DIRNAME}/joints3d/{pose:06d}.npy"
            if not tree.exists(joints_rel):
                raise DatasetFormatError(
                    f"{tree.path(smpl_rel)}: not found (and no {SYNTH_GT_DIRNAME}/joints3d/{pose:06d}.npy); the 3D box "
                    "of the human needs the SMPL fit: re-download outputs_re_fitting/"
                )
            joints = np.load(tree.path(joints_rel), allow_pickle=False)
            valid = joints[:, :3][joints[:, 3] > 0] if joints.ndim == 2 and joints.shape[1] == 4 else np.zeros((0, 3))
            if len(valid) == 0 or not np.isfinite(valid).all():
                raise DatasetFormatError(f"{tree.path(joints_rel)}: expected (25, 4) finite joints with some valid")
            p = cfg.joints_box_padding
            boxes[(s_idx, pose)] = np.stack([valid.min(0) - p, valid.max(0) + p]).astype(np.float32)
        return boxes

    @staticmethod
    def _joints3d_files(tree: DatasetTree, subject: str, s_idx: int, poses: List[int]) -> Dict[Tuple[int, int], Path]:
        out = {}
        for pose in poses:
            rel = f"{subject}/{SYNTH_GT_DIRNAME}/joints3d/{pose:06d}.npy"
            if tree.exists(rel):
                out[(s_idx, pose)] = tree.path(rel)
        return out

    def _subject_index(
        self,
        tree: DatasetTree,
        subject: str,
        s_idx: int,
        names: List[str],
        K: np.ndarray,
        w2c: np.ndarray,
        poses: List[int],
        cameras: List[int],
        boxes: Dict[Tuple[int, int], np.ndarray],
        joints3d: Dict[Tuple[int, int], Path],
    ) -> HumanImageIndex:
        """Rows (pose-major) of one subject for the given cameras, skipping and reporting missing images/masks."""
        rows: List[Tuple[int, int]] = []
        images: List[Path] = []
        masks: List[Optional[Path]] = []
        keypoint_files: List[Optional[Path]] = []
        cse_files: List[Optional[Path]] = []
        missing_images: List[str] = []
        missing_masks: List[str] = []
        missing_keypoints = 0
        for pose in poses:
            for c in cameras:
                stem = f"{pose:04d}"
                rel = next((r for r in (f"{subject}/img/{names[c]}/{stem}{e}" for e in IMAGE_SUFFIXES) if tree.exists(r)), None)
                if rel is None:
                    missing_images.append(f"{subject}/img/{names[c]}/{stem}.jpg")
                    continue
                mask_rel = f"{subject}/mask/{names[c]}/{stem}.png"
                if self.config.use_masks and not tree.exists(mask_rel):
                    missing_masks.append(mask_rel)
                    continue
                rows.append((pose, c))
                images.append(tree.path(rel))
                masks.append(tree.path(mask_rel) if self.config.use_masks else None)
                kp_rel = f"{subject}/{OPENPOSE_DIRNAME}/{names[c]}/{stem}{OPENPOSE_SUFFIX}"
                has_kp = tree.exists(kp_rel)
                missing_keypoints += not has_kp
                keypoint_files.append(tree.path(kp_rel) if has_kp else None)
                cse_rel = f"{subject}/{CSE_DIRNAME}/{names[c]}/{stem}.npy"
                cse_files.append(tree.path(cse_rel) if tree.exists(cse_rel) else None)
        total = len(poses) * len(cameras)
        if self.config.use_masks and not rows and missing_masks:
            raise DatasetFormatError(
                f"{tree.path(subject)}: no masks found in mask/; download them or pass "
                "the dataparser option --use-masks False"
            )
        warn_skipped(subject, "image file missing", missing_images, total)
        warn_skipped(subject, "mask missing", missing_masks, total)
        if missing_keypoints:
            CONSOLE.print(
                f"[bold yellow]Warning: {subject}: {missing_keypoints} of {len(rows)} images have no OpenPose file in "
                f"{OPENPOSE_DIRNAME}/; their joints are masked (confidence 0)"
            )
        pose_ids = np.array([r[0] for r in rows], dtype=np.int32)
        cam_ids = np.array([r[1] for r in rows], dtype=np.int32)
        width, height = probe_image_size(images[0]) if images else (0, 0)
        n = len(rows)
        return HumanImageIndex(
            subjects=[],  # filled by concat_indexes
            image_filenames=images,
            mask_filenames=masks,
            subject_idx=np.full(n, s_idx, dtype=np.int32),
            frame=pose_ids,
            camera=cam_ids,
            K=K[cam_ids].astype(np.float32).reshape(-1, 3, 3),
            w2c=w2c[cam_ids].astype(np.float32).reshape(-1, 3, 4),
            dist=np.zeros((n, 5), dtype=np.float32),
            # SHERF renders every camera at one resolution: one header per subject (no pixels decoded).
            width=np.full(n, width, dtype=np.int32),
            height=np.full(n, height, dtype=np.int32),
            keypoints_2d=np.zeros((n, 25, 3), dtype=np.float32),  # read lazily from keypoint_files
            keypoint_files=keypoint_files,
            cse_files=cse_files,
            frame_boxes=boxes,
            joints3d_files=joints3d,
        )
