"""SSIM equal to ``skimage.metrics.structural_similarity`` with its defaults, in torch (ENeRF's evaluator uses skimage).

skimage defaults: a 7x7 *uniform* window, sample covariance (``N / (N - 1)``), ``K1 = 0.01``, ``K2 = 0.03``, the SSIM
map averaged over the pixels at least 3 from the border, channels averaged. Because border pixels are dropped, the
filter's padding never matters and a padding-free ``avg_pool2d`` gives exactly skimage's interior values. skimage is
not a dependency of ours (it is only used as a reference in the tests).

``data_range`` defaults to 2.0: ENeRF calls ``structural_similarity(gt, pred, multichannel=True)`` on float images in
[0, 1] without ``data_range``, and the skimage versions of its time took the range of the float *dtype*, (-1, 1).
"""

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

# ENeRF parity: skimage infers data_range = 2 for float images (dtype range -1..1), not 1.
ENERF_SSIM_DATA_RANGE = 2.0
"""Data range ENeRF's evaluator effectively used for its SSIM numbers."""
SKIMAGE_WIN_SIZE = 7
"""skimage's default window size (uniform filter)."""


def ssim_skimage(
    img1: Float[Tensor, "height width channels"],
    img2: Float[Tensor, "height width channels"],
    data_range: float = ENERF_SSIM_DATA_RANGE,
    win_size: int = SKIMAGE_WIN_SIZE,
) -> Float[Tensor, ""]:
    """Mean SSIM over channels, skimage semantics (see module docstring). Computed in float64.

    Images smaller than ``win_size`` use the largest odd window that fits (skimage would raise); at least 3x3 is
    required.
    """
    height, width = img1.shape[0], img1.shape[1]
    win = min(win_size, height, width)
    win = win if win % 2 == 1 else win - 1
    if win < 3:
        raise ValueError(f"SSIM needs an image of at least 3x3 pixels, got {height}x{width} (box crop too small)")
    x = img1.to(torch.float64).permute(2, 0, 1)[None]
    y = img2.to(torch.float64).permute(2, 0, 1)[None]
    num = win * win
    cov_norm = num / (num - 1.0)

    def mean(t: Tensor) -> Tensor:
        return F.avg_pool2d(t, kernel_size=win, stride=1)

    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(0, 2, 3)).mean().to(img1.dtype)
