"""Ready-to-show images of GHNeRF's outputs for the viewer, ``ns-eval`` image dumps and ``ns-render`` videos.

nerfstudio's viewer and savers accept a 1-channel float (colormapped), a 3-channel float (shown as RGB), bool, or
more than 3 channels (PCA). Two channels, or an integer tensor, reach ``raise NotImplementedError`` in
``apply_colormap``, and PCA fails on all-zero or constant images, so every output goes through
:func:`safe_viewer_output`.
All functions return contiguous float tensors on the input's device.
"""

import colorsys
from functools import lru_cache
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from dataparsers.body25 import BODY25_LIMBS, NUM_JOINTS


def heatmap_max_channel(
    heatmaps: Float[Tensor, "height width num_joints"], joint: Optional[int] = None
) -> Float[Tensor, "height width 1"]:
    """The viewer's ``heatmap`` output: the chosen joint's channel, or the max over joints when ``joint`` is None."""
    if joint is None:
        out = heatmaps.amax(dim=-1, keepdim=True)
    else:
        if not 0 <= joint < heatmaps.shape[-1]:
            raise ValueError(f"joint index {joint} out of range [0, {heatmaps.shape[-1]}) (viewer joint selector)")
        out = heatmaps[..., joint : joint + 1]
    return out.float().contiguous()


def _turbo(values: Tensor) -> Tensor:
    """Turbo colours of values in [0, 1] (nerfstudio's LUT, the viewer's default colormap)."""
    from nerfstudio.utils.colormaps import ColormapOptions, apply_colormap

    return apply_colormap(values, ColormapOptions(colormap="turbo"))


def heatmap_overlay(
    rgb: Float[Tensor, "height width 3"],
    heatmap: Union[Float[Tensor, "height width"], Float[Tensor, "height width 1"]],
    opacity: float = 0.6,
) -> Float[Tensor, "height width 3"]:
    """Turbo-coloured heat blended over the image with alpha ``opacity * heat``: zero heat leaves ``rgb`` unchanged."""
    heat = torch.nan_to_num(heatmap.float(), nan=0.0).clamp(0.0, 1.0)
    if heat.ndim == 2:
        heat = heat[..., None]
    colours = _turbo(heat).to(device=rgb.device, dtype=torch.float32)
    alpha = opacity * heat
    out = rgb.float() * (1.0 - alpha) + colours * alpha
    return out.clamp(0.0, 1.0).contiguous()


@lru_cache(maxsize=None)
def _limb_colours(num: int) -> List[Tuple[float, float, float]]:
    # Evenly spaced hues, as OpenPose's renderer: neighbouring limbs get distinct colours.
    return [colorsys.hsv_to_rgb(i / num, 1.0, 1.0) for i in range(num)]


def draw_keypoints_overlay(
    rgb: Float[Tensor, "height width 3"],
    keypoints: Float[Tensor, "num_joints 3"],
    score_threshold: float = 0.1,
    valid: Optional[Tensor] = None,
) -> Float[Tensor, "height width 3"]:
    """BODY_25 skeleton drawn over the image: coloured limbs between confident joints, then a dot per joint.

    Joints whose score is below ``score_threshold``, non-finite, or False in ``valid`` are not drawn, nor their limbs.
    Line thickness scales with the shorter image side. Drawing goes into a separate premultiplied layer that is then
    composited, so pixels away from the skeleton are exactly the input.
    """
    import cv2

    if keypoints.shape[0] != NUM_JOINTS:
        raise ValueError(f"expected {NUM_JOINTS} BODY_25 keypoints, got {keypoints.shape[0]}")
    height, width = int(rgb.shape[0]), int(rgb.shape[1])
    kp = keypoints.detach().to("cpu", torch.float64).numpy()
    ok = np.isfinite(kp).all(axis=-1) & (kp[:, 2] >= score_threshold)
    if valid is not None:
        ok &= valid.detach().cpu().numpy().astype(bool)
    thickness = max(1, int(round(min(height, width) / 128)))
    radius = thickness + 1
    shift = 4  # cv2 fixed-point: sub-pixel keypoints are drawn where they are, not rounded
    pts = np.round(np.nan_to_num(kp[:, :2]) * (1 << shift)).astype(np.int64)
    layer = np.zeros((height, width, 3), dtype=np.uint8)
    coverage = np.zeros((height, width), dtype=np.uint8)
    for colour, (a, b) in zip(_limb_colours(len(BODY25_LIMBS)), BODY25_LIMBS):
        if ok[a] and ok[b]:
            pa, pb = (int(pts[a, 0]), int(pts[a, 1])), (int(pts[b, 0]), int(pts[b, 1]))
            colour255 = tuple(int(255 * c) for c in colour)
            cv2.line(layer, pa, pb, colour255, thickness, cv2.LINE_AA, shift)
            cv2.line(coverage, pa, pb, 255, thickness, cv2.LINE_AA, shift)
    for j in np.flatnonzero(ok):
        centre = (int(pts[j, 0]), int(pts[j, 1]))
        colour255 = tuple(int(255 * c) for c in _limb_colours(NUM_JOINTS)[j])
        cv2.circle(layer, centre, radius << shift, colour255, -1, cv2.LINE_AA, shift)
        cv2.circle(coverage, centre, radius << shift, 255, -1, cv2.LINE_AA, shift)
    # The layer was drawn over black with anti-aliasing, i.e. it is premultiplied by its coverage.
    layer_t = torch.from_numpy(layer).to(device=rgb.device, dtype=torch.float32) / 255.0
    alpha = torch.from_numpy(coverage).to(device=rgb.device, dtype=torch.float32)[..., None] / 255.0
    out = rgb.float() * (1.0 - alpha) + layer_t
    return out.clamp(0.0, 1.0).contiguous()


@lru_cache(maxsize=None)
def _cse_projection(dim: int, seed: int) -> Tensor:
    # Seeded on the CPU so every device, process and frame gets the same matrix (never a per-image PCA).
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(max(dim, 3), 3, generator=gen, dtype=torch.float64))
    return q[:dim].to(torch.float32)  # [dim, 3], orthonormal columns when dim >= 3


def cse_to_rgb(
    cse: Float[Tensor, "height width embed_dim"],
    alpha: Optional[Union[Float[Tensor, "height width"], Float[Tensor, "height width 1"]]] = None,
    gain: float = 3.0,
    seed: int = 0,
) -> Float[Tensor, "height width 3"]:
    """Colours of a CSE embedding through a fixed, seeded random orthonormal projection and a sigmoid.

    The same embedding gets the same colour in every view and frame. ``gain`` spreads unit-scale embeddings over the
    sigmoid's range. With ``alpha`` (accumulation), colours are multiplied by it, so the background is black.
    """
    proj = _cse_projection(int(cse.shape[-1]), seed).to(cse.device)
    out = torch.sigmoid(gain * (torch.nan_to_num(cse.float()) @ proj))
    if alpha is not None:
        a = alpha.float().clamp(0.0, 1.0)
        out = out * (a[..., None] if a.ndim == 2 else a)
    return out.contiguous()


PCA_FIT_PIXELS = 16384
"""Pixels used to fit the PCA colouring of multi-channel outputs."""


def pca_colours(features: Float[Tensor, "height width channels"]) -> Float[Tensor, "height width 3"]:
    """nerfstudio's PCA colouring of a feature image, or black where it cannot be computed.

    ``apply_pca_colormap`` raises or returns NaN on inputs that real renders produce: all zeros (empty heatmaps), fewer
    than 3 non-zero pixels, or channels whose median absolute deviation is 0 (constant features).
    """
    from nerfstudio.utils.colormaps import apply_pca_colormap

    black = torch.zeros((*features.shape[:2], 3), dtype=torch.float32, device=features.device)
    image = features.float().contiguous()
    flat = image.reshape(-1, image.shape[-1])
    rows = torch.nonzero(flat.abs().amax(dim=-1) > 0)[:, 0]
    if len(rows) < 3:  # torch.pca_lowrank(q=3) needs at least 3 rows
        return black
    try:
        # The 3 principal directions are fitted on at most PCA_FIT_PIXELS evenly spread non-zero pixels (a 512x512
        # render has ~10x more, and fitting all of them is slow on CPU), then applied to every pixel.
        fit = rows[torch.linspace(0, len(rows) - 1, min(len(rows), PCA_FIT_PIXELS), device=rows.device).long()]
        _, _, directions = torch.pca_lowrank(flat[fit], q=3, niter=20)
        out = apply_pca_colormap(image, pca_mat=directions)
    except (RuntimeError, AssertionError, IndexError, ValueError):
        return black
    if not bool(torch.isfinite(out).all()):
        return black
    return out.float().contiguous()


def safe_viewer_output(t: Tensor) -> Float[Tensor, "height width channels"]:
    """Makes an output displayable and savable by nerfstudio: float, contiguous, ``[H, W, C]`` with C = 1 or 3.

    ``[H, W]`` gets a channel axis; bool/int become float; NaN/inf become 0; 2 channels are padded with a zero third
    channel; 0 channels become one zero channel; more than 3 channels are PCA-coloured here (:func:`pca_colours`, black
    where PCA is undefined) instead of by the viewer, whose PCA raises on degenerate images.
    """
    if t.ndim == 2:
        t = t[..., None]
    if t.ndim != 3:
        raise ValueError(f"viewer outputs must be [H, W] or [H, W, C], got shape {tuple(t.shape)}")
    out = torch.nan_to_num(t.float(), nan=0.0, posinf=0.0, neginf=0.0)
    channels = out.shape[-1]
    if channels == 2:
        out = torch.cat([out, torch.zeros_like(out[..., :1])], dim=-1)
    elif channels == 0:
        out = torch.zeros((*out.shape[:2], 1), dtype=torch.float32, device=out.device)
    elif channels > 3:
        out = pca_colours(out)
    return out.contiguous()
