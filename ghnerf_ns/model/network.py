"""The GHNeRF cascade network (pure torch): feature pyramid -> coarse/fine plane-sweep volumes -> depth-guided
samples -> field -> compositing, with a split API so whole images are encoded once and rays are rendered in chunks:

* :meth:`GHNeRFNetwork.encode` -- per source image (feature pyramid; human features are passed in);
* :meth:`GHNeRFNetwork.build_volumes` -- per target camera (both cost volumes, 3D CNNs, depth/std maps);
* :meth:`GHNeRFNetwork.render_rays` -- per chunk of target pixels (sampling, projection, field, compositing).

:meth:`GHNeRFNetwork.forward` runs the three in sequence (the training path, so DDP sees all differentiable work).
Image sizes (sources and target) must be multiples of 32 (volumes at 1/8 and 1/2 with 2-3 stride-2 stages).
"""

from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple, Type

import torch
from jaxtyping import Float
from nerfstudio.configs.base_config import InstantiateConfig, PrintableConfig
from torch import Tensor, nn

from dataparsers.body25 import NUM_JOINTS
from ghnerf_ns.model.compositing import accumulation, composite, enerf_depth, expected_depth, weights_from_density
from ghnerf_ns.model.cost_regularizer import CostRegularizer, depth_regression
from ghnerf_ns.model.cost_volume import (
    build_cost_volume,
    coarse_depth_values,
    fine_depth_values,
    level_near_far,
    to_z_depth,
)
from ghnerf_ns.model.depth_sampler import sample_along_depth, sample_pixel_maps
from ghnerf_ns.model.feature_pyramid import PYRAMID_CHANNELS, FeatureNet, FeaturePyramid
from ghnerf_ns.model.field import GHNeRFField
from ghnerf_ns.model.geometry import pixel_directions, scale_intrinsics
from ghnerf_ns.model.joint_code import joint_code, joint_code_dim
from ghnerf_ns.model.projection import project_samples, sample_voxel_features
from ghnerf_ns.model.views import SourceViews, TargetView

SIZE_MULTIPLE = 32
"""Source and target images must have H and W divisible by this."""


@dataclass
class CascadeLevelConfig(PrintableConfig):
    """One level of the cascade (ENeRF's per-level ``cas_config`` entries, as named fields)."""

    num_planes: int = 32
    """Depth planes of the cost volume (must be divisible by 2**regularizer_scales)."""
    volume_scale: float = 1.0 / 8.0
    """Cost-volume resolution relative to the target image (ENeRF: 1/8 coarse, 1/2 fine)."""
    cost_feature_stride: int = 4
    """Pyramid stride (1, 2 or 4) of the source features warped into the cost volume (ENeRF: 4 coarse, 2 fine)."""
    render_feature_stride: int = 4
    """Pyramid stride of the pixel-aligned features fed to the field (ENeRF: 4 coarse, 1 fine)."""
    num_samples: int = 8
    """Samples per ray (GHNeRF supplement: 8 coarse, 4 fine)."""
    loss_weight: float = 0.1
    """Weight of this level's colour loss (ENeRF: 0.1 coarse, 1.0 fine); read by the model's loss code."""
    inverse_depth: bool = True
    """Space planes and samples uniformly in disparity (ENeRF ``depth_inv``: True coarse, False fine)."""
    regularizer_scales: int = 2
    """Stride-2 stages of the 3D CNN: 2 = ENeRF MinCostRegNet (coarse), 3 = CostRegNet (fine)."""


def _coarse_level() -> CascadeLevelConfig:
    return CascadeLevelConfig()


def _fine_level() -> CascadeLevelConfig:
    return CascadeLevelConfig(
        num_planes=8,
        volume_scale=0.5,
        cost_feature_stride=2,
        render_feature_stride=1,
        num_samples=4,
        loss_weight=1.0,
        inverse_depth=False,
        regularizer_scales=3,
    )


@dataclass
class GHNeRFNetworkConfig(InstantiateConfig):
    """The ENeRF-style cascade with GHNeRF's heads."""

    _target: Type = field(default_factory=lambda: GHNeRFNetwork)
    coarse: CascadeLevelConfig = field(default_factory=_coarse_level)
    """Coarse level: 32 planes at 1/8 resolution, 8 samples per ray, in disparity."""
    fine: CascadeLevelConfig = field(default_factory=_fine_level)
    """Fine level: 8 planes at 1/2 resolution around the coarse depth, 4 samples per ray, in depth."""
    color_mode: Literal["blend", "regress"] = "blend"
    """Colour: "blend" = ENeRF's softmax blending of source colours; "regress" = the paper's g_c(V_nerf, d)."""
    hidden_dim: int = 64
    """Width of V_nerf and of the field MLPs (ENeRF hid_n)."""
    human_feature_channels: int = 0
    """Channels of the human-encoder features given to encode(); 0 = no human encoder (the ENeRF+Heatmap baseline)."""
    human_projection_dim: int = 16
    """Learned 1x1 projection of the human features to this many channels, applied once per source image (cached with
    the encoding) before psi_h (ENeRF's per-view image features have 8-32 channels). 0 feeds the full-width features
    (384-512 channels) to psi_h at every sample, as the paper does: several times the field's time on CPU
    (benchmarks/README.md, "Timings quoted by the code")."""
    human_hidden_dim: int = 16
    """Width of psi_h's per-view hidden layer (its cost per sample and view grows with it)."""
    human_pooled_dim: int = 32
    """Size of the psi-pooled human feature f_h."""
    cse_dim: int = 0
    """Dense-pose CSE embedding size of the optional CSE head; 0 disables it."""
    coord_branch: bool = False
    """Add the coordinate-regression branch g_co (supplement S1) for the coordinate loss."""
    heatmap_prior: float = 0.01
    """Initial heatmap value of every sample: g_h's output bias starts at logit(heatmap_prior) (not at 0, i.e. 0.5
    everywhere, whose loss is cheapest lowered by draining the density); the CSE head starts at 0."""
    detach_head_weights: bool = False
    """Composite heatmaps and CSE with detached compositing weights: the forward pass is eq. 4 unchanged, but the head
    losses cannot change the compositing weights (which the colour loss owns); the CSE head also reads V_nerf
    detached."""
    detach_cse_inputs: bool = False
    """The CSE head reads all of its inputs detached (V_nerf, the pooled human features f_h, the keypoint evidence and
    the joint code), so the CSE loss trains only the CSE head's own MLP: the human encoder, its projection and psi_h,
    which the heatmap head shares, learn from the heatmap loss alone (without detach_head_weights the CSE loss still
    reaches the compositing weights). Measured against the shared inputs in benchmarks/README.md ("CSE head reading its
    inputs detached")."""
    keypoint_evidence: bool = False
    """g_h also reads the source views' 2D heatmaps given to encode() at every sample's projections (their mean and
    minimum over the views). Set by the model from --pipeline.model.human-encoder.heatmap-head."""
    joint_conditioning: bool = False
    """The heads (g_h, g_cse) also read each sample's position relative to the person's 3D keypoints estimated from
    the same source views (the joint code, ghnerf_ns/model/joint_code.py; KeypointNeRF's idea, not in the paper):
    each joint channel then knows where its own joint is, so the heatmaps tell left from right. Needs the human
    encoder's 2D pose head (--pipeline.model.human-encoder.heatmap-head True), whose maps give the keypoints."""


@dataclass
class EncodedSources:
    """Per-source-image work, reusable for any target camera of the same subject/frame."""

    sources: SourceViews
    """The views that were encoded."""
    pyramid: FeaturePyramid
    """Feature pyramid of each view."""
    human_features: Optional[Float[Tensor, "num_views Ch hh wh"]] = None
    """Human-encoder features (any stride) after the network's projection (when configured), or None without a human
    encoder."""
    source_heatmaps: Optional[Float[Tensor, "num_views J hh wh"]] = None
    """The human encoder's 2D heatmaps of every view (on its feature cells), with keypoint evidence on."""
    keypoints_3d: Optional[Float[Tensor, "J 4"]] = None
    """The person's 3D keypoints ``(x, y, z, valid)`` estimated from these views (a model with a pose head), else None;
    the heads read them with joint conditioning."""
    derived: Dict[str, object] = field(default_factory=dict)
    """Further estimates made from these views alone, kept with them (e.g. the volumetric 3D keypoints)."""


@dataclass
class PreparedView:
    """One view of one subject/frame, ready to render and to query: the camera resolved to its target and its encoded
    source views, as every output of the view needs (the render, its 2D keypoints, its 3D keypoints)."""

    target: TargetView
    """The camera rendered (or, for per-frame outputs, the virtual reference camera of the volumetric query)."""
    encoded: EncodedSources
    """The encoded input views this view's predictions may use (``num_source_views``), with their 3D keypoints."""
    subject: str
    """Subject name."""
    frame: int
    """Frame number."""
    label: str
    """``"<subject> frame <f>: cameras a, b, c"`` (the viewer shows it)."""


@dataclass
class LevelVolume:
    """One cascade level's volume in the target frustum, at volume resolution (h, w)."""

    features: Float[Tensor, "8 num_planes h w"]
    """Regularised voxel features (f_voxel)."""
    depth_values: Float[Tensor, "num_planes h w"]
    """Camera z-depth of each plane, metres."""
    depth: Float[Tensor, "h w"]
    """Soft-argmax depth in the level's parametrisation (disparity if inverse; ENeRF parity)."""
    std: Float[Tensor, "h w"]
    """Its standard deviation (same parametrisation)."""
    near_far: Float[Tensor, "2 h w"]
    """First/last plane per pixel in the level's parametrisation, detached."""
    inverse: bool
    """Whether the level is parametrised in disparity."""

    @property
    def depth_mvs(self) -> Float[Tensor, "h w"]:
        """Cost-volume depth as camera z-depth (metres)."""
        return to_z_depth(self.depth, self.inverse)


@dataclass
class TargetVolumes:
    """Both cascade levels for one target camera."""

    coarse: LevelVolume
    fine: LevelVolume


@dataclass
class LevelOutputs:
    """Rendered outputs of one cascade level for a batch of rays."""

    rgb: Float[Tensor, "num_rays 3"]
    """Composited colour (no background term: ENeRF renders on black)."""
    accumulation: Float[Tensor, "num_rays 1"]
    """Sum of the compositing weights."""
    depth: Float[Tensor, "num_rays 1"]
    """nerfstudio depth: distance from the camera centre along the ray, from the normalised expected z-depth."""
    z_depth: Float[Tensor, "num_rays 1"]
    """Normalised expected camera z-depth, metres."""
    depth_enerf: Float[Tensor, "num_rays 1"]
    """ENeRF's reported depth (softmax-of-weights quirk, level parametrisation: disparity on the coarse level)."""
    depth_mvs: Float[Tensor, "num_rays 1"]
    """Cost-volume depth at the pixel (camera z-depth, metres)."""
    weights: Float[Tensor, "num_rays num_samples"]
    """Compositing weights."""
    z_samples: Float[Tensor, "num_rays num_samples"]
    """Camera z-depth of the samples."""
    heatmaps: Optional[Float[Tensor, "num_rays J"]] = None
    """Composited joint heatmaps (fine level)."""
    cse: Optional[Float[Tensor, "num_rays D"]] = None
    """Composited CSE embedding (fine level, CSE head on)."""
    coords_pred: Optional[Float[Tensor, "num_rays num_samples 3"]] = None
    """g_co's regressed sample positions, box-normalised (fine level, coordinate branch on)."""
    coords_target: Optional[Float[Tensor, "num_rays num_samples 3"]] = None
    """The samples' true positions, box-normalised to [-1, 1] inside the human box, detached."""


@dataclass
class CascadeOutputs:
    """Both levels' outputs (``coarse`` is None when only the fine level was rendered: whole-image inference)."""

    coarse: Optional[LevelOutputs]
    fine: LevelOutputs


RenderLevel = Literal["coarse", "fine"]
ALL_LEVELS: Tuple[RenderLevel, ...] = ("coarse", "fine")
"""Levels rendered by default (training: both levels carry a colour loss)."""


def _check_size(height: int, width: int, what: str) -> None:
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise ValueError(
            f"{what} is {height}x{width}; GHNeRF's cost volumes need H and W to be multiples of {SIZE_MULTIPLE}: "
            "pad (and crop the render back) or resize before calling the network"
        )


class GHNeRFNetwork(nn.Module):
    """ENeRF cascade + GHNeRF heads. See the module docstring for the call sequence."""

    def __init__(self, config: GHNeRFNetworkConfig) -> None:
        super().__init__()
        self.config = config
        for name, level in (("coarse", config.coarse), ("fine", config.fine)):
            for stride in (level.cost_feature_stride, level.render_feature_stride):
                if stride not in PYRAMID_CHANNELS:
                    raise ValueError(f"{name}: feature strides must be one of {sorted(PYRAMID_CHANNELS)}, got {stride}")
            if level.num_planes % (2**level.regularizer_scales):
                raise ValueError(
                    f"{name}.num_planes={level.num_planes} must be divisible by 2**regularizer_scales="
                    f"{2**level.regularizer_scales}"
                )
            if level.num_samples < 1:
                raise ValueError(f"{name}.num_samples must be >= 1, got {level.num_samples}")
        self.feature_net = FeatureNet()
        # Speed (not in the paper): psi_h's cost grows with the per-sample channel count, and sampling 384-512 channels
        # at every sample and view dominated whole-image rendering. A 1x1 projection is linear, so it commutes with the
        # bilinear lookup: projecting the low-resolution map once per source image equals projecting every sample.
        # psi_h's per-view and mean terms on the projected features are low-rank versions of the paper's full-width
        # layer; only its variance term differs (variance of projected channels).
        self.human_projection: Optional[nn.Conv2d] = None
        field_human_channels = config.human_feature_channels
        if config.human_feature_channels > 0 and config.human_projection_dim > 0:
            self.human_projection = nn.Conv2d(config.human_feature_channels, config.human_projection_dim, kernel_size=1)
            field_human_channels = config.human_projection_dim
        self.regularizers = nn.ModuleList(
            CostRegularizer(PYRAMID_CHANNELS[lvl.cost_feature_stride], lvl.regularizer_scales)
            for lvl in (config.coarse, config.fine)
        )
        self.fields = nn.ModuleList(
            GHNeRFField(
                PYRAMID_CHANNELS[lvl.render_feature_stride],
                color_mode=config.color_mode,
                hidden_dim=config.hidden_dim,
                with_heads=is_fine,
                num_joints=NUM_JOINTS,
                human_channels=field_human_channels,
                human_pooled_dim=config.human_pooled_dim,
                human_hidden_dim=config.human_hidden_dim,
                cse_dim=config.cse_dim,
                coord_branch=config.coord_branch,
                heatmap_prior=config.heatmap_prior,
                keypoint_evidence=config.keypoint_evidence,
                joint_code_dim=joint_code_dim(NUM_JOINTS) if config.joint_conditioning else 0,
                detach_cse_geometry=config.detach_head_weights,
                detach_cse_inputs=config.detach_cse_inputs,
            )
            for lvl, is_fine in ((config.coarse, False), (config.fine, True))
        )

    @property
    def levels(self) -> Tuple[CascadeLevelConfig, CascadeLevelConfig]:
        return self.config.coarse, self.config.fine

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        """Parameters by optimiser group (the model adds the human encoder's group)."""
        return {
            "feature_pyramid": list(self.feature_net.parameters()),
            "cost_regularizer": list(self.regularizers.parameters()),
            "field": list(self.fields.parameters())
            + (list(self.human_projection.parameters()) if self.human_projection is not None else []),
        }

    def encode(
        self,
        sources: SourceViews,
        human_features: Optional[Float[Tensor, "num_views Ch hh wh"]] = None,
        source_heatmaps: Optional[Float[Tensor, "num_views J hh wh"]] = None,
        keypoints_3d: Optional[Float[Tensor, "J 4"]] = None,
    ) -> EncodedSources:
        """Per-image work: the feature pyramid of every source view (done once per subject/frame/view set).

        ``source_heatmaps``: the human encoder's 2D heatmaps of the views (on its feature cells), needed when the
        network reads keypoint evidence. ``keypoints_3d``: the person's 3D keypoints estimated from these views, read
        by the heads with joint conditioning (None there: no joint was found, the code is zero).
        """
        if self.config.keypoint_evidence and source_heatmaps is None:
            raise ValueError(
                "GHNeRFNetworkConfig.keypoint_evidence is on but encode() got no source heatmaps: build the human "
                "encoder with heatmap_head=True and pass its heatmaps"
            )
        _check_size(*sources.hw, what="source image size")
        if sources.num_views < 1:
            raise ValueError("at least one source view is needed (ENeRF/GHNeRF use 2-4)")
        expected = self.config.human_feature_channels
        if human_features is not None:
            if expected == 0:
                raise ValueError(
                    "human features were given but GHNeRFNetworkConfig.human_feature_channels=0; set it to "
                    f"{human_features.shape[1]} to use them"
                )
            if human_features.shape[:2] != (sources.num_views, expected):
                raise ValueError(
                    f"human features have shape {tuple(human_features.shape)}, expected ({sources.num_views}, "
                    f"{expected}, h, w) (GHNeRFNetworkConfig.human_feature_channels)"
                )
        elif expected > 0:
            raise ValueError(
                f"GHNeRFNetworkConfig.human_feature_channels={expected} but no human features were given to encode()"
            )
        if human_features is not None:
            if self.human_projection is not None:
                human_features = self.human_projection(human_features)
            # grid_sample reads channels-last maps faster on CPU for wide features; converted once per source set here
            # (cached with the encoding), not per chunk of rays.
            human_features = human_features.contiguous(memory_format=torch.channels_last)
        return EncodedSources(
            sources=sources,
            pyramid=self.feature_net(sources.images),
            human_features=human_features,
            source_heatmaps=source_heatmaps if self.config.keypoint_evidence else None,
            keypoints_3d=keypoints_3d,
        )

    def _build_level(
        self, index: int, encoded: EncodedSources, target: TargetView, depth_values: Tensor
    ) -> LevelVolume:
        level = self.levels[index]
        sources = encoded.sources
        features = encoded.pyramid.at_stride(level.cost_feature_stride)
        src_h, src_w = sources.hw
        K_src = scale_intrinsics(sources.K, features.shape[-1] / src_w, features.shape[-2] / src_h)
        vol_h, vol_w = depth_values.shape[-2:]
        K_tgt = scale_intrinsics(target.K, vol_w / target.width, vol_h / target.height)
        cost = build_cost_volume(features, K_src, sources.w2c, K_tgt, target.w2c, depth_values)
        volume_features, logits = self.regularizers[index](cost)
        depth, std = depth_regression(logits, depth_values, level.inverse_depth)
        return LevelVolume(
            features=volume_features,
            depth_values=depth_values,
            depth=depth,
            std=std,
            near_far=level_near_far(depth_values, level.inverse_depth),
            inverse=level.inverse_depth,
        )

    def _volume_size(self, level: CascadeLevelConfig, target: TargetView) -> Tuple[int, int]:
        h, w = target.height * level.volume_scale, target.width * level.volume_scale
        if h != int(h) or w != int(w):
            raise ValueError(f"volume_scale={level.volume_scale} gives a non-integer volume size {h}x{w}")
        return int(h), int(w)

    def build_volumes(self, encoded: EncodedSources, target: TargetView) -> TargetVolumes:
        """Per-target work: coarse volume over the box near/far, then the fine volume around the coarse depth."""
        _check_size(target.height, target.width, what="target image size")
        coarse_cfg, fine_cfg = self.levels
        h, w = self._volume_size(coarse_cfg, target)
        values = coarse_depth_values(target.near_far, coarse_cfg.num_planes, h, w, coarse_cfg.inverse_depth)
        coarse = self._build_level(0, encoded, target, values)
        h, w = self._volume_size(fine_cfg, target)
        values = fine_depth_values(
            coarse.depth, coarse.std, coarse.near_far, coarse.inverse, fine_cfg.num_planes, h, w, fine_cfg.inverse_depth
        )
        return TargetVolumes(coarse=coarse, fine=self._build_level(1, encoded, target, values))

    def _render_level(
        self,
        index: int,
        encoded: EncodedSources,
        volume: LevelVolume,
        target: TargetView,
        pixels: Tensor,
        origins: Tensor,
        directions: Tensor,
    ) -> LevelOutputs:
        level = self.levels[index]
        sources = encoded.sources
        maps = torch.cat([volume.depth[None], volume.std[None], volume.near_far], dim=0)
        at_rays = sample_pixel_maps(maps, pixels, target.height, target.width)  # (R, 4): depth, std, near, far
        samples = sample_along_depth(
            origins,
            directions,
            pixels,
            at_rays[:, 0],
            at_rays[:, 1],
            at_rays[:, 2:4],
            level.num_samples,
            level.inverse_depth,
            target.height,
            target.width,
        )
        num_rays, num_samples = samples.z_depth.shape
        voxel = sample_voxel_features(volume.features, samples.volume_coords.reshape(-1, 3))
        is_fine = index == 1
        projected = project_samples(
            samples.xyz,
            sources.images,
            encoded.pyramid.at_stride(level.render_feature_stride),
            sources.K,
            sources.w2c,
            target.w2c,
            human_features=encoded.human_features if is_fine else None,
            keypoint_maps=encoded.source_heatmaps if is_fine else None,
        )
        view_dirs = directions / torch.linalg.norm(directions, dim=-1, keepdim=True)
        code = self.joint_code(samples.xyz, encoded) if is_fine else None
        out = self.fields[index](voxel.reshape(num_rays, num_samples, -1), projected, view_dirs, code)

        weights = weights_from_density(out.density[..., 0])
        z_depth = expected_depth(weights, samples.z_depth)
        result = LevelOutputs(
            rgb=composite(weights, out.rgb),
            accumulation=accumulation(weights),
            depth=(z_depth * torch.linalg.norm(directions, dim=-1))[:, None],
            z_depth=z_depth[:, None],
            depth_enerf=enerf_depth(weights, samples.z_param)[:, None],
            depth_mvs=to_z_depth(at_rays[:, :1], level.inverse_depth),
            weights=weights,
            z_samples=samples.z_depth,
        )
        head_weights = weights.detach() if self.config.detach_head_weights else weights
        if out.heatmaps is not None:
            result.heatmaps = composite(head_weights, out.heatmaps)
        if out.cse is not None:
            result.cse = composite(head_weights, out.cse)
        if out.coords is not None:
            center = target.box.mean(dim=0)
            half = torch.clamp_min((target.box[1] - target.box[0]) / 2.0, 1e-6)
            result.coords_pred = out.coords
            result.coords_target = ((samples.xyz - center) / half).detach()
        return result

    def joint_code(self, points: Float[Tensor, "*batch 3"], encoded: EncodedSources) -> Optional[Tensor]:
        """The fine heads' joint code of ``points`` (None without joint conditioning)."""
        if not self.config.joint_conditioning:
            return None
        return joint_code(points, encoded.keypoints_3d, NUM_JOINTS)

    def render_rays(
        self,
        encoded: EncodedSources,
        volumes: TargetVolumes,
        target: TargetView,
        pixels: Float[Tensor, "num_rays 2"],
        levels: Tuple[RenderLevel, ...] = ALL_LEVELS,
    ) -> CascadeOutputs:
        """Per-chunk work: render the cascade levels at integer-pixel (u, v) of the target at (target.height,
        target.width).

        Colour for both levels; heatmaps, CSE and coordinates for the fine level only. ``levels=("fine",)`` skips the
        coarse level's rays (its outputs are None): the fine level only needs the coarse *volume* (its depth/std built
        in :meth:`build_volumes`), not coarse rendering. ENeRF parity: ENeRF's eval renders only the last level
        (``render_if = [False, True]``); training renders both (both carry a colour loss).
        """
        unknown = set(levels) - set(ALL_LEVELS)
        if "fine" not in levels or unknown:
            raise ValueError(f"levels must contain 'fine' and only 'coarse'/'fine', got {levels!r}")
        # ENeRF's rays: origin at the camera centre, un-normalised direction R^T K^-1 [u, v, 1] (z-parametrised).
        origins, directions = pixel_directions(pixels, target.K, target.w2c)
        coarse = None
        if "coarse" in levels:
            coarse = self._render_level(0, encoded, volumes.coarse, target, pixels, origins, directions)
        return CascadeOutputs(
            coarse=coarse, fine=self._render_level(1, encoded, volumes.fine, target, pixels, origins, directions)
        )

    def forward(
        self,
        sources: SourceViews,
        human_features: Optional[Float[Tensor, "num_views Ch hh wh"]],
        target: TargetView,
        pixels: Float[Tensor, "num_rays 2"],
        source_heatmaps: Optional[Float[Tensor, "num_views J hh wh"]] = None,
        keypoints_3d: Optional[Float[Tensor, "J 4"]] = None,
    ) -> CascadeOutputs:
        """Training path: encode, build volumes and render ``pixels`` in one differentiable call."""
        encoded = self.encode(sources, human_features, source_heatmaps, keypoints_3d)
        return self.render_rays(encoded, self.build_volumes(encoded, target), target, pixels)
