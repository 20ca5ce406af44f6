"""Source-view heatmaps: a 2D pose head on each source view's human features, and the keypoint evidence it gives g_h.

Not in the paper. GHNeRF's human encoder is pretrained (DINO, ImageNet ResNet) and learns about people only through
the rendered heatmaps of the target view: a few rays per joint per step, composited through the density. A 2D pose
estimator sees every pixel of every heatmap of every image. This head makes the human encoder one: it predicts the
BODY_25 heatmaps of each *source* view from its human features and is trained with that view's own 2D keypoints (the
same annotations the target heatmaps come from; at test time nothing but the images is needed). Its maps are then read
at every 3D sample's projection in each source view, and ``g_h`` receives their mean and minimum over the views
(:func:`keypoint_evidence`): a joint's heat is high where every view's 2D estimate agrees, which is where the rays
through the joint meet, so the heat field peaks at the joint in 3D and not only on the surface in front of it.

Maps follow the human encoders' cell convention (:mod:`ghnerf_ns.model.human_encoders`): cell ``(i, j)`` of a map at
stride ``s`` holds the pixel ``(s * j + (s - 1) / 2, s * i + (s - 1) / 2)`` (OpenCV pixel centres), which is also
how :func:`~ghnerf_ns.model.projection.sample_source_maps` reads them (``convention="cells"``).
"""

import math
from typing import Optional, Sequence, Tuple

import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn

from ghnerf_ns.keypoints.heatmap_targets import joint_validity


class SourceHeatmapHead(nn.Module):
    """Per-view 2D heatmaps from human-encoder features: 1x1 conv, 3x3 conv, 1x1 conv to ``num_joints``, sigmoid.

    The output bias starts at ``logit(prior)`` with small last-layer weights (as ``g_h``, see
    :func:`ghnerf_ns.model.field.init_head_outputs`): every cell starts near the targets' typical value.

    ``bound`` B > 0 keeps the logits of the ``bounded_joints`` (all joints when None) within ``logit(prior) +- B``
    (``logit(prior) + B tanh((z - logit(prior)) / B)``, the identity near the start): with ``prior_logits`` added, the
    head can then move a prior's peak by at most B, so a confident prior peak (above 2B) stays the map's maximum
    whatever the head's features say. Joints without a prior should stay unbounded: a saturated tanh passes no
    gradient, and a joint pushed to the bound everywhere early in training stays there.
    """

    def __init__(
        self,
        in_channels: int,
        num_joints: int,
        hidden_dim: int = 64,
        prior: float = 0.01,
        bound: float = 0.0,
        bounded_joints: Optional[Sequence[int]] = None,
    ) -> None:
        super().__init__()
        if not 0.0 < prior < 1.0:
            raise ValueError(f"source heatmap prior must be in (0, 1), got {prior}")
        if bound < 0.0:
            raise ValueError(f"source heatmap logit bound must be 0 (none) or positive, got {bound}")
        self.base_logit = math.log(prior / (1.0 - prior))
        self.bound = bound
        bounded = torch.ones(num_joints, dtype=torch.bool)
        if bounded_joints is not None:
            bounded = torch.zeros(num_joints, dtype=torch.bool)
            bounded[list(bounded_joints)] = True
        self.register_buffer("_bounded", bounded[:, None, None], persistent=False)
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, hidden_dim, kernel_size=1),
            nn.ReLU(),
            nn.Conv2d(hidden_dim, hidden_dim, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden_dim, num_joints, kernel_size=1),
        )
        last = self.layers[-1]
        nn.init.normal_(last.weight, std=0.01)
        nn.init.constant_(last.bias, self.base_logit)

    def forward(
        self,
        features: Float[Tensor, "num_views C h w"],
        prior_logits: Optional[Float[Tensor, "num_views J h w"]] = None,
    ) -> Float[Tensor, "num_views J h w"]:
        """Heatmaps in (0, 1) at the features' cells; ``prior_logits`` are added before the sigmoid (the head then
        learns a correction to them)."""
        logits = self.layers(features)
        if self.bound > 0.0:
            squashed = self.base_logit + self.bound * torch.tanh((logits - self.base_logit) / self.bound)
            logits = torch.where(self._bounded, squashed, logits)
        return torch.sigmoid(logits if prior_logits is None else logits + prior_logits)


def cell_heatmap_targets(
    keypoints: Float[Tensor, "num_views num_joints 3"],
    map_hw: Tuple[int, int],
    stride: int,
    sigma: float,
    image_hw: Tuple[int, int],
) -> Tuple[Float[Tensor, "num_views num_joints h w"], Bool[Tensor, "num_views num_joints"]]:
    """Ground-truth Gaussians at the cell centres of a stride-``stride`` map, and which joints are valid per view.

    Args:
        keypoints: ``(x, y, confidence)`` per view and joint in working-resolution pixels of each view.
        map_hw: ``(h, w)`` of the map; its cells tile the padded image from the top-left pixel.
        stride: input pixels per cell.
        sigma: Gaussian standard deviation in pixels (the target heatmaps' sigma).
        image_hw: ``(H, W)`` of the source canvas (the validity margin of :func:`joint_validity`).

    Returns:
        ``(targets [V, J, h, w] in [0, 1], valid [V, J])``; invalid joints are all zero (mask them out).
    """
    h, w = map_hw
    valid = torch.stack([joint_validity(kp, image_hw[0], image_hw[1], sigma) for kp in keypoints])
    dtype, device = keypoints.dtype, keypoints.device
    xs = torch.arange(w, dtype=dtype, device=device) * stride + (stride - 1) / 2.0
    ys = torch.arange(h, dtype=dtype, device=device) * stride + (stride - 1) / 2.0
    joints = torch.where(valid[..., None], keypoints[..., :2], torch.zeros_like(keypoints[..., :2]))
    gx = torch.exp(-((xs[None, None, :] - joints[..., 0:1]) ** 2) / (2.0 * sigma * sigma))  # (V, J, w)
    gy = torch.exp(-((ys[None, None, :] - joints[..., 1:2]) ** 2) / (2.0 * sigma * sigma))  # (V, J, h)
    targets = gy[..., :, None] * gx[..., None, :] * valid[..., None, None].to(dtype)
    return targets, valid


def source_heatmap_loss(
    pred: Float[Tensor, "num_views num_joints h w"],
    targets: Float[Tensor, "num_views num_joints h w"],
    valid: Bool[Tensor, "num_views num_joints"],
    mirror: Optional[Sequence[int]] = None,
) -> Float[Tensor, ""]:
    """MSE over the cells of the valid (view, joint) maps; 0 (with grad) when none is valid. ``mirror``: see
    :func:`pooled_heatmap_loss`."""
    return pooled_heatmap_loss([(pred, targets, valid)], mirror)


def pooled_heatmap_loss(
    groups: Sequence[Tuple[Tensor, Tensor, Tensor]],
    mirror: Optional[Sequence[int]] = None,
) -> Float[Tensor, ""]:
    """:func:`source_heatmap_loss` over several ``(pred, targets, valid)`` groups of view maps whose sizes differ (views
    on different canvases): every valid cell of every group counts once.

    ``mirror`` (each joint's left/right partner, itself for midline joints; e.g. ``BODY25_MIRROR``): the pairs are
    scored either-side. Per view and pair, the loss takes the cheaper of the two labellings (the channels against their
    own targets, or against each other's), so a head need not tell a person's left hip from the right one to put one
    sharp peak on each; without it, a head that cannot tell them apart learns the same blob over both in both channels,
    and two hips or eyes a few pixels apart become one peak (benchmarks/README.md, "Either-side pose head").
    """
    total, count = None, 0
    for pred, targets, valid in groups:
        sse = _masked_sse(pred, targets, valid)
        if mirror is not None:
            index = torch.as_tensor(list(mirror), device=pred.device)
            swapped = _masked_sse(pred, targets[:, index], valid[:, index])
            # Pair cost of each labelling, read at both members (midline joints: the two are equal, never swapped).
            use_swapped = swapped + swapped[:, index] < sse + sse[:, index]
            sse = torch.where(use_swapped, swapped, sse)
        total = sse.sum() if total is None else total + sse.sum()
        count = count + valid.sum() * pred.shape[-2] * pred.shape[-1]  # valid cells (a swap keeps a pair's count)
    if total is None:
        raise ValueError("pooled_heatmap_loss needs at least one group of maps")
    return total / torch.clamp(torch.as_tensor(count), min=1)


def _masked_sse(
    pred: Float[Tensor, "num_views num_joints h w"],
    targets: Float[Tensor, "num_views num_joints h w"],
    valid: Bool[Tensor, "num_views num_joints"],
) -> Float[Tensor, "num_views num_joints"]:
    """Summed squared error of each (view, joint) map against its target; 0 (with grad) where the target is invalid."""
    mask = valid[..., None, None].expand_as(pred)
    safe = torch.where(mask, targets, pred.detach())
    return ((pred - safe) ** 2).sum(dim=(-2, -1))


def either_side_evidence(
    maps: Float[Tensor, "num_views num_joints h w"], mirror: Sequence[int]
) -> Float[Tensor, "num_views num_joints h w"]:
    """Maps of a head trained either-side (:func:`pooled_heatmap_loss` with ``mirror``) as ``g_h`` reads them: each
    left/right pair's two channels replaced by their maximum (both limbs lit), since a channel's label says nothing
    about the person's side. Midline joints are unchanged."""
    index = torch.as_tensor(list(mirror), device=maps.device)
    return torch.maximum(maps, maps[:, index])


def keypoint_evidence(
    sampled: Float[Tensor, "*bs num_views num_joints"],
) -> Float[Tensor, "*bs two_num_joints"]:
    """``[mean over views, min over views]`` of each joint's source-view heat at a sample's projections.

    The minimum is high only where every view sees the joint: the 3D location of the joint, where the views' rays
    through it meet. The mean keeps a signal where one view is wrong or the joint is occluded in it.
    """
    return torch.cat([sampled.mean(dim=-2), sampled.amin(dim=-2)], dim=-1)
