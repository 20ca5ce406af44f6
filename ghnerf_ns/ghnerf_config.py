"""nerfstudio method entry points: ``ghnerf``, ``ghnerf-resnet``, ``enerf-heatmap`` and ``ghnerf-tiny``.

Every ns-* command imports this module (nerfstudio discovers all plugins at start-up), ``ns-train nerfacto`` included,
so it imports only configs and changes nothing in the process: :func:`ghnerf_ns.runtime.setup_runtime` runs when a
GHNeRF pipeline is built.
"""

from dataclasses import replace
from typing import Dict, Optional

from nerfstudio.configs.base_config import MachineConfig, ViewerConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.plugins.types import MethodSpecification

from ghnerf_ns.data.datamanager import GHNeRFDataManagerConfig
from ghnerf_ns.ghnerf_model import GHNeRFModelConfig
from ghnerf_ns.model.human_encoders import HumanEncoderConfig
from ghnerf_ns.model.losses import GHNeRFLossConfig
from ghnerf_ns.model.network import GHNeRFNetworkConfig
from ghnerf_ns.pipeline import GHNeRFPipelineConfig

PARAM_GROUPS = ("feature_pyramid", "cost_regularizer", "field", "human_encoder")
"""Optimiser groups of GHNeRFModel.get_param_groups (a frozen or absent human encoder has no group)."""


def adam_halving(lr: float, max_steps: int, halve_every: int) -> Dict[str, Dict]:
    """Adam for every parameter group, lr halved every ``halve_every`` steps (the paper: 5e-4, every 50k steps).

    nerfstudio's exponential decay interpolates log-lr linearly to ``lr_final`` at ``max_steps``, which is exactly
    ``lr * 0.5 ** (step / halve_every)`` for ``lr_final = lr * 0.5 ** (max_steps / halve_every)``.
    """
    lr_final = lr * 0.5 ** (max_steps / halve_every)
    return {
        name: {
            "optimizer": AdamOptimizerConfig(lr=lr, eps=1e-8),
            "scheduler": ExponentialDecaySchedulerConfig(lr_final=lr_final, max_steps=max_steps),
        }
        for name in PARAM_GROUPS
    }


def _trainer(
    method_name: str,
    model: GHNeRFModelConfig,
    max_steps: int = 200_000,
    datamanager: Optional[GHNeRFDataManagerConfig] = None,
    lr: float = 5e-4,
    halve_every: int = 50_000,
    **kwargs,
) -> TrainerConfig:
    return TrainerConfig(
        method_name=method_name,
        steps_per_eval_batch=500,
        steps_per_eval_image=2000,
        steps_per_eval_all_images=50_000,
        steps_per_save=2000,
        max_num_iterations=max_steps,
        mixed_precision=False,
        pipeline=GHNeRFPipelineConfig(datamanager=datamanager or GHNeRFDataManagerConfig(), model=model),
        optimizers=adam_halving(lr, max_steps, halve_every),
        # One frustum per input camera of ZJU-MoCap's rig instead of one per training image.
        viewer=ViewerConfig(num_rays_per_chunk=1 << 15, max_num_display_images=12),
        vis="viewer",
        **kwargs,
    )


ghnerf_method = MethodSpecification(
    config=_trainer(
        "ghnerf",
        GHNeRFModelConfig(human_encoder=HumanEncoderConfig(name="dino_vits8")),
    ),
    description="GHNeRF (paper default): ENeRF cascade + DINO ViT-S/8 human features + BODY_25 heatmap head.",
)

ghnerf_resnet_method = MethodSpecification(
    config=_trainer(
        "ghnerf-resnet",
        GHNeRFModelConfig(human_encoder=HumanEncoderConfig(name="resnet34")),
    ),
    description="GHNeRF with a ResNet34 (pixelNeRF-style pyramid) human encoder.",
)

enerf_heatmap_method = MethodSpecification(
    config=_trainer(
        "enerf-heatmap",
        GHNeRFModelConfig(human_encoder=HumanEncoderConfig(name="none", pretrained=False)),
    ),
    description="The paper's baseline: ENeRF with a heatmap head and no human encoder.",
)

# The CPU preset is tuned by its learning curves on unseen synthetic people (benchmarks/learning_curve.py, table and
# plot in benchmarks/README.md), not by the paper: the paper's heatmap weight and ENeRF's ray rule give the heatmap head
# a few rays per joint per step, and a masked-background model fills the whole box with density unless told otherwise.
ghnerf_tiny_method = MethodSpecification(
    config=_trainer(
        "ghnerf-tiny",
        GHNeRFModelConfig(
            # Stride 4 and a 2D pose head on every source view (trained with the view's own keypoints): g_h then reads
            # per-view keypoint evidence at each sample's projections, which is what makes joints of an unseen person
            # learnable in a CPU budget (benchmarks/README.md, "Keypoint evidence").
            human_encoder=HumanEncoderConfig(name="resnet18", pretrained=False, resnet_stride=4, heatmap_head=True),
            # Three input views per prediction (the render, its 2D and 3D keypoints), trained with three: two views
            # cannot outvote a wrong one, and the 3D keypoints that the heads read triangulate far worse from two
            # (benchmarks/README.md, "Joint conditioning").
            num_source_views=3,
            # The 3D field is trained by the volumetric heat loss (heat at random box points against the mean of the
            # input views' 2D Gaussians at the point's projections), so its heat is not only valid near the rendered
            # surface: the 3D peak search uses the whole box and no occupancy weighting.
            volumetric_density_weighting=False,
            volumetric_band_only=False,
            # 3D keypoints from the pose head on the prediction's input views, triangulated by a consensus over views
            # and named left/right by the body frame; ns-eval reports the volumetric peaks beside them.
            keypoints_3d="source-views",
            # The pose head learns each left/right pair either-side (one sharp peak per channel, on either limb): a
            # head that must name them learns one blob over both hips, eyes or ears, which triangulate to their middle
            # (benchmarks/README.md, "Either-side pose head").
            source_heatmap_pairs="either-side",
            # A view supports a joint within 3 % of the image side (3.8 px at 128 px): the either-side head's peaks are
            # sharper than the named head's, for which 4 % was chosen (benchmarks/README.md, "Either-side pose head").
            source_view_inlier_fraction=0.03,
            # The heads read each sample's position relative to those 3D keypoints (the joint code), so each joint
            # channel lights its own limb and the paper's rule (each channel's own peak) names left and right.
            # CSE head on (16-dim embedding, reading V_nerf detached; its loss weighted 0.1 against colour).
            network=replace(GHNeRFNetworkConfig(), cse_dim=16, detach_head_weights=True, joint_conditioning=True),
            loss=GHNeRFLossConfig(
                perceptual_weight=0.0,
                heatmap_weight=10.0,
                mask_weight=1.0,
                # The 2D pose head carries the 3D keypoints that everything else reads: 200 learned them faster than 100
                # on the validation people (benchmarks/README.md, "Either-side pose head").
                source_heatmap_weight=200.0,
                volume_heat_weight=10.0,
                cse_weight=0.1,
            ),
            eval_num_rays_per_chunk=8192,
        ),
        max_steps=3000,
        lr=1e-3,
        halve_every=1000,
        datamanager=GHNeRFDataManagerConfig(
            resolution=128,
            train_num_rays_per_batch=1024,
            num_patches=0,
            train_num_views=(3,),
            train_num_views_probs=(1.0,),
            heatmap_sigma=3.0,
            joint_ray_fraction=0.25,
            # Six more input images of random training people per step, scored only on the 2D pose head (a pose
            # estimator needs far more images than the rendered targets give), mirrored half the time.
            pose_views=6,
            # ghnerf-synth places occluded joints too: the pose head learns where a hidden joint projects.
            occluded_joint_targets=True,
            volume_heat_points=1024,
            num_workers=2,
        ),
        machine=MachineConfig(device_type="cpu"),
    ),
    description="CPU preset for demos and tests: 128 px, ResNet18 human encoder from scratch, no downloads.",
)
