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
the restricted unpickler); without an SMPL file the OpenPose keypoints (triangulated) or the masks give it.
"""

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple, Type

import numpy as np
from nerfstudio.utils.rich_utils import CONSOLE

from dataparsers.camera_checks import as_float_array, check_cameras
from dataparsers.human_common import CSE_DIRNAME, OPENPOSE_DIRNAME, DatasetFormatError, HumanImageIndex
from dataparsers.human_parser import HumanDataParser, HumanDataParserConfig, SubjectData
from dataparsers.index_utils import index_range, resolve_subjects
from dataparsers.path_safety import DatasetTree
from dataparsers.safe_pickle import load_npz
from dataparsers.subject_rows import CameraFolders, SubjectRows

SMPL_FIT = "outputs_re_fitting/refit_smpl_2nd.npz"
"""SHERF's SMPL fit per subject (``RenderPeople_dataset.py``)."""
IMAGE_SUFFIXES = (".jpg", ".png")


@dataclass
class RenderPeopleDataParserConfig(HumanDataParserConfig):
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


class RenderPeopleDataParser(HumanDataParser):
    """Parses the SHERF RenderPeople layout into nerfstudio outputs plus :class:`HumanImageIndex` metadata."""

    config: RenderPeopleDataParserConfig
    dataset_name = "RenderPeople"

    def _uses_masks(self) -> bool:
        return self.config.use_masks

    def _subjects(self, tree: DatasetTree, training: bool, split: str) -> List[str]:
        cfg = self.config
        if not tree.root.is_dir():
            raise DatasetFormatError(f"{tree.root}: dataset root not found; pass the folder holding human_list.txt")
        everyone = read_human_list(tree)
        if training:
            wanted = everyone[: cfg.num_train_subjects]
            option = "num_train_subjects"
        elif split == "val" and cfg.val_subjects:
            wanted, option = list(cfg.val_subjects), "val_subjects"
        else:
            end = len(everyone) if cfg.num_test_subjects <= 0 else cfg.num_train_subjects + cfg.num_test_subjects
            wanted = everyone[cfg.num_train_subjects : end]
            option = "num_test_subjects"
        return resolve_subjects(tree.root, wanted, lambda name: name, option, split)

    def _subject(self, tree: DatasetTree, subject: str, s_idx: int, training: bool) -> SubjectData:
        cfg = self.config
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
        build = lambda cams: self._subject_index(tree, subject, s_idx, names, K, w2c, poses, cams)  # noqa: E731
        if training:
            targets = sources = build(train_views)
        else:
            tests = list(cfg.test_view_ids) or [c for c in range(num_cams) if c not in inputs][:: cfg.test_view_step]
            targets, sources = build(tests), build(inputs)
        smpl_rel = f"{subject}/{SMPL_FIT}"
        return SubjectData(
            targets=targets, sources=sources, folder=subject, smpl_boxes=self._smpl_boxes(tree, subject, poses),
            smpl_label=f"SMPL translation +-{cfg.smpl_box_half_extent} m ({SMPL_FIT})",
            smpl_missing=[] if tree.exists(smpl_rel) else [smpl_rel], keypoints_label="OpenPose JSON",
        )  # fmt: skip

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
        stems = map(posixpath.splitext, listing)
        numbers = [int(stem) for stem, ext in stems if stem.isdigit() and ext in IMAGE_SUFFIXES]
        return max(numbers) + 1 if numbers else 0

    def _smpl_boxes(self, tree: DatasetTree, subject: str, poses: List[int]) -> Dict[int, np.ndarray]:
        """pose -> (2, 3) box from the SMPL translation (empty without the SMPL file: the base estimates boxes)."""
        h = self.config.smpl_box_half_extent
        smpl_rel = f"{subject}/{SMPL_FIT}"
        if not tree.exists(smpl_rel):
            return {}
        path = tree.path(smpl_rel)
        archive = load_npz(path)
        smpl = archive.get("smpl")
        smpl = smpl.item() if isinstance(smpl, np.ndarray) and smpl.dtype == object and smpl.ndim == 0 else smpl
        if not isinstance(smpl, dict) or "transl" not in smpl:
            raise DatasetFormatError(f"{path}: expected key 'smpl' holding a dict with 'transl' (num_poses, 3)")
        transl = np.asarray(smpl["transl"], dtype=np.float64).reshape(-1, 3)
        if not np.isfinite(transl).all():
            raise DatasetFormatError(f"{path}: smpl transl contains NaN or inf")
        boxes = {}
        for pose in poses:
            if pose >= len(transl):
                raise DatasetFormatError(f"{path}: no SMPL fit for pose {pose} (transl has {len(transl)} poses)")
            boxes[pose] = np.stack([transl[pose] - h, transl[pose] + h]).astype(np.float32)
        return boxes

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
    ) -> HumanImageIndex:
        """Rows (pose-major) of one subject for the given cameras, skipping and reporting missing images/masks."""
        rows = SubjectRows(tree.path(subject), subject, s_idx, use_masks=self.config.use_masks)
        folders = {
            c: CameraFolders(
                images=tree.folder(f"{subject}/img/{names[c]}"),
                masks=(tree.folder(f"{subject}/mask/{names[c]}"),),
                openpose=tree.folder(f"{subject}/{OPENPOSE_DIRNAME}/{names[c]}"),
                cse=tree.folder(f"{subject}/{CSE_DIRNAME}/{names[c]}"),
            )
            for c in cameras
        }
        for pose in poses:
            stem = f"{pose:04d}"
            for c in cameras:
                rows.add(
                    pose, c, folders[c], [stem + e for e in IMAGE_SUFFIXES], f"{subject}/img/{names[c]}/{stem}.jpg"
                )
        rows.report("mask/", "--use-masks False", keypoints_in_memory=False)
        # SHERF renders every camera at one resolution: one header per subject (no pixels decoded).
        sizes = rows.camera_sizes(len(names), one_size=True)
        return rows.index(K, w2c, np.zeros((len(names), 5)), sizes)
