"""GHNeRFPipeline: hands the model its SourceViewBank and keeps all differentiable work inside the model's forward.

nerfstudio's ``VanillaPipeline`` calls ``model(ray_bundle)``; a source-view model needs the target camera, the rays and
the source views instead. They are passed as arguments of the (possibly DDP-wrapped) model's ``forward``, never hidden
in ``Cameras.metadata``, so DDP sees every differentiable operation.
"""

from dataclasses import dataclass, field
from pathlib import Path
from time import time
from typing import Dict, List, Literal, Optional, Type, Union

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torchvision.utils import save_image
from nerfstudio.pipelines.base_pipeline import VanillaPipeline, VanillaPipelineConfig
from torch.amp import GradScaler

from ghnerf_ns.data.datamanager import GHNeRFDataManager, GHNeRFDataManagerConfig
from ghnerf_ns.data.source_bank import SourceViewBank
from ghnerf_ns.ghnerf_model import GHNeRFModel, GHNeRFModelConfig


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
        super().__init__(config, device, test_mode, world_size, local_rank, grad_scaler)
        dm = self.datamanager
        bank = SourceViewBank(dm.source_pools(), resolution=dm.config.resolution, cache_size=config.source_cache_size)
        self.model.attach_data(bank=bank, targets={0: dm.train_targets, 1: dm.eval_targets}, heatmap_sigma=dm.config.heatmap_sigma)

    def get_train_loss_dict(self, step: int):
        camera, batch = self.datamanager.next_train(step)
        outputs = self._model(batch.target, batch.sources, batch.pixels)  # the DDP forward
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
    ) -> Dict[str, float]:
        """Per-image metrics over the whole eval split, aggregated the way the paper reports them.

        nerfstudio averages every per-image value; here undefined values (NaN, e.g. no valid joint in a view) are
        left out of the mean, and PCK is pooled over all counted joints (correct / total) rather than averaged per
        image, so a view with two visible joints does not weigh as much as one with twenty.
        """
        per_image = self.get_per_image_metrics(output_path=output_path)
        return aggregate_image_metrics(per_image, get_std=get_std)

    def get_per_image_metrics(self, output_path: Optional[Path] = None) -> List[Dict[str, float]]:
        """Metrics of every eval image (and, with ``output_path``, their comparison images written as PNGs)."""
        self.eval()
        results: List[Dict[str, float]] = []
        loader = self.datamanager.fixed_indices_eval_dataloader
        if output_path is not None:
            output_path.mkdir(parents=True, exist_ok=True)
        with Progress(TextColumn("Evaluating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True) as bar:
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
                bar.advance(task)
        self.train()
        return results


def aggregate_image_metrics(per_image: List[Dict[str, float]], get_std: bool = False) -> Dict[str, float]:
    """Mean (and std) of each metric over the images where it is defined; pooled PCK; counts of images used."""
    if not per_image:
        raise ValueError("no eval images: check the eval split (test subjects, eval frames, test cameras)")
    keys = sorted({k for m in per_image for k in m})
    out: Dict[str, float] = {}
    for key in keys:
        if key in ("pck_correct", "pck_total"):
            continue
        values = torch.tensor([m[key] for m in per_image if key in m], dtype=torch.float64)
        values = values[torch.isfinite(values)]
        if len(values) == 0:
            continue
        out[key] = float(values.mean())
        if get_std:
            out[f"{key}_std"] = float(values.std()) if len(values) > 1 else 0.0
    total = sum(m.get("pck_total", 0.0) for m in per_image)
    if total > 0:
        out["pck"] = sum(m.get("pck_correct", 0.0) for m in per_image) / total
        out["pck_num_joints"] = total
    out["num_images"] = float(len(per_image))
    return out
