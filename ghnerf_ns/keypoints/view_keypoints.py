"""A rendered view's keypoints: its 3D keypoints from its own source views, and its 2D keypoints.

Every prediction of a view uses only the input views it is given (``--pipeline.model.num-source-views``; the target
camera itself is never one): the render, the 2D keypoints of the render and the 3D keypoints
(:func:`view_keypoints_3d`). ns-eval therefore scores the 3D keypoints view by view.

2D keypoints. ``--pipeline.model.keypoint-sides channels`` is the paper's rule (3.4): each joint channel's own peak.
A heat field that learned *where* a limb is but not *which* side it is lights both limbs in both channels of a pair;
``3d-keypoints`` then keeps the rendered peak positions and names each left/right pair by the view's 3D keypoints
projected into it (:func:`~ghnerf_ns.keypoints.pair_naming.named_keypoints_2d`).
"""

from typing import Any, Dict, List, Literal, Optional, Tuple

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from ghnerf_ns.keypoints.extractor import KeypointExtractor, KeypointExtractorConfig
from ghnerf_ns.keypoints.pair_naming import named_keypoints_2d
from ghnerf_ns.keypoints.peaks2d import scaled_filter_sigma
from ghnerf_ns.model.network import PreparedView

KeypointSides = Literal["channels", "3d-keypoints"]


Keypoints3DKind = Literal["volumetric", "source-views"]


def volumetric_extractor(config: Any) -> KeypointExtractor:
    """The 3D peak extraction of a model config: its threshold, occupancy weighting, left/right rule and grid
    resolution, with sub-voxel refinement (a quadratic fit around each peak)."""
    return KeypointExtractorConfig(
        threshold=config.keypoint_threshold,
        density_weighting=config.volumetric_density_weighting,
        side_assignment=config.volumetric_side_assignment,
        volume_resolution=config.volumetric_resolution,
        subpixel=True,
    ).setup()


def view_keypoints_3d(
    model: torch.nn.Module, view: PreparedView, kind: Keypoints3DKind, extractor: Optional[KeypointExtractor] = None
) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
    """A view's 3D keypoints ``(points [J, 4], valid [J])`` from its own source views only: 'source-views' is the pose
    head's estimate made when the views were encoded; 'volumetric' the peaks of the heat field queried over the box
    (paper 3.4; ``extractor`` default: :func:`volumetric_extractor` of the model's config), with the cascade volumes of
    a reference camera at the pose of the nearest source view, so that the estimate depends on the source views alone
    and is kept with their encoding (every view of a frame rendered from all input cameras shares it). A view with
    fewer than two source views has no joint."""
    from ghnerf_ns.keypoints.keypoints3d import no_keypoints, reference_target, volumetric_keypoints

    device = view.target.K.device
    if kind == "source-views":
        points = view.encoded.keypoints_3d
        if points is None:
            return no_keypoints(25, device)
        valid = points[:, 3] > 0
        return torch.cat([points[:, :3], valid[:, None].to(points.dtype)], dim=-1), valid
    if kind != "volumetric":
        raise ValueError(f"--pipeline.model.keypoints-3d must be 'volumetric' or 'source-views', got {kind!r}")
    if view.encoded.sources.num_views < 2:
        return no_keypoints(25, device)  # one view cannot place anything in depth
    if extractor is None and "volumetric" in view.encoded.derived:
        return view.encoded.derived["volumetric"]  # type: ignore[return-value]
    config = model.config
    reference = reference_target(view.target.box, view.encoded.sources.w2c[0].to(view.target.box))
    estimate = volumetric_keypoints(
        model.network, [(view.encoded, reference)], extractor or volumetric_extractor(config),
        config.volumetric_band_only,
    )  # fmt: skip
    if extractor is None:
        view.encoded.derived["volumetric"] = estimate
    return estimate


def view_estimates_3d(
    model: torch.nn.Module, view: PreparedView, extractor: Optional[KeypointExtractor] = None
) -> Dict[str, Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]]:
    """Every 3D estimate the model can make for a view (ns-eval scores them all): 'volumetric', and 'source-views'
    where the human encoder has the pose head."""
    from ghnerf_ns.keypoints.source_view_keypoints import has_pose_head

    kinds: List[Keypoints3DKind] = ["volumetric"] + (["source-views"] if has_pose_head(model) else [])
    return {kind: view_keypoints_3d(model, view, kind, extractor) for kind in kinds}


def view_keypoints_2d(
    heatmaps: Float[Tensor, "height width num_joints"],
    extractor: KeypointExtractor,
    points_3d: Optional[Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]] = None,
    K: Optional[Float[Tensor, "3 3"]] = None,
    w2c: Optional[Float[Tensor, "4 4"]] = None,
    max_side: Optional[int] = None,
) -> Tuple[Float[Tensor, "num_joints 3"], Bool[Tensor, " num_joints"]]:
    """``(keypoints [J, 3] = (x, y, score) pixels, found [J])`` of a rendered heatmap: each channel's own peak
    (``extractor``'s 2D options), and with ``points_3d`` (3D keypoints and validity) and the view's OpenCV
    ``K``/``w2c``, left/right pairs named by their projections (module docstring). Joints behind the camera are no
    reference.

    ``max_side``: search a copy average-pooled by the integer factor that brings the shorter side to at most this,
    and map the peaks back to this image's pixels (a drawn skeleton needs no more; the viewer's frame budget does).
    None: the full image (ns-eval, exported keypoints)."""
    height, width = int(heatmaps.shape[0]), int(heatmaps.shape[1])
    factor = 1 if max_side is None else max(-(-min(height, width) // max(int(max_side), 1)), 1)
    if factor > 1:
        heatmaps, K = pooled_view(heatmaps, K, factor)
    keypoints, found = _view_keypoints_2d(heatmaps, extractor, points_3d, K, w2c)
    if factor > 1:
        # Pixel i of the pooled map is the centre of pixels factor*i .. factor*i + factor - 1.
        keypoints = torch.cat([(keypoints[:, :2] + 0.5) * factor - 0.5, keypoints[:, 2:]], dim=-1)
        keypoints[~found] = 0.0
    return keypoints, found


def pooled_view(
    heatmaps: Float[Tensor, "height width num_joints"], K: Optional[Float[Tensor, "3 3"]], factor: int
) -> Tuple[Float[Tensor, "pooled_height pooled_width num_joints"], Optional[Float[Tensor, "3 3"]]]:
    """``heatmaps`` average-pooled by ``factor`` (a remainder at the bottom/right is dropped) and the intrinsics of
    the pooled pixels (pixel centres: ``u_pooled = (u + 0.5) / factor - 0.5``)."""
    height, width = int(heatmaps.shape[0]) // factor, int(heatmaps.shape[1]) // factor
    # A sum of strided slices of the channel-last map: several times faster on the CPU than avg_pool2d (which needs a
    # channel-first copy) or a reshaped mean.
    cropped = heatmaps[: height * factor, : width * factor]
    pooled = sum(cropped[dy::factor, dx::factor] for dy in range(factor) for dx in range(factor)) / factor**2
    if K is not None:
        scale = torch.tensor(
            [[1 / factor, 0, 0.5 / factor - 0.5], [0, 1 / factor, 0.5 / factor - 0.5], [0, 0, 1]],
            dtype=K.dtype, device=K.device,
        )  # fmt: skip
        K = scale @ K
    return pooled, K


def _view_keypoints_2d(
    heatmaps: Float[Tensor, "height width num_joints"],
    extractor: KeypointExtractor,
    points_3d: Optional[Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]],
    K: Optional[Float[Tensor, "3 3"]],
    w2c: Optional[Float[Tensor, "4 4"]],
) -> Tuple[Float[Tensor, "num_joints 3"], Bool[Tensor, " num_joints"]]:
    """:func:`view_keypoints_2d` at the heatmap's own resolution."""
    from ghnerf_ns.model.geometry import project

    keypoints, found = extractor.extract_2d(heatmaps)
    if points_3d is None or K is None or w2c is None:
        return keypoints, found
    points, valid = points_3d
    K, w2c = K.to(points.device, points.dtype), w2c.to(points.device, points.dtype)
    reference, depth = project(points[:, :3], K, w2c)
    height, width = int(heatmaps.shape[0]), int(heatmaps.shape[1])
    sigma = scaled_filter_sigma(
        extractor.config.filter_sigma, height, width, extractor.config.reference_resolution
    )
    threshold = extractor.config.threshold
    return named_keypoints_2d(heatmaps, keypoints, found, reference, valid & (depth > 0), sigma, threshold)
