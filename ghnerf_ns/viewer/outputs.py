"""What a whole-image render shows in the viewer and ns-render (ns-eval scores it: :mod:`ghnerf_ns.eval.image_metrics`).

Every output the viewer can pick is a contiguous, finite float ``[H, W, C]`` tensor with C in {1, 3}: nerfstudio's
viewer colormaps 1 channel, shows 3 as RGB, and raises on 2 channels or on degenerate (e.g. all-zero) PCA inputs.
"""

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from ghnerf_ns.keypoints.extractor import keypoint_extractor
from ghnerf_ns.viewer.controls import ViewerSettings
from ghnerf_ns.viewer.visuals import (
    cse_to_rgb,
    draw_keypoints_overlay,
    heatmap_max_channel,
    heatmap_overlay,
    pca_colours,
    safe_viewer_output,
)

DEFAULT_SETTINGS = ViewerSettings(
    subject="", frame_position=0, num_views=2, joint=None, opacity=0.6, show_keypoints=True
)


def viewer_outputs(
    raw: Dict[str, Tensor],
    settings: Optional[ViewerSettings],
    keypoint_threshold: float,
    keep_raw_maps: bool = False,
    keypoints: Optional[Tuple[Tensor, Tensor]] = None,
) -> Dict[str, Tensor]:
    """The model's image outputs from a raw fine-level render (README.md, "Model outputs").

    Every output is display-safe (:func:`safe_viewer_output`): 1 or 3 float channels, contiguous, finite. ``heatmaps``
    (25 joints) and ``cse`` (embedding) are PCA-coloured here, black where PCA is undefined (e.g. all-zero heatmaps of
    an untrained model), because nerfstudio's own PCA raises on such images. With ``keep_raw_maps`` (dataset cameras:
    ns-eval, ns-render dataset) they stay the raw multi-channel maps, which the per-image metrics need, and
    ``keypoints_2d`` [J, 4] = (x, y, score, found) holds the 2D keypoints the skeleton is drawn from.

    ``keypoints``: the view's 2D keypoints ``(keypoints [J, 3], found [J])`` (the model's rule,
    :meth:`~ghnerf_ns.ghnerf_model.GHNeRFModel.keypoints_2d`); None extracts each channel's own peak here.

    The viewer shows one output at a time (two with its split view): an output it does not show
    (``settings.shown_outputs``) is a black placeholder of one channel, so that the "Output type" list keeps every
    name while only the shown output's work is done (the PCA colourings and the skeleton cost most).
    """
    settings = settings or DEFAULT_SETTINGS
    shown = None if keep_raw_maps else settings.shown_outputs

    def wants(name: str) -> bool:
        return shown is None or name in shown

    rgb = raw["rgb"].clamp(0.0, 1.0).contiguous()
    heatmaps = torch.nan_to_num(raw["heatmaps"].float()).contiguous()
    placeholder = torch.zeros_like(rgb[..., :1])
    heatmap = heatmap_max_channel(heatmaps, settings.joint) if wants("heatmap") or wants("heatmap_overlay") else None
    overlay = rgb
    draw = settings.show_keypoints and wants("keypoints_overlay")
    if keypoints is None and (draw or keep_raw_maps):
        # The extraction is the costliest output: skipped when the skeleton is hidden (and no metric needs it).
        keypoints = keypoint_extractor(keypoint_threshold).extract_2d(heatmaps)
    if draw and keypoints is not None:
        overlay = draw_keypoints_overlay(rgb, keypoints[0], keypoint_threshold, valid=keypoints[1])
    out = {
        "rgb": rgb,
        "depth": raw["depth"],
        "accumulation": raw["accumulation"],
        "heatmap": heatmap if wants("heatmap") else placeholder,
        "heatmaps": heatmaps if keep_raw_maps else (pca_colours(heatmaps) if wants("heatmaps") else placeholder),
        "heatmap_overlay": heatmap_overlay(rgb, heatmap, settings.opacity) if wants("heatmap_overlay") else placeholder,
        "keypoints_overlay": overlay if wants("keypoints_overlay") else placeholder,
    }
    if "cse" in raw:
        cse = torch.nan_to_num(raw["cse"].float()).contiguous()
        out["cse"] = cse if keep_raw_maps else (pca_colours(cse) if wants("cse") else placeholder)
        out["cse_rgb"] = cse_to_rgb(cse, alpha=raw["accumulation"]) if wants("cse_rgb") else placeholder
    out = {name: value if value.shape[-1] > 3 else safe_viewer_output(value) for name, value in out.items()}
    if keep_raw_maps and keypoints is not None:
        points, found = keypoints
        out["keypoints_2d"] = torch.cat([points[:, :3], found[:, None].to(points.dtype)], dim=-1)
    return out
