"""GHNeRF training losses (paper eq. 6 / supplement eq. S1) and their weights.

``l = l_col + lambda_p l_perc + lambda_h l_heat (+ lambda_cse l_cse) (+ lambda_c l_coord)``. The colour term
is applied per cascade level with ENeRF's level weights, which belong to the network config; this module
holds the per-term functions, the term weights, and ENeRF's VGG16 perceptual loss.

Missing supervision is masked out, never treated as zeros: joints without a valid 2D keypoint are
excluded from the heatmap MSE and rays without a body (NaN CSE target) from the CSE MSE. A term with no
valid element returns a zero that is still connected to the prediction (so DDP and the optimizer see
the same graph every step).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from nerfstudio.configs.base_config import PrintableConfig
from torch import Tensor, nn

from ghnerf_ns.runtime.weights import (
    VGG16_URL,
    PretrainedWeightsUnavailable,
    load_into,
    obtain_pretrained_file,
    read_state_dict,
    resolve_weights_path,
)

_CLI_PREFIX = "--pipeline.model.loss"
"""Where this config sits on the ns-train command line (used in error messages)."""


@dataclass
class GHNeRFLossConfig(PrintableConfig):
    """Weights of the GHNeRF loss terms (the colour level weights are part of the network config)."""

    perceptual_weight: float = 0.01
    """lambda_p: weight of the VGG16 perceptual loss on image patches (0 disables it and its VGG weights)."""
    heatmap_weight: float = 0.5
    """lambda_h: weight of the joint-heatmap MSE (valid joints only)."""
    cse_weight: float = 1.0
    """Weight of the dense-pose CSE embedding MSE (rays with a CSE target only); used with a CSE head."""
    coord_weight: float = 0.01
    """lambda_c: weight of the coordinate-branch MSE (supplement 2.1: 0.01 or 0.05); used with a g_co branch."""
    source_heatmap_weight: float = 10.0
    """Weight of the source-view heatmap MSE (every cell of each source view's 2D heatmaps against that view's own
    keypoints); used with --pipeline.model.human-encoder.heatmap-head."""
    volume_heat_weight: float = 1.0
    """Weight of the volumetric heat MSE at random points of the box (used with
    --pipeline.datamanager.volume-heat-points > 0; see ghnerf_ns/model/volume_heat.py)."""
    mask_weight: float = 0.0
    """Weight of an opacity loss: MSE between each ray's accumulation and the person's (dilated) mask, per cascade level
    with the colour level weights. Not in the paper or ENeRF (0 there); without it a masked-background model may fill
    the whole box with density, since black source pixels blend to black at any depth. Images without a mask file are
    left out."""
    vgg_weights_path: Optional[Path] = None
    """Local torchvision VGG16 ImageNet weights file (vgg16-397923af.pth) for the perceptual loss, instead of the torch
    hub cache or a download."""
    allow_download: bool = True
    """Try to download the VGG16 weights into the torch hub cache when they are not there."""

    def make_perceptual_loss(self) -> Optional["PerceptualLoss"]:
        """The perceptual loss module, or None when its weight is 0 (then no VGG weights are needed)."""
        if self.perceptual_weight == 0:
            return None
        return PerceptualLoss(weights_path=self.vgg_weights_path, allow_download=self.allow_download)


def rgb_loss(pred: Float[Tensor, "*bs 3"], gt: Float[Tensor, "*bs 3"]) -> Float[Tensor, ""]:
    """Photometric MSE (l_col of one cascade level)."""
    return F.mse_loss(pred, gt)


def heatmap_loss(
    pred: Float[Tensor, "num_rays num_joints"],
    gt: Float[Tensor, "num_rays num_joints"],
    valid: Union[Bool[Tensor, "num_rays num_joints"], Bool[Tensor, "num_joints"]],
) -> Float[Tensor, ""]:
    """Heatmap MSE over valid (ray, joint) entries only; 0 (with grad) when no joint is valid.

    ``valid`` is per ray and joint, or per joint (broadcast over rays, e.g. one target image per batch).
    """
    mask = valid.expand_as(pred)
    return _masked_mse(pred, gt, mask)


def mask_loss(accumulation: Float[Tensor, "num_rays 1"], mask: Float[Tensor, "num_rays 1"]) -> Float[Tensor, ""]:
    """Opacity MSE: accumulation against the 0/1 mask of the person."""
    return F.mse_loss(accumulation, mask)


def cse_loss(pred: Float[Tensor, "num_rays dim"], gt: Float[Tensor, "num_rays dim"]) -> Float[Tensor, ""]:
    """CSE embedding MSE over finite targets only (NaN marks rays without a body); 0 (with grad) if none."""
    return _masked_mse(pred, gt, torch.isfinite(gt))


def _masked_mse(pred: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
    """Mean of (pred - gt)^2 over ``mask``; exactly 0 with a zero gradient where masked out."""
    # Masked targets are replaced by the (detached) prediction rather than multiplied by 0: a NaN/inf target
    # would otherwise give NaN * 0 = NaN in the loss or its gradient.
    safe_gt = torch.where(mask, gt, pred.detach())
    return ((pred - safe_gt) ** 2).sum() / mask.sum().clamp(min=1)


def coord_loss(pred_xyz: Float[Tensor, "*bs 3"], xyz: Float[Tensor, "*bs 3"]) -> Float[Tensor, ""]:
    """Coordinate-branch MSE between regressed and input 3D points (supplement 2.1).

    The input points are the target, so no gradient flows into them.
    """
    return F.mse_loss(pred_xyz, xyz.detach())


class PerceptualWeightsUnavailable(PretrainedWeightsUnavailable):
    """The VGG16 weights of the perceptual loss are neither in a local file, nor cached, nor downloadable."""


class PerceptualLoss(nn.Module):
    """ENeRF's VGG perceptual loss: sum over VGG16 blocks features[:4], [4:9], [9:16], [16:23] of the L1
    distance of their activations, on ImageNet-normalised inputs, without resizing (ENeRF ``VGGPerceptualLoss``).

    The VGG is frozen (eval mode, no parameter gradients); gradients flow to the predicted patches.

    Args:
        weights_path: local torchvision VGG16 weights file; default: the torch hub cache, else a download.
        allow_download: try the download when the weights are not cached.
        state_dict: VGG16 ``features`` weights to use directly (tests, or weights already in memory);
            keys as in ``torchvision.models.vgg16().features`` (e.g. ``0.weight``) or prefixed ``features.``.
    """

    BLOCK_ENDS = (4, 9, 16, 23)
    """Exclusive end indices of the four blocks of ``vgg16().features`` (relu1_2, relu2_2, relu3_3, relu4_3)."""

    def __init__(
        self,
        weights_path: Optional[Path] = None,
        allow_download: bool = True,
        state_dict: Optional[Dict[str, Tensor]] = None,
    ) -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        # Only vgg16().features is needed: building it alone skips the 120M-parameter classifier's init.
        features = make_layers(cfgs["D"], batch_norm=False)[: self.BLOCK_ENDS[-1]]
        if state_dict is None:
            path = resolve_weights_path(weights_path)
            if path is None:
                path = self._cached_or_downloaded(allow_download)
            state_dict = read_state_dict(path)
            source = str(path)
        else:
            source = "the given state dict"
        state_dict = {(k[len("features.") :] if k.startswith("features.") else k): v for k, v in state_dict.items()}
        # The rest of vgg16 (features 23-30, classifier) is in the torchvision file but not built.
        unused = tuple(f"{i}." for i in range(self.BLOCK_ENDS[-1], 31)) + ("classifier.",)
        load_into(features, state_dict, source=source, unused_prefixes=unused)
        starts = (0,) + self.BLOCK_ENDS[:-1]
        self.blocks = nn.ModuleList([features[s:e] for s, e in zip(starts, self.BLOCK_ENDS)])
        self.blocks.requires_grad_(False)
        self.blocks.eval()
        self.register_buffer("_mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    @staticmethod
    def _cached_or_downloaded(allow_download: bool) -> Path:
        try:
            return obtain_pretrained_file(
                VGG16_URL,
                what="the perceptual loss (torchvision VGG16, ImageNet)",
                ways_forward=[
                    "copy vgg16-397923af.pth into $TORCH_HOME/hub/checkpoints (the folder named above), "
                    f"or give it with {_CLI_PREFIX}.vgg-weights-path FILE;",
                    f"or turn the perceptual loss off: {_CLI_PREFIX}.perceptual-weight 0.",
                ],
                allow_download=allow_download,
            )
        except PretrainedWeightsUnavailable as err:
            raise PerceptualWeightsUnavailable(str(err)) from None

    def train(self, mode: bool = True) -> "PerceptualLoss":
        super().train(mode)
        self.blocks.eval()  # a loss network never changes mode
        return self

    def forward(
        self, pred: Float[Tensor, "num_patches 3 h w"], gt: Float[Tensor, "num_patches 3 h w"]
    ) -> Float[Tensor, ""]:
        """Perceptual loss between predicted and ground-truth patches in [0, 1]."""
        # ENeRF parity: patches go in at their own size (ENeRF's VGGPerceptualLoss runs with resize off, not
        # at 224x224); pinned by test_perceptual_loss_matches_reference.
        x = (pred - self._mean) / self._std
        y = (gt - self._mean) / self._std
        losses: List[Tensor] = []
        for block in self.blocks:
            x = block(x)
            with torch.no_grad():
                y = block(y)
            losses.append(F.l1_loss(x, y))
        return torch.stack(losses).sum()
