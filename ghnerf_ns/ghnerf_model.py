"""GHNeRFModel: nerfstudio Model around the GHNeRF network (training losses, whole-image rendering, metrics).

Two call paths:
- training/eval loss: ``forward(target, sources, pixels)`` (called by the pipeline, DDP-safe) renders sampled rays;
- images: ``get_outputs_for_camera(camera)`` (eval, ns-render, the viewer) finds the source views from the camera alone
  (dataset cameras carry their split/row; any other camera uses the viewer's subject/frame), encodes them once
  (cached) and renders the whole image.
"""

from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Literal, Optional, Tuple, Type

import torch
from nerfstudio.cameras.cameras import Cameras
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackAttributes, TrainingCallbackLocation
from nerfstudio.models.base_model import Model, ModelConfig
from torch import Tensor
from torch.nn import Parameter

from dataparsers.body25 import BODY25_MIRROR, NUM_JOINTS
from dataparsers.human_common import HumanImageIndex
from ghnerf_ns.data.human_dataset import ROW_KEY, SPLIT_KEY
from ghnerf_ns.data.sample_batches import TrainingBatch
from ghnerf_ns.data.source_bank import SourceViewBank
from ghnerf_ns.model.geometry import box_in_front, box_near_far, cameras_to_opencv
from ghnerf_ns.model.human_encoders import HumanEncoderConfig, HumanFeatureMaps
from ghnerf_ns.model.losses import GHNeRFLossConfig, coord_loss, cse_loss, heatmap_loss, mask_loss, rgb_loss
from ghnerf_ns.model.network import CascadeOutputs, EncodedSources, GHNeRFNetworkConfig, PreparedView
from ghnerf_ns.model.source_heatmaps import cell_heatmap_targets, either_side_evidence, pooled_heatmap_loss
from ghnerf_ns.model.views import SourceViews, TargetView
from ghnerf_ns.model.volume_heat import volume_heat_loss, volume_heat_targets


@dataclass
class GHNeRFModelConfig(ModelConfig):
    """GHNeRF: ENeRF cascade + human feature encoder + heatmap/CSE heads."""

    _target: Type = field(default_factory=lambda: GHNeRFModel)
    enable_collider: bool = False
    """Unused: near/far come from the human's 3D box and the cost volume."""
    network: GHNeRFNetworkConfig = field(default_factory=GHNeRFNetworkConfig)
    """The cascade network and its heads."""
    human_encoder: HumanEncoderConfig = field(default_factory=HumanEncoderConfig)
    """Human feature encoder (DINO ViT-S/8, ResNet34/18, or none)."""
    loss: GHNeRFLossConfig = field(default_factory=GHNeRFLossConfig)
    """Loss weights."""
    num_source_views: int = 2
    """The input views a prediction may use: the render of a view, its 2D keypoints and its 3D keypoints all come from
    the N input cameras nearest to the target camera (never the target camera itself). The paper: 2 at test time.
    0 = every input camera of the frame. Also the viewer's default."""
    eval_num_rays_per_chunk: int = 16384
    """Rays rendered at once in whole-image rendering (bounds memory)."""
    encode_cache_size: int = 4
    """Encoded source-view sets kept for reuse (viewer moves and orbit videos re-use them)."""
    keypoint_threshold: float = 0.1
    """Heatmap threshold of 2D keypoint extraction (OpenPose: 0.1)."""
    viewer_keypoints_max_side: int = 256
    """The viewer's keypoints_overlay finds its 2D keypoints in the heatmaps average-pooled to at most this shorter
    side (the drawn skeleton moves by under a pooled pixel; the peak search then fits the viewer's frame budget).
    ns-eval, ns-render dataset and ghnerf-keypoints always search the full-resolution heatmaps."""
    volumetric_density_weighting: bool = True
    """3D keypoints: weight the volumetric heat by occupancy (1 - exp(-density)) before the peak search, since a field
    trained only through rendering has heat on the surface alone. False suits a field trained with the volumetric heat
    loss (--pipeline.model.loss.volume-heat-weight), whose heat is itself a 3D heatmap."""
    volumetric_band_only: bool = True
    """3D keypoints: use a grid point only where it lies in a reference camera's fine-volume band (where the renderer
    samples). False: everywhere in the box, where a field trained with the volumetric heat loss was trained."""
    volumetric_side_assignment: Literal["field", "body-frame"] = "field"
    """3D keypoints: 'field' takes each joint channel's own peak (paper 3.4); 'body-frame' takes each mirror pair's two
    side-blind peaks and tells left from right by the body's frame (a structural prior against left/right swaps; see
    ghnerf_ns/keypoints/side_assignment.py)."""
    keypoints_3d: Literal["volumetric", "source-views"] = "volumetric"
    """The model's 3D keypoints (ns-eval mpjpe_3d, ghnerf-keypoints), from the same input views as the render
    (num-source-views): 'volumetric' the peaks of the volumetric heatmap (paper 3.4); 'source-views' the human
    encoder's 2D pose head (human-encoder.heatmap-head) on each of those views, triangulated by consensus over views
    (not in the paper; ghnerf_ns/keypoints/source_view_keypoints.py). ns-eval reports both where the model has the
    pose head (mpjpe_3d_volumetric, mpjpe_3d_source_views)."""
    source_view_inlier_fraction: float = 0.04
    """'source-views' 3D keypoints: reprojection distance within which an input view supports a joint, as a fraction
    of the input images' shorter side."""
    source_view_box: bool = True
    """'source-views' 3D keypoints: a joint triangulated outside the person's 3D box (the box the cost volume is built
    in) is not found. Two views can agree on a wrong match between them (a foot matched with the other foot's
    epipolar neighbour) and put a joint far off the body; the box rejects it (benchmarks/README.md, "Three input
    views of a real person")."""
    source_view_bone_bounds: bool = False
    """'source-views' 3D keypoints: a joint farther from every point of its parent joint (the wrist from the elbows,
    a toe from the ankles) than the longest such bone among the synthetic training people plus a margin is not found.
    A pose head can fire on the wrong body part in every view at once (a hand taken for a foot), and the views then
    agree on it (ghnerf_ns/keypoints/bone_bounds.py; benchmarks/README.md, "Bones that cannot be that long")."""
    volumetric_resolution: int = 40
    """3D keypoints: grid points per axis of the volumetric query over the person's box (peaks refined below a
    voxel)."""
    keypoint_sides: Literal["channels", "3d-keypoints"] = "channels"
    """2D keypoints of rendered views (ns-eval pck, keypoints_overlay, ghnerf-keypoints): 'channels' takes each joint
    channel's own peak (paper 3.4); '3d-keypoints' keeps the rendered peaks but names each left/right pair by the
    view's 3D keypoints (keypoints-3d) projected into it (not in the paper; ns-eval then also reports the paper's rule
    as pck_channels; see ghnerf_ns/keypoints/view_keypoints.py)."""
    source_view_sides: Literal["body-frame", "vote"] = "body-frame"
    """'source-views' 3D keypoints: how left is told from right. 'body-frame': each left/right pair is triangulated
    side-blind and named by the body's own frame (left = up x forward; not in the paper, see
    ghnerf_ns/keypoints/side_assignment.py); 'vote': the pose head's labels, by a confidence-weighted vote of the
    views."""
    source_heatmap_pairs: Literal["named", "either-side"] = "named"
    """How the 2D pose head (human-encoder.heatmap-head) learns left/right pairs. 'named': each channel against its
    own joint's Gaussian. 'either-side': per view and pair, the cheaper of the two labellings, so each channel learns
    one sharp peak on one of the two limbs without telling which side it is (two hips or eyes a few pixels apart stay
    two peaks); the body frame names them (needs source-view-sides body-frame), and g_h reads each pair's two channels
    as one side-blind map (not in the paper; benchmarks/README.md, "Either-side pose head")."""


class GHNeRFModel(Model):
    """See :class:`GHNeRFModelConfig`."""

    config: GHNeRFModelConfig

    # Whole-image rendering, viewer controls and per-image metrics are imported where they are used: every ns-*
    # command imports this module for the config's _target (ns-train nerfacto included), which needs none of them.

    def populate_modules(self) -> None:
        from ghnerf_ns.render.image_renderer import EncodeCache
        from ghnerf_ns.viewer.controls import GHNeRFViewerControls

        # No super().populate_modules(): the base class only builds a collider, which a box-bounded model does not use.
        self.human_encoder = self.config.human_encoder.setup()
        if self.config.keypoints_3d == "source-views" and self.human_encoder.heatmap_head is None:
            raise ValueError(
                "--pipeline.model.keypoints-3d source-views triangulates the human encoder's 2D pose head: add "
                "--pipeline.model.human-encoder.heatmap-head True (or use --pipeline.model.keypoints-3d volumetric)"
            )
        if self.config.network.joint_conditioning and self.human_encoder.heatmap_head is None:
            raise ValueError(
                "--pipeline.model.network.joint-conditioning reads the 3D keypoints of the human encoder's 2D pose "
                "head: add --pipeline.model.human-encoder.heatmap-head True (or turn joint conditioning off)"
            )
        if self.config.source_heatmap_pairs == "either-side" and self.config.source_view_sides != "body-frame":
            raise ValueError(
                "--pipeline.model.source-heatmap-pairs either-side trains the pose head without left/right labels, so "
                "--pipeline.model.source-view-sides vote has nothing to vote with: use source-view-sides body-frame"
            )
        network_config = replace(
            self.config.network,
            human_feature_channels=int(self.human_encoder.out_channels),
            keypoint_evidence=self.human_encoder.heatmap_head is not None,
        )
        self.network = network_config.setup()
        self.viewer_controls = GHNeRFViewerControls(default_num_views=self.config.num_source_views)
        self._perceptual = None
        self._bank: Optional[SourceViewBank] = None
        self._targets: Dict[int, HumanImageIndex] = {}
        self._heatmap_sigma = 2.0
        self._encode_cache = EncodeCache(self.config.encode_cache_size)

    # ------------------------------------------------------------------------------------------------ wiring
    def attach_data(self, bank: SourceViewBank, targets: Dict[int, HumanImageIndex], heatmap_sigma: float) -> None:
        """Give the model its source-view bank, the split indices and the ground-truth heatmap sigma (pipeline)."""
        self._bank = bank
        self._targets = targets
        self._heatmap_sigma = heatmap_sigma
        self.viewer_controls.attach_bank(bank)

    @property
    def source_bank(self) -> SourceViewBank:
        """The input views of every subject and frame (set by the pipeline; benchmarks read it)."""
        if self._bank is None:
            raise RuntimeError("the model has no SourceViewBank: load it through GHNeRFPipeline (ns-eval/eval_setup)")
        return self._bank

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        groups = self.network.param_groups()
        encoder_params = [p for p in self.human_encoder.parameters() if p.requires_grad]
        if encoder_params:
            groups["human_encoder"] = encoder_params
        return {name: params for name, params in groups.items() if params}

    def get_training_callbacks(
        self, training_callback_attributes: TrainingCallbackAttributes
    ) -> List[TrainingCallback]:
        # Built when training starts (not for eval/viewing), so a missing VGG file stops training at once with a
        # clear message while ns-eval/ns-viewer never need it.
        self._perceptual = self.config.loss.make_perceptual_loss()
        if self._perceptual is not None:
            self._perceptual.to(self.device)

        def free_stale_encodings(step: int) -> None:
            # Cache keys include the weights version, so stale entries are never hit; this only frees their memory.
            self._encode_cache.clear()

        return [TrainingCallback([TrainingCallbackLocation.AFTER_TRAIN_ITERATION], free_stale_encodings)]

    # ---------------------------------------------------------------------------------------------- training
    def forward(  # type: ignore[override]
        self,
        target: TargetView,
        sources: SourceViews,
        pixels: Tensor,
        pose_views: Optional[SourceViews] = None,
        pose_boxes: Optional[Tensor] = None,
        volume_points: Optional[Tensor] = None,
    ) -> Dict[str, object]:
        return self.get_outputs(target, sources, pixels, pose_views, pose_boxes, volume_points)

    def get_outputs(  # type: ignore[override]
        self,
        target: TargetView,
        sources: SourceViews,
        pixels: Tensor,
        pose_views: Optional[SourceViews] = None,
        pose_boxes: Optional[Tensor] = None,
        volume_points: Optional[Tensor] = None,
    ) -> Dict[str, object]:
        """Render ``pixels`` of ``target``. ``pose_views`` (training; their persons' 3D boxes in ``pose_boxes``) also go
        through the human encoder and its heatmap head, for its 2D loss only; the fine field's heat is also evaluated
        at ``volume_points`` (training: the volumetric heat loss)."""
        from ghnerf_ns.keypoints.keypoints3d import query_points
        from ghnerf_ns.render.image_renderer import human_features_for

        with_pose = (
            pose_views is not None
            and pose_boxes is not None
            and pose_views.num_views > 0
            and self.human_encoder.heatmap_head is not None
        )
        human = human_features_for(self.human_encoder, sources, target.box)
        pose_heatmaps = None
        if with_pose:
            # The 2D pose views are only scored on their heatmaps around the person: each is encoded in a tight window
            # around its own person's box (no lookup margin), which at 128 px halves the encoder's work on them.
            pose = human_features_for(self.human_encoder, pose_views, pose_boxes.to(target.box), margin=0)
            pose_heatmaps = pose.heatmaps
        features, heatmaps = (None, None) if human is None else (human.features, human.heatmaps)
        keypoints_3d = None
        if self.network.config.joint_conditioning:
            keypoints_3d = self.source_keypoints_3d(sources, heatmaps, target.box)
        # The network's forward, in its three steps: the volumetric points need the encoding and the volumes too.
        encoded = self._encode_network(sources, features, heatmaps, keypoints_3d)
        volumes = self.network.build_volumes(encoded, target)
        cascade = self.network.render_rays(encoded, volumes, target, pixels)
        volume_heatmaps = None
        if volume_points is not None:
            volume_heatmaps = query_points(self.network, encoded, volumes, target, volume_points)[1]
        return {
            "cascade": cascade,
            "rgb": cascade.fine.rgb,
            "accumulation": cascade.fine.accumulation,
            "source_heatmaps": heatmaps,
            "pose_heatmaps": pose_heatmaps,
            "volume_heatmaps": volume_heatmaps,
        }

    def get_metrics_dict(self, outputs: Dict, batch: TrainingBatch) -> Dict[str, Tensor]:
        cascade: CascadeOutputs = outputs["cascade"]
        mse = torch.mean((cascade.fine.rgb.detach() - batch.rgb) ** 2)
        metrics = {"psnr": -10.0 * torch.log10(torch.clamp_min(mse, 1e-10))}
        if cascade.fine.heatmaps is not None:
            metrics["heatmap_mse"] = heatmap_loss(cascade.fine.heatmaps.detach(), batch.heatmaps, batch.joints_valid)
        return metrics

    def get_loss_dict(
        self, outputs: Dict, batch: TrainingBatch, metrics_dict: Optional[Dict] = None
    ) -> Dict[str, Tensor]:
        cascade: CascadeOutputs = outputs["cascade"]
        cfg = self.config.loss
        coarse_cfg, fine_cfg = self.network.levels
        losses = {
            "rgb_loss_coarse": coarse_cfg.loss_weight * rgb_loss(cascade.coarse.rgb, batch.rgb),
            "rgb_loss_fine": fine_cfg.loss_weight * rgb_loss(cascade.fine.rgb, batch.rgb),
        }
        if cfg.mask_weight > 0 and batch.has_mask:
            losses["mask_loss"] = cfg.mask_weight * (
                coarse_cfg.loss_weight * mask_loss(cascade.coarse.accumulation, batch.mask)
                + fine_cfg.loss_weight * mask_loss(cascade.fine.accumulation, batch.mask)
            )
        if self._perceptual is not None and cfg.perceptual_weight > 0 and batch.num_patches > 0:
            pred, gt = batch.patches(cascade.fine.rgb), batch.patches(batch.rgb)
            losses["perceptual_loss"] = cfg.perceptual_weight * fine_cfg.loss_weight * self._perceptual(pred, gt)
        if cascade.fine.heatmaps is not None and cfg.heatmap_weight > 0:
            losses["heatmap_loss"] = cfg.heatmap_weight * heatmap_loss(
                cascade.fine.heatmaps, batch.heatmaps, batch.joints_valid
            )
        maps = outputs.get("source_heatmaps")
        if maps is not None and batch.source_keypoints is not None and cfg.source_heatmap_weight > 0:
            groups = [self._heatmap_targets(maps, batch.source_keypoints, batch.sources.hw)]
            pose = outputs.get("pose_heatmaps")
            if pose is not None and batch.pose_keypoints is not None and batch.pose_views is not None:
                groups.append(self._heatmap_targets(pose, batch.pose_keypoints, batch.pose_views.hw))
            mirror = BODY25_MIRROR if self._either_side else None
            losses["source_heatmap_loss"] = cfg.source_heatmap_weight * pooled_heatmap_loss(groups, mirror)
        volume = outputs.get("volume_heatmaps")
        if volume is not None and batch.frame_views is not None and cfg.volume_heat_weight > 0:
            targets, valid = volume_heat_targets(batch.volume_points, batch.frame_views, self._heatmap_sigma)
            losses["volume_heat_loss"] = cfg.volume_heat_weight * volume_heat_loss(volume, targets, valid)
        if cascade.fine.cse is not None and batch.cse is not None and cfg.cse_weight > 0:
            losses["cse_loss"] = cfg.cse_weight * cse_loss(cascade.fine.cse, batch.cse)
        if cascade.fine.coords_pred is not None and cfg.coord_weight > 0:
            losses["coord_loss"] = cfg.coord_weight * coord_loss(cascade.fine.coords_pred, cascade.fine.coords_target)
        return losses

    def _heatmap_targets(
        self, maps: Tensor, keypoints: Tensor, canvas_hw: Tuple[int, int]
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """``(maps, targets, valid)``: the human encoder's 2D heatmaps of some views and Gaussians at the views' own
        keypoints on the same cells (see model/source_heatmaps.py)."""
        targets, valid = cell_heatmap_targets(
            keypoints.to(maps.dtype), tuple(maps.shape[-2:]), self.human_encoder.stride, self._heatmap_sigma, canvas_hw
        )
        return maps, targets, valid

    # ------------------------------------------------------------------------------------------ whole images
    def resolve_camera(self, camera: Cameras) -> Optional[Tuple[TargetView, List[Tuple[int, int]], str, str, int]]:
        """Target view, source-view entries, a label, the subject and the frame for a camera: dataset cameras use the
        test protocol, others the viewer's subject/frame with the nearest input cameras by position (ENeRF's interactive
        renderer). None for a viewer camera with the person's whole box behind it (a dataset camera that does not see
        its box is an error)."""
        if self._bank is None:
            raise RuntimeError(
                "the model has no SourceViewBank: build it through GHNeRFPipeline (ns-train/ns-eval/ns-viewer)"
            )
        K, w2c = cameras_to_opencv(camera.to(self.device))
        K, w2c = K.reshape(3, 3).float(), w2c.reshape(4, 4).float()
        height, width = int(camera.height.reshape(-1)[0]), int(camera.width.reshape(-1)[0])
        meta = camera.metadata or {}
        if ROW_KEY in meta and SPLIT_KEY in meta:
            split, row = int(meta[SPLIT_KEY].reshape(-1)[0]), int(meta[ROW_KEY].reshape(-1)[0])
            index = self._targets[split]
            subject = index.subjects[int(index.subject_idx[row])]
            frame = int(index.frame[row])
            box = torch.from_numpy(index.box(row)).to(self.device)
            # A target never conditions on its own image: training targets are input cameras, and so are eval targets
            # when the test views include input cameras (a no-op for ENeRF's split, whose test cameras are not inputs).
            exclude = int(index.camera[row])
            entries = self._bank.select(subject, frame, w2c.cpu().numpy(), self.config.num_source_views, True, exclude)
        else:
            settings = self.viewer_controls.snapshot()
            subject, frame = self.viewer_controls.subject_frame(settings)
            box = torch.from_numpy(self._bank.box(subject, frame)).to(self.device)
            if not box_in_front(box, w2c):
                return None
            entries = self._bank.select(subject, frame, w2c.cpu().numpy(), settings.num_views, use_rotation=False)
        target = TargetView(K=K, w2c=w2c, height=height, width=width, box=box, near_far=box_near_far(box, w2c))
        label = f"{subject} frame {frame}: cameras " + ", ".join(str(self._bank.camera_of(e)) for e in entries)
        return target, entries, label, subject, frame

    def prepare_view(self, camera: Cameras) -> Optional[PreparedView]:
        """The camera resolved (:meth:`resolve_camera`) with its source views loaded and encoded (cached); None for a
        viewer camera turned away from the person."""
        resolved = self.resolve_camera(camera)
        if resolved is None:
            return None
        target, entries, _, subject, frame = resolved
        return self.prepared(subject, frame, target, entries)

    def prepared(
        self, subject: str, frame: int, target: TargetView, entries: Optional[List[Tuple[int, int]]] = None
    ) -> PreparedView:
        """A view of ``target`` at one subject/frame with its source-view ``entries`` encoded (cached); default
        entries: the model's ``num_source_views`` input cameras nearest to the target by position (ENeRF's
        interactive rule, as for viewer and orbit cameras)."""
        if self._bank is None:
            raise RuntimeError("the model has no SourceViewBank: load it through GHNeRFPipeline (ns-eval/eval_setup)")
        if entries is None:
            w2c = target.w2c.detach().cpu().numpy()
            entries = self._bank.select(subject, frame, w2c, self.config.num_source_views, use_rotation=False)
        sources = self._bank.load(entries).to(self.device)
        label = f"{subject} frame {frame}: cameras " + ", ".join(str(self._bank.camera_of(e)) for e in entries)
        return PreparedView(target, self.encode_sources(sources, target.box), subject, frame, label)

    def frame_view(self, subject: str, frame: int, num_views: Optional[int] = None) -> PreparedView:
        """A view of one subject/frame for per-frame outputs (ghnerf-keypoints, benchmarks): its sources are the
        ``num_views`` input cameras (default: the model's num_source_views; 0 = all) nearest to the frame's first input
        camera, itself included, and its target is a square virtual camera at that camera's pose that sees the whole
        3D box (the volumetric query's reference)."""
        from ghnerf_ns.keypoints.keypoints3d import reference_target

        if self._bank is None:
            raise RuntimeError("the model has no SourceViewBank: load it through GHNeRFPipeline (ns-eval/eval_setup)")
        pool = sorted(self._bank.pool(subject, frame), key=self._bank.camera_of)
        first = self._bank.load(pool[:1]).w2c[0].float()
        count = self.config.num_source_views if num_views is None else num_views
        entries = self._bank.select(subject, frame, first.numpy(), count, True)
        box = torch.from_numpy(self._bank.box(subject, frame)).to(self.device).float()
        return self.prepared(subject, frame, reference_target(box, first.to(self.device)), entries)

    def keypoints_2d(
        self, heatmaps: Tensor, view: PreparedView, extractor: Any = None, max_side: Optional[int] = None
    ) -> Tuple[Tensor, Tensor]:
        """``(keypoints [J, 3] pixels, found [J])`` of a rendered ``view`` by the configured rule (``keypoint_sides``;
        '3d-keypoints' names the pairs by the view's own 3D keypoints). ``extractor``: a
        :class:`~ghnerf_ns.keypoints.extractor.KeypointExtractor` (default: ns-eval's). ``max_side``: search pooled
        heatmaps (:func:`~ghnerf_ns.keypoints.view_keypoints.view_keypoints_2d`)."""
        from ghnerf_ns.keypoints.extractor import keypoint_extractor
        from ghnerf_ns.keypoints.view_keypoints import view_keypoints_2d, view_keypoints_3d

        points_3d = None
        if self.config.keypoint_sides == "3d-keypoints":
            points_3d = view_keypoints_3d(self, view, self.config.keypoints_3d)
        extractor = extractor or keypoint_extractor(self.config.keypoint_threshold)
        return view_keypoints_2d(heatmaps, extractor, points_3d, view.target.K, view.target.w2c, max_side)

    def encode_sources(self, sources: SourceViews, box: Optional[Tensor] = None):
        """Encoded sources through the LRU cache (the human encoder and pyramid run once per view set).

        ``box``: the person's 3D box at the sources' subject/frame (the human encoder then sees only the windows
        around it). It is fixed by (subject, frame), which the cache key already holds.
        """
        from ghnerf_ns.render.image_renderer import human_features_for, source_cache_key, weights_version

        key = source_cache_key(sources, weights_version(self.network, self.human_encoder))
        return self._encode_cache.get_or_encode(
            key, lambda: self._encode(sources, human_features_for(self.human_encoder, sources, box), box)
        )

    def _encode(
        self, sources: SourceViews, human: Optional[HumanFeatureMaps], box: Optional[Tensor] = None
    ) -> EncodedSources:
        """The network's per-source encoding with the human encoder's maps (None: no human encoder) and, with a pose
        head, the 3D keypoints estimated from these views (inside ``box``, the person's 3D box, when given)."""
        if human is None:
            return self.network.encode(sources)
        keypoints_3d = self.source_keypoints_3d(sources, human.heatmaps, box)
        return self._encode_network(sources, human.features, human.heatmaps, keypoints_3d)

    def _encode_network(
        self,
        sources: SourceViews,
        features: Optional[Tensor],
        heatmaps: Optional[Tensor],
        keypoints_3d: Optional[Tensor],
    ) -> EncodedSources:
        """``network.encode`` with the pose head's maps as g_h's keypoint evidence: an either-side head's pair channels
        are merged into one side-blind map each (their labels say nothing about the side)."""
        if heatmaps is not None and self._either_side:
            heatmaps = either_side_evidence(heatmaps, BODY25_MIRROR)
        return self.network.encode(sources, features, heatmaps, keypoints_3d)

    def source_keypoints_3d(
        self, sources: SourceViews, maps: Optional[Tensor], box: Optional[Tensor] = None
    ) -> Optional[Tensor]:
        """The person's 3D keypoints ``(x, y, z, valid)`` [J, 4] from the pose head's ``maps`` of ``sources`` (the
        source-view estimate of exactly these views), or None without maps or with one view. ``box``: the person's 3D
        box at these views' frame; with ``source_view_box`` a joint outside it is not found."""
        from ghnerf_ns.keypoints.source_view_keypoints import keypoints_3d_from_source_maps

        if maps is None:
            return None
        cfg = self.config
        return keypoints_3d_from_source_maps(
            maps, sources.K, sources.w2c, min(sources.hw), self.human_encoder.stride, cfg.keypoint_threshold,
            cfg.source_view_inlier_fraction, cfg.source_view_sides, box if cfg.source_view_box else None,
            cfg.source_view_bone_bounds,
        )  # fmt: skip

    @property
    def _either_side(self) -> bool:
        """Whether the pose head is trained either-side (``source_heatmap_pairs``)."""
        return self.config.source_heatmap_pairs == "either-side"

    @torch.no_grad()
    def get_outputs_for_camera(self, camera: Cameras, obb_box=None) -> Dict[str, Tensor]:
        from ghnerf_ns.render.image_renderer import render_image
        from ghnerf_ns.viewer.outputs import viewer_outputs

        view = self.prepare_view(camera)
        if view is None:
            # A viewer camera turned away from the person (e.g. viser's default camera before the start camera is
            # placed, or the user orbiting past it): an empty frame, never an exception in the render thread.
            height, width = int(camera.height.reshape(-1)[0]), int(camera.width.reshape(-1)[0])
            channels = {"rgb": 3, "accumulation": 1, "depth": 1, "heatmaps": NUM_JOINTS}
            if self.network.config.cse_dim:
                channels["cse"] = self.network.config.cse_dim
            blank = {name: torch.zeros(height, width, c, device=self.device) for name, c in channels.items()}
            return viewer_outputs(blank, self.viewer_controls.snapshot(), self.config.keypoint_threshold)
        self.viewer_controls.show_sources(view.label)
        raw = render_image(self.network, view.encoded, view.target, self.config.eval_num_rays_per_chunk)
        # Dataset cameras (ns-eval, ns-render dataset) keep the raw heatmaps/CSE and 2D keypoints for the metrics.
        meta = camera.metadata or {}
        keep_raw = ROW_KEY in meta and SPLIT_KEY in meta
        settings = self.viewer_controls.snapshot()
        keypoints = None
        skeleton_shown = settings.show_keypoints and (
            settings.shown_outputs is None or "keypoints_overlay" in settings.shown_outputs
        )
        if skeleton_shown or keep_raw:  # the costliest output: made only when the viewer shows the skeleton
            max_side = None if keep_raw else self.config.viewer_keypoints_max_side
            keypoints = self.keypoints_2d(torch.nan_to_num(raw["heatmaps"].float()), view, max_side=max_side)
        return viewer_outputs(
            raw, settings, self.config.keypoint_threshold, keep_raw_maps=keep_raw, keypoints=keypoints
        )

    def get_image_metrics_and_images(
        self, outputs: Dict[str, Tensor], batch: Dict[str, Any]
    ) -> Tuple[Dict[str, float], Dict[str, Tensor]]:
        from ghnerf_ns.eval.image_metrics import image_metrics_and_images

        channel_peaks = self.config.keypoint_sides == "channels"
        return image_metrics_and_images(
            outputs, batch, self._heatmap_sigma, self.config.keypoint_threshold, channel_peaks
        )
