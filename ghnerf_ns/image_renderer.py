"""Whole-image rendering: encode the sources once (cached), build the target's volumes once, render rays in chunks.

Only rays inside the projected 3D box of the human are rendered (ENeRF's human renderer: everything else is
background). Any target size works: the target is padded to a multiple of 32 for the cost volumes and cropped back.
"""

from collections import OrderedDict
from dataclasses import replace
from typing import Callable, Dict, Hashable, Optional, Tuple

import torch
from jaxtyping import Float
from torch import Tensor

from ghnerf_ns.model.geometry import box_mask, image_pixels
from ghnerf_ns.model.network import SIZE_MULTIPLE, EncodedSources, GHNeRFNetwork, LevelOutputs
from ghnerf_ns.views import SourceViews, TargetView


class EncodeCache:
    """LRU cache of encoded sources keyed by (subject, frame, source cameras, resolution) + a weights version."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self._items: "OrderedDict[Hashable, EncodedSources]" = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get_or_encode(self, key: Hashable, encode: Callable[[], EncodedSources]) -> EncodedSources:
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]
        self.misses += 1
        value = encode()
        self._items[key] = value
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()


def padded_size(height: int, width: int) -> Tuple[int, int]:
    """(H, W) rounded up to the cost volumes' size multiple."""
    return -(-height // SIZE_MULTIPLE) * SIZE_MULTIPLE, -(-width // SIZE_MULTIPLE) * SIZE_MULTIPLE


def render_image(
    network: GHNeRFNetwork,
    encoded: EncodedSources,
    target: TargetView,
    chunk: int,
) -> Dict[str, Tensor]:
    """Render the fine level of ``target`` (any size) as ``[H, W, C]`` tensors.

    Returns ``rgb``, ``accumulation``, ``depth`` (ray distance; box far distance where nothing is rendered),
    ``heatmaps`` (``[H, W, J]``), optionally ``cse``, and ``box_mask`` (``[H, W, 1]`` bool: the rendered region).
    """
    height, width = target.height, target.width
    pad_h, pad_w = padded_size(height, width)
    # Padding adds rows/columns at the bottom/right, so the intrinsics stay valid for the padded image.
    padded = replace(target, height=pad_h, width=pad_w)
    volumes = network.build_volumes(encoded, padded)
    inside = box_mask(target.box, target.K, target.w2c, height, width)
    pixels = image_pixels(height, width, target.K.device)[inside.reshape(-1)]
    pieces: Dict[str, list] = {}
    for start in range(0, pixels.shape[0], chunk):
        fine: LevelOutputs = network.render_rays(encoded, volumes, padded, pixels[start : start + chunk]).fine
        for name in ("rgb", "accumulation", "depth", "heatmaps", "cse"):
            value = getattr(fine, name)
            if value is not None:
                pieces.setdefault(name, []).append(value)
    far = float(target.near_far[1])
    fill = {"rgb": 0.0, "accumulation": 0.0, "depth": far, "heatmaps": 0.0, "cse": 0.0}
    channels = {"rgb": 3, "accumulation": 1, "depth": 1, "heatmaps": 25, "cse": network.config.cse_dim}
    flat_inside = inside.reshape(-1)
    out: Dict[str, Tensor] = {}
    for name, parts in pieces.items():
        values = torch.cat(parts)
        image = values.new_full((height * width, channels[name]), fill[name])
        image[flat_inside] = values
        out[name] = image.reshape(height, width, -1)
    if not pieces:  # the box is not in view: an empty (black) render of the right size
        device = target.K.device
        for name in ("rgb", "accumulation", "depth", "heatmaps"):
            out[name] = torch.full((height, width, channels[name]), fill[name], device=device)
        if network.config.cse_dim:
            out["cse"] = torch.zeros(height, width, network.config.cse_dim, device=device)
    out["box_mask"] = inside[..., None]
    return out


def source_cache_key(sources: SourceViews, version: int) -> Tuple:
    return (*sources.cache_key(), version)


def human_features_for(
    encoder: torch.nn.Module, sources: SourceViews
) -> Optional[Float[Tensor, "num_views C h w"]]:
    """Low-resolution human-encoder features of the sources, or None without a human encoder."""
    if getattr(encoder, "out_channels", 0) == 0:
        return None
    return encoder.forward_lowres(sources.images)
