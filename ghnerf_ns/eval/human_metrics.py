"""Image, heatmap and CSE metrics of GHNeRF's evaluation (paper 4.1), following ENeRF's human protocol.

ENeRF (``lib/evaluators/enerf_human.py``) evaluates inside ``mask_at_box``, the projection of the human's 3D box:
pixels outside it are zeroed in both images; PSNR uses the pixels inside the mask only; SSIM and LPIPS use the
``cv2.boundingRect`` crop of the mask (with the zeroed outside pixels). SSIM is the skimage-equivalent
:func:`ghnerf_ns.eval.ssim.ssim_skimage` (ENeRF's data range of 2, see there); LPIPS is ``lpips.LPIPS(net='vgg')`` on
inputs mapped to [-1, 1], computed only when its weights are available offline
(:mod:`ghnerf_ns.eval.lpips_metric`).

All functions take ``[H, W, C]`` images in [0, 1] and return 0-dim tensors (``.item()`` for JSON), or None when the
metric is undefined for this image (no valid joint / pixel, LPIPS unavailable).
"""

from typing import Optional, Tuple

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn

from ghnerf_ns.eval.lpips_metric import load_lpips_vgg
from ghnerf_ns.eval.ssim import ENERF_SSIM_DATA_RANGE, ssim_skimage


def _check_mask(box_mask: Tensor) -> None:
    if not bool(box_mask.any()):
        raise ValueError("the box mask is empty: the human's 3D box does not project into this image")


def box_crop(box_mask: Bool[Tensor, "height width"]) -> Tuple[int, int, int, int]:
    """``(x, y, w, h)`` of ``cv2.boundingRect`` of the mask (the crop ENeRF evaluates SSIM/LPIPS on)."""
    import cv2

    _check_mask(box_mask)
    x, y, w, h = cv2.boundingRect(box_mask.detach().cpu().numpy().astype(np.uint8))
    return int(x), int(y), int(w), int(h)


def _masked_crops(
    pred: Tensor, gt: Tensor, box_mask: Tensor
) -> Tuple[Float[Tensor, "crop_h crop_w 3"], Float[Tensor, "crop_h crop_w 3"]]:
    x, y, w, h = box_crop(box_mask)
    keep = box_mask[..., None].to(pred.dtype)
    return (pred * keep)[y : y + h, x : x + w], (gt * keep)[y : y + h, x : x + w]


def psnr_in_box(
    pred: Float[Tensor, "height width 3"], gt: Float[Tensor, "height width 3"], box_mask: Bool[Tensor, "height width"]
) -> Float[Tensor, ""]:
    """PSNR (dB, data range 1) over the pixels inside the box mask only: ``-10 log10(mean((pred - gt)^2))``."""
    _check_mask(box_mask)
    mse = ((pred - gt)[box_mask] ** 2).mean()
    return -10.0 * torch.log10(mse)


def ssim_on_box_crop(
    pred: Float[Tensor, "height width 3"],
    gt: Float[Tensor, "height width 3"],
    box_mask: Bool[Tensor, "height width"],
    data_range: float = ENERF_SSIM_DATA_RANGE,
) -> Float[Tensor, ""]:
    """SSIM (skimage semantics) on the box crop with outside-mask pixels zeroed in both images."""
    pred_crop, gt_crop = _masked_crops(pred, gt, box_mask)
    return ssim_skimage(gt_crop, pred_crop, data_range=data_range)


def lpips_on_box_crop(
    pred: Float[Tensor, "height width 3"],
    gt: Float[Tensor, "height width 3"],
    box_mask: Bool[Tensor, "height width"],
    model: Optional[nn.Module] = None,
) -> Optional[Float[Tensor, ""]]:
    """LPIPS-VGG on the box crop (outside pixels zeroed), inputs mapped to [-1, 1].

    ``model`` defaults to the cached ``lpips.LPIPS(net='vgg')``; returns None when its weights are not available
    offline (the reason: :func:`ghnerf_ns.eval.lpips_metric.lpips_available`).
    """
    net = model if model is not None else load_lpips_vgg(pred.device)
    if net is None:
        return None
    pred_crop, gt_crop = _masked_crops(pred, gt, box_mask)
    gt_in = (gt_crop.permute(2, 0, 1)[None].float() - 0.5) * 2.0
    pred_in = (pred_crop.permute(2, 0, 1)[None].float() - 0.5) * 2.0
    with torch.no_grad():
        value = net(gt_in, pred_in)
    return value.reshape(()).to(pred.dtype)


def heatmap_mse(
    pred: Float[Tensor, "height width num_joints"],
    gt: Float[Tensor, "height width num_joints"],
    valid: Bool[Tensor, " num_joints"],
    pixel_mask: Optional[Bool[Tensor, "height width"]] = None,
) -> Optional[Float[Tensor, ""]]:
    """Mean squared heatmap error over the valid joints' channels (and the masked pixels, if a mask is given).

    Missing ground-truth joints are excluded (their zero channel is not a target); None when no joint is valid.
    """
    if not bool(valid.any()):
        return None
    sq = (pred - gt)[..., valid] ** 2
    if pixel_mask is not None:
        _check_mask(pixel_mask)
        sq = sq[pixel_mask]
    return sq.mean()


def cse_mse(
    pred: Float[Tensor, "height width embed_dim"],
    gt: Float[Tensor, "height width embed_dim"],
) -> Optional[Float[Tensor, ""]]:
    """Mean squared CSE error over the pixels where the target is defined (no NaN in any dimension).

    The DensePose CSE teacher writes NaN where there is no body; None when no pixel is defined.
    """
    defined = torch.isfinite(gt).all(dim=-1)
    if not bool(defined.any()):
        return None
    return ((pred[defined] - gt[defined]) ** 2).mean()
