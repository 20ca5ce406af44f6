"""3D keypoints from the human encoder's 2D pose head on a prediction's input views, triangulated by consensus.

Not in the paper (whose 3D keypoints are the peaks of the volumetric heatmap, :mod:`ghnerf_ns.keypoints.keypoints3d`).
With ``--pipeline.model.human-encoder.heatmap-head`` the encoder predicts each input view's BODY_25 heatmaps (the same
maps g_h reads as keypoint evidence); their 2D peaks in the views a prediction may use (``num_source_views``: the
render's own source views, or every input camera of the frame) are triangulated with
:func:`~ghnerf_ns.keypoints.robust_triangulation.triangulate_robust` when the views are encoded
(:func:`keypoints_3d_from_source_maps`), so each render has the estimate of exactly its own views; with joint
conditioning the field reads it (:mod:`ghnerf_ns.model.joint_code`). Only the input images and their calibration are
used, as for the volumetric estimate. A consensus over views drops the views whose keypoint is off; with two views
there is nothing to outvote, so a wrong view shows (benchmarks/README.md). Two views can also agree on a wrong match
and put a joint far off the body: given the person's 3D box (``--pipeline.model.source-view-box``), a joint outside it
is not found; with ``--pipeline.model.source-view-bone-bounds`` neither is a joint farther from its parent joint than a
bone can reach (:mod:`~ghnerf_ns.keypoints.bone_bounds`: the views can agree on a hand taken for a foot).

Left and right (``--pipeline.model.source-view-sides``). A pose head learns where a wrist is long before it learns
which wrist it is: early in training it names a left/right pair wrongly in a third of the views, or puts both labels
on one limb. ``body-frame`` (the default) therefore treats each pair side-blind: per view, the pair's two observations
are its channels' own peaks, or, where those coincide (both labels on one limb) or one is missing, the two strongest
peaks of the pair's summed map (:func:`~ghnerf_ns.keypoints.pair_naming.side_blind_pair_keypoints`); the
consensus triangulation pairs them across views whatever their labels, and the body's own frame names the 3D points
(:func:`~ghnerf_ns.keypoints.side_assignment.name_sides`). ``vote`` keeps the channels' peaks and names each pair by
the views' confidence-weighted vote. A head trained either-side (``--pipeline.model.source-heatmap-pairs``, the
``ghnerf-tiny`` preset) has arbitrary pair labels by construction: only ``body-frame`` names its pairs.
"""

from typing import Literal, Optional, Sequence, Tuple

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from dataparsers.body25 import BODY25_MIRROR
from ghnerf_ns.keypoints.bone_bounds import within_bone_bounds
from ghnerf_ns.keypoints.pair_naming import side_blind_pair_keypoints
from ghnerf_ns.keypoints.peaks2d import extract_keypoints_2d
from ghnerf_ns.keypoints.robust_triangulation import triangulate_robust
from ghnerf_ns.keypoints.side_assignment import name_sides
from ghnerf_ns.model.geometry import inside_box

SourceViewSides = Literal["body-frame", "vote"]

DEFAULT_INLIER_FRACTION = 0.04
"""Reprojection distance within which a view supports a 3D joint, as a fraction of the input images' shorter side
(5 px at 128 px: about twice the pose head's median 2D error on the demo's unseen subject)."""
MAP_FILTER_SIGMA_CELLS = 1.0
"""Gaussian filter of the peak search on the head's maps, in map cells (the maps are at the encoder's stride)."""


def has_pose_head(model: torch.nn.Module) -> bool:
    """Whether the model's human encoder has the 2D pose head this estimate needs."""
    return getattr(getattr(model, "human_encoder", None), "heatmap_head", None) is not None


def keypoints_from_maps(
    maps: Sequence[Float[Tensor, "num_joints h w"]], stride: int, threshold: float, side_blind: bool = False
) -> Float[Tensor, "num_views num_joints 3"]:
    """2D keypoints ``(x, y, score)`` (pixels of the input images; score 0: not found) of each view's pose-head maps at
    the encoder's ``stride``. ``side_blind``: each left/right pair's observations from
    :func:`~ghnerf_ns.keypoints.pair_naming.side_blind_pair_keypoints` (labels arbitrary)."""
    keypoints = []
    for view_maps in maps:
        cells = view_maps.permute(1, 2, 0)
        kp, found = extract_keypoints_2d(cells, MAP_FILTER_SIGMA_CELLS, threshold, subpixel=True)
        kp = torch.cat([kp[:, :2], torch.where(found, kp[:, 2], torch.zeros_like(kp[:, 2]))[:, None]], -1)
        if side_blind:
            cells_np = cells.detach().to("cpu", torch.float64).numpy()
            kp = torch.from_numpy(
                side_blind_pair_keypoints(cells_np, kp.cpu().double().numpy(), MAP_FILTER_SIGMA_CELLS, threshold)
            ).to(kp)
        # Cell (i, j) holds pixel (s j + (s - 1) / 2, s i + (s - 1) / 2) (the encoders' cell convention).
        keypoints.append(torch.cat([kp[:, :2] * stride + (stride - 1) / 2.0, kp[:, 2:]], -1))
    return torch.stack(keypoints)


def triangulate_source_views(
    keypoints: Float[Tensor, "num_views num_joints 3"],
    K: Float[Tensor, "num_views 3 3"],
    w2c: Float[Tensor, "num_views 4 4"],
    inlier_px: float,
    threshold: float,
    sides: SourceViewSides = "body-frame",
    box: Optional[Float[Tensor, "2 3"]] = None,
    bone_bounds: bool = False,
) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
    """3D joints ``(x, y, z, score)`` and validity from per-view 2D keypoints (pixels): the consensus triangulation;
    with a ``box`` (the person's, world frame) a joint outside it is not found (a wrong match that the views agreed
    on); with ``bone_bounds`` a joint too far from every point of its parent joint is not found either
    (:mod:`~ghnerf_ns.keypoints.bone_bounds`); then, for ``sides="body-frame"``, the body frame names every left/right
    pair from the joints kept (the views' vote stands where no body frame can be formed). ``keypoints`` of a pair may
    carry arbitrary labels for ``body-frame``."""
    if sides not in ("body-frame", "vote"):
        raise ValueError(f"--pipeline.model.source-view-sides must be 'body-frame' or 'vote', got {sides!r}")
    points, valid = triangulate_robust(keypoints, K, w2c, BODY25_MIRROR, inlier_px, threshold)
    if box is not None:
        valid = valid & inside_box(points[:, :3], box)
    if bone_bounds:
        kept = within_bone_bounds(points[:, :3].detach().cpu().double().numpy(), valid.cpu().numpy())
        valid = torch.from_numpy(kept).to(valid.device)
    if box is not None or bone_bounds:
        points = torch.where(valid[:, None], points, torch.zeros_like(points))
    if sides == "body-frame":
        named, named_valid, count = name_sides(points.detach().cpu().double().numpy(), valid.cpu().numpy())
        if count > 0:
            points = torch.from_numpy(np.where(named_valid[:, None], named, 0.0)).to(points)
            valid = torch.from_numpy(named_valid).to(valid.device)
    return points, valid


def keypoints_3d_from_source_maps(
    maps: Float[Tensor, "num_views num_joints h w"],
    K: Float[Tensor, "num_views 3 3"],
    w2c: Float[Tensor, "num_views 4 4"],
    image_side: int,
    stride: int,
    threshold: float,
    inlier_fraction: float,
    sides: SourceViewSides = "body-frame",
    box: Optional[Float[Tensor, "2 3"]] = None,
    bone_bounds: bool = False,
) -> Optional[Float[Tensor, "num_joints 4"]]:
    """The source-view estimate from pose-head ``maps`` already computed for a set of views (a render's sources):
    ``(x, y, z, valid)`` per joint on the maps' device, or None with fewer than two views (no triangulation).
    ``image_side``: the views' shorter side in pixels (the inlier radius is ``inlier_fraction`` of it). ``box``: the
    person's 3D box; joints outside it are not found. ``bone_bounds``: a joint too far from its parent joint is not
    found either (:func:`triangulate_source_views`)."""
    if maps.shape[0] < 2:
        return None
    keypoints = keypoints_from_maps(list(maps.detach().cpu()), stride, threshold, side_blind=sides == "body-frame")
    points, valid = triangulate_source_views(
        keypoints, K.detach().cpu(), w2c.detach().cpu(), inlier_fraction * image_side, threshold, sides, box,
        bone_bounds,
    )  # fmt: skip
    return torch.cat([points[:, :3], valid[:, None].to(points.dtype)], dim=-1).to(maps.device, maps.dtype)
