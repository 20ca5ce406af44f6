"""Volume compositing with ENeRF's semantics (``raw2outputs``), shared by colour, heatmaps and CSE (paper eq. 4).

ENeRF semantics, kept on purpose:

* ``alpha = 1 - exp(-sigma)`` with **no** interval length (the depth-guided samples are few and unevenly spaced;
  the network learns densities for this discrete rule);
* ``T_i = prod_{j<i} (1 - alpha_j + 1e-10)`` and ``w_i = alpha_i T_i``;
* ENeRF's reported depth is ``sum softmax(w)_i z_i`` over the *level's* sample values (disparities on the coarse
  level), a quirk kept as :func:`enerf_depth` for parity.

For nerfstudio a physically meaningful depth is needed (the viewer places points at ``directions * depth``):
:func:`expected_depth` is the accumulation-normalised expectation ``sum w_i z_i / sum w_i`` of camera z-depth. Where
almost nothing is hit it falls back smoothly to the mean sample depth instead of collapsing to 0, so background rays
land inside the human's box rather than at the camera. The network converts it to ray distance for ``"depth"``.
"""

import torch
from jaxtyping import Float
from torch import Tensor

EXPECTED_DEPTH_EPS = 1e-6
"""Accumulation below which :func:`expected_depth` leans towards the mean sample depth."""


def alphas_from_density(density: Float[Tensor, "*bs num_samples"]) -> Float[Tensor, "*bs num_samples"]:
    """``1 - exp(-density)`` (ENeRF parity: no multiplication by the sample spacing)."""
    return 1.0 - torch.exp(-density)


def weights_from_density(density: Float[Tensor, "*bs num_samples"]) -> Float[Tensor, "*bs num_samples"]:
    """Compositing weights ``w_i = alpha_i * prod_{j<i}(1 - alpha_j + 1e-10)`` (ENeRF's 1e-10, exclusive product)."""
    alpha = alphas_from_density(density)
    trans = torch.cumprod(1.0 - alpha + 1e-10, dim=-1)
    trans = torch.cat([torch.ones_like(trans[..., :1]), trans[..., :-1]], dim=-1)
    return alpha * trans


def composite(
    weights: Float[Tensor, "*bs num_samples"], values: Float[Tensor, "*bs num_samples C"]
) -> Float[Tensor, "*bs C"]:
    """``sum_i w_i * values_i`` (colour, heatmaps, CSE; no background term)."""
    return (weights[..., None] * values).sum(dim=-2)


def accumulation(weights: Float[Tensor, "*bs num_samples"]) -> Float[Tensor, "*bs 1"]:
    """Opacity of each ray, ``sum_i w_i``."""
    return weights.sum(dim=-1, keepdim=True)


def enerf_depth(
    weights: Float[Tensor, "*bs num_samples"], z_vals: Float[Tensor, "*bs num_samples"]
) -> Float[Tensor, "*bs"]:
    """ENeRF's reported depth: ``sum softmax(w)_i * z_i`` with ``z`` detached.

    ENeRF parity (utils.py ``raw2outputs``): the weights are passed through a softmax over the samples before the
    depth sum, and the sample values are detached. Kept for parity/diagnostics only: with weights in [0, 1] the softmax
    is nearly uniform, so this is close to the mean sample value.
    """
    return (torch.softmax(weights, dim=-1) * z_vals.detach()).sum(dim=-1)


def expected_depth(
    weights: Float[Tensor, "*bs num_samples"],
    z_depth: Float[Tensor, "*bs num_samples"],
    eps: float = EXPECTED_DEPTH_EPS,
) -> Float[Tensor, "*bs"]:
    """Accumulation-normalised expected z-depth, ``(sum w z + eps * mean z) / (sum w + eps)``."""
    return ((weights * z_depth).sum(dim=-1) + eps * z_depth.mean(dim=-1)) / (weights.sum(dim=-1) + eps)
