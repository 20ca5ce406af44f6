"""Whole-image rendering: encode the sources once (cached), build the target's volumes once, render rays in chunks.

Only rays inside the projected 3D box of the human are rendered (ENeRF's human renderer: everything else is
background). Any target size works: the target is padded to a multiple of 32 for the cost volumes and cropped back.
"""

from collections import OrderedDict
from dataclasses import fields, is_dataclass, replace
from typing import Callable, Dict, Hashable, Optional, Tuple, Union

import torch
from jaxtyping import Float
from torch import Tensor

from dataparsers.body25 import NUM_JOINTS
from ghnerf_ns.model.encoder_windows import box_windows
from ghnerf_ns.model.geometry import box_mask
from ghnerf_ns.model.human_encoders import HumanEncoder, HumanFeatureMaps
from ghnerf_ns.model.network import SIZE_MULTIPLE, EncodedSources, GHNeRFNetwork, LevelOutputs
from ghnerf_ns.model.views import SourceViews, TargetView


def tensor_bytes(value: object) -> int:
    """Bytes held by the tensors inside a (nested) dataclass, tuple, list or dict (shared storages counted once)."""
    seen: Dict[int, int] = {}

    def visit(obj: object) -> None:
        if isinstance(obj, Tensor):
            storage = obj.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        elif is_dataclass(obj) and not isinstance(obj, type):
            for f in fields(obj):
                visit(getattr(obj, f.name))
        elif isinstance(obj, (tuple, list)):
            for item in obj:
                visit(item)
        elif isinstance(obj, dict):
            for item in obj.values():
                visit(item)

    visit(value)
    return sum(seen.values())


class EncodeCache:
    """LRU cache of encoded sources keyed by (subject, frame, source cameras, resolution) + a weights version.

    Bounded twice: at most ``capacity`` entries and at most ``max_bytes`` of tensors (a 512 px ResNet34 entry holds
    ~270 MB of human features, so a count alone does not bound memory). The newest entry is always kept, even if it
    alone exceeds ``max_bytes``. Callers put everything that changes the encoding into the key (the weights version:
    see :func:`weights_version`), so a stale entry is never returned; :meth:`clear` frees memory early.
    """

    def __init__(self, capacity: int = 4, max_bytes: int = 2 << 30) -> None:
        if capacity < 1:
            raise ValueError(f"EncodeCache capacity must be >= 1 (GHNeRFModelConfig.encode_cache_size), got {capacity}")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._items: "OrderedDict[Hashable, Tuple[EncodedSources, int]]" = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    @property
    def nbytes(self) -> int:
        """Tensor bytes held by the cached entries."""
        return sum(size for _, size in self._items.values())

    def get_or_encode(self, key: Hashable, encode: Callable[[], EncodedSources]) -> EncodedSources:
        """The cached value of ``key`` (marked most recently used), or ``encode()``'s result, stored."""
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key][0]
        self.misses += 1
        value = encode()
        self._items[key] = (value, tensor_bytes(value))
        while len(self._items) > 1 and (len(self._items) > self.capacity or self.nbytes > self.max_bytes):
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()


def weights_version(*modules: torch.nn.Module) -> Tuple[int, ...]:
    """A token that changes whenever any parameter or buffer of ``modules`` is modified in place.

    Uses the tensors' in-place version counters (bumped by optimiser steps, ``load_state_dict``'s ``copy_``, ...), so
    an encode-cache key that includes it is invalidated by any weight change without the caller having to remember to
    clear the cache. Cheap: no data is read.
    """
    return tuple(
        t._version for m in modules for t in (*m.parameters(), *m.buffers())  # pylint: disable=protected-access
    )


def padded_size(height: int, width: int) -> Tuple[int, int]:
    """(H, W) rounded up to the cost volumes' size multiple."""
    return -(-height // SIZE_MULTIPLE) * SIZE_MULTIPLE, -(-width // SIZE_MULTIPLE) * SIZE_MULTIPLE


OUTPUT_FILL = {"rgb": 0.0, "accumulation": 0.0, "heatmaps": 0.0, "cse": 0.0}
"""Value of each output outside the rendered box (depth: the box's far distance)."""


def render_image(
    network: GHNeRFNetwork,
    encoded: EncodedSources,
    target: TargetView,
    chunk: int,
) -> Dict[str, Tensor]:
    """Render the fine level of ``target`` (any size) as ``[H, W, C]`` tensors, under ``torch.inference_mode``.

    Per image: the volumes are built once and the output images allocated once; per chunk of rays only the fine level
    is rendered (``levels=("fine",)``: the coarse level contributes its volume, not its rays) and written in place.

    Returns ``rgb``, ``accumulation``, ``depth`` (ray distance; box far distance where nothing is rendered),
    ``heatmaps`` (``[H, W, J]``), optionally ``cse``, and ``box_mask`` (``[H, W, 1]`` bool: the rendered region).
    """
    if chunk < 1:
        raise ValueError(f"chunk (GHNeRFModelConfig.eval_num_rays_per_chunk) must be >= 1, got {chunk}")
    height, width = target.height, target.width
    pad_h, pad_w = padded_size(height, width)
    # Padding adds rows/columns at the bottom/right, so the intrinsics stay valid for the padded image.
    padded = replace(target, height=pad_h, width=pad_w)
    device = target.K.device
    channels = {"rgb": 3, "accumulation": 1, "depth": 1, "heatmaps": NUM_JOINTS}
    if network.config.cse_dim:
        channels["cse"] = network.config.cse_dim
    fill = dict(OUTPUT_FILL, depth=float(target.near_far[1]))
    with torch.no_grad():
        # The returned images are ordinary tensors (callers may edit them in place); only the work inside runs under
        # inference_mode, writing into them.
        inside = box_mask(target.box, target.K, target.w2c, height, width)
        flat = {name: torch.full((height * width, c), fill[name], device=device) for name, c in channels.items()}
    with torch.inference_mode():
        index = torch.nonzero(inside.reshape(-1))[:, 0]
        if index.numel() > 0:  # otherwise the box is not in view: an empty (black) render of the right size
            volumes = network.build_volumes(encoded, padded)
            # Pixel coordinates of the rendered rays, from their flat index (no full-image pixel grid).
            pixels = torch.stack([index % width, torch.div(index, width, rounding_mode="floor")], dim=-1).float()
            for start in range(0, index.shape[0], chunk):
                fine: LevelOutputs = network.render_rays(
                    encoded, volumes, padded, pixels[start : start + chunk], levels=("fine",)
                ).fine
                rows = index[start : start + chunk]
                for name, image in flat.items():
                    value = getattr(fine, name)
                    if value is not None:
                        image[rows] = value.to(image.dtype)  # half precision under autocast
    out = {name: image.reshape(height, width, -1) for name, image in flat.items()}
    out["box_mask"] = inside[..., None]
    return out


def autocast_state() -> Tuple:
    """Whether (and in which dtype) autocast is on for CPU and CUDA: an encoding made under mixed precision is not the
    float32 one."""
    return tuple(
        (device, torch.get_autocast_dtype(device)) if torch.is_autocast_enabled(device) else (device, None)
        for device in ("cpu", "cuda")
    )


def source_cache_key(sources: SourceViews, version: Hashable) -> Tuple:
    """Encode-cache key: the views' (subject, frame, camera ids, resolution), a weights version (an int bumped by the
    caller, or :func:`weights_version`) and the autocast state (:func:`autocast_state`)."""
    return (*sources.cache_key(), version, autocast_state())


def human_features_for(
    encoder: HumanEncoder,
    sources: SourceViews,
    box: Union[Float[Tensor, "2 3"], Float[Tensor, "num_views 2 3"], None] = None,
    margin: Optional[int] = None,
) -> Optional[HumanFeatureMaps]:
    """Low-resolution human-encoder features (and heatmap-head maps) of the sources, or None without a human encoder.

    With the person's 3D ``box`` (one for all views, or one per view; and the encoder's ``crop_to_box`` on) only each
    view's window around its box is encoded; the map is zero elsewhere, where nothing is sampled. ``margin`` (pixels
    around the projected box) defaults to two feature cells, so that lookups near the box's edge stay inside.
    """
    if encoder.out_channels == 0:
        return None
    windows = None
    if box is not None and encoder.config.crop_to_box:
        margin = max(2 * encoder.stride, encoder.pad_multiple) if margin is None else margin
        windows = box_windows(sources.K, sources.w2c, box, sources.hw, encoder.pad_multiple, margin)
    return encoder.encode_lowres(sources.images, windows)
