"""The parse preamble and postamble shared by the human dataparsers (ZJU-MoCap, RenderPeople, EasyMocap).

A parser subclass resolves its split's subjects and builds each subject's rows (:class:`SubjectData`, through
:class:`~dataparsers.subject_rows.SubjectRows`) following its own path rules. This base does the rest once: split
checks, the person's 3D box of every (subject, frame) (SMPL where the dataset has it, else the SMPL-free
estimator of :mod:`dataparsers.person_box`, decided at parse time and computed lazily), a start-up line saying where
each subject's boxes come from, a warning for rigs whose input cameras are far apart, and the outputs.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Literal, Optional, Set, Tuple

import numpy as np
from nerfstudio.data.dataparsers.base_dataparser import DataParser, DataParserConfig, DataparserOutputs
from nerfstudio.utils.rich_utils import CONSOLE

from dataparsers.camera_checks import nearest_view_angles
from dataparsers.human_common import SYNTH_GT_DIRNAME, DatasetFormatError, HumanImageIndex
from dataparsers.index_utils import concat_indexes, make_outputs, no_gc
from dataparsers.path_safety import DatasetTree
from dataparsers.person_box import MIN_JOINTS, PersonBoxEstimator

WIDE_BASELINE_DEGREES = 60.0
"""An input camera whose nearest input camera looks more than this many degrees away gets a start-up warning."""
MAX_LISTED_SUBJECTS = 6
"""Subjects named per line of the box summary before "and N more"."""
_WARNED_RIGS: Set[Tuple[str, ...]] = set()  # warn once per process (nerfstudio parses train and eval separately)


@dataclass
class HumanDataParserConfig(DataParserConfig):
    """Options shared by the human dataparsers (the person's 3D box and path safety)."""

    box_source: Literal["auto", "keypoints", "masks"] = "auto"
    """The person's 3D box: "auto" uses the dataset's SMPL fit where it exists; otherwise, for training people, the
    robustly triangulated 2D keypoints (the masks' visual hull where too few joints triangulate), and for the val/test
    people the input cameras' masks (visual hull), so that no prediction reads 2D keypoint annotations (keypoints
    only where there are no masks); "keypoints"/"masks" ignore SMPL."""
    keypoint_box_margin: float = 0.3
    """Metres added around the triangulated joints (hands, head and feet reach past the joints)."""
    allow_symlinks_outside_root: bool = False
    """Follow symlinks inside the dataset whose target is outside the root (refused by default)."""
    val_subjects: Tuple[str, ...] = ()
    """Unseen subjects of the val split: the validation people that ns-train's evaluations and
    benchmarks/learning_curve.py score, so that options are tuned on them and never on the test people ns-eval
    reports (the test split). Empty = the val split is the test split."""


@dataclass
class SubjectData:
    """One subject's rows and what the dataset says about its 3D box."""

    targets: HumanImageIndex
    """Rows of the split's target images."""
    sources: HumanImageIndex
    """Rows of the input (source) cameras; the same object as ``targets`` for training."""
    folder: str
    """The subject's folder relative to the root ("" when the root is the subject)."""
    smpl_files: Dict[int, Path] = field(default_factory=dict)
    """frame -> SMPL vertices file ((num_vertices, 3), read lazily; box = bounds +- the parser's vertex padding)."""
    smpl_boxes: Dict[int, np.ndarray] = field(default_factory=dict)
    """frame -> (2, 3) box already known from an SMPL fit (RenderPeople: translation +- half extent)."""
    smpl_label: str = ""
    """Where SMPL boxes come from, in words (``SMPL vertices (vertices/)``); empty when the dataset has none."""
    smpl_missing: List[str] = field(default_factory=list)
    """Relative paths of the SMPL files that frames lack (reported, and the estimator takes over)."""
    keypoints_label: str = "OpenPose JSON"
    """Where the 2D keypoints come from, in words."""
    keypoints_in_memory: bool = False
    """The rows' ``keypoints_2d`` hold the dataset's own 2D keypoints (ZJU kpts2d), not zeros."""


class HumanDataParser(DataParser):
    """Base of the human dataparsers: subclasses implement :meth:`_subjects` and :meth:`_subject`."""

    config: HumanDataParserConfig
    dataset_name = "human dataset"
    """Name of the layout in messages."""
    vertex_padding = 0.0
    """Metres around SMPL vertex bounds (the config's ``box_padding`` where a parser has one)."""

    def __init__(self, config: HumanDataParserConfig):
        super().__init__(config=config)
        self.config = config

    def _generate_dataparser_outputs(self, split: str = "train", **kwargs: Optional[Dict]) -> DataparserOutputs:
        with no_gc():
            return self._parse(split)

    # --------------------------------------------------------------------------------------- subclass hooks
    def _subjects(self, tree: DatasetTree, training: bool, split: str) -> List[str]:
        """The split's subject names (checked to exist)."""
        raise NotImplementedError

    def _subject(self, tree: DatasetTree, subject: str, s_idx: int, training: bool) -> SubjectData:
        """One subject's rows (:class:`SubjectRows`) and SMPL box information."""
        raise NotImplementedError

    def _uses_masks(self) -> bool:
        """Whether the outputs carry mask files."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------------ parse
    def _parse(self, split: str) -> DataparserOutputs:
        if split not in ("train", "val", "test"):
            raise DatasetFormatError(f"unknown split {split!r}; expected train, val or test")
        training = split == "train"
        tree = DatasetTree(Path(self.config.data), self.config.allow_symlinks_outside_root)
        subjects = self._subjects(tree, training, split)
        target_parts: List[HumanImageIndex] = []
        source_parts: List[HumanImageIndex] = []
        descriptions: Dict[str, List[str]] = {}
        for s_idx, subject in enumerate(subjects):
            data = self._subject(tree, subject, s_idx, training)
            description = self._attach_boxes(tree, subject, s_idx, data, training)
            descriptions.setdefault(description, []).append(subject)
            target_parts.append(data.targets)
            source_parts.append(data.sources)
        targets = concat_indexes(subjects, target_parts, self.vertex_padding)
        # Training: the targets are the input cameras themselves, so the same table (and memory) serves both.
        sources = targets if training else concat_indexes(subjects, source_parts, self.vertex_padding)
        for description, names in descriptions.items():
            shown = ", ".join(names[:MAX_LISTED_SUBJECTS])
            more = f" and {len(names) - MAX_LISTED_SUBJECTS} more" if len(names) > MAX_LISTED_SUBJECTS else ""
            CONSOLE.print(f"Person 3D box ({split}) from {description}: {shown}{more}")
        warn_wide_baseline(tree.root, sources, split)
        return make_outputs(targets, sources, self._uses_masks(), split, f"{self.dataset_name} {tree.root}")

    def _attach_boxes(self, tree: DatasetTree, subject: str, s_idx: int, data: SubjectData, training: bool) -> str:
        """Decide every frame's box source now (cheap), fill the subject's box tables; returns the description."""
        cfg = self.config
        parts = [data.targets] if data.sources is data.targets else [data.targets, data.sources]
        frames = sorted({int(f) for part in parts for f in part.frame})
        use_smpl = cfg.box_source == "auto"
        smpl_files = {(s_idx, f): data.smpl_files[f] for f in frames if use_smpl and f in data.smpl_files}
        smpl_boxes = {(s_idx, f): data.smpl_boxes[f] for f in frames if use_smpl and f in data.smpl_boxes}
        need = [f for f in frames if (s_idx, f) not in smpl_files and (s_idx, f) not in smpl_boxes]
        estimators: Dict[int, PersonBoxEstimator] = {}
        description = data.smpl_label
        if need:
            # Input cameras only: the box bounds every prediction (cost volumes, rendered region, PSNR's region), so
            # the test cameras' own keypoints or masks never shape a test view's prediction.
            estimator, estimated = self._estimator(tree, subject, data, [data.sources], need, training)
            estimators[s_idx] = estimator
            description = estimated if len(need) == len(frames) else f"{data.smpl_label}, else {estimated}"
            if use_smpl and data.smpl_missing:
                CONSOLE.print(
                    f"[bold yellow]Warning: {subject}: {len(need)} of {len(frames)} frames have no SMPL file (e.g. "
                    f"{data.smpl_missing[0]}); their person box comes from {estimated}"
                )
        joints3d: Dict[Tuple[int, int], Path] = {}
        prefix = f"{data.folder}/" if data.folder else ""
        for f in frames:
            rel = f"{prefix}{SYNTH_GT_DIRNAME}/joints3d/{f:06d}.npy"
            if tree.exists(rel):
                joints3d[(s_idx, f)] = tree.path(rel)
        # Targets and sources of a subject share the same tables: a box computed through one serves both.
        descriptions = {s_idx: description}
        for part in parts:
            part.box_sources, part.frame_boxes, part.box_estimators = smpl_files, smpl_boxes, estimators
            part.box_descriptions, part.joints3d_files = descriptions, joints3d
            part.box_padding = self.vertex_padding
        return description

    def _estimator(
        self,
        tree: DatasetTree,
        subject: str,
        data: SubjectData,
        parts: List[HumanImageIndex],
        frames: List[int],
        training: bool = True,
    ) -> Tuple[PersonBoxEstimator, str]:
        """The SMPL-free box estimator over the subject's rows of ``frames``, and its description."""
        cfg = self.config
        wanted = set(frames)
        num_cams = 1 + max(int(part.camera.max()) for part in parts if len(part))
        K, w2c = np.zeros((num_cams, 3, 3)), np.zeros((num_cams, 3, 4))
        dist, sizes = np.zeros((num_cams, 5)), np.zeros((num_cams, 2), dtype=np.int64)
        views: Dict[int, List[Tuple[int, Optional[Path], Optional[Path]]]] = {}
        in_memory: Dict[int, List[np.ndarray]] = {}
        seen: Set[Tuple[int, int]] = set()
        has_keypoints = has_masks = False
        for part in parts:
            for row in range(len(part)):
                f, c = int(part.frame[row]), int(part.camera[row])
                if f not in wanted or (f, c) in seen:
                    continue
                seen.add((f, c))
                K[c], w2c[c], dist[c] = part.K[row], part.w2c[row], part.dist[row]
                sizes[c] = (part.width[row], part.height[row])
                kp_file, mask = part.keypoint_files[row], part.mask_filenames[row]
                views.setdefault(f, []).append((c, kp_file, mask))
                has_masks |= mask is not None
                has_keypoints |= kp_file is not None
                if data.keypoints_in_memory:
                    in_memory.setdefault(f, []).append(part.keypoints_2d[row])
                    has_keypoints |= bool((part.keypoints_2d[row, :, 2] > 0).any())
        use_keypoints = has_keypoints and cfg.box_source != "masks"
        if cfg.box_source == "auto" and not training and has_masks:
            # A prediction reads the input images (and their masks, as every ENeRF-style source view), never 2D
            # keypoint annotations: an unseen person's box comes from the masks' visual hull when there are masks.
            use_keypoints = False
        if cfg.box_source == "keypoints" and not has_keypoints:
            raise DatasetFormatError(
                f"{tree.root / data.folder}: --box-source keypoints, but no 2D keypoints were found (OpenPose JSON in "
                "openpose/<camera>/<frame>_keypoints.json); add them or use --box-source auto"
            )
        if not use_keypoints and not has_masks:
            missing = f" (e.g. {data.smpl_missing[0]} is missing)" if data.smpl_missing else ""
            raise DatasetFormatError(
                f"{tree.root / data.folder}: no way to locate the person in 3D: no SMPL file{missing}, no 2D keypoints "
                "and no masks; add SMPL vertices, OpenPose keypoints (openpose/<camera>/<frame>_keypoints.json) or "
                "masks (and do not turn masks off)"
            )
        if use_keypoints:
            description = f"triangulated 2D keypoints ({data.keypoints_label})"
            if has_masks:
                description += f", mask visual hull where fewer than {MIN_JOINTS} joints triangulate"
        else:
            description = "mask visual hull" + (" (--box-source masks)" if has_keypoints else " (no 2D keypoints)")
        estimator = PersonBoxEstimator(
            subject=subject, K=K, w2c=w2c, dist=dist, sizes=sizes, views=views,
            keypoints={f: np.stack(kps) for f, kps in in_memory.items()}, use_keypoints=use_keypoints,
            margin=cfg.keypoint_box_margin,
        )  # fmt: skip
        return estimator, description


def warn_wide_baseline(root: Path, sources: HumanImageIndex, split: str) -> None:
    """One warning line (once per process and subject set) when a subject's input cameras are far apart."""
    worst: List[Tuple[float, str, int]] = []
    for s_idx, subject in enumerate(sources.subjects):
        rows = np.flatnonzero(sources.subject_idx == s_idx)
        cams, first = np.unique(sources.camera[rows], return_index=True)
        if len(cams) < 2:
            continue
        angles = nearest_view_angles(sources.w2c[rows[first]])
        if angles.max() > WIDE_BASELINE_DEGREES:
            worst.append((float(angles.max()), subject, int(cams[int(np.argmax(angles))])))
    key = (str(root), *sources.subjects)
    if not worst or key in _WARNED_RIGS:
        return
    _WARNED_RIGS.add(key)
    angle, subject, camera = max(worst)
    others = f" (and {len(worst) - 1} more {split} subjects)" if len(worst) > 1 else ""
    CONSOLE.print(
        f"[bold yellow]Warning: wide camera baseline: {subject}{others}: input camera {camera} is {angle:.0f} degrees "
        f"from its nearest input camera; ENeRF-style cost volumes need nearby source views (under about "
        f"{WIDE_BASELINE_DEGREES:.0f} degrees): expect blurry novel views, or add cameras / input views"
    )
