"""Per-image metrics of ns-eval: ENeRF's human protocol plus heatmap, keypoint and CSE metrics on a whole-image render
(the model's ``get_image_metrics_and_images``)."""

from typing import Any, Dict, Tuple

import torch
from torch import Tensor

from ghnerf_ns.eval.human_metrics import cse_mse, heatmap_mse, lpips_on_box_crop, psnr_in_box, ssim_on_box_crop
from ghnerf_ns.keypoints.extractor import keypoint_extractor
from ghnerf_ns.keypoints.heatmap_targets import render_gt_heatmaps
from ghnerf_ns.keypoints.metrics import pck
from ghnerf_ns.viewer.visuals import draw_keypoints_overlay, heatmap_overlay

NAN = float("nan")


def image_metrics_and_images(
    outputs: Dict[str, Tensor],
    batch: Dict[str, Any],
    heatmap_sigma: float,
    keypoint_threshold: float,
    keypoints_are_channel_peaks: bool = True,
) -> Tuple[Dict[str, float], Dict[str, Tensor]]:
    """ENeRF's human protocol (PSNR in the projected box, SSIM/LPIPS on its crop) plus heatmap, keypoint and CSE
    metrics for one eval image, and side-by-side images (prediction | ground truth) for logging and ns-eval.

    ``outputs["keypoints_2d"]`` (the model's 2D keypoints, where given) are scored as ``pck``; ``pck_channels`` scores
    each heatmap channel's own peak, the paper's rule, which is those same keypoints when
    ``keypoints_are_channel_peaks`` (--pipeline.model.keypoint-sides channels) and is extracted here otherwise."""
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
    if "keypoints_2d" in outputs:
        # The model's own 2D keypoints (GHNeRFModel.keypoints_2d: maybe with left/right named by its 3D keypoints);
        # pck_channels keeps the paper's rule, each channel's own peak, beside it.
        named = outputs["keypoints_2d"].to(device)
        model_keypoints = (named[:, :3], named[:, 3] > 0)
        channel_keypoints = model_keypoints
        if not keypoints_are_channel_peaks:
            channel_keypoints = keypoint_extractor(keypoint_threshold).extract_2d(outputs["heatmaps"])
        scored = {"pck": model_keypoints, "pck_channels": channel_keypoints}
    else:
        scored = {"pck": keypoint_extractor(keypoint_threshold).extract_2d(outputs["heatmaps"])}
    for name, (pred_keypoints, found) in scored.items():
        result = pck(pred_keypoints[None], gt_keypoints[None], valid=valid[None], pred_valid=found[None])
        metrics[name] = float(result.pck) if result.total > 0 else NAN
        metrics[f"{name}_correct"] = float(result.correct)
        metrics[f"{name}_total"] = float(result.total)
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
