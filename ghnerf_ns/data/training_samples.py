"""Training samples: one target image's rays plus its source views, assembled in DataLoader worker processes.

Each item decodes the target and its N source views (N drawn per item: 2 w.p. 0.9, 3 w.p. 0.1 by default, as
ENeRF's batch sampler does with one target per batch), samples rays mostly on the person's mask plus square patches
for the perceptual loss, and evaluates the ground-truth heatmaps and CSE targets at those rays only.
"""

from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from dataparsers.body25 import BODY25_MIRROR
from dataparsers.human_common import DatasetFormatError, HumanImageIndex
from ghnerf_ns.data.image_loading import (
    ImageReadError,
    LoadedView,
    load_view,
    stack_views,
    working_camera,
    working_keypoints,
)
from ghnerf_ns.data.keypoint_source import read_keypoints_checked, with_occluded_positions
from ghnerf_ns.data.skip_report import ISSUES_KEY, OPENPOSE_NO_PERSON, TOO_FEW_SOURCES, UNREADABLE_IMAGE
from ghnerf_ns.data.source_bank import c2w_from_w2c
from ghnerf_ns.data.source_selection import nearest_source_views, sample_num_views, training_source_views
from ghnerf_ns.data.view_augment import augment_view, rotate_scale_view
from ghnerf_ns.keypoints.heatmap_targets import gt_heatmaps_at_pixels, joint_validity


def flip_view(view: LoadedView) -> LoadedView:
    """The left-right mirror image of a view: pixel ``u`` moves to ``W - 1 - u``, and so do the keypoints, whose left
    and right joints swap (BODY25_MIRROR). ``K`` gets a negative focal length (``u' = -fx x / z + W - 1 - cx``), so
    projecting the world into the flipped image stays exact (the human encoder's windows use it); ``w2c`` is kept."""
    width = view.image.shape[1]
    K = view.K.copy()
    K[0, 0], K[0, 1], K[0, 2] = -K[0, 0], -K[0, 1], width - 1 - K[0, 2]
    keypoints = None
    if view.keypoints is not None:
        keypoints = view.keypoints[list(BODY25_MIRROR)].copy()
        keypoints[:, 0] = width - 1 - keypoints[:, 0]
    return replace(
        view,
        image=np.ascontiguousarray(view.image[:, ::-1]),
        mask=np.ascontiguousarray(view.mask[:, ::-1]),
        K=K,
        keypoints=keypoints,
        cse=None if view.cse is None else np.ascontiguousarray(view.cse[:, ::-1]),
    )


MIN_SOURCE_VIEWS = 2
"""A training target needs at least this many other input cameras (fewer of its frame's images were readable: the
sample is replaced and reported); with fewer than asked for, but at least this many, it uses the ones there are."""


class TooFewSourceViews(ImageReadError):
    """The target's frame has fewer other input cameras than source views are needed (its images were skipped)."""


@dataclass
class RaySamplingSpec:
    """How rays are drawn from a training target."""

    num_rays: int
    """Random rays per image (ENeRF: 75% on the mask, capped at 95% of the mask's pixels; the rest uniform)."""
    num_patches: int
    """Square patches appended after the random rays, for the perceptual loss (0 = none)."""
    patch_size: int
    """Side of each patch in pixels."""
    joint_fraction: float = 0.0
    """Fraction of ``num_rays`` drawn around the target's valid 2D joints instead (0 = ENeRF's rule only)."""
    joint_spread: float = 0.0
    """Standard deviation, in pixels, of the joint-centred rays' offsets from their joint."""


def joint_centred_pixels(
    rng: np.random.Generator, joints_xy: np.ndarray, count: int, spread: float, height: int, width: int
) -> np.ndarray:
    """(count, 2) integer (x, y) pixels around joints drawn uniformly from ``joints_xy`` (Gaussian offsets, clipped).

    The heatmap signal of ENeRF's ray rule is a few rays per joint per batch (a sigma-2 Gaussian covers ~0.1% of a
    128 px image); pose estimators see every pixel of every heatmap. These rays put the peaks and their slopes into
    every batch.
    """
    if count <= 0 or len(joints_xy) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    centres = joints_xy[rng.integers(len(joints_xy), size=count)]
    xy = np.rint(centres + rng.normal(scale=spread, size=(count, 2)))
    xy[:, 0] = np.clip(xy[:, 0], 0, width - 1)
    xy[:, 1] = np.clip(xy[:, 1], 0, height - 1)
    return xy.astype(np.int64)


def sample_pixels(
    rng: np.random.Generator, mask: np.ndarray, spec: RaySamplingSpec, joints_xy: Optional[np.ndarray] = None
) -> np.ndarray:
    """(R, 2) integer (x, y) pixels: on-mask and uniform rays, rays around ``joints_xy`` (the valid joints, (J, 2), when
    ``spec.joint_fraction`` > 0), then ``num_patches`` patches of ``patch_size``^2 pixels."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    num_joint = 0
    if joints_xy is not None and len(joints_xy) and spec.joint_fraction > 0:
        num_joint = int(round(spec.num_rays * spec.joint_fraction))
    num_rays = spec.num_rays - num_joint
    num_fg = int(min(num_rays * 0.75, 0.95 * len(xs)))
    pick = rng.permutation(len(xs))[:num_fg]
    uni = num_rays - num_fg
    x = np.concatenate([rng.integers(0, w, uni), xs[pick]])
    y = np.concatenate([rng.integers(0, h, uni), ys[pick]])
    parts = [np.stack([x, y], -1)]
    if num_joint:
        parts.append(joint_centred_pixels(rng, joints_xy, num_joint, spec.joint_spread, h, w))
    s = spec.patch_size
    for _ in range(spec.num_patches):
        if len(xs):
            i = rng.integers(len(xs))
            cx, cy = xs[i], ys[i]
        else:
            cx, cy = rng.integers(w), rng.integers(h)
        # Centre on a random mask pixel, clipped so the patch stays inside the image (ENeRF sample_patch).
        x0 = int(np.clip(cx - s // 2, 0, max(w - s, 0)))
        y0 = int(np.clip(cy - s // 2, 0, max(h - s, 0)))
        gy, gx = np.meshgrid(np.arange(y0, y0 + s), np.arange(x0, x0 + s), indexing="ij")
        parts.append(np.stack([gx.reshape(-1), gy.reshape(-1)], -1))
    return np.concatenate(parts).astype(np.int64)


class TrainingSampleDataset(Dataset):
    """Map-style dataset over the training targets; item = rays of one target + its source views.

    Args:
        targets: training targets (``metadata[TARGETS_KEY]``).
        sources: the input-camera pool (``metadata[SOURCES_KEY]``).
        resolution: working long side.
        rays: ray sampling spec.
        num_views_choices / num_views_probs: distribution of the number of source views.
        heatmap_sigma: Gaussian sigma (pixels at the working resolution) of the ground-truth heatmaps.
        with_cse: load CSE targets where present.
                seed: base seed (each worker and epoch derives its own stream).
        randomize_sources: training rule (random subset of the N+1 nearest); False: the N nearest (test protocol).
        num_pose_views: input-camera images of random training subjects and frames loaded per item for 2D pose
            supervision only (the source-view heatmap head).
        flip_pose_views: mirror each pose view left-right with probability 1/2 (keypoints follow, left and right joints
            swap names: the mirror image of a person is a person).
        augment_pose_views: random exposure, contrast, saturation, colour cast, blur and noise on each pose view's
            person (:mod:`ghnerf_ns.data.view_augment`).
        pose_view_rotation: largest in-plane rotation (degrees) of each pose view about its person's centre; 0 = none.
        pose_view_zoom: largest relative zoom of each pose view about its person's centre (0.25: x0.8 to x1.25);
            0 = none.
        num_volume_points: random points of the target's 3D box at which the heat field gets a 3D target from the
            2D keypoints of all the frame's input cameras (:mod:`ghnerf_ns.model.volume_heat`); 0 = none.
        occluded_joint_targets: input views' occluded joints that keep a position are pose-head and volumetric targets
            (:func:`~ghnerf_ns.data.keypoint_source.with_occluded_positions`).
    """

    def __init__(
        self,
        targets: HumanImageIndex,
        sources: HumanImageIndex,
        resolution: int,
        rays: RaySamplingSpec,
        num_views_choices: Sequence[int],
        num_views_probs: Sequence[float],
        heatmap_sigma: float,
        with_cse: bool,
        seed: int = 0,
        randomize_sources: bool = True,
        num_pose_views: int = 0,
        flip_pose_views: bool = False,
        augment_pose_views: bool = False,
        pose_view_rotation: float = 0.0,
        pose_view_zoom: float = 0.0,
        num_volume_points: int = 0,
        occluded_joint_targets: bool = False,
    ) -> None:
        self.targets = targets
        self.sources = sources
        self.resolution = resolution
        self.rays = rays
        self.choices = tuple(num_views_choices)
        self.probs = tuple(num_views_probs)
        self.heatmap_sigma = heatmap_sigma
        self.with_cse = with_cse
        self.seed = seed
        self.randomize_sources = randomize_sources
        self.num_pose_views = num_pose_views
        self.flip_pose_views = flip_pose_views
        self.augment_pose_views = augment_pose_views
        self.pose_view_rotation = pose_view_rotation
        self.pose_view_zoom = pose_view_zoom
        self.num_volume_points = num_volume_points
        self.occluded_joint_targets = occluded_joint_targets
        self._rng: Optional[np.random.Generator] = None
        self._source_rows: Dict[Tuple[str, int, int], int] = {}
        frame_cams: Dict[Tuple[str, int], List[int]] = {}
        for row in range(len(sources)):
            key = (sources.subjects[int(sources.subject_idx[row])], int(sources.frame[row]), int(sources.camera[row]))
            self._source_rows[key] = row
            frame_cams.setdefault(key[:2], []).append(key[2])
        # Input cameras present in each (subject, frame): images the dataparser skipped leave holes in some frames.
        self._frame_cams: Dict[Tuple[str, int], Tuple[int, ...]] = {k: tuple(sorted(v)) for k, v in frame_cams.items()}
        self._candidates: Dict[Tuple[str, int, Tuple[int, ...]], List[int]] = {}
        self.skipped: List[str] = []

    def __len__(self) -> int:
        return len(self.targets)

    def rng(self) -> np.random.Generator:
        if self._rng is None:
            info = torch.utils.data.get_worker_info()
            worker = info.id if info is not None else 0
            self._rng = np.random.default_rng([self.seed, worker, int(torch.initial_seed() % (2**31))])
        return self._rng

    def candidates(self, subject: str, frame: int, camera: int, w2c: np.ndarray) -> List[int]:
        """Candidate source cameras of a training target: its ``max(choices) + 1`` nearest input cameras, self excluded.

        Cached per (subject, camera, cameras present in the frame): a subject's rig does not move between frames, but a
        frame with skipped (missing) images has fewer cameras to choose from.
        """
        cams = list(self._frame_cams.get((subject, frame), ()))
        key = (subject, camera, tuple(cams))
        if key not in self._candidates:
            if not cams:
                self._candidates[key] = []
                return []
            pool = c2w_from_w2c(np.stack([self.sources.w2c[self._source_rows[(subject, frame, c)]] for c in cams]))
            exclude = cams.index(camera) if camera in cams else None
            n = 0 if min(self.choices) <= 0 else max(self.choices) + 1  # 0: every other input camera
            chosen = nearest_source_views(c2w_from_w2c(w2c), pool, n, exclude=exclude)
            self._candidates[key] = [cams[i] for i in chosen]
        return self._candidates[key]

    def __getitem__(self, item: int) -> Dict[str, object]:
        rng = self.rng()
        failed: Dict[str, List[str]] = {}
        for _ in range(20):
            try:
                sample = self._make(item, rng)
            except ImageReadError as err:
                # A truncated or unreadable file found while training: replace the sample, count and report it. This
                # runs in a worker process, so the sample carries its problems back to the main process (ISSUES_KEY).
                self.skipped.append(str(err))
                reason = TOO_FEW_SOURCES if isinstance(err, TooFewSourceViews) else UNREADABLE_IMAGE
                failed.setdefault(reason, []).append(str(err))
                item = int(rng.integers(len(self)))
                continue
            issues: Dict[str, List[str]] = sample[ISSUES_KEY]  # type: ignore[assignment]
            issues.update(failed)
            return sample
        raise DatasetFormatError(
            "20 consecutive training samples could not be used (is the dataset folder readable?); last errors:\n"
            + "\n".join(self.skipped[-5:])
        )

    def _make(self, row: int, rng: np.random.Generator) -> Dict[str, object]:
        t = self.targets
        subject = t.subjects[int(t.subject_idx[row])]
        frame, camera = int(t.frame[row]), int(t.camera[row])
        keypoints, no_person = read_keypoints_checked(t, row)
        target = load_view(t, row, self.resolution, keypoints=keypoints, with_cse=self.with_cse)
        num_views = sample_num_views(rng, self.choices, self.probs)
        candidates = self.candidates(subject, frame, camera, t.w2c[row])
        needed = min(MIN_SOURCE_VIEWS, *(c for c in self.choices if c > 0)) if any(c > 0 for c in self.choices) else 1
        if len(candidates) < needed:
            # Missing images left this frame with too few other input cameras: replace the sample and report it.
            raise TooFewSourceViews(
                f"{t.image_filenames[row]}: only {len(candidates)} other input camera(s) in {subject} frame {frame}, "
                f"fewer than {needed} source views (images missing)"
            )
        # A rig with fewer other input cameras than asked for (a 3-camera capture, a frame that lost a view) trains
        # with the ones it has.
        num_views = len(candidates) if num_views <= 0 else min(num_views, len(candidates))
        if self.randomize_sources:
            cams = training_source_views(rng, candidates, num_views)
        else:
            cams = candidates[:num_views]
        # 2D pose views: input-camera images of any training subject and frame, seen only by the source-view heatmap
        # head (many people and poses per step: views of the target's own frame taught it that person's sides only).
        pose_rows = [int(r) for r in rng.integers(len(self.sources), size=self.num_pose_views)]
        # Source keypoints train the source-view heatmap head (when the model has one); reading them is cheap.
        views: List[LoadedView] = [
            load_view(self.sources, r, self.resolution, keypoints=self._input_keypoints(r))
            for r in [self._source_rows[(subject, frame, c)] for c in cams] + pose_rows
        ]
        n = len(cams)
        if self.flip_pose_views:
            views[n:] = [flip_view(v) if rng.uniform() < 0.5 else v for v in views[n:]]
        views[n:] = [rotate_scale_view(v, rng, self.pose_view_rotation, self.pose_view_zoom) for v in views[n:]]
        if self.augment_pose_views:
            views[n:] = [augment_view(v, rng) for v in views[n:]]
        # Views of different working sizes (mixed camera models) share one padded canvas, K unchanged (the pose views
        # another one: they are encoded as a batch of their own).
        source_images, source_K, source_w2c = stack_views(views[:n])
        no_pose = (torch.zeros(0, 3, 1, 1), torch.zeros(0, 3, 3), torch.zeros(0, 4, 4))
        pose_images, pose_K, pose_w2c = stack_views(views[n:]) if pose_rows else no_pose
        all_keypoints = torch.from_numpy(np.stack([v.keypoints for v in views]))
        h, w = target.mask.shape
        keypoints_t = torch.from_numpy(target.keypoints)
        joints_valid = joint_validity(keypoints_t, h, w, self.heatmap_sigma).numpy()
        pixels = sample_pixels(rng, target.mask, self.rays, target.keypoints[joints_valid, :2])
        x, y = pixels[:, 0], pixels[:, 1]
        pixels_t = torch.from_numpy(pixels.astype(np.float32))
        heat, valid = gt_heatmaps_at_pixels(keypoints_t, pixels_t, h, w, self.heatmap_sigma)
        sample: Dict[str, object] = {
            "row": row,
            "subject": subject,
            "frame": frame,
            "camera": camera,
            "pixels": pixels_t,
            "rgb": torch.from_numpy(target.image[y, x]),
            "mask": torch.from_numpy(target.mask[y, x].astype(np.float32))[:, None],
            "has_mask": t.mask_filenames[row] is not None,
            "heatmaps": heat,
            "joints_valid": valid,
            "target_K": torch.from_numpy(target.K),
            "target_w2c": torch.from_numpy(target.w2c),
            "target_hw": (h, w),
            "box": torch.from_numpy(t.box(row)),
            "source_images": source_images,
            "source_K": source_K,
            "source_w2c": source_w2c,
            "source_cameras": torch.tensor(cams, dtype=torch.long),
            "source_keypoints": all_keypoints[:n],
            "pose_images": pose_images,
            "pose_K": pose_K,
            "pose_w2c": pose_w2c,
            "pose_cameras": torch.tensor([int(self.sources.camera[r]) for r in pose_rows], dtype=torch.long),
            "pose_boxes": torch.from_numpy(
                np.array([self.sources.box(r) for r in pose_rows], np.float32).reshape(-1, 2, 3)
            ),
            "pose_keypoints": all_keypoints[n:],
            "num_patches": self.rays.num_patches,
            "patch_size": self.rays.patch_size,
            ISSUES_KEY: {OPENPOSE_NO_PERSON: [str(t.keypoint_files[row])]} if no_person else {},
        }
        if target.cse is not None:
            sample["cse"] = torch.from_numpy(target.cse[y, x])
        if self.num_volume_points:
            sample.update(self._volume_samples(subject, frame, t.box(row), rng))
        return sample

    def _input_keypoints(self, row: int) -> np.ndarray:
        """Native keypoints of input-camera image ``row`` as the pose head and the volumetric heat learn them."""
        keypoints = read_keypoints_checked(self.sources, row)[0]
        return with_occluded_positions(keypoints) if self.occluded_joint_targets else keypoints

    def _volume_samples(self, subject: str, frame: int, box: np.ndarray, rng: np.random.Generator) -> Dict[str, object]:
        """Random points of the box and the 2D keypoints and cameras of every input camera of the frame."""
        rows = [self._source_rows[(subject, frame, c)] for c in self._frame_cams[(subject, frame)]]
        keypoints, Ks, w2cs, sizes = [], [], [], []
        for r in rows:
            K, w2c, (w, h) = working_camera(self.sources, r, self.resolution)
            keypoints.append(working_keypoints(self.sources, r, self._input_keypoints(r), self.resolution))
            Ks.append(K)
            w2cs.append(w2c)
            sizes.append((h, w))
        points = rng.uniform(box[0], box[1], size=(self.num_volume_points, 3)).astype(np.float32)
        return {
            "volume_points": torch.from_numpy(points),
            "frame_keypoints": torch.from_numpy(np.stack(keypoints)),
            "frame_K": torch.from_numpy(np.stack(Ks)),
            "frame_w2c": torch.from_numpy(np.stack(w2cs)),
            "frame_hw": torch.tensor(sizes, dtype=torch.float32),
        }
