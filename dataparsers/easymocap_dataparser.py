"""EasyMocap / EasyVolcap multi-view dataparser (``easymocap-data``): one's own capture, as ENeRF-style methods take it.

::

    <seq>/intri.yml, extri.yml               FileStorage: names, K_<cam>, dist_<cam>, Rot_<cam> | R_<cam>, T_<cam> (m)
    <seq>/images/<cam>/<frame>.jpg           (.jpeg/.png also read); a frame may lack some cameras (reported)
    <seq>/masks/<cam>/<frame>.png            or mask/<cam>/, png or jpg (foreground > 127)
    <seq>/openpose/<cam>/<frame>_keypoints.json   optional OpenPose BODY_25 (the keypoint targets and the person box)
    <seq>/vertices/<frame>.npy               optional SMPL vertices (num_vertices, 3), world frame, metres
    <seq>/cse/<cam>/<frame>.npy              optional CSE targets

``--data`` is one sequence (``intri.yml`` at its root) or a folder of sequences (one subject each). Cameras are the
calibrated cameras that have an image folder, in natural name order (``2`` before ``10``); any world frame (+z or
-z up) and any mix of image sizes work. Without SMPL the person's box comes from the triangulated keypoints, else
the masks' visual hull (``dataparsers.person_box``). Splits follow the other human dataparsers: by subject, then by
camera (training on every camera; val/test render the odd cameras from the even ones).
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Literal, Tuple, Type

import numpy as np
from nerfstudio.utils.rich_utils import CONSOLE

from dataparsers.easymocap_calib import Calibration, read_calibration
from dataparsers.human_common import CSE_DIRNAME, OPENPOSE_DIRNAME, DatasetFormatError, HumanImageIndex
from dataparsers.human_parser import HumanDataParser, HumanDataParserConfig, SubjectData
from dataparsers.index_utils import index_range, option_flag, view_ids
from dataparsers.path_safety import DatasetTree
from dataparsers.subject_rows import CameraFolders, SubjectRows

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MASK_FOLDERS = {"auto": ("masks", "mask"), "masks": ("masks",), "mask": ("mask",), "none": ()}
"""Mask folders tried in order for each ``mask_folder`` option."""
MASK_SUFFIXES = (".png", ".jpg")


def natural_key(name: str) -> Tuple:
    """Sort key that orders embedded numbers by value (``Camera_B2`` before ``Camera_B10``)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


@dataclass
class EasyMocapDataParserConfig(HumanDataParserConfig):
    """EasyMocap / EasyVolcap layout (``intri.yml``, ``extri.yml``, ``images/<cam>/``, ``masks/<cam>/``)."""

    _target: Type = field(default_factory=lambda: EasyMocapDataParser)
    data: Path = Path("data/my_capture")
    """One sequence (intri.yml at its root) or a folder of sequences (one subject each)."""
    train_subjects: Tuple[str, ...] = ()
    """Sequences (sub-folder names) of the training split; empty = every sequence that is not a test subject."""
    test_subjects: Tuple[str, ...] = ()
    """Unseen sequences of the test split (and of the val split without --val-subjects); empty = the last one in natural
    order. A subject in both splits (a single sequence) trains without its test cameras, and a warning says the test
    person was seen in training."""
    train_frames: Tuple[int, int, int] = (0, -1, 1)
    """(start, end, step) over each sequence's frames (sorted image names) for training; end -1 = through the last."""
    eval_frames: Tuple[int, int, int] = (0, -1, 30)
    """(start, end, step) of the val/test frames."""
    train_views: Tuple[int, int, int] = (0, -1, 1)
    """(start, end, step) of the training cameras (targets and sources; 0-based in natural name order): all."""
    train_view_ids: Tuple[int, ...] = ()
    """Explicit training camera ids; overrides train_views when given."""
    input_views: Tuple[int, int, int] = (0, -1, 2)
    """(start, end, step) of the val/test input (source) cameras: the even ones, as ENeRF's ZJU protocol."""
    input_view_ids: Tuple[int, ...] = ()
    """Explicit val/test input camera ids; overrides input_views when given."""
    test_views: Tuple[int, int, int] = (1, -1, 2)
    """(start, end, step) of the val/test target cameras: the odd ones."""
    test_view_ids: Tuple[int, ...] = ()
    """Explicit val/test target camera ids; overrides test_views when given."""
    mask_folder: Literal["auto", "masks", "mask", "none"] = "auto"
    """Foreground masks: "auto" tries masks/ then mask/ (png, then jpg); "none" runs without masks. Images without a
    mask are skipped and reported; a sequence without any is an error."""
    vertices_folder: str = "vertices"
    """Sequence sub-folder of optional SMPL vertices ``<frame>.npy`` (the person's box, +- box_padding)."""
    box_padding: float = 0.1
    """Metres added on every side of the SMPL vertex bounds (as ENeRF on ZJU-MoCap)."""


class EasyMocapDataParser(HumanDataParser):
    """Parses EasyMocap sequences into nerfstudio outputs plus :class:`HumanImageIndex` metadata."""

    config: EasyMocapDataParserConfig
    dataset_name = "EasyMocap"

    def __init__(self, config: EasyMocapDataParserConfig):
        super().__init__(config=config)
        self.vertex_padding = config.box_padding
        self._folders: Dict[str, str] = {}
        self._test_subjects: List[str] = []

    def _uses_masks(self) -> bool:
        return self.config.mask_folder != "none"

    def _subjects(self, tree: DatasetTree, training: bool, split: str) -> List[str]:
        cfg = self.config
        if not tree.root.is_dir():
            raise DatasetFormatError(
                f"{tree.root}: dataset root not found; pass an EasyMocap sequence or a folder of them as --data"
            )
        if tree.exists("intri.yml"):
            self._folders = {tree.root.name: ""}
        else:
            listing = sorted((tree.listing("") or {}), key=natural_key)
            self._folders = {name: name for name in listing if tree.exists(f"{name}/intri.yml")}
        everyone = list(self._folders)
        if not everyone:
            raise DatasetFormatError(
                f"{tree.root}: no intri.yml at its root or in any sub-folder; --data must be an EasyMocap sequence "
                "(intri.yml, extri.yml, images/<camera>/<frame>.jpg) or a folder of such sequences"
            )
        self._check_names(tree.root, cfg.train_subjects + cfg.test_subjects + cfg.val_subjects, everyone)
        tests = list(cfg.test_subjects) or everyone[-1:]
        vals = list(cfg.val_subjects) or tests
        held_out = set(tests) | set(vals)
        trains = list(cfg.train_subjects) or [s for s in everyone if s not in held_out] or tests
        self._test_subjects = sorted(held_out, key=natural_key)
        evaluated = vals if split == "val" else tests
        seen = sorted(set(trains) & set(evaluated), key=natural_key)
        if seen and not training:
            CONSOLE.print(
                f"[bold yellow]Warning: {split} subject(s) {', '.join(seen)} also train (their test cameras do not): "
                f"{split} metrics measure new views of a seen person, not generalization to unseen people"
            )
        return trains if training else evaluated

    @staticmethod
    def _check_names(root: Path, wanted: Tuple[str, ...], everyone: List[str]) -> None:
        unknown = [name for name in wanted if name not in everyone]
        if unknown:
            shown = ", ".join(everyone[:20]) + (", ..." if len(everyone) > 20 else "")
            raise DatasetFormatError(
                f"{root}: subject(s) {', '.join(unknown)} not found; the sequences are [{shown}]; set the dataparser "
                f"options {option_flag('train_subjects')} / {option_flag('test_subjects')} to these names"
            )

    def _subject(self, tree: DatasetTree, subject: str, s_idx: int, training: bool) -> SubjectData:
        cfg = self.config
        folder = self._folders[subject]
        prefix = f"{folder}/" if folder else ""
        calib = read_calibration(tree.path(f"{prefix}intri.yml"), tree.path(f"{prefix}extri.yml"))
        cameras = self._cameras(tree, prefix, calib)
        stems = self._frame_stems(tree, prefix, cameras)
        numbers = [int(s) for s in stems] if all(s.isdigit() for s in stems) else list(range(len(stems)))
        where = f"{prefix}intri.yml"
        frame_pos = index_range(cfg.train_frames if training else cfg.eval_frames, len(stems),
                                "train_frames" if training else "eval_frames")  # fmt: skip
        tests = view_ids(cfg.test_views, cfg.test_view_ids, len(cameras), "test_view_ids", where)

        def build(views: List[int]) -> HumanImageIndex:
            return self._subject_index(tree, prefix, subject, s_idx, calib, cameras, stems, numbers, frame_pos, views)

        if training:
            views = view_ids(cfg.train_views, cfg.train_view_ids, len(cameras), "train_view_ids", where)
            if subject in self._test_subjects:  # seen person: keep its test cameras out of training
                views = [c for c in views if c not in tests]
            targets = sources = build(views)
        else:
            targets = build(tests)
            sources = build(view_ids(cfg.input_views, cfg.input_view_ids, len(cameras), "input_view_ids", where))
        smpl_files: Dict[int, Path] = {}
        missing: List[str] = []
        if tree.listing(f"{prefix}{cfg.vertices_folder}") is not None:
            for pos in frame_pos:
                rel = f"{prefix}{cfg.vertices_folder}/{stems[pos]}.npy"
                if tree.exists(rel):
                    smpl_files[numbers[pos]] = tree.path(rel)
                else:
                    missing.append(rel)
        return SubjectData(
            targets=targets, sources=sources, folder=folder, smpl_files=smpl_files, smpl_missing=missing,
            smpl_label=f"SMPL vertices ({cfg.vertices_folder}/, +-{cfg.box_padding} m)",
            keypoints_label="OpenPose JSON",
        )  # fmt: skip

    @staticmethod
    def _cameras(tree: DatasetTree, prefix: str, calib: Calibration) -> List[str]:
        """Calibrated cameras with an image folder, natural order; image folders without calibration are an error."""
        folders = tree.listing(f"{prefix}images")
        if folders is None:
            raise DatasetFormatError(f"{tree.path(prefix + 'images')}: not found; expected images/<camera>/<frame>.jpg")
        folders = {name for name in folders if os.path.isdir(tree.path(f"{prefix}images/{name}"))}
        unknown = sorted(folders - set(calib.names), key=natural_key)
        if unknown:
            raise DatasetFormatError(
                f"{tree.path(prefix + 'intri.yml')}: cameras {', '.join(unknown[:5])} have images in images/ but no "
                "calibration; add them to intri.yml/extri.yml or move their folders out of images/"
            )
        unused = [name for name in calib.names if name not in folders]
        if unused:
            CONSOLE.print(
                f"[bold yellow]Warning: {tree.path(prefix + 'intri.yml')}: {len(unused)} calibrated cameras have no "
                f"images/<camera>/ folder and are not used: {', '.join(unused[:5])}"
            )
        cameras = sorted(folders, key=natural_key)
        if len(cameras) < 2:
            raise DatasetFormatError(
                f"{tree.path(prefix + 'images')}: {len(cameras)} camera folder(s); multi-view needs at least 2"
            )
        return cameras

    @staticmethod
    def _frame_stems(tree: DatasetTree, prefix: str, cameras: List[str]) -> List[str]:
        """Every frame seen by any camera (image stems), in natural order."""
        stems = set()
        for cam in cameras:
            for name in tree.listing(f"{prefix}images/{cam}") or {}:
                stem, ext = os.path.splitext(name)
                if ext.lower() in IMAGE_SUFFIXES:
                    stems.add(stem)
        if not stems:
            raise DatasetFormatError(f"{tree.path(prefix + 'images')}: no .jpg/.png images in any camera folder")
        return sorted(stems, key=natural_key)

    def _subject_index(
        self,
        tree: DatasetTree,
        prefix: str,
        subject: str,
        s_idx: int,
        calib: Calibration,
        cameras: List[str],
        stems: List[str],
        numbers: List[int],
        frame_pos: List[int],
        views: List[int],
    ) -> HumanImageIndex:
        """Rows (frame-major) of one sequence for the given cameras, skipping and reporting missing images/masks."""
        mask_dirs = MASK_FOLDERS[self.config.mask_folder]
        rows = SubjectRows(tree.path(prefix.rstrip("/")), subject, s_idx, bool(mask_dirs), MASK_SUFFIXES)
        folders = {
            c: CameraFolders(
                images=tree.folder(f"{prefix}images/{cameras[c]}"),
                masks=tuple(tree.folder(f"{prefix}{top}/{cameras[c]}") for top in mask_dirs),
                openpose=tree.folder(f"{prefix}{OPENPOSE_DIRNAME}/{cameras[c]}"),
                cse=tree.folder(f"{prefix}{CSE_DIRNAME}/{cameras[c]}"),
            )
            for c in views
        }
        for pos in frame_pos:
            stem = stems[pos]
            for c in views:
                names = [stem + e for e in IMAGE_SUFFIXES]
                rows.add(numbers[pos], c, folders[c], names, f"{prefix}images/{cameras[c]}/{stem}.jpg")
        rows.report(" or ".join(d + "/" for d in mask_dirs), "--mask-folder none", keypoints_in_memory=False)
        sizes = rows.camera_sizes(len(cameras))
        for c in np.unique(np.asarray(rows.cameras, dtype=np.int64)).tolist():
            expected = calib.size[cameras[c]]
            if expected is not None and tuple(expected) != tuple(sizes[c]):
                raise DatasetFormatError(
                    f"{tree.path(prefix + 'intri.yml')}: camera {cameras[c]} was calibrated at "
                    f"{expected[0]}x{expected[1]} "
                    f"(W_/H_) but its images are {sizes[c][0]}x{sizes[c][1]}; scale K (and W_, H_) to the image size"
                )
        K = np.stack([calib.K[name] for name in cameras])
        w2c = np.stack([calib.w2c[name] for name in cameras])
        dist = np.stack([calib.dist[name] for name in cameras])
        return rows.index(K, w2c, dist, sizes)
