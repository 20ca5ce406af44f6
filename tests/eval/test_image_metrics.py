"""ns-eval's per-image metrics on whole-image renders."""

import torch

from ghnerf_ns.eval.image_metrics import image_metrics_and_images
from ghnerf_ns.keypoints.heatmap_targets import render_gt_heatmaps
from ghnerf_ns.viewer.outputs import viewer_outputs


def test_weak_peaks_are_found_at_eval_resolution():
    """ns-eval's PCK and the viewer skeleton use the image-size-scaled peak filter: a ground-truth heatmap scaled by
    0.4 at 128 px, sigma 1.5, finds every joint (a fixed 3 px filter kept ~20% of such a peak: 0/25 found)."""
    size, sigma = 128, 1.5
    g = torch.Generator().manual_seed(3)
    keypoints = torch.cat([torch.rand(25, 2, generator=g) * 80 + 24, torch.ones(25, 1)], dim=-1)
    keypoints[:, :2] = keypoints[:, :2].round()
    gt, valid = render_gt_heatmaps(keypoints, size, size, sigma)
    raw = {"rgb": torch.rand(size, size, 3), "accumulation": torch.ones(size, size, 1),
           "depth": torch.ones(size, size, 1), "heatmaps": 0.4 * gt, "cse": torch.zeros(size, size, 16)}  # fmt: skip
    outputs = viewer_outputs(raw, None, 0.1, keep_raw_maps=True)
    batch = {"image": torch.rand(size, size, 3), "box_mask": torch.ones(size, size, 1, dtype=torch.bool),
             "keypoints": keypoints}  # fmt: skip
    metrics, _ = image_metrics_and_images(outputs, batch, sigma, 0.1)
    assert metrics["pck_total"] == 25 and metrics["pck_correct"] == 25
