"""3D keypoints from a trained GHNeRF model (paper 3.4): the volumetric estimate and the triangulated estimate.

**Volumetric.** The field ``g_h`` needs, at every 3D point, the pixel-aligned source features (available anywhere)
and a voxel feature ``f_voxel`` read from the fine cost volume, which lives in some *target* camera's frustum. The
3D query therefore builds the cascade volumes of a **reference camera**: the pose of the nearest of the view's source
cameras, with its intrinsics refitted (:func:`reference_target`) so that the whole 3D box projects inside a square
image with a margin; the sources are the view's own input views
(:func:`~ghnerf_ns.keypoints.view_keypoints.view_keypoints_3d`). Each grid point is projected into the reference
camera: its pixel gives (u, v) of the volume and its z-depth the position between the fine level's per-pixel first and
last plane. The fine volume only spans a band of ``depth +- std`` around the coarse surface (ENeRF's cascade): points
outside it read the volume's zero padding, as the renderer never samples there either; the occupancy weighting of
:mod:`ghnerf_ns.keypoints.peaks3d` keeps such empty space from winning (a field trained with the volumetric heat loss
is queried everywhere instead).

**Triangulated.** 2D keypoints of several rendered views (eval cameras, dataset cameras or orbit cameras) are
triangulated with :func:`ghnerf_ns.keypoints.triangulation.triangulate_dlt`.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from dataparsers.human_common import HumanImageIndex
from ghnerf_ns.data.image_loading import undistort_keypoints
from ghnerf_ns.data.keypoint_source import read_keypoints
from ghnerf_ns.keypoints.extractor import KeypointExtractor
from ghnerf_ns.keypoints.metrics import mpjpe_mm
from ghnerf_ns.keypoints.triangulation import triangulate_dlt
from ghnerf_ns.model.depth_sampler import sample_pixel_maps
from ghnerf_ns.model.geometry import box_corners, box_near_far, camera_centers, project
from ghnerf_ns.model.network import SIZE_MULTIPLE, EncodedSources, GHNeRFNetwork, TargetVolumes
from ghnerf_ns.model.projection import project_samples, sample_voxel_features
from ghnerf_ns.model.views import TargetView

DEFAULT_REFERENCE_SIZE = 64
"""Side of the square reference image whose cascade volumes the 3D query reads (multiple of 32)."""
DEFAULT_MARGIN = 0.1
"""Fraction of the reference image left free on each side around the projected box."""


class KeypointQueryError(ValueError):
    """The volumetric 3D query cannot run on this subject/frame (too few input cameras, box behind the reference
    camera): a property of the data, reported and counted as missing joints rather than stopping an evaluation."""


@dataclass
class Keypoints3D:
    """Both 3D estimates of one subject/frame, world metres (the dataset's frame)."""

    volumetric: Float[Tensor, "num_joints 4"]
    """(x, y, z, score) from the peaks of the occupancy-weighted volumetric heatmap; zeros where not found."""
    volumetric_valid: Bool[Tensor, " num_joints"]
    """Joints the volumetric peak procedure found."""
    triangulated: Float[Tensor, "num_joints 4"]
    """(x, y, z, mean confidence) from DLT of rendered 2D keypoints; zeros where not triangulated."""
    triangulated_valid: Bool[Tensor, " num_joints"]
    """Joints seen confidently in at least two rendered views."""


def reference_target(
    box: Float[Tensor, "2 3"],
    w2c: Float[Tensor, "4 4"],
    size: int = DEFAULT_REFERENCE_SIZE,
    margin: float = DEFAULT_MARGIN,
) -> TargetView:
    """A square virtual camera with the pose ``w2c`` whose intrinsics make the whole ``box`` project inside the image.

    Only ``K`` is refitted (focal length and principal point), so the view direction stays that of a real camera the
    model has seen during training. Raises ValueError when a box corner is behind the camera (no pinhole fits).
    """
    if size % SIZE_MULTIPLE or size <= 0:
        raise ValueError(f"reference size must be a positive multiple of {SIZE_MULTIPLE}, got {size}")
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"reference margin must be in [0, 0.5), got {margin}")
    corners = box_corners(box)
    cam = corners @ w2c[:3, :3].T + w2c[:3, 3]
    if bool((cam[:, 2] <= 1e-3).any()):
        raise KeypointQueryError(
            "a corner of the human's 3D box is behind the reference camera, so no pinhole image can contain the box; "
            "choose another reference camera"
        )
    xy = cam[:, :2] / cam[:, 2:3]  # normalised image coordinates
    lo, hi = xy.min(dim=0).values, xy.max(dim=0).values
    usable = (size - 1) * (1.0 - 2.0 * margin)
    focal = usable / torch.clamp_min((hi - lo).max(), 1e-6)
    center = (lo + hi) / 2.0
    principal = (size - 1) / 2.0 - focal * center
    K = torch.zeros(3, 3, dtype=w2c.dtype, device=w2c.device)
    K[0, 0], K[1, 1], K[2, 2] = focal, focal, 1.0
    K[:2, 2] = principal
    return TargetView(K=K, w2c=w2c, height=size, width=size, box=box, near_far=box_near_far(box, w2c))


def query_points(
    network: GHNeRFNetwork,
    encoded: EncodedSources,
    volumes: TargetVolumes,
    target: TargetView,
    points: Float[Tensor, "num_points 3"],
) -> Tuple[Float[Tensor, " num_points"], Float[Tensor, "num_points num_joints"], Bool[Tensor, " num_points"]]:
    """Density, joint heatmaps and validity of the fine field at arbitrary world points (see the module docstring).

    The voxel feature comes from the fine volume of ``volumes`` (built for ``target``); points whose projection or
    depth falls outside it read zeros (the volume's padding) and are reported as not valid: the renderer never
    samples there.
    """
    level = network.levels[1]
    volume = volumes.fine
    uv, z = project(points, target.K, target.w2c)
    near_far = sample_pixel_maps(volume.near_far, uv, target.height, target.width)  # (P, 2), level parametrisation
    z_param = 1.0 / torch.clamp_min(z, 1e-6) if level.inverse_depth else z
    near, far = near_far[:, 0], near_far[:, 1]
    # Same normalisation as the depth-guided samples (ENeRF sample_along_depth's uvd), zeros outside via grid_sample.
    if level.inverse_depth:
        d = (near - z_param) / torch.clamp_min(near - far, 1e-6)
    else:
        d = (z_param - near) / torch.clamp_min(far - near, 1e-6)
    uv_norm = uv / uv.new_tensor([max(target.width - 1, 1), max(target.height - 1, 1)])
    coords = torch.cat([uv_norm, d[:, None]], dim=-1)
    inside = ((coords >= 0.0) & (coords <= 1.0)).all(dim=-1) & (z > 0)
    voxel = sample_voxel_features(volume.features, coords)
    sources = encoded.sources
    projected = project_samples(
        points[:, None, :],
        sources.images,
        encoded.pyramid.at_stride(level.render_feature_stride),
        sources.K,
        sources.w2c,
        target.w2c,
        human_features=encoded.human_features,
        keypoint_maps=encoded.source_heatmaps,
    )
    view_dirs = points - camera_centers(target.w2c)
    view_dirs = view_dirs / torch.clamp_min(torch.linalg.norm(view_dirs, dim=-1, keepdim=True), 1e-6)
    code = network.joint_code(points[:, None, :], encoded)
    out = network.fields[1](voxel[:, None, :], projected, view_dirs, code)
    if out.heatmaps is None:
        raise ValueError("the network's fine field has no heatmap head; 3D keypoints need GHNeRF's g_h")
    return out.density[:, 0, 0], out.heatmaps[:, 0, :], inside


def volumetric_keypoints(
    network: GHNeRFNetwork,
    references: Sequence[Tuple[EncodedSources, TargetView]],
    extractor: KeypointExtractor,
    band_only: bool = True,
) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
    """3D peaks of the density-weighted volumetric heatmap over the box (chunked by ``volume_chunk``).

    Each reference (encoded sources, reference camera) sees the person from one side: its fine volume covers a band
    around the surface it sees. At each grid point, density and heatmaps are averaged over the references whose band
    holds the point; a point in no band is empty. One reference alone finds the joints on its side of the body only.
    ``band_only=False`` averages over every reference at every point instead (a field trained at points all over the
    box: the volumetric heat loss, :mod:`ghnerf_ns.model.volume_heat`).
    """
    if not references:
        raise ValueError("volumetric keypoints need at least one reference camera")
    box = references[0][1].box
    with torch.no_grad():
        volumes = [network.build_volumes(encoded, target) for encoded, target in references]

        def query(points: Tensor) -> Tuple[Tensor, Tensor]:
            density_sum, heat_sum, count = None, None, None
            for (encoded, target), volume in zip(references, volumes):
                density, heat, inside = query_points(network, encoded, volume, target, points.to(target.K.dtype))
                weight = inside.to(density.dtype) if band_only else torch.ones_like(density)
                density, heat = density * weight, heat * weight[:, None]
                density_sum = density if density_sum is None else density_sum + density
                heat_sum = heat if heat_sum is None else heat_sum + heat
                count = weight if count is None else count + weight
            assert density_sum is not None and heat_sum is not None and count is not None
            norm = torch.clamp_min(count, 1.0)
            return density_sum / norm, heat_sum / norm[:, None]

        return extractor.extract_3d(query, box)


def no_keypoints(
    num_joints: int = 25, device: Union[str, torch.device] = "cpu"
) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
    """An estimate with no joint found (the shape of :func:`volumetric_keypoints`'s result)."""
    return torch.zeros(num_joints, 4, device=device), torch.zeros(num_joints, dtype=torch.bool, device=device)


def triangulated_keypoints(
    keypoints_2d: Sequence[Float[Tensor, "num_joints 3"]],
    K: Sequence[Float[Tensor, "3 3"]],
    w2c: Sequence[Float[Tensor, "4 4"]],
    min_confidence: float = 0.1,
) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
    """DLT of the 2D keypoints of several rendered views; fewer than two views gives no valid joint."""
    num_joints = int(keypoints_2d[0].shape[0]) if keypoints_2d else 25
    if len(keypoints_2d) < 2:
        device = keypoints_2d[0].device if keypoints_2d else torch.device("cpu")
        return torch.zeros(num_joints, 4, device=device), torch.zeros(num_joints, dtype=torch.bool, device=device)
    return triangulate_dlt(
        torch.stack(list(keypoints_2d)), torch.stack(list(K)), torch.stack(list(w2c)), min_confidence
    )


def annotated_joints3d(
    indices: Sequence[HumanImageIndex], subject: str, frame: int, min_confidence: float = 0.1
) -> Float[Tensor, "num_joints 4"]:
    """3D ground truth of a real dataset: DLT of the annotated 2D keypoints of every camera of (subject, frame).

    Uses all rows of ``indices`` (e.g. the input and test cameras) showing that subject and frame, with the keypoints
    undistorted into each camera's pinhole model at native resolution. Returns ``(x, y, z, validity)``; validity is 1
    for joints seen confidently in at least two cameras, else 0 (excluded from MPJPE).
    """
    views = [
        (read_keypoints(index, row), index.K[row], index.dist[row], index.w2c[row])
        for index in indices
        for row in range(len(index))
        if index.subjects[int(index.subject_idx[row])] == subject and int(index.frame[row]) == int(frame)
    ]
    return triangulated_annotations(views, min_confidence).float()


def triangulated_annotations(
    views: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], min_confidence: float = 0.1
) -> Float[Tensor, "num_joints 4"]:
    """DLT of annotated 2D keypoints, one ``(keypoints [J, 3] in distorted pixels, K, dist, w2c [3, 4] or [4, 4])`` per
    camera: each view's keypoints undistorted into its pinhole model, then :func:`triangulated_keypoints`. Returns
    float64 ``(x, y, z, validity)`` (validity 1 where at least two cameras see the joint confidently)."""
    keypoints, Ks, w2cs = [], [], []
    for kp, K, dist, w2c in views:
        kp = undistort_keypoints(kp, K, dist)
        full = np.eye(4, dtype=np.float64)
        full[:3] = np.asarray(w2c, np.float64)[:3]
        keypoints.append(torch.from_numpy(np.asarray(kp, np.float64)))
        Ks.append(torch.from_numpy(np.asarray(K, np.float64)))
        w2cs.append(torch.from_numpy(full))
    points, valid = triangulated_keypoints(keypoints, Ks, w2cs, min_confidence)
    return torch.cat([points[:, :3], valid[:, None].to(points.dtype)], dim=-1)


@dataclass
class FrameViews:
    """What ns-eval collects for one (subject, frame) of the eval split while it renders the frame's images."""

    subject: str
    frame: int
    keypoints_2d: List[Tensor] = field(default_factory=list)
    """Predicted (x, y, score) [J, 3] per rendered view."""
    K: List[Tensor] = field(default_factory=list)
    """OpenCV intrinsics of each rendered view at the render resolution."""
    w2c: List[Tensor] = field(default_factory=list)
    """OpenCV world-to-camera of each rendered view."""
    estimates: Dict[str, List[Tuple[Tensor, Tensor]]] = field(default_factory=dict)
    """Each rendered view's 3D estimates by kind ('volumetric', 'source-views'): (points [J, 4], valid [J]), each made
    from that view's own source views."""
    joints3d: Optional[Tensor] = None
    """Synthetic ground truth (25, 4) where the dataset has it (batch key ``joints3d``)."""
    image_metrics: List[Dict[str, float]] = field(default_factory=list)
    """The per-image metrics of each rendered view (ns-eval's per-subject figures pool them)."""
    cse_views: List[Any] = field(default_factory=list)
    """Each rendered view's CSE, depth, opacity and camera (a CSE head only): the cross-view consistency
    (:class:`~ghnerf_ns.eval.cse_consistency.RenderedCSEView`)."""


def frame_mpjpe_metrics(
    views: FrameViews, gt: Float[Tensor, "num_joints 4"], configured: str
) -> Dict[str, float]:
    """Sums and counts for the pooled MPJPE (mm) of one frame: ``mpjpe_3d_<kind>`` of each kind of per-view estimate,
    pooled over the frame's views, ``mpjpe_3d`` the ``configured`` kind (the model's keypoints-3d), and
    ``mpjpe_3d_triangulated`` (DLT of the rendered views' 2D keypoints, one estimate per frame)."""
    out: Dict[str, float] = {}
    triangulated = triangulated_keypoints(views.keypoints_2d, views.K, views.w2c)
    per_view = {f"mpjpe_3d_{kind.replace('-', '_')}": estimates for kind, estimates in views.estimates.items()}
    per_view["mpjpe_3d"] = views.estimates.get(configured, [])
    per_view["mpjpe_3d_triangulated"] = [triangulated]
    for name, estimates in per_view.items():
        total, joints, missing = 0.0, 0, 0
        for points, valid in estimates:
            result = mpjpe_mm(points.cpu(), gt.cpu(), pred_valid=valid.cpu())
            total += result.mpjpe_mm * result.num_joints if result.num_joints else 0.0
            joints += result.num_joints
            missing += result.num_missing
        out[f"{name}_sum"] = total
        out[f"{name}_num_joints"] = float(joints)
        out[f"{name}_num_missing"] = float(missing)
    return out
