"""The view-pooling operator psi (ENeRF ``Agg``): a learned, mean/variance-conditioned softmax pooling over views.

GHNeRF uses it twice: once for the pixel-aligned image features (``f_img``) and once, as a second instance with its
own weights, for the human-encoder features (``f_h``). It is generic in the per-view channel count.
"""

from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F
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
        self.global_fc = _GlobalFC(nn.Linear(3 * in_channels, hidden_dim), nn.ReLU())
        self.weight_fc = nn.Sequential(nn.Linear(hidden_dim, 1), nn.ReLU())
        self.out_fc = nn.Sequential(nn.Linear(hidden_dim, out_dim), nn.ReLU())
        kaiming_init(self)

    def forward(
        self, features: Float[Tensor, "*bs num_views C"], ray_diff: Float[Tensor, "*bs num_views 4"]
    ) -> PooledFeatures:
        """Pool ``features`` over the views axis (second to last).

        Wide per-view features (the human features: 384-768 channels) arrive from ``grid_sample`` as a permuted view of
        a ``(views, C, points)`` tensor; they are then pooled in that layout (:meth:`_pool_channels_first`) instead of
        being transposed to ``(points, views, C)`` first, which on CPU cost more than the pooling itself.
        """
        num_views, channels = features.shape[-2:]
        batch_shape = features.shape[:-2]
        flat = features.reshape(-1, num_views, channels)
        channels_first = flat.permute(1, 2, 0)
        if channels_first.is_contiguous() and flat.shape[0] > 1:
            pooled, weights = self._pool_channels_first(channels_first, ray_diff.reshape(-1, num_views, 4))
            return PooledFeatures(
                pooled=pooled.reshape(*batch_shape, -1), view_weights=weights.reshape(*batch_shape, num_views)
            )
        g = self._pool_points_first(features, ray_diff)
        weights = torch.softmax(self.weight_fc(g), dim=-2)
        pooled = self.out_fc((weights * g).sum(dim=-2))
        return PooledFeatures(pooled=pooled, view_weights=weights[..., 0])

    def _statistics(self, x: Tensor, view_dim: int) -> Tuple[Tensor, Tensor]:
        """Mean and ENeRF's unbiased variance over the views axis ``view_dim`` (kept as a size-1 axis)."""
        num_views = x.shape[view_dim]
        if num_views == 2:  # the paper's setting: var = (x0 - x1)^2 / 2 exactly, mean = (x0 + x1) / 2, in two passes
            x0, x1 = x.unbind(dim=view_dim)
            return ((x0 + x1) * 0.5).unsqueeze(view_dim), ((x0 - x1).square() * 0.5).unsqueeze(view_dim)
        mean = x.mean(dim=view_dim, keepdim=True)
        # ENeRF parity: torch.var's unbiased 1/(N-1) variance (written out: much faster than torch.var on CPU over a
        # short axis); with a single view it is defined as 0.
        var = ((x - mean) ** 2).sum(dim=view_dim, keepdim=True) / max(num_views - 1, 1)
        return mean, var

    def _pool_points_first(
        self, features: Float[Tensor, "*bs num_views C"], ray_diff: Float[Tensor, "*bs num_views 4"]
    ) -> Float[Tensor, "*bs num_views hidden"]:
        """``g_i`` for features laid out (points, views, C)."""
        x = features + self.view_fc(ray_diff)
        mean, var = self._statistics(x, view_dim=-2)
        return self.global_fc(x, mean, var)

    def _pool_channels_first(
        self, features: Float[Tensor, "num_views C num_points"], ray_diff: Float[Tensor, "num_points num_views 4"]
    ) -> Tuple[Float[Tensor, "num_points out_dim"], Float[Tensor, "num_points num_views"]]:
        """The pooled feature and the view weights (same maths as the points-first path) for features laid out
        (views, C, points): every step is a matrix product with the points as the columns or an elementwise op on
        that layout, so no full-width tensor is ever transposed; the results are returned as transposed views.
        The ReLUs run in place on fresh matrix products (whose backward needs only their inputs)."""
        num_views, channels = features.shape[:2]

        def per_view(linear: nn.Linear, x: Tensor) -> Tensor:
            # ReLU(W x_i + b) for every view i: bmm with the weight broadcast over views (torch.matmul would fold a
            # (C, P) operand's transpose into rows, i.e. copy the whole tensor).
            return torch.baddbmm(linear.bias[:, None], linear.weight.expand(num_views, -1, -1), x).relu_()

        x = per_view(self.view_fc[0], ray_diff.permute(1, 2, 0)) + features  # (views, C, points)
        mean, var = self._statistics(x, view_dim=0)  # (1, C, points) each
        # global_fc: W_x x_i + (W_v var + W_m mean + b), the statistics' product computed once per point.
        linear: nn.Linear = self.global_fc[0]  # type: ignore[assignment]
        w_x, w_var, w_mean = linear.weight.split(channels, dim=1)
        shared = torch.addmm(linear.bias[:, None], w_var, var[0]) + w_mean @ mean[0]
        g = torch.baddbmm(shared, w_x.expand(num_views, -1, -1), x).relu_()  # (views, hidden, points)
        weights = torch.softmax(per_view(self.weight_fc[0], g), dim=0)  # (views, 1, points)
        out_linear: nn.Linear = self.out_fc[0]  # type: ignore[assignment]
        pooled = torch.addmm(out_linear.bias[:, None], out_linear.weight, (weights * g).sum(dim=0)).relu_()
        return pooled.t(), weights[:, 0].t()


class _GlobalFC(nn.Sequential):
    """``ReLU(Linear(cat[x_i, var, mean]))`` (psi's ``global_fc``; same parameters as the plain Sequential) computed as
    ``W_x x_i + (W_v var + W_m mean + b)``: the statistics are shared by all views, so their product is computed once
    per point instead of once per view, and the ``[x, var, mean]`` tensor (3C channels per view) is never built."""

    def forward(  # type: ignore[override]
        self, x: Float[Tensor, "*bs num_views C"], mean: Float[Tensor, "*bs 1 C"], var: Float[Tensor, "*bs 1 C"]
    ) -> Float[Tensor, "*bs num_views hidden"]:
        linear: nn.Linear = self[0]  # type: ignore[assignment]
        channels = x.shape[-1]
        shared = F.linear(torch.cat([var, mean], dim=-1), linear.weight[:, channels:], linear.bias)
        return self[1](F.linear(x, linear.weight[:, :channels]) + shared)
