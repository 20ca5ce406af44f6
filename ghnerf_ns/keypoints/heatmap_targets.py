"""Ground-truth joint heatmaps: one isotropic Gaussian per BODY_25 joint, rendered on the fly.

Pixel convention: OpenCV integer-pixel centres. The pixel in column ``u``, row ``v`` has its centre at ``(x, y) =
(u, v)``; keypoints (OpenPose JSON, ZJU ``kpts2d``) use the same convention, so a joint at ``(3.0, 5.0)`` gives a
value of exactly 1 at ``heatmaps[5, 3]``. nerfstudio's ray indices are ``(camera, row, col)``: pass
``indices[:, [2, 1]]`` as the ``(x, y)`` pixels of :func:`gt_heatmaps_at_pixels`.

Missing joints (confidence at or below the threshold, non-finite coordinates, or further than ``3 sigma`` outside the
image) are reported through ``valid``. Their channel is all zeros, but the loss and the metrics must mask them out
with ``valid``: a zero map is *not* a target (the joint may well be in the image, the teacher just missed it).
Keypoints must already be at the working resolution (scale them with the image); ``sigma`` is in working-resolution
pixels.
"""

from typing import Tuple

import torch
from jaxtyping import Bool, Float
from torch import Tensor

VALID_MARGIN_SIGMAS = 3.0
"""A joint further than this many sigmas outside the image has no visible Gaussian, so it is marked invalid."""


def joint_validity(
    keypoints: Float[Tensor, "num_joints 3"],
    height: int,
    width: int,
    sigma: float,
    conf_threshold: float = 0.0,
) -> Bool[Tensor, " num_joints"]:
    """Which joints can be rendered as a target: confident, finite and within ``3 sigma`` of the image.

    Args:
        keypoints: ``(x, y, confidence)`` per joint, pixel coordinates at (height, width).
        height: Image height in pixels.
        width: Image width in pixels.
        sigma: Gaussian standard deviation in pixels.
        conf_threshold: Joints with confidence ``<=`` this are missing (OpenPose writes 0 for undetected joints).
    """
    xy = keypoints[:, :2]
    conf = keypoints[:, 2]
    margin = VALID_MARGIN_SIGMAS * sigma
    finite = torch.isfinite(keypoints).all(dim=-1)
    # NaN compares False everywhere, so non-finite joints are already excluded by `finite`.
    inside_x = (xy[:, 0] >= -margin) & (xy[:, 0] <= (width - 1) + margin)
    inside_y = (xy[:, 1] >= -margin) & (xy[:, 1] <= (height - 1) + margin)
    return finite & (conf > conf_threshold) & inside_x & inside_y


def _check_sigma(sigma: float) -> None:
    if not sigma > 0:
        raise ValueError(f"heatmap sigma must be > 0 pixels, got {sigma} (set the heatmap target sigma option)")


def gt_heatmaps_at_pixels(
    keypoints: Float[Tensor, "num_joints 3"],
    pixels: Float[Tensor, "num_rays 2"],
    height: int,
    width: int,
    sigma: float,
    conf_threshold: float = 0.0,
) -> Tuple[Float[Tensor, "num_rays num_joints"], Bool[Tensor, " num_joints"]]:
    """Ground-truth heatmap values only at the given pixels (cheap path for sampled training rays).

    ``value = exp(-|p - joint|^2 / (2 sigma^2))``, exactly what :func:`render_gt_heatmaps` gives at that pixel.

    Args:
        keypoints: ``(x, y, confidence)`` per joint at the working resolution.
        pixels: ``(x, y)`` = (column, row) of each ray's pixel (integer-pixel-centre convention).
        height: Working image height (for the validity test).
        width: Working image width (for the validity test).
        sigma: Gaussian standard deviation in pixels.
        conf_threshold: Joints with confidence ``<=`` this are invalid.

    Returns:
        ``(values [R, J] in [0, 1], valid [J])``; invalid joints have value 0 and must be masked out by the caller.
    """
    _check_sigma(sigma)
    valid = joint_validity(keypoints, height, width, sigma, conf_threshold)
    joints_xy = torch.where(valid[:, None], keypoints[:, :2], torch.zeros_like(keypoints[:, :2]))
    pix = pixels.to(keypoints.dtype)
    d2 = ((pix[:, None, :] - joints_xy[None, :, :]) ** 2).sum(dim=-1)
    values = torch.exp(-d2 / (2.0 * sigma * sigma)) * valid[None, :].to(keypoints.dtype)
    return values, valid


def render_gt_heatmaps(
    keypoints: Float[Tensor, "num_joints 3"],
    height: int,
    width: int,
    sigma: float,
    conf_threshold: float = 0.0,
) -> Tuple[Float[Tensor, "height width num_joints"], Bool[Tensor, " num_joints"]]:
    """Dense ground-truth heatmaps at the working resolution.

    Separable: ``exp(-(dx^2 + dy^2) / 2s^2) = exp(-dx^2 / 2s^2) * exp(-dy^2 / 2s^2)``, so the cost is one outer
    product per joint rather than a distance per pixel and joint.

    Returns:
        ``(heatmaps [H, W, J] in [0, 1], valid [J])``; the value is 1 at a joint lying on a pixel centre.
    """
    _check_sigma(sigma)
    valid = joint_validity(keypoints, height, width, sigma, conf_threshold)
    dtype, device = keypoints.dtype, keypoints.device
    joints_xy = torch.where(valid[:, None], keypoints[:, :2], torch.zeros_like(keypoints[:, :2]))
    xs = torch.arange(width, dtype=dtype, device=device)
    ys = torch.arange(height, dtype=dtype, device=device)
    gx = torch.exp(-((xs[:, None] - joints_xy[None, :, 0]) ** 2) / (2.0 * sigma * sigma))  # [W, J]
    gy = torch.exp(-((ys[:, None] - joints_xy[None, :, 1]) ** 2) / (2.0 * sigma * sigma))  # [H, J]
    heatmaps = gy[:, None, :] * gx[None, :, :] * valid.to(dtype)[None, None, :]
    return heatmaps.contiguous(), valid
