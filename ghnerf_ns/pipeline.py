"""GHNeRFPipeline: hands the model its SourceViewBank and keeps all differentiable work inside the model's forward.

nerfstudio's ``VanillaPipeline`` calls ``model(ray_bundle)``; a source-view model needs the target camera, the rays and
the source views instead. They are passed as arguments of the (possibly DDP-wrapped) model's ``forward``, never hidden
in ``Cameras.metadata``, so DDP sees every differentiable operation.
"""

from dataclasses import dataclass, field
from pathlib import Path
from time import time
from typing import Any, Dict, Iterable, List, Literal, Optional, Tuple, Type, Union

import torch
from nerfstudio.pipelines.base_pipeline import VanillaPipeline, VanillaPipelineConfig
from nerfstudio.utils.rich_utils import CONSOLE
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor
from torch.amp import GradScaler
from torchvision.utils import save_image

from ghnerf_ns.data.datamanager import GHNeRFDataManager, GHNeRFDataManagerConfig
from ghnerf_ns.data.source_bank import SourceViewBank
from ghnerf_ns.ghnerf_model import GHNeRFModelConfig
from ghnerf_ns.keypoints.keypoints3d import (
    FrameViews,
    KeypointQueryError,
    annotated_joints3d,
    frame_mpjpe_metrics,
    no_keypoints,
)
from ghnerf_ns.model.geometry import cameras_to_opencv
from ghnerf_ns.runtime import setup_runtime


@dataclass
class GHNeRFPipelineConfig(VanillaPipelineConfig):
    """Pipeline of a generalizable, source-view-conditioned human NeRF."""

    _target: Type = field(default_factory=lambda: GHNeRFPipeline)
    datamanager: GHNeRFDataManagerConfig = field(default_factory=GHNeRFDataManagerConfig)
    """Data manager (dataset reader, ray sampling, source views)."""
    model: GHNeRFModelConfig = field(default_factory=GHNeRFModelConfig)
    """The GHNeRF model."""
    source_cache_size: int = 32
    """Decoded source images kept in memory for eval and the viewer."""


class GHNeRFPipeline(VanillaPipeline):
    """See :class:`GHNeRFPipelineConfig`."""

    config: GHNeRFPipelineConfig
    datamanager: GHNeRFDataManager

    def __init__(
        self,
        config: GHNeRFPipelineConfig,
        device: Union[str, torch.device],
        test_mode: Literal["test", "val", "inference"] = "val",
        world_size: int = 1,
        local_rank: int = 0,
        grad_scaler: Optional[GradScaler] = None,
    ):
        # Before the dataparser runs and before any checkpoint loads (every ns-* command builds the pipeline first).
        setup_runtime()
        # nerfstudio wraps the model in DDP with device_ids=[local_rank], which torch refuses for CPU modules: on CPU
        # (gloo process group) the parent gets world_size 1 and the model is wrapped here with device_ids=None. The
        # datamanager shards by the process group's own rank and size, so it is unaffected.
        cpu_ddp = world_size > 1 and torch.device(device).type == "cpu"
        super().__init__(config, device, test_mode, 1 if cpu_ddp else world_size, local_rank, grad_scaler)
        if cpu_ddp:
            from torch.nn.parallel import DistributedDataParallel

            self.world_size = world_size
            self._model = DistributedDataParallel(self._model, device_ids=None, find_unused_parameters=True)
        dm = self.datamanager
        if hasattr(dm, "eval_sample_dataset"):  # not built in inference mode (ns-render, ns-viewer)
            dm.set_eval_num_views(config.model.num_source_views)
        bank = SourceViewBank(dm.source_pools(), resolution=dm.config.resolution, cache_size=config.source_cache_size)
        self.model.attach_data(
            bank=bank, targets={0: dm.train_targets, 1: dm.eval_targets}, heatmap_sigma=dm.config.heatmap_sigma
        )

    def get_train_loss_dict(self, step: int):
        camera, batch = self.datamanager.next_train(step)
        # The DDP forward.
        outputs = self._model(
            batch.target, batch.sources, batch.pixels, batch.pose_views, batch.pose_boxes, batch.volume_points
        )
        metrics = self.model.get_metrics_dict(outputs, batch)
        losses = self.model.get_loss_dict(outputs, batch, metrics)
        return outputs, losses, metrics

    @torch.no_grad()
    def get_eval_loss_dict(self, step: int):
        self.eval()
        camera, batch = self.datamanager.next_eval(step)
        outputs = self.model(batch.target, batch.sources, batch.pixels)
        metrics = self.model.get_metrics_dict(outputs, batch)
        losses = self.model.get_loss_dict(outputs, batch, metrics)
        self.train()
        return outputs, losses, metrics

    def get_average_eval_image_metrics(
        self, step: Optional[int] = None, output_path: Optional[Path] = None, get_std: bool = False
    ) -> Dict[str, Optional[float]]:
        """Per-image metrics over the whole eval split, aggregated the way the paper reports them, plus 3D MPJPE.

        nerfstudio averages every per-image value; here undefined values (NaN, e.g. no valid joint in a view) are
        left out of the mean, and PCK is pooled over all counted joints (correct / total) rather than averaged per
        image, so a view with two visible joints does not weigh as much as one with twenty. Each view's 3D keypoints
        come from its own source views; MPJPE pools them over the views of each frame (:meth:`get_frame_3d_metrics`).
        With several eval subjects, ns-eval also reports each one's figures under ``per_subject``.

        A metric that was computed but is undefined (e.g. MPJPE with no joint found) is None, which ns-eval writes as
        JSON ``null`` (NaN would make its file invalid JSON). The trainer (which passes ``step``) hands the values to
        scalar writers, so there such metrics are left out instead.
        """
        per_image, frames = self._evaluate_images(output_path)
        out: Dict[str, Any] = aggregate_image_metrics(
            per_image, get_std=get_std, per_frame=self.get_frame_3d_metrics(frames)
        )
        out.update(cse_consistency(frames.values()))
        if step is not None:
            return {k: v for k, v in out.items() if v is not None}
        subjects = sorted({subject for subject, _ in frames})
        if len(subjects) > 1:  # ns-eval: each unseen person's figures too (pooled figures can hide one failure)
            out["per_subject"] = {}
            for subject in subjects:
                own = {key: views for key, views in frames.items() if key[0] == subject}
                images = [m for views in own.values() for m in views.image_metrics]
                out["per_subject"][subject] = aggregate_image_metrics(images, per_frame=self.get_frame_3d_metrics(own))
                out["per_subject"][subject].update(cse_consistency(own.values()))
        return out

    def get_per_image_metrics(self, output_path: Optional[Path] = None) -> List[Dict[str, float]]:
        """Metrics of every eval image (and, with ``output_path``, their comparison images written as PNGs)."""
        return self._evaluate_images(output_path)[0]

    def _evaluate_images(
        self, output_path: Optional[Path]
    ) -> Tuple[List[Dict[str, float]], Dict[Tuple[str, int], FrameViews]]:
        self.eval()
        results: List[Dict[str, float]] = []
        frames: Dict[Tuple[str, int], FrameViews] = {}
        loader = self.datamanager.fixed_indices_eval_dataloader
        index = self.datamanager.eval_targets
        if output_path is not None:
            output_path.mkdir(parents=True, exist_ok=True)
        with Progress(
            TextColumn("Evaluating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
        ) as bar:
            task = bar.add_task("eval", total=len(loader))
            for idx, (camera, batch) in enumerate(loader):
                start = time()
                outputs = self.model.get_outputs_for_camera(camera=camera)
                metrics, images = self.model.get_image_metrics_and_images(outputs, batch)
                metrics["fps"] = 1.0 / max(time() - start, 1e-9)
                if output_path is not None:
                    for key, image in images.items():
                        save_image(image.permute(2, 0, 1).cpu(), output_path / f"eval_{key}_{idx:04d}.png")
                results.append(metrics)
                # Collect this view's predicted 2D keypoints (for the frame's triangulated 3D estimate) and its own 3D
                # estimates, each made from the view's source views only.
                row = int(batch["image_idx"])
                key = (index.subjects[int(index.subject_idx[row])], int(index.frame[row]))
                views = frames.setdefault(key, FrameViews(subject=key[0], frame=key[1]))
                K, w2c = cameras_to_opencv(camera)
                # The model's 2D keypoints of this view (its left/right rule; dataset cameras always carry them).
                views.image_metrics.append(metrics)
                views.keypoints_2d.append(outputs["keypoints_2d"][:, :3].cpu())
                views.K.append(K.reshape(3, 3).float().cpu())
                views.w2c.append(w2c.reshape(4, 4).float().cpu())
                for kind, estimate in self._view_estimates(camera, key).items():
                    views.estimates.setdefault(kind, []).append(estimate)
                if "cse" in outputs:  # for the frame's cross-view CSE consistency
                    from ghnerf_ns.eval.cse_consistency import RenderedCSEView

                    views.cse_views.append(RenderedCSEView(
                        outputs["cse"].cpu(), outputs["depth"].cpu(), outputs["accumulation"].cpu(),
                        K.reshape(3, 3).float().cpu(), w2c.reshape(4, 4).float().cpu(),
                    ))  # fmt: skip
                if "joints3d" in batch:
                    views.joints3d = batch["joints3d"].cpu()
                bar.advance(task)
        self.train()
        return results, frames

    @torch.no_grad()
    def _view_estimates(self, camera, key: Tuple[str, int]) -> Dict[str, Tuple[Tensor, Tensor]]:
        """The model's 3D estimates of one eval view (:func:`~ghnerf_ns.keypoints.view_keypoints.view_estimates_3d`);
        a view whose sources cannot give them (one input camera left) has every joint missing, with a warning."""
        from ghnerf_ns.keypoints.view_keypoints import view_estimates_3d

        view = self.model.prepare_view(camera)
        try:
            return view_estimates_3d(self.model, view)
        except KeypointQueryError as err:
            CONSOLE.print(f"[bold yellow]Warning: no 3D keypoints for {key[0]} frame {key[1]}: {err}")
            return {kind: no_keypoints(25, self.model.device) for kind in ("volumetric", "source-views")}

    @torch.no_grad()
    def get_frame_3d_metrics(self, frames: Dict[Tuple[str, int], FrameViews]) -> List[Dict[str, float]]:
        """MPJPE sums/counts of each eval (subject, frame) against its 3D ground truth (:meth:`frame_ground_truth`);
        frames without any ground-truth joint are skipped."""
        out: List[Dict[str, float]] = []
        for (subject, frame), views in sorted(frames.items()):
            gt = self.frame_ground_truth(views)
            if bool((gt[:, 3] > 0).any()):
                out.append(frame_mpjpe_metrics(views, gt, self.model.config.keypoints_3d))
        return out

    def frame_ground_truth(self, views: FrameViews) -> Tensor:
        """A frame's 3D ground truth (25, 4): the synthetic ``joints3d``, else the DLT of the annotated 2D keypoints of
        all its input and test cameras (undistorted)."""
        if views.joints3d is not None:
            return views.joints3d
        all_cameras = [*self.datamanager.source_pools().values(), self.datamanager.eval_targets]
        return annotated_joints3d(all_cameras, views.subject, views.frame)


def cse_consistency(frames: Iterable[FrameViews]) -> Dict[str, float]:
    """``cse_cross_view_mse`` (:mod:`ghnerf_ns.eval.cse_consistency`) pooled over the co-visible pixels of every
    frame's rendered views, with its pixel count; empty without a CSE head or co-visible pixels."""
    from ghnerf_ns.eval.cse_consistency import cross_view_cse_sums

    total, count = 0.0, 0
    for views in frames:
        frame_total, frame_count = cross_view_cse_sums(views.cse_views)
        total, count = total + frame_total, count + frame_count
    return {"cse_cross_view_mse": total / count, "cse_cross_view_pixels": float(count)} if count else {}


def aggregate_image_metrics(
    per_image: List[Dict[str, float]], get_std: bool = False, per_frame: Optional[List[Dict[str, float]]] = None
) -> Dict[str, Optional[float]]:
    """Mean (and std) of each metric over the images where it is defined; pooled PCK; counts of images used.

    ``per_frame`` holds :func:`~ghnerf_ns.keypoints.keypoints3d.frame_mpjpe_metrics` of each eval frame: MPJPE is pooled
    over all compared joints of all frames (like PCK), with the joint, missing-joint and frame counts reported beside
    it; it is None when no joint could be compared (JSON ``null``, never NaN).
    """
    if not per_image:
        raise ValueError("no eval images: check the eval split (test subjects, eval frames, test cameras)")
    keys = sorted({k for m in per_image for k in m})
    out: Dict[str, Optional[float]] = {}
    pooled = ("pck", "pck_channels")
    for key in keys:
        if key in [f"{name}_{part}" for name in pooled for part in ("correct", "total")]:
            continue
        if key.endswith("_num_images_excluded"):  # counts: summed over the images
            out[key] = float(sum(m.get(key, 0.0) for m in per_image))
            continue
        values = torch.tensor([m[key] for m in per_image if key in m], dtype=torch.float64)
        values = values[torch.isfinite(values)]
        if len(values) == 0:
            continue
        out[key] = float(values.mean())
        if get_std:
            out[f"{key}_std"] = float(values.std()) if len(values) > 1 else 0.0
    for name in pooled:
        total = sum(m.get(f"{name}_total", 0.0) for m in per_image)
        if total > 0:
            out[name] = sum(m.get(f"{name}_correct", 0.0) for m in per_image) / total
            out[f"{name}_num_joints"] = total
    out["num_images"] = float(len(per_image))
    names = sorted({k[: -len("_num_joints")] for m in per_frame or [] for k in m if k.endswith("_num_joints")})
    for name in names:
        frames = [m for m in per_frame or [] if f"{name}_num_joints" in m]
        joints = sum(m[f"{name}_num_joints"] for m in frames)
        if frames:
            out[name] = sum(m[f"{name}_sum"] for m in frames) / joints if joints > 0 else None
            out[f"{name}_num_joints"] = joints
            out[f"{name}_num_missing"] = sum(m[f"{name}_num_missing"] for m in frames)
            out[f"{name}_num_frames"] = float(len(frames))
    return out
