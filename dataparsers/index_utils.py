"""Helpers shared by the human dataparsers: ranges and view ids from config options, subject resolution with clear
messages, reporting of skipped files, concatenating per-subject indexes and building ``DataparserOutputs``.
"""

import contextlib
import gc
import os
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from nerfstudio.data.dataparsers.base_dataparser import DataparserOutputs
from nerfstudio.data.scene_box import SceneBox
from nerfstudio.utils.rich_utils import CONSOLE

from dataparsers.camera_checks import camera_scene_box, nerfstudio_cameras
from dataparsers.human_common import SOURCES_KEY, TARGETS_KEY, DatasetFormatError, HumanImageIndex

MAX_LISTED = 3
"""How many example paths a warning about skipped files shows."""


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building an index: hundreds of thousands of new (acyclic) paths and
    lists would otherwise trigger repeated full-heap collections that cost more than the parse itself."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def option_flag(option: str) -> str:
    """The command-line flag of a dataparser option (``ns-train <method> <dataparser> --train-subjects ...``)."""
    return "--" + option.replace("_", "-")


def index_range(spec: Tuple[int, int, int], available: int, option: str) -> List[int]:
    """Ids from a ``(start, end, step)`` option over ``available`` items; ``end`` -1 (or past the end) = through the
    last.

    Raises:
        DatasetFormatError: a non-positive step (naming ``option``).
    """
    start, end, step = spec
    if step <= 0:
        raise DatasetFormatError(f"dataparser option {option_flag(option)} {spec}: step must be positive")
    end = available if end < 0 or end > available else end
    return list(range(max(start, 0), end, step))


def view_ids(
    spec: Tuple[int, int, int], explicit: Sequence[int], num_cameras: int, option: str, where: str
) -> List[int]:
    """Camera ids: the explicit list when given (checked against ``num_cameras``), else the ``(start, end, step)``
    range."""
    if explicit:
        bad = [c for c in explicit if not 0 <= c < num_cameras]
        if bad:
            raise DatasetFormatError(
                f"dataparser option {option_flag(option)} {tuple(explicit)}: camera ids {bad} do not exist in "
                f"{where} ({num_cameras} cameras, ids 0..{num_cameras - 1})"
            )
        return list(explicit)
    return index_range(spec, num_cameras, option.replace("_ids", "s"))


def resolve_subjects(
    root: Path, wanted: Sequence[str], normalise: Callable[[str], str], option: str, split: str
) -> List[str]:
    """The split's subjects that exist under ``root``: one warning line per missing one, an error if none exists."""
    if not root.is_dir():
        raise DatasetFormatError(f"{root}: dataset root not found; pass the folder that holds the subjects as --data")
    names = [normalise(name) for name in wanted]
    present = [name for name in names if (root / name).is_dir()]
    if not names:
        raise DatasetFormatError(f"no {split} subjects configured; set the dataparser option {option_flag(option)}")
    if not present:
        listing = sorted(os.listdir(root))
        shown = ", ".join(listing[:20]) + (", ..." if len(listing) > 20 else "")
        raise DatasetFormatError(
            f"{root}: none of the {split} subjects ({', '.join(names)}) is present; the root holds [{shown}]; set "
            f"the dataparser option {option_flag(option)} to subjects that exist"
        )
    for name in names:
        if name not in present:
            CONSOLE.print(f"[bold yellow]Warning: {split} subject {name} not found in {root}; continuing without it")
    return present


def warn_skipped(subject: str, what: str, skipped: Sequence[str], total: int) -> None:
    """One warning line: how many rows of a subject were skipped and why, with the first few paths."""
    if skipped:
        examples = ", ".join(skipped[:MAX_LISTED]) + (", ..." if len(skipped) > MAX_LISTED else "")
        CONSOLE.print(f"[bold yellow]Warning: {subject}: {len(skipped)} of {total} images skipped ({what}): {examples}")


def concat_indexes(subjects: List[str], parts: List[HumanImageIndex], box_padding: float) -> HumanImageIndex:
    """Concatenate per-subject indexes (each built with its global ``subject_idx``) into one."""

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])

    def join_lists(name: str) -> list:
        return [item for part in parts for item in getattr(part, name)]

    def join_dicts(name: str) -> Dict:
        out: Dict = {}
        for part in parts:
            out.update(getattr(part, name))
        return out

    return HumanImageIndex(
        subjects=subjects,
        image_filenames=join_lists("image_filenames"),
        mask_filenames=join_lists("mask_filenames"),
        subject_idx=cat("subject_idx"),
        frame=cat("frame"),
        camera=cat("camera"),
        K=cat("K"),
        w2c=cat("w2c"),
        dist=cat("dist"),
        width=cat("width"),
        height=cat("height"),
        keypoints_2d=cat("keypoints_2d"),
        keypoint_files=join_lists("keypoint_files"),
        cse_files=join_lists("cse_files"),
        frame_boxes=join_dicts("frame_boxes"),
        box_sources=join_dicts("box_sources"),
        box_padding=box_padding,
        joints3d_files=join_dicts("joints3d_files"),
        box_estimators=join_dicts("box_estimators"),
        box_descriptions=join_dicts("box_descriptions"),
    )


def make_outputs(
    targets: HumanImageIndex, sources: HumanImageIndex, use_masks: bool, split: str, dataset: str
) -> DataparserOutputs:
    """nerfstudio ``DataparserOutputs`` for the split's targets, with both indexes in ``metadata``."""
    if len(targets) == 0:
        raise DatasetFormatError(
            f"{dataset}: the {split} split is empty after filtering (subjects/frames/cameras/missing files); check the "
            "warnings above and the split options"
        )
    w2c_all = np.concatenate([targets.w2c, sources.w2c]) if sources is not targets else targets.w2c
    aabb = camera_scene_box(w2c_all, padding=0.0)
    mask_filenames: Optional[List[Path]] = list(targets.mask_filenames) if use_masks else None  # type: ignore[arg-type]
    return DataparserOutputs(
        image_filenames=targets.image_filenames,
        cameras=nerfstudio_cameras(targets.K, targets.w2c, targets.width, targets.height),
        scene_box=SceneBox(aabb=torch.from_numpy(aabb)),
        mask_filenames=mask_filenames,
        metadata={TARGETS_KEY: targets, SOURCES_KEY: sources},
        dataparser_transform=torch.eye(4)[:3, :],
        dataparser_scale=1.0,
    )
