"""3D CNNs that regularise a cost volume into a feature volume and depth logits (ENeRF ``MinCostRegNet`` for the
coarse level, ``CostRegNet`` for the fine one), and the soft-argmax depth regression that follows them.
"""

from typing import Optional, Tuple

import torch
from jaxtyping import Float
from torch import Tensor, nn

VOXEL_FEATURE_CHANNELS = 8
"""Channels of the regularised feature volume (``f_voxel``)."""


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` (same parameters and state dict) that runs on oneDNN on the CPU.

    PyTorch sends a batch-of-one float32 3D convolution with small spatial extent to its reference ``slow_conv3d``
    kernel (its oneDNN heuristic is written for 2D images); a cost volume is exactly that. Calling the oneDNN kernel
    directly is several times faster on CPU for these volumes, with the same values and gradients
    (figures: benchmarks/README.md, "Timings quoted by the code"). CUDA and other dtypes take the usual path.
    """

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        if (
            x.device.type == "cpu"
            and x.dtype == torch.float32
            and self.padding_mode == "zeros"
            and not isinstance(self.padding, str)
            and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled
        ):
            if torch.is_grad_enabled() and self.stride[0] == 1 and self.dilation == (1, 1, 1) and self.groups == 1:
                # oneDNN's 3D backward is slow for unit-stride volumes (many times its forward); as 2D convolutions
                # over the planes, forward + backward is faster (benchmarks/README.md). See conv3d_as_2d.
                return conv3d_as_2d(x, self.weight, self.bias, self.padding, self.stride)
            return torch.mkldnn_convolution(
                x.contiguous(), self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups
            )
        return super().forward(x)


def conv3d_as_2d(
    x: Float[Tensor, "1 C D H W"],
    weight: Float[Tensor, "Co C kd kh kw"],
    bias: Optional[Tensor],
    padding: Tuple[int, int, int],
    stride: Tuple[int, int, int],
) -> Float[Tensor, "1 Co Do Ho Wo"]:
    """A batch-of-one 3D convolution with unit depth stride as a sum of 2D convolutions over the planes.

    ``out[:, d] = sum_k conv2d(x[:, d + k - pad_d], weight[:, :, k])``: the planes become the 2D batch, one 2D
    convolution per kernel depth ``k`` on the (zero-padded) planes shifted by ``k``. Same values as ``F.conv3d``.
    """
    if stride[0] != 1:
        raise ValueError(f"conv3d_as_2d needs a unit depth stride, got {stride}")
    pad_d = padding[0]
    planes = x[0].transpose(0, 1)  # (D, C, H, W): planes as the batch
    if pad_d:
        planes = torch.nn.functional.pad(planes, (0, 0, 0, 0, 0, 0, pad_d, pad_d))
    depth_out = planes.shape[0] - weight.shape[2] + 1
    out = None
    for k in range(weight.shape[2]):
        term = torch.nn.functional.conv2d(planes[k : k + depth_out], weight[:, :, k], None, stride[1:], padding[1:])
        out = term if out is None else out + term
    assert out is not None
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out.transpose(0, 1)[None]


class ConvBnReLU3D(nn.Sequential):
    """Conv3d 3x3x3 (no bias) -> BatchNorm3d -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(
            Conv3d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )


def _up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """x2 transposed conv + BatchNorm (no ReLU: the skip connection is added after it, as in ENeRF)."""
    return nn.Sequential(
        nn.ConvTranspose3d(in_channels, out_channels, 3, padding=1, output_padding=1, stride=2, bias=False),
        nn.BatchNorm3d(out_channels),
    )


class CostRegularizer(nn.Module):
    """U-Net over (planes, h, w) with ``num_scales`` stride-2 stages.

    ``num_scales=2`` is ENeRF's ``MinCostRegNet`` (coarse level), ``num_scales=3`` its ``CostRegNet`` (fine level).
    Every spatial size and the number of planes must be divisible by ``2**num_scales`` so the skip additions line up.
    """

    def __init__(self, in_channels: int, num_scales: int) -> None:
        super().__init__()
        if num_scales not in (2, 3):
            raise ValueError(f"num_scales must be 2 (MinCostRegNet) or 3 (CostRegNet), got {num_scales}")
        self.num_scales = num_scales
        widths = [8, 16, 32, 64][: num_scales + 1]
        self.stem = ConvBnReLU3D(in_channels, widths[0])
        self.down = nn.ModuleList(
            nn.Sequential(ConvBnReLU3D(widths[i], widths[i + 1], stride=2), ConvBnReLU3D(widths[i + 1], widths[i + 1]))
            for i in range(num_scales)
        )
        self.up = nn.ModuleList(_up_block(widths[i + 1], widths[i]) for i in reversed(range(num_scales)))
        self.feature_head = Conv3d(widths[0], VOXEL_FEATURE_CHANNELS, 3, padding=1, bias=False)
        self.depth_head = Conv3d(widths[0], 1, 3, padding=1, bias=False)

    @property
    def divisor(self) -> int:
        """Planes, height and width of the input volume must be multiples of this."""
        return 2**self.num_scales

    def forward(
        self, cost: Float[Tensor, "C num_planes h w"]
    ) -> Tuple[Float[Tensor, "8 num_planes h w"], Float[Tensor, "num_planes h w"]]:
        """Returns (feature volume, depth logits)."""
        bad = [n for n in cost.shape[1:] if n % self.divisor]
        if bad:
            raise ValueError(
                f"cost volume of shape (planes, h, w)={tuple(cost.shape[1:])} is not divisible by {self.divisor}: "
                "use image sizes that are multiples of 32 and a number of planes divisible by "
                f"{self.divisor} (CascadeLevelConfig.num_planes)"
            )
        skips = [self.stem(cost[None])]
        for block in self.down:
            skips.append(block(skips[-1]))
        x = skips.pop()
        for block in self.up:
            x = skips.pop() + block(x)
        return self.feature_head(x)[0], self.depth_head(x)[0, 0]


def depth_regression(
    logits: Float[Tensor, "num_planes *px"], depth_values: Float[Tensor, "num_planes *px"], inverse: bool
) -> Tuple[Float[Tensor, "*px"], Float[Tensor, "*px"]]:
    """Soft-argmax depth and its standard deviation under ``softmax(logits)`` over the planes.

    Args:
        logits: depth logits of the 3D CNN.
        depth_values: camera z-depth (metres) of each plane.
        inverse: regress in disparity (ENeRF's coarse level): the returned depth and std are then disparities.

    Returns:
        (depth, std), with ``std = sqrt(max(E[(v - depth)^2], 1e-10))``.
    """
    prob = torch.softmax(logits, dim=0)
    # ENeRF parity (depth_regression): level-0 plane values are turned into disparities before the expectation.
    values = 1.0 / torch.clamp_min(depth_values, 1e-6) if inverse else depth_values
    depth = (prob * values).sum(dim=0)
    var = (prob * (values - depth[None]) ** 2).sum(dim=0)
    return depth, torch.sqrt(torch.clamp_min(var, 1e-10))
