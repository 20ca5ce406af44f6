"""GHNeRF's per-sample field: view pooling, the intermediate NeRF feature and the output heads (paper eq. 3,
supplement 1.2 and S1).

    V_nerf = g_nerf(f_img, f_voxel)          f_img = psi(image features, source colours, ray differences)
    sigma  = g_sigma(V_nerf)                 Linear + Softplus
    c      = g_c(V_nerf, d)  or  softmax blend of source colours ("blend", ENeRF)
    h      = g_h(V_nerf, f_h)                f_h = psi_h(human features); 25 joint heatmap values in (0, 1)
    cse    = g_cse(V_nerf, f_h)              optional dense-pose embedding
    x_hat  = g_co(V_nerf)                    optional coordinate branch (supplement S1)

The supplement says ``g_sigma`` is "a single linear layer followed by a softmax layer"; a softmax over one channel is
the constant 1, so this is read as Softplus, which is what ENeRF (the code GHNeRF builds on) uses.
"""

import math
from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from ghnerf_ns.model.cost_regularizer import VOXEL_FEATURE_CHANNELS
from ghnerf_ns.model.projection import ProjectedSamples
from ghnerf_ns.model.psi_pooling import ViewPooling, kaiming_init
from ghnerf_ns.model.source_heatmaps import keypoint_evidence

ColorMode = Literal["blend", "regress"]


@dataclass
class FieldOutputs:
    """Per-sample outputs of :class:`GHNeRFField`."""

    density: Float[Tensor, "num_rays num_samples 1"]
    """Non-negative density (Softplus), used as ENeRF's alpha = 1 - exp(-density) without interval lengths."""
    rgb: Float[Tensor, "num_rays num_samples 3"]
    """Colour in [0, 1]."""
    nerf_feature: Float[Tensor, "num_rays num_samples F"]
    """``V_nerf`` (exposed for probing, e.g. 3D keypoint queries)."""
    view_weights: Float[Tensor, "num_rays num_samples num_views"]
    """psi's pooling weights of the image features."""
    color_weights: Optional[Float[Tensor, "num_rays num_samples num_views"]] = None
    """Blending weights over the source colours ("blend" colour mode only)."""
    heatmaps: Optional[Float[Tensor, "num_rays num_samples J"]] = None
    """Joint heatmap values in (0, 1) (heads enabled only)."""
    cse: Optional[Float[Tensor, "num_rays num_samples D"]] = None
    """Dense-pose embedding (CSE head enabled only)."""
    coords: Optional[Float[Tensor, "num_rays num_samples 3"]] = None
    """Regressed sample position, box-normalised (coordinate branch enabled only)."""


def _mlp(in_dim: int, hidden_dim: int, out_dim: int, out_act: Optional[nn.Module]) -> nn.Sequential:
    layers = [nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim)]
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


def mlp_on_parts(mlp: nn.Sequential, parts: Sequence[Tensor]) -> Tensor:
    """``mlp(torch.cat(parts, dim=-1))`` without building the concatenation: the first Linear is the sum of each part's
    product with its block of columns. The heads read V_nerf beside the pooled human features, the keypoint evidence
    and the joint code; on CPU copying them into one tensor per sample cost as much as the Linear itself."""
    first: nn.Linear = mlp[0]  # type: ignore[assignment]
    out: Optional[Tensor] = None
    start = 0
    for part in parts:
        width = part.shape[-1]
        weight = first.weight[:, start : start + width]
        # In place on a fresh product: a Linear's backward needs only its inputs.
        out = F.linear(part, weight, first.bias) if out is None else out.add_(F.linear(part, weight))
        start += width
    if out is None or start != first.in_features:
        raise ValueError(f"the parts have {start} channels in all, the head reads {first.in_features}")
    for layer in list(mlp)[1:]:
        out = layer(out)
    return out


HEAD_OUTPUT_INIT_STD = 0.01
"""Std of the heads' last-layer weights: the outputs start at their bias, nearly independent of the input."""


def init_head_outputs(g_h: nn.Sequential, g_cse: Optional[nn.Sequential], heatmap_prior: float) -> None:
    """Start the heads at their targets' typical value, as detection/pose heads do (RetinaNet's prior bias).

    With zero biases, ``g_h`` starts at sigmoid(0) = 0.5 at every sample while almost every target is ~0: the cheapest
    way to lower the heatmap loss is then to lower the *density* (the composited heatmap is ``sum w_i h_i``), which
    drains the person's opacity (accumulation 0.995 -> 0.55 in 100 steps). Starting ``g_h`` at ``heatmap_prior``
    and the CSE head at 0 (the targets' mean) keeps the first gradients on the heads.
    """
    if not 0.0 < heatmap_prior < 1.0:
        raise ValueError(f"heatmap_prior must be in (0, 1), got {heatmap_prior}")
    last = g_h[-2]  # Linear before the Sigmoid
    nn.init.normal_(last.weight, std=HEAD_OUTPUT_INIT_STD)
    nn.init.constant_(last.bias, math.log(heatmap_prior / (1.0 - heatmap_prior)))
    if g_cse is not None:
        nn.init.zeros_(g_cse[-1].weight)
        nn.init.zeros_(g_cse[-1].bias)


class GHNeRFField(nn.Module):
    """The field of one cascade level.

    Args:
        image_channels: channels of the pixel-aligned image feature (the colour is appended inside).
        color_mode: "blend" (ENeRF: softmax blending of the source colours) or "regress" (paper's ``g_c``).
        hidden_dim: width of ``V_nerf`` and of the MLPs (ENeRF ``hid_n`` = 64).
        pooled_dim: psi output size for the image features (ENeRF: 16).
        with_heads: build the human heads (heatmaps, optional CSE / coordinates); the coarse level has none.
        num_joints: heatmap channels (BODY_25: 25).
        human_channels: channels of the human-encoder features, 0 for none (then ``g_h(V_nerf)`` only: ENeRF+Heatmap).
        human_pooled_dim, human_hidden_dim: psi_h output size and hidden width.
        cse_dim: CSE embedding size, 0 disables the head.
        coord_branch: build ``g_co``.
        heatmap_prior: initial heatmap value of every sample (see :func:`init_head_outputs`).
        keypoint_evidence: the heads also read the source views' 2D heatmaps at the sample's projections (their mean
            and minimum over views, :func:`~ghnerf_ns.model.source_heatmaps.keypoint_evidence`).
        joint_code_dim: channels of the joint code the heads also read (the sample's position relative to the
            source-view 3D keypoints, :mod:`ghnerf_ns.model.joint_code`); 0 = none.
        detach_cse_geometry: the CSE head reads ``V_nerf`` detached, so its loss (at first ~100x the colour loss: an
            embedding's variance against a colour error) never reshapes the density's features.
        detach_cse_inputs: the CSE head reads all of its inputs detached (``V_nerf``, the pooled human features, the
            keypoint evidence and the joint code), so its loss trains ``g_cse`` alone and leaves the features the
            heatmap head shares (psi_h and, upstream, the human encoder) to the heatmap loss; implies
            ``detach_cse_geometry``.
    """

    def __init__(
        self,
        image_channels: int,
        color_mode: ColorMode = "blend",
        hidden_dim: int = 64,
        pooled_dim: int = 16,
        with_heads: bool = False,
        num_joints: int = 25,
        human_channels: int = 0,
        human_pooled_dim: int = 32,
        human_hidden_dim: int = 16,
        cse_dim: int = 0,
        coord_branch: bool = False,
        heatmap_prior: float = 0.01,
        keypoint_evidence: bool = False,
        joint_code_dim: int = 0,
        detach_cse_geometry: bool = False,
        detach_cse_inputs: bool = False,
    ) -> None:
        super().__init__()
        if color_mode not in ("blend", "regress"):
            raise ValueError(f"color_mode must be 'blend' or 'regress', got {color_mode!r}")
        self.color_mode = color_mode
        per_view = image_channels + 3  # feature + source colour, as ENeRF's img_feat_rgb
        self.psi = ViewPooling(per_view, hidden_dim=32, out_dim=pooled_dim)
        nerf_in = VOXEL_FEATURE_CHANNELS + pooled_dim
        # Supplement 1.2: g_nerf has two fully connected layers (ENeRF's lr0 had one).
        self.g_nerf = nn.Sequential(
            nn.Linear(nerf_in, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim), nn.ReLU()
        )
        self.g_sigma = nn.Sequential(nn.Linear(hidden_dim, 1), nn.Softplus())
        if color_mode == "blend":
            # ENeRF parity (nerf.py: NeRF.color): per-view score from [V_nerf, f_voxel, f_img, feature, rgb, ray_diff].
            self.g_c = nn.Sequential(
                nn.Linear(hidden_dim + nerf_in + per_view + 4, hidden_dim),
                nn.ReLU(),
                nn.Linear(hidden_dim, 1),
                nn.ReLU(),
            )
        else:
            self.g_c = _mlp(hidden_dim + 3, hidden_dim, 3, nn.Sigmoid())

        self.with_heads = with_heads
        self.detach_cse_geometry = detach_cse_geometry
        self.detach_cse_inputs = detach_cse_inputs
        self.uses_keypoint_evidence = False
        self.joint_code_dim = 0
        self.psi_h: Optional[ViewPooling] = None
        self.g_h: Optional[nn.Module] = None
        self.g_cse: Optional[nn.Module] = None
        self.g_co: Optional[nn.Module] = None
        if with_heads:
            head_in = hidden_dim
            if human_channels > 0:
                self.psi_h = ViewPooling(human_channels, hidden_dim=human_hidden_dim, out_dim=human_pooled_dim)
                head_in += human_pooled_dim
            self.uses_keypoint_evidence = keypoint_evidence
            if keypoint_evidence:
                head_in += 2 * num_joints
            self.joint_code_dim = joint_code_dim
            head_in += joint_code_dim
            self.g_h = _mlp(head_in, hidden_dim, num_joints, nn.Sigmoid())
            if cse_dim > 0:
                self.g_cse = _mlp(head_in, hidden_dim, cse_dim, None)
            if coord_branch:
                # Supplement S1 describes "a linear layer followed by a ReLU"; a ReLU output cannot reach negative
                # coordinates, so the regression ends with a plain linear layer.
                self.g_co = _mlp(hidden_dim, hidden_dim, 3, None)
        kaiming_init(self)
        if with_heads:
            init_head_outputs(self.g_h, self.g_cse, heatmap_prior)

    def forward(
        self,
        voxel_features: Float[Tensor, "num_rays num_samples 8"],
        projected: ProjectedSamples,
        view_dirs: Float[Tensor, "num_rays 3"],
        joint_code: Optional[Float[Tensor, "num_rays num_samples code"]] = None,
    ) -> FieldOutputs:
        """Evaluate the field.

        Args:
            voxel_features: ``f_voxel`` of each sample (trilinear lookup in the level's feature volume).
            projected: per-view data of each sample (see :func:`ghnerf_ns.model.projection.project_samples`).
            view_dirs: unit world direction of each target ray ("regress" colour input).
            joint_code: each sample's joint code (heads built with ``joint_code_dim > 0`` only).
        """
        per_view = torch.cat([projected.features, projected.rgb], dim=-1)
        pooled = self.psi(per_view, projected.ray_diff)
        vox_img = torch.cat([voxel_features, pooled.pooled], dim=-1)
        v_nerf = self.g_nerf(vox_img)
        density = self.g_sigma(v_nerf)

        color_weights = None
        if self.color_mode == "blend":
            context = torch.cat([v_nerf, vox_img], dim=-1)[..., None, :].expand(*per_view.shape[:-1], -1)
            scores = self.g_c(torch.cat([context, per_view, projected.ray_diff], dim=-1))
            color_weights = torch.softmax(scores, dim=-2)  # over views
            rgb = (color_weights * projected.rgb).sum(dim=-2)
            color_weights = color_weights[..., 0]
        else:
            dirs = view_dirs[:, None, :].expand(*v_nerf.shape[:-1], 3)
            rgb = self.g_c(torch.cat([v_nerf, dirs], dim=-1))

        out = FieldOutputs(
            density=density, rgb=rgb, nerf_feature=v_nerf, view_weights=pooled.view_weights, color_weights=color_weights
        )
        if not self.with_heads:
            return out
        head_parts = [v_nerf]
        if self.psi_h is not None:
            if projected.human is None:
                raise ValueError(
                    "this network was built with human_feature_channels > 0 but no human features were given to "
                    "encode(); pass the human encoder's output or set human_feature_channels=0"
                )
            head_parts.append(self.psi_h(projected.human, projected.ray_diff).pooled)
        if self.uses_keypoint_evidence:
            if projected.keypoint_heat is None:
                raise ValueError(
                    "this field reads the source views' 2D heatmaps (keypoint_evidence) but none were projected"
                )
            head_parts.append(keypoint_evidence(projected.keypoint_heat))
        if self.joint_code_dim:
            if joint_code is None or joint_code.shape[-1] != self.joint_code_dim:
                got = None if joint_code is None else joint_code.shape[-1]
                raise ValueError(f"this field's heads read a {self.joint_code_dim}-channel joint code, got {got}")
            head_parts.append(joint_code)
        assert self.g_h is not None
        out.heatmaps = mlp_on_parts(self.g_h, head_parts)
        if self.g_cse is not None:
            cse_parts = head_parts
            if self.detach_cse_inputs:
                cse_parts = [part.detach() for part in head_parts]
            elif self.detach_cse_geometry:
                cse_parts = [v_nerf.detach(), *head_parts[1:]]
            out.cse = mlp_on_parts(self.g_cse, cse_parts)
        if self.g_co is not None:
            out.coords = self.g_co(v_nerf)
        return out
