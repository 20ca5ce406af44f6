"""GHNeRFDataManager: target rays + source views for training, whole test images for evaluation.

Subclasses nerfstudio's ``DataManager`` directly (a source-view model has no per-scene pixel sampler); its config
derives from ``VanillaDataManagerConfig`` so that ``dataparser: AnnotatedDataParserUnion`` subcommands work and
``ns-render dataset`` accepts it. Training samples are decoded lazily in DataLoader worker processes; nothing
dataset-sized is cached.

What the run skipped (missing files at parse time, unreadable images and empty OpenPose files while training) is
counted in a :class:`~ghnerf_ns.data.skip_report.SkipReport`, logged the first few times, and written to
``<run dir>/data_report.json``.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Literal, Mapping, Optional, Tuple, Type, Union

import torch
import torch.distributed as dist
from nerfstudio.cameras.cameras import Cameras
from nerfstudio.configs.dataparser_configs import AnnotatedDataParserUnion
from nerfstudio.data.datamanagers.base_datamanager import DataManager, VanillaDataManagerConfig
from nerfstudio.data.utils.dataloaders import FixedIndicesEvalDataloader, RandIndicesEvalDataloader
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackAttributes, TrainingCallbackLocation
from nerfstudio.utils.rich_utils import CONSOLE
from torch.utils.data import DataLoader

from dataparsers.human_common import SOURCES_KEY, TARGETS_KEY, DatasetFormatError, HumanImageIndex
from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig
from ghnerf_ns.data.human_dataset import HumanImageDataset
from ghnerf_ns.data.image_loading import working_size
from ghnerf_ns.data.person_scale import SCALE_FILENAME, measure_person_scale
from ghnerf_ns.data.sample_batches import TrainingBatch, collate_training_batch
from ghnerf_ns.data.skip_report import ISSUES_KEY, REPORT_FILENAME, SkipReport, capture_console_lines
from ghnerf_ns.data.training_samples import RaySamplingSpec, TrainingSampleDataset


@dataclass
class GHNeRFDataManagerConfig(VanillaDataManagerConfig):
    """Data manager for GHNeRF: (target rays, source views) batches and whole-image evaluation."""

    _target: Type = field(default_factory=lambda: GHNeRFDataManager)
    dataparser: AnnotatedDataParserUnion = field(default_factory=ZJUMocapDataParserConfig)
    """Dataset reader (zju-mocap-data or renderpeople-data)."""
    resolution: int = 512
    """Working resolution: images are undistorted and resized so their long side is this many pixels (a multiple of
    32, required by the cost-volume CNN). ZJU-MoCap 1024x1024 images become 512x512 as in ENeRF and the paper."""
    train_num_rays_per_batch: int = 4096
    """Random rays per training image (75% on the person's mask, as ENeRF's sample_on_mask)."""
    num_patches: int = 4
    """64x64-style patches per training image for the perceptual loss (only used when its weight is > 0)."""
    patch_size: int = 64
    """Side of each perceptual-loss patch in pixels."""
    train_num_views: Tuple[int, ...] = (2, 3)
    """Possible numbers of source views per training batch (ENeRF on ZJU-MoCap: 2 or 3)."""
    train_num_views_probs: Tuple[float, ...] = (0.9, 0.1)
    """Probability of each entry of train-num-views."""
    heatmap_sigma: float = 7.0
    """Standard deviation, in working-resolution pixels, of the ground-truth joint Gaussians. The paper does not state
    it; 7 px at 512 is OpenPose's (the paper's teacher and baseline) and matches the scale of the paper's heatmap MSE
    (about 3e-4, while predicting 0 everywhere scores 5.9e-4 at 7 px and 4.8e-5 at 2 px)."""
    joint_ray_fraction: float = 0.0
    """Fraction of the training rays drawn around the target's projected 2D joints (Gaussian offsets of joint-ray-spread
    heatmap sigmas); the rest follow ENeRF's mask rule. 0 = ENeRF's rule only (a few rays per joint per batch)."""
    joint_ray_spread: float = 1.5
    """Standard deviation of the joint-centred rays' offsets from their joint, in units of heatmap-sigma."""
    pose_views: int = 0
    """Input-camera images of random training subjects and frames loaded with each training target for 2D pose
    supervision of the source-view heatmap head only (--pipeline.model.human-encoder.heatmap-head): the human encoder
    learns from every pixel of their heatmaps, without rendering them. 0 = none."""
    flip_pose_views: bool = True
    """Mirror each pose view left-right with probability 1/2 (keypoints follow; left and right joints swap)."""
    augment_pose_views: bool = False
    """Photometric augmentation of each pose view's person (exposure, contrast, saturation, colour cast, blur, noise),
    so the 2D pose head learns bodies rather than the training renderer's colours. Source and target views are never
    augmented."""
    pose_view_rotation: float = 0.0
    """Largest in-plane rotation (degrees) of each pose view about its person's centre, as a tilted camera or a leaning
    body gives (keypoints and intrinsics follow exactly). 0 = none."""
    pose_view_zoom: float = 0.0
    """Largest relative zoom of each pose view about its person's centre, drawn log-uniformly (0.25: x0.8 to x1.25), as
    a nearer or farther camera gives (keypoints and intrinsics follow exactly). 0 = none."""
    occluded_joint_targets: bool = False
    """Occluded joints that the annotation still places (confidence 0 at a real position, as ghnerf-synth writes every
    joint's projection; OpenPose writes undetected joints as 0, 0, 0) are targets of the 2D pose head and of the
    volumetric heat at that position. The head then puts a joint hidden behind the body where it projects (the nose
    of a person seen from behind inside the head, not on the hair), so a few views still triangulate it and the body's
    facing direction, which names left and right, does not flip. The rendered heatmaps and the metrics keep visible
    joints only."""
    volume_heat_points: int = 0
    """Random points of each training target's 3D box at which the heat field gets a 3D heatmap target made from the
    2D keypoints of all the frame's input cameras (--pipeline.model.loss.volume-heat-weight; see
    ghnerf_ns/model/volume_heat.py). 0 = none."""
    num_workers: int = 2
    """DataLoader worker processes that decode training samples (0: decode in the main process)."""
    seed: int = 42
    """Seed of the ray/source-view sampling (each rank and worker derives its own stream)."""
    eval_image_indices: Optional[Tuple[int, ...]] = (0,)
    """Eval images used for the periodic image evaluation during training (None: all)."""
    report_every_num_iters: int = 500
    """How often (steps) the run folder's data_report.json is refreshed; it is also rewritten whenever a new kind of
    problem or a new broken file shows up."""


def distributed_rank(world_size: int, local_rank: int) -> Tuple[int, int]:
    """(global rank, world size) of this process.

    nerfstudio hands the datamanager the *local* rank (the GPU index on this machine); on several machines two
    processes share a local rank, so sharding by it would give them the same samples. The process group knows the
    global rank.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return local_rank, max(world_size, 1)


def _collate_with_issues(sample: Dict) -> Tuple[TrainingBatch, Dict[str, List[str]]]:
    """Split a worker's sample into its TrainingBatch and the data problems it met (see skip_report)."""
    issues = sample.pop(ISSUES_KEY, {})
    return collate_training_batch(sample), issues


class GHNeRFDataManager(DataManager):
    """See :class:`GHNeRFDataManagerConfig`."""

    config: GHNeRFDataManagerConfig

    def __init__(
        self,
        config: GHNeRFDataManagerConfig,
        device: Union[torch.device, str] = "cpu",
        test_mode: Literal["test", "val", "inference"] = "val",
        world_size: int = 1,
        local_rank: int = 0,
        **kwargs,
    ):
        self.config = config
        self.device = device
        self.world_size = world_size
        self.local_rank = local_rank
        self.test_mode = test_mode
        self.test_split = "test" if test_mode in ["test", "inference"] else "val"
        working_size(config.resolution, config.resolution, config.resolution)  # clear error for a bad resolution
        if config.data is not None:
            config.dataparser.data = Path(config.data)
        else:
            config.data = config.dataparser.data
        self.dataparser = config.dataparser.setup()
        self.includes_time = False
        self.rank, self.num_ranks = distributed_rank(world_size, local_rank)
        self.skip_report = SkipReport()
        self._report_path: Optional[Path] = None
        with capture_console_lines(CONSOLE) as lines:
            self.train_dataparser_outputs = self.dataparser.get_dataparser_outputs(split="train")
            self.eval_dataparser_outputs = self.dataparser.get_dataparser_outputs(split=self.test_split)
        self.skip_report.add_parse_warnings(lines)
        self.skip_report.images_used = {
            "train": len(self.train_dataparser_outputs.metadata[TARGETS_KEY]),
            "eval": len(self.eval_dataparser_outputs.metadata[TARGETS_KEY]),
        }
        sigma = config.heatmap_sigma
        self.train_dataset = HumanImageDataset(self.train_dataparser_outputs, config.resolution, 0, sigma)
        self.eval_dataset = HumanImageDataset(self.eval_dataparser_outputs, config.resolution, 1, sigma)
        self.exclude_batch_keys_from_device = ["image"]
        self._train_iter = None
        self._eval_iter = None
        # Whole-image loaders exist in every mode (ns-render/ns-viewer run in "inference" mode, where nerfstudio
        # skips setup_eval, and ns-render's spiral/interpolate start from eval_dataloader's first camera).
        self.fixed_indices_eval_dataloader = FixedIndicesEvalDataloader(input_dataset=self.eval_dataset, device=device)
        self.eval_dataloader = RandIndicesEvalDataloader(input_dataset=self.eval_dataset, device=device)
        super().__init__()

    # ----------------------------------------------------------------------------------------------- indices
    @property
    def train_targets(self) -> HumanImageIndex:
        return self.train_dataparser_outputs.metadata[TARGETS_KEY]

    @property
    def eval_targets(self) -> HumanImageIndex:
        return self.eval_dataparser_outputs.metadata[TARGETS_KEY]

    def source_pools(self) -> Dict[str, HumanImageIndex]:
        """Input-camera pools of both splits, for the model's SourceViewBank."""
        return {
            "train": self.train_dataparser_outputs.metadata[SOURCES_KEY],
            "test": self.eval_dataparser_outputs.metadata[SOURCES_KEY],
        }

    # ------------------------------------------------------------------------------------------------ loaders
    def _sample_dataset(self, targets: HumanImageIndex, sources: HumanImageIndex, train: bool) -> TrainingSampleDataset:
        cfg = self.config
        rays = RaySamplingSpec(
            cfg.train_num_rays_per_batch,
            cfg.num_patches if train else 0,
            cfg.patch_size,
            joint_fraction=cfg.joint_ray_fraction if train else 0.0,
            joint_spread=cfg.joint_ray_spread * cfg.heatmap_sigma,
        )
        return TrainingSampleDataset(
            targets=targets,
            sources=sources,
            resolution=cfg.resolution,
            rays=rays,
            # Eval batches: the model's num-source-views, set by the pipeline (set_eval_num_views).
            num_views_choices=cfg.train_num_views if train else (2,),
            num_views_probs=cfg.train_num_views_probs if train else (1.0,),
            heatmap_sigma=cfg.heatmap_sigma,
            with_cse=True,
            seed=cfg.seed + 1000 * self.rank + (0 if train else 7),
            randomize_sources=train,
            num_pose_views=cfg.pose_views if train else 0,
            flip_pose_views=cfg.flip_pose_views,
            augment_pose_views=cfg.augment_pose_views,
            pose_view_rotation=cfg.pose_view_rotation,
            pose_view_zoom=cfg.pose_view_zoom,
            num_volume_points=cfg.volume_heat_points if train else 0,
            occluded_joint_targets=cfg.occluded_joint_targets,
        )

    def _loader(self, dataset: TrainingSampleDataset, seed: int) -> DataLoader:
        # Each rank draws from its own shard of targets, so DDP ranks never train on the same samples.
        shard = list(range(self.rank, len(dataset), self.num_ranks))
        if not shard:
            raise DatasetFormatError(
                f"{len(dataset)} target images cannot be shared among {self.num_ranks} processes; use fewer GPUs or "
                "more training images"
            )
        generator = torch.Generator().manual_seed(seed)
        sampler = torch.utils.data.RandomSampler(shard, replacement=True, num_samples=10**9, generator=generator)
        shard_sampler = _ShardSampler(shard, sampler)
        return DataLoader(
            dataset,
            batch_size=None,
            sampler=shard_sampler,
            num_workers=self.config.num_workers,
            collate_fn=_collate_with_issues,
            persistent_workers=self.config.num_workers > 0,
            prefetch_factor=2 if self.config.num_workers > 0 else None,
        )

    def setup_train(self):
        self.train_sample_dataset = self._sample_dataset(
            self.train_targets, self.train_dataparser_outputs.metadata[SOURCES_KEY], train=True
        )
        CONSOLE.print(
            f"[bold]GHNeRF training data:[/bold] {len(self.train_targets)} target images of "
            f"{len(set(self.train_targets.subject_idx.tolist()))} subjects, "
            f"{len(self.eval_targets)} eval images of "
            f"{len(set(self.eval_targets.subject_idx.tolist()))} unseen subjects; "
            f"{self._parse_skip_summary()}"
        )

    def _parse_skip_summary(self) -> str:
        skipped = self.skip_report.parse_time
        if not skipped:
            return "no image skipped"
        reasons = ", ".join(f"{r.files} ({why})" for why, r in skipped.items())
        count = sum(r.files for r in skipped.values())
        return f"skipped {count} images: {reasons}; see {REPORT_FILENAME} in the run folder"

    # ------------------------------------------------------------------------------------------------ report
    def record_issues(self, issues: Mapping[str, List[str]]) -> None:
        """Merge one sample's data problems; log new ones (the first few per reason) and refresh the report file."""
        if not issues:
            return
        new = self.skip_report.merge_sample_issues(issues)
        for line in new:
            CONSOLE.print(f"[bold yellow]Warning: {line} (counted in {REPORT_FILENAME})")
        if new:
            self.write_report()

    def write_report(self) -> None:
        """Write ``data_report.json`` into the run folder (rank 0 only; nothing before the trainer names the folder)."""
        if self._report_path is not None and self.rank == 0:
            self.skip_report.write(self._report_path)

    def write_person_scale(self, run_dir: Path) -> None:
        """Record the training people's height in pixels in the run folder, for ``ghnerf-apply``'s choice of a
        capture's working resolution (:mod:`ghnerf_ns.data.person_scale`); nothing without masks (rank 0 only)."""
        scale = measure_person_scale(self.train_targets, self.config.resolution) if self.rank == 0 else None
        if scale is not None:
            scale.write(run_dir / SCALE_FILENAME)

    def get_training_callbacks(
        self, training_callback_attributes: TrainingCallbackAttributes
    ) -> List[TrainingCallback]:
        """Learn the run folder from the trainer, write the report there now and refresh it periodically."""
        trainer = training_callback_attributes.trainer
        base_dir = getattr(trainer, "base_dir", None)
        if base_dir is None:
            return []
        self._report_path = Path(base_dir) / REPORT_FILENAME
        self.write_report()
        self.write_person_scale(Path(base_dir))
        return [
            TrainingCallback(
                where_to_run=[TrainingCallbackLocation.AFTER_TRAIN_ITERATION],
                update_every_num_iters=max(1, self.config.report_every_num_iters),
                func=lambda step: self.write_report(),
            )
        ]

    def setup_eval(self):
        self.eval_sample_dataset = self._sample_dataset(
            self.eval_targets, self.eval_dataparser_outputs.metadata[SOURCES_KEY], train=False
        )

    def set_eval_num_views(self, num_views: int) -> None:
        """The source views of the eval loss batches: the model's ``num_source_views`` (0 = all input cameras), one
        option for every prediction (the pipeline sets it before the first eval batch)."""
        self.eval_sample_dataset.choices = (num_views,)

    def next_train(self, step: int) -> Tuple[Cameras, TrainingBatch]:
        if self._train_iter is None:
            self._train_iter = iter(self._loader(self.train_sample_dataset, self.config.seed + self.rank))
        self.train_count += 1
        batch, issues = next(self._train_iter)
        self.record_issues(issues)
        pos = self.train_dataset.position_of_row(batch.row)  # the display dataset is camera-major ordered
        return self.train_dataset.cameras[pos : pos + 1].to(self.device), batch.to(self.device)

    def next_eval(self, step: int) -> Tuple[Cameras, TrainingBatch]:
        if self._eval_iter is None:
            self._eval_iter = iter(self._loader(self.eval_sample_dataset, self.config.seed + 99))
        self.eval_count += 1
        batch, issues = next(self._eval_iter)
        self.record_issues(issues)
        pos = self.eval_dataset.position_of_row(batch.row)
        return self.eval_dataset.cameras[pos : pos + 1].to(self.device), batch.to(self.device)

    def next_eval_image(self, step: int) -> Tuple[Cameras, Dict]:
        for camera, batch in self.eval_dataloader:
            return camera, batch
        raise ValueError("no eval images")

    def get_train_rays_per_batch(self) -> int:
        return self.config.train_num_rays_per_batch

    def get_eval_rays_per_batch(self) -> int:
        return self.config.train_num_rays_per_batch

    def get_datapath(self) -> Path:
        return self.config.dataparser.data

    def get_param_groups(self) -> Dict[str, list]:
        return {}


class _ShardSampler(torch.utils.data.Sampler):
    """Maps a sampler over positions in ``shard`` to dataset indices."""

    def __init__(self, shard, sampler) -> None:
        self.shard = shard
        self.sampler = sampler

    def __iter__(self):
        for i in self.sampler:
            yield self.shard[i]

    def __len__(self) -> int:
        return len(self.sampler)
