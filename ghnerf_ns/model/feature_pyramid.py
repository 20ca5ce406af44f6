"""ENeRF's 2D feature pyramid (``FeatureNet``): 8/16/32 channels at strides 1/2/4 with an FPN top-down path.

The pyramid feeds both the plane-sweep cost volumes (strides 4 and 2) and the pixel-aligned features of the NeRF MLP
(strides 4 and 1).
"""

from dataclasses import dataclass

import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

PYRAMID_CHANNELS = {1: 8, 2: 16, 4: 32}
"""Channels of the pyramid level at each stride (ENeRF ``FeatureNet``)."""


class ConvBnReLU(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> ReLU, ENeRF's basic 2D block."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


@dataclass
class FeaturePyramid:
    """Per-source-view feature maps at three strides."""

    full: Float[Tensor, "num_views 8 H W"]
    """Stride 1, 8 channels (ENeRF ``level_2``)."""
    half: Float[Tensor, "num_views 16 H2 W2"]
    """Stride 2, 16 channels (ENeRF ``level_1``)."""
    quarter: Float[Tensor, "num_views 32 H4 W4"]
    """Stride 4, 32 channels (ENeRF ``level_0``)."""

    def at_stride(self, stride: int) -> Float[Tensor, "num_views C h w"]:
        """The map at ``stride`` (1, 2 or 4)."""
        if stride == 1:
            return self.full
        if stride == 2:
            return self.half
        if stride == 4:
            return self.quarter
        raise ValueError(f"feature stride must be one of {sorted(PYRAMID_CHANNELS)}, got {stride}")


class FeatureNet(nn.Module):
    """ENeRF ``FeatureNet``: three conv stages (strides 1, 2, 4) and FPN lateral/top-down fusion."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(ConvBnReLU(3, 8, 3, 1), ConvBnReLU(8, 8, 3, 1))
        self.conv1 = nn.Sequential(ConvBnReLU(8, 16, 5, 2), ConvBnReLU(16, 16, 3, 1))
        self.conv2 = nn.Sequential(ConvBnReLU(16, 32, 5, 2), ConvBnReLU(32, 32, 3, 1))
        self.top = nn.Conv2d(32, 32, 1)
        self.lateral1 = nn.Conv2d(16, 32, 1)
        self.lateral0 = nn.Conv2d(8, 32, 1)
        self.smooth1 = nn.Conv2d(32, 16, 3, padding=1)
        self.smooth0 = nn.Conv2d(32, 8, 3, padding=1)

    @staticmethod
    def _upsample_add(coarse: Tensor, fine: Tensor) -> Tensor:
        # ENeRF parity: x2 bilinear with align_corners=True (exact x2 sizes because inputs are multiples of 4).
        return F.interpolate(coarse, scale_factor=2.0, mode="bilinear", align_corners=True) + fine

    def forward(self, images: Float[Tensor, "num_views 3 H W"]) -> FeaturePyramid:
        """Encode RGB images in [0, 1].

        Args:
            images: source images in [0, 1]; H and W must be multiples of 4.
        """
        height, width = images.shape[-2:]
        if height % 4 or width % 4:
            raise ValueError(f"FeatureNet needs H and W divisible by 4, got {height}x{width} (pad the source images)")
        # ENeRF parity: the encoder sees images mapped to [-1, 1] (lib/datasets/zjumocap/enerf.py: 2*img-1).
        x = images * 2.0 - 1.0
        conv0 = self.conv0(x)
        conv1 = self.conv1(conv0)
        conv2 = self.conv2(conv1)
        quarter = self.top(conv2)
        half = self._upsample_add(quarter, self.lateral1(conv1))
        full = self._upsample_add(half, self.lateral0(conv0))
        return FeaturePyramid(full=self.smooth0(full), half=self.smooth1(half), quarter=quarter)
