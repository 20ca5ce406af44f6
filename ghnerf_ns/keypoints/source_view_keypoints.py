"""3D keypoints from the human encoder's 2D pose head on every input camera, triangulated by consensus.

Not in the paper (whose 3D keypoints are the peaks of the volumetric heatmap, :mod:`ghnerf_ns.keypoints.keypoints3d`).
With ``--pipeline.model.human-encoder.heatmap-head`` the encoder predicts each input view's BODY_25 heatmaps (the same
maps g_h reads as keypoint evidence); their 2D peaks, from all of the subject/frame's input cameras, are triangulated
with :func:`~ghnerf_ns.keypoints.robust_triangulation.triangulate_robust`. Only the input images and their calibration
are used, as for the volumetric estimate. On the demo's unseen subject this is the more accurate 3D estimate at every
training step measured (benchmarks/README.md, "3D keypoints"): the volumetric field learns the same evidence later and
blurs where views disagree, where a consensus over views drops the wrong ones.
"""

from typing import Tuple

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from dataparsers.body25 import BODY25_MIRROR
from ghnerf_ns.keypoints.keypoints3d import KeypointQueryError
from ghnerf_ns.keypoints.peaks2d import extract_keypoints_2d
from ghnerf_ns.keypoints.robust_triangulation import triangulate_robust

DEFAULT_INLIER_FRACTION = 0.04
"""Reprojection distance within which a view supports a 3D joint, as a fraction of the input images' shorter side
(5 px at 128 px: about twice the pose head's median 2D error on the demo's unseen subject)."""
MAP_FILTER_SIGMA_CELLS = 1.0
"""Gaussian filter of the peak search on the head's maps, in map cells (the maps are at the encoder's stride)."""
VIEWS_PER_CHUNK = 8
"""Input views encoded at once (bounds memory on rigs with many cameras)."""


def has_pose_head(model: torch.nn.Module) -> bool:
    """Whether the model's human encoder has the 2D pose head this estimate needs."""
    return getattr(getattr(model, "human_encoder", None), "heatmap_head", None) is not None


@torch.no_grad()
def source_view_keypoints_2d(
    model: torch.nn.Module, subject: str, frame: int, threshold: float
) -> Tuple[
    Float[Tensor, "num_views num_joints 3"], Float[Tensor, "num_views 3 3"], Float[Tensor, "num_views 4 4"], int
]:
    """The pose head's 2D keypoints ``(x, y, score)`` (pixels of the input images) on every input camera of the
    subject/frame, with the cameras' ``K`` and ``w2c``; the last value is the images' shorter side (pixels)."""
    from ghnerf_ns.render.image_renderer import human_features_for

    if not has_pose_head(model):
        raise ValueError(
            "--pipeline.model.keypoints-3d source-views needs the human encoder's 2D pose head "
            "(--pipeline.model.human-encoder.heatmap-head True); this model has none"
        )
    encoder, bank = model.human_encoder, model._bank
    pool = sorted(bank.pool(subject, frame), key=bank.camera_of)
    if len(pool) < 2:
        raise KeypointQueryError(
            f"subject {subject} frame {frame} has {len(pool)} input camera(s) (missing images?); triangulation needs 2"
        )
    box = torch.from_numpy(bank.box(subject, frame)).to(model.device).float()
    stride = encoder.stride
    keypoints, Ks, w2cs, side = [], [], [], None
    for start in range(0, len(pool), VIEWS_PER_CHUNK):
        sources = bank.load(pool[start : start + VIEWS_PER_CHUNK]).to(model.device)
        side = min(sources.hw) if side is None else min(side, *sources.hw)
        heatmaps = human_features_for(encoder, sources, box).heatmaps  # [V, J, h, w]
        for view_maps in heatmaps:
            kp, found = extract_keypoints_2d(
                view_maps.permute(1, 2, 0), MAP_FILTER_SIGMA_CELLS, threshold, subpixel=True
            )
            # Cell (i, j) holds pixel (s j + (s - 1) / 2, s i + (s - 1) / 2) (the encoders' cell convention).
            xy = kp[:, :2] * stride + (stride - 1) / 2.0
            keypoints.append(torch.cat([xy, torch.where(found, kp[:, 2], torch.zeros_like(kp[:, 2]))[:, None]], -1))
        Ks.append(sources.K)
        w2cs.append(sources.w2c)
    return torch.stack(keypoints).cpu(), torch.cat(Ks).cpu(), torch.cat(w2cs).cpu(), int(side)


def model_source_view_keypoints(
    model: torch.nn.Module,
    subject: str,
    frame: int,
    threshold: float,
    inlier_fraction: float = DEFAULT_INLIER_FRACTION,
) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
    """The source-view 3D estimate (module docstring) of one subject/frame: ``(points [J, 4], valid [J])``."""
    keypoints, K, w2c, side = source_view_keypoints_2d(model, subject, frame, threshold)
    points, valid = triangulate_robust(keypoints, K, w2c, BODY25_MIRROR, inlier_fraction * side, threshold)
    return points.to(model.device), valid.to(model.device)
