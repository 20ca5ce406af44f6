"""What a whole-image render shows (viewer/ns-render outputs) and how it is scored (ns-eval per-image metrics).

Every output the viewer can pick is a contiguous, finite float ``[H, W, C]`` tensor with C in {1, 3}: nerfstudio's
viewer colormaps 1 channel, shows 3 as RGB, and raises on 2 channels or on degenerate (e.g. all-zero) PCA inputs.
"""

from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from ghnerf_ns.eval.human_metrics import cse_mse, heatmap_mse, lpips_on_box_crop, psnr_in_box, ssim_on_box_crop
from ghnerf_ns.keypoints.extractor import KeypointExtractorConfig
from ghnerf_ns.keypoints.heatmap_targets import render_gt_heatmaps
from ghnerf_ns.keypoints.metrics import pck
from ghnerf_ns.viewer.controls import ViewerSettings
from ghnerf_ns.viewer.visuals import (
    cse_to_rgb,
    draw_keypoints_overlay,
    heatmap_max_channel,
    heatmap_overlay,
    pca_colours,
    safe_viewer_output,
)

NAN = float("nan")
DEFAULT_SETTINGS = ViewerSettings(subject="", frame_position=0, num_views=2, joint=None, opacity=0.6, show_keypoints=True)


def keypoint_extractor(threshold: float):
    """The 2D peak extraction of ns-eval, the viewer, ns-render and ghnerf-keypoints alike: its Gaussian filter scales
    with the image size (a fixed 3 px filter keeps only ~20% of a sigma-1.5 peak at 128 px, and PCK then reads 0)."""
    return KeypointExtractorConfig(threshold=threshold).setup()


def viewer_outputs(
    raw: Dict[str, Tensor], settings: Optional[ViewerSettings], keypoint_threshold: float, keep_raw_maps: bool = False
) -> Dict[str, Tensor]:
    """The model's image outputs from a raw fine-level render (see DESIGN.md "Model outputs").

    Every output is display-safe (:func:`safe_viewer_output`): 1 or 3 float channels, contiguous, finite. ``heatmaps``
    (25 joints) and ``cse`` (embedding) are PCA-coloured here, black where PCA is undefined (e.g. all-zero heatmaps of
    an untrained model), because nerfstudio's own PCA raises on such images. With ``keep_raw_maps`` (dataset cameras:
    ns-eval, ns-render dataset) they stay the raw multi-channel maps, which the per-image metrics need.
    """
    settings = settings or DEFAULT_SETTINGS
    rgb = raw["rgb"].clamp(0.0, 1.0).contiguous()
    heatmaps = torch.nan_to_num(raw["heatmaps"].float()).contiguous()
    heatmap = heatmap_max_channel(heatmaps, settings.joint)
    overlay = rgb
    if settings.show_keypoints:  # the extraction is the costliest output: skipped when the skeleton is hidden
        keypoints, found = keypoint_extractor(keypoint_threshold).extract_2d(heatmaps)
        overlay = draw_keypoints_overlay(rgb, keypoints, keypoint_threshold, valid=found)
    out = {
        "rgb": rgb,
        "depth": raw["depth"],
        "accumulation": raw["accumulation"],
        "heatmap": heatmap,
        "heatmaps": heatmaps if keep_raw_maps else pca_colours(heatmaps),
        "heatmap_overlay": heatmap_overlay(rgb, heatmap, settings.opacity),
        "keypoints_overlay": overlay,
    }
    if "cse" in raw:
        cse = torch.nan_to_num(raw["cse"].float()).contiguous()
        out["cse"] = cse if keep_raw_maps else pca_colours(cse)
        out["cse_rgb"] = cse_to_rgb(cse, alpha=raw["accumulation"])
    return {name: value if value.shape[-1] > 3 else safe_viewer_output(value) for name, value in out.items()}


def image_metrics_and_images(
    outputs: Dict[str, Tensor], batch: Dict[str, Any], heatmap_sigma: float, keypoint_threshold: float
) -> Tuple[Dict[str, float], Dict[str, Tensor]]:
    """ENeRF's human protocol (PSNR in the projected box, SSIM/LPIPS on its crop) plus heatmap, keypoint and CSE
    metrics for one eval image, and side-by-side images (prediction | ground truth) for logging and ns-eval."""
    device = outputs["rgb"].device
    pred = outputs["rgb"]
    gt = batch["image"].to(device)
    box = batch["box_mask"].to(device)[..., 0]
    metrics: Dict[str, float] = {
        "psnr": float(psnr_in_box(pred, gt, box)),
        "ssim": float(ssim_on_box_crop(pred, gt, box)),
    }
    lpips_value = lpips_on_box_crop(pred, gt, box)
    if lpips_value is not None:  # absent (not NaN) when the VGG weights are not available offline
        metrics["lpips"] = float(lpips_value)
    height, width = gt.shape[:2]
    gt_keypoints = batch["keypoints"].to(device)
    gt_heatmaps, valid = render_gt_heatmaps(gt_keypoints, height, width, heatmap_sigma)
    # Undefined values are NaN (e.g. no valid joint in this view); the pipeline averages with nanmean.
    mse = heatmap_mse(outputs["heatmaps"], gt_heatmaps, valid)
    metrics["heatmap_mse"] = NAN if mse is None else float(mse)
    pred_keypoints, found = keypoint_extractor(keypoint_threshold).extract_2d(outputs["heatmaps"])
    result = pck(pred_keypoints[None], gt_keypoints[None], valid=valid[None], pred_valid=found[None])
    metrics["pck"] = float(result.pck) if result.total > 0 else NAN
    metrics["pck_correct"] = float(result.correct)
    metrics["pck_total"] = float(result.total)
    if "cse" in outputs:
        value = cse_mse(outputs["cse"], batch["cse"].to(device)) if "cse" in batch else None
        metrics["cse_mse"] = NAN if value is None else float(value)
    gt_overlay = draw_keypoints_overlay(gt, gt_keypoints, 0.0, valid=valid)
    images = {
        "rgb": torch.cat([pred, gt], dim=1),
        "heatmap_overlay": torch.cat([outputs["heatmap_overlay"], heatmap_overlay(gt, gt_heatmaps.amax(-1))], dim=1),
        "keypoints_overlay": torch.cat([outputs["keypoints_overlay"], gt_overlay], dim=1),
    }
    return metrics, images
