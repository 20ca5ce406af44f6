"""2D keypoints of a rendered view, with left and right named by the model's own 3D keypoints.

``--pipeline.model.keypoint-sides channels`` is the paper's rule (3.4): each joint channel's own peak. A heat field
learns *where* a limb is long before *which* side it is, and then its left and right channels both light both limbs:
on the demo's unseen person after 1250 CPU steps each channel's peak lands on the same leg for both labels in most
views (PCK@0.2 0.69), while the peaks themselves are where the limbs are. ``3d-keypoints`` keeps the rendered peak
positions and takes the sides from the model's 3D keypoints of the same subject and frame
(``--pipeline.model.keypoints-3d``; the source-view estimate names them by the body frame), projected into the view
(:func:`~ghnerf_ns.keypoints.pair_naming.named_keypoints_2d`): PCK 0.86 on the same renders (benchmarks/README.md,
"Sides from the body frame"). Only the input images and their calibration are used, as for every 3D estimate.

The 3D keypoints are computed once per (subject, frame) and weights (:class:`FrameKeypoints3DCache`): the viewer and
ns-eval render many views of one frame.
"""

from collections import OrderedDict
from typing import Literal, Optional, Tuple

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from ghnerf_ns.keypoints.extractor import KeypointExtractor, keypoint_extractor
from ghnerf_ns.keypoints.pair_naming import named_keypoints_2d
from ghnerf_ns.keypoints.peaks2d import scaled_filter_sigma

KeypointSides = Literal["channels", "3d-keypoints"]


def model_keypoints_3d(
    model: torch.nn.Module, subject: str, frame: int
) -> Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]:
    """The model's configured 3D estimate (``model.config.keypoints_3d``) of one subject/frame."""
    from ghnerf_ns.keypoints.keypoints3d import model_volumetric_keypoints
    from ghnerf_ns.keypoints.source_view_keypoints import model_source_view_keypoints

    config = model.config
    if config.keypoints_3d == "source-views":
        return model_source_view_keypoints(model, subject, frame)
    extractor = keypoint_extractor(
        config.keypoint_threshold, config.volumetric_density_weighting, config.volumetric_side_assignment
    )
    return model_volumetric_keypoints(model, subject, frame, extractor)


class FrameKeypoints3DCache:
    """The model's 3D keypoints per (subject, frame, weights version), least recently used evicted. A weight change
    (training) changes the key, so a stale estimate is never returned. A frame whose estimate cannot be made (too few
    input cameras) is remembered as None."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._entries: "OrderedDict[tuple, Optional[Tuple[Tensor, Tensor]]]" = OrderedDict()

    def get(self, model: torch.nn.Module, subject: str, frame: int) -> Optional[Tuple[Tensor, Tensor]]:
        from ghnerf_ns.keypoints.keypoints3d import KeypointQueryError
        from ghnerf_ns.render.image_renderer import weights_version

        key = (subject, frame, weights_version(model.network, model.human_encoder))
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        try:
            value: Optional[Tuple[Tensor, Tensor]] = model_keypoints_3d(model, subject, frame)
        except KeypointQueryError:
            value = None
        self._entries[key] = value
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value


def view_keypoints_2d(
    heatmaps: Float[Tensor, "height width num_joints"],
    extractor: KeypointExtractor,
    points_3d: Optional[Tuple[Float[Tensor, "num_joints 4"], Bool[Tensor, " num_joints"]]] = None,
    K: Optional[Float[Tensor, "3 3"]] = None,
    w2c: Optional[Float[Tensor, "4 4"]] = None,
) -> Tuple[Float[Tensor, "num_joints 3"], Bool[Tensor, " num_joints"]]:
    """``(keypoints [J, 3] = (x, y, score) pixels, found [J])`` of a rendered heatmap: each channel's own peak
    (``extractor``'s 2D options), and with ``points_3d`` (3D keypoints and validity) and the view's OpenCV
    ``K``/``w2c``, left/right pairs named by their projections (module docstring). Joints behind the camera are no
    reference."""
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
