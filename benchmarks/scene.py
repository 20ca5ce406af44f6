"""Synthetic benchmark scenes: random source images on the real 23-camera ZJU-MoCap rig (tests/fixtures/zju_rig), a
human-sized 3D box where ZJU's subjects stand, and models built from the method configs with random weights.

Content does not change the cost of a GHNeRF render (no early ray termination, fixed sample counts); the geometry
does (the projected box decides how many rays are rendered), so the rig and the box are the real ones.
"""

from dataclasses import replace
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

RIG_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "zju_rig"
RIG_SIZE = 1024
"""ZJU-MoCap images are 1024x1024; the rig's intrinsics are at that size."""
BOX_CENTER = (0.46, 0.30, -0.85)
"""Where ZJU-MoCap's subjects stand in the rig's world frame (metres; -z is up), see the rig's README."""
BOX_HALF_EXTENT = (0.35, 0.35, 0.9)
"""Half size of a standing person's bounding box (ENeRF: SMPL vertex bounds +- 5 cm)."""


def load_rig() -> Tuple[Tensor, Tensor]:
    """(K [23, 3, 3] at 1024 px, w2c [23, 4, 4]) of Camera_B1..B23."""
    import cv2

    intri = cv2.FileStorage(str(RIG_DIR / "intri.yml"), cv2.FILE_STORAGE_READ)
    extri = cv2.FileStorage(str(RIG_DIR / "extri.yml"), cv2.FILE_STORAGE_READ)
    Ks, w2cs = [], []
    for n in range(1, 24):
        name = f"Camera_B{n}"
        K = intri.getNode(f"K_{name}").mat()
        R = extri.getNode(f"Rot_{name}").mat()
        T = extri.getNode(f"T_{name}").mat()
        if K is None or R is None or T is None:
            raise FileNotFoundError(f"{RIG_DIR}: {name} is missing from intri.yml/extri.yml")
        w2c = np.eye(4)
        w2c[:3, :3], w2c[:3, 3] = R, T.reshape(3)
        Ks.append(K)
        w2cs.append(w2c)
    return torch.tensor(np.stack(Ks), dtype=torch.float32), torch.tensor(np.stack(w2cs), dtype=torch.float32)


def human_box(device: torch.device) -> Tensor:
    center, half = torch.tensor(BOX_CENTER), torch.tensor(BOX_HALF_EXTENT)
    return torch.stack([center - half, center + half]).to(device)


def nearest_cameras(w2c: Tensor, target: Tensor, count: int, exclude: int) -> List[int]:
    """Indices of the ``count`` rig cameras nearest to the target camera centre (ENeRF's rule), excluding
    ``exclude``."""
    centers = -(w2c[:, :3, :3].transpose(1, 2) @ w2c[:, :3, 3:])[..., 0]
    target_center = -(target[:3, :3].T @ target[:3, 3])
    order = torch.argsort(torch.linalg.norm(centers - target_center, dim=-1)).tolist()
    return [i for i in order if i != exclude][:count]


def make_sources(K: Tensor, w2c: Tensor, ids: List[int], resolution: int, frame: int, device: torch.device):
    """Random source views of frame ``frame`` (a distinct cache key per frame) at ``resolution`` px."""
    from ghnerf_ns.model.geometry import scale_intrinsics
    from ghnerf_ns.model.views import SourceViews

    generator = torch.Generator().manual_seed(frame)
    scale = resolution / RIG_SIZE
    idx = torch.tensor(ids)
    return SourceViews(
        images=torch.rand(len(ids), 3, resolution, resolution, generator=generator),
        K=scale_intrinsics(K[idx], scale, scale),
        w2c=w2c[idx],
        camera_ids=idx,
        subject=0,
        frame=frame,
    ).to(device)


def make_target(K: Tensor, w2c: Tensor, camera: int, resolution: int, device: torch.device):
    """Target view of rig camera ``camera`` at ``resolution`` px, bounded by the human box."""
    from ghnerf_ns.model.geometry import box_near_far, scale_intrinsics
    from ghnerf_ns.model.views import TargetView

    scale = resolution / RIG_SIZE
    box = human_box(device)
    target_w2c = w2c[camera].to(device)
    return TargetView(
        K=scale_intrinsics(K[camera], scale, scale).to(device),
        w2c=target_w2c,
        height=resolution,
        width=resolution,
        box=box,
        near_far=box_near_far(box, target_w2c),
    )


METHODS = {
    "enerf-heatmap": ("enerf-heatmap", None),
    "ghnerf-resnet18": ("ghnerf-resnet", "resnet18"),
    "ghnerf-resnet34": ("ghnerf-resnet", "resnet34"),
    "ghnerf": ("ghnerf", None),
}
"""Benchmark variant -> (method config name, human-encoder override)."""


def build_model(variant: str, device: torch.device, encode_cache_size: Optional[int] = None):
    """The GHNeRFModel of a method config (random weights: ``pretrained=False``), in eval mode on ``device``;
    ``encode_cache_size``: the model's encode-cache capacity (None: the config's)."""
    from nerfstudio.data.scene_box import SceneBox

    from ghnerf_ns import ghnerf_config

    method, encoder_name = METHODS[variant]
    specs = {
        "enerf-heatmap": ghnerf_config.enerf_heatmap_method,
        "ghnerf-resnet": ghnerf_config.ghnerf_resnet_method,
        "ghnerf": ghnerf_config.ghnerf_method,
    }
    model_config = specs[method].config.pipeline.model
    encoder = replace(model_config.human_encoder, pretrained=False)
    if encoder_name is not None:
        encoder = replace(encoder, name=encoder_name)
    model_config = replace(model_config, human_encoder=encoder)
    if encode_cache_size is not None:
        model_config = replace(model_config, encode_cache_size=encode_cache_size)
    model = model_config.setup(scene_box=SceneBox(aabb=torch.tensor([[-1.0] * 3, [1.0] * 3])), num_train_data=1)
    return model.to(device).eval()
