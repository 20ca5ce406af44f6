"""The view-pooling operator psi (ENeRF ``Agg``): a learned, mean/variance-conditioned softmax pooling over views.

GHNeRF uses it twice: once for the pixel-aligned image features (``f_img``) and once, as a second instance with its
own weights, for the human-encoder features (``f_h``). It is generic in the per-view channel count.
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn


def kaiming_init(module: nn.Module) -> None:
    """ENeRF's MLP init (``weights_init``): kaiming-normal weights, zero biases, for every Linear inside ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@dataclass
class PooledFeatures:
    """Result of psi for a batch of points."""

    pooled: Float[Tensor, "*bs out_dim"]
    """The pooled feature of each point."""
    view_weights: Float[Tensor, "*bs num_views"]
    """Softmax pooling weights over views (sum to 1)."""


class ViewPooling(nn.Module):
    """psi: pool per-view features into one vector per point.

    Steps (ENeRF ``Agg`` with ``viewdir_agg=True``): add ``ReLU(Linear(ray_diff))`` to each view's feature; concatenate
    each view's feature with the variance and mean over views; ``g_i = ReLU(Linear(.))``; weights
    ``softmax_views(ReLU(Linear(g_i)))``; output ``ReLU(Linear(sum_i w_i g_i))``.

    Args:
        in_channels: per-view feature channels.
        hidden_dim: width of ``g_i`` (ENeRF: 32).
        out_dim: pooled feature size (ENeRF: 16).
    """

    def __init__(self, in_channels: int, hidden_dim: int = 32, out_dim: int = 16) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_dim = out_dim
        self.view_fc = nn.Sequential(nn.Linear(4, in_channels), nn.ReLU())
        self.global_fc = nn.Sequential(nn.Linear(3 * in_channels, hidden_dim), nn.ReLU())
        self.weight_fc = nn.Sequential(nn.Linear(hidden_dim, 1), nn.ReLU())
        self.out_fc = nn.Sequential(nn.Linear(hidden_dim, out_dim), nn.ReLU())
        kaiming_init(self)

    def forward(
        self, features: Float[Tensor, "*bs num_views C"], ray_diff: Float[Tensor, "*bs num_views 4"]
    ) -> PooledFeatures:
        """Pool ``features`` over the views axis (second to last)."""
        num_views = features.shape[-2]
        x = features + self.view_fc(ray_diff)
        mean = x.mean(dim=-2, keepdim=True)
        # ENeRF parity: torch.var's unbiased 1/(N-1) variance (written out: much faster than torch.var on CPU over a
        # short middle axis); with a single view it is defined as 0.
        var = ((x - mean) ** 2).sum(dim=-2, keepdim=True) / max(num_views - 1, 1)
        stats = torch.cat([var, mean], dim=-1).expand(*x.shape[:-1], 2 * x.shape[-1])
        g = self.global_fc(torch.cat([x, stats], dim=-1))
        weights = torch.softmax(self.weight_fc(g), dim=-2)
        pooled = self.out_fc((weights * g).sum(dim=-2))
        return PooledFeatures(pooled=pooled, view_weights=weights[..., 0])
