"""Per-image metrics of ns-eval: ENeRF's human protocol plus heatmap, keypoint and CSE metrics on a whole-image render
(the model's ``get_image_metrics_and_images``)."""

from typing import Any, Dict, Tuple

import torch
from torch import Tensor

from ghnerf_ns.eval.human_metrics import cse_mse, heatmap_mse, lpips_on_box_crop, psnr_in_box, ssim_on_box_crop
from ghnerf_ns.keypoints.extractor import keypoint_extractor
from ghnerf_ns.keypoints.heatmap_targets import render_gt_heatmaps
from ghnerf_ns.keypoints.metrics import pck
from ghnerf_ns.viewer.visuals import cse_to_rgb, draw_keypoints_overlay, heatmap_overlay

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
    # The learned-nothing level: predicting 0 everywhere scores this on the same image.
    zero = heatmap_mse(torch.zeros_like(gt_heatmaps), gt_heatmaps, valid)
    metrics["heatmap_mse_zero"] = NAN if zero is None else float(zero)
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
    torso = batch.get("torso_diameter")
    torso = None if torso is None else torso.reshape(1).to(device)
    for name, (pred_keypoints, found) in scored.items():
        result = pck(
            pred_keypoints[None], gt_keypoints[None], valid=valid[None], pred_valid=found[None], torso_diameter=torso
        )
        metrics[name] = float(result.pck) if result.total > 0 else NAN
        metrics[f"{name}_correct"] = float(result.correct)
        metrics[f"{name}_total"] = float(result.total)
    # Images PCK could not scale (no torso in the annotation nor in the frame's 3D ground truth): summed by ns-eval.
    metrics["pck_num_images_excluded"] = float(result.images_excluded)
    if "cse" in outputs:
        gt_cse = batch["cse"].to(device) if "cse" in batch else None
        value = cse_mse(outputs["cse"], gt_cse) if gt_cse is not None else None
        metrics["cse_mse"] = NAN if value is None else float(value)
        # The learned-nothing level: the image's own mean embedding everywhere on the body.
        defined = None if gt_cse is None else torch.isfinite(gt_cse).all(dim=-1)
        if defined is not None and bool(defined.any()):
            mean = gt_cse[defined].mean(dim=0)
            metrics["cse_mse_mean"] = float(cse_mse(mean.expand_as(gt_cse).contiguous(), gt_cse))
    gt_overlay = draw_keypoints_overlay(gt, gt_keypoints, 0.0, valid=valid)
    images = {
        "rgb": torch.cat([pred, gt], dim=1),
        "heatmap_overlay": torch.cat([outputs["heatmap_overlay"], heatmap_overlay(gt, gt_heatmaps.amax(-1))], dim=1),
        "keypoints_overlay": torch.cat([outputs["keypoints_overlay"], gt_overlay], dim=1),
    }
    if "cse_rgb" in outputs and "cse" in batch:
        # The target in the same fixed colours (black where it has no body point).
        gt_cse = batch["cse"].to(device)
        defined = torch.isfinite(gt_cse).all(-1).float()
        images["cse_rgb"] = torch.cat([outputs["cse_rgb"], cse_to_rgb(gt_cse, defined)], dim=1)
    return metrics, images
