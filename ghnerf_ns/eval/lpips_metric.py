"""LPIPS (VGG) for the ENeRF human protocol, only when it can be computed offline.

The ``lpips`` package ships the linear heads but its VGG backbone comes from torchvision, which downloads
``vgg16-397923af.pth`` into the torch hub cache on first use; offline that raises within a second. So availability is
decided by looking at the cache (``torch.hub.get_dir()``, i.e. ``$TORCH_HOME/hub`` or ``~/.cache/torch/hub``) without
triggering a download, and the metric is skipped with a one-line reason otherwise. The cache test itself is
:func:`ghnerf_ns.runtime.weights.lpips_vgg_available` (shared with the perceptual loss); this module adds the check that
the ``lpips`` package and its linear heads are there, and builds the model once per device.
"""

import importlib.util
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from ghnerf_ns.runtime.weights import lpips_vgg_available

_MODELS: Dict[str, nn.Module] = {}


def lpips_available() -> Tuple[bool, str]:
    """``(True, "")`` when LPIPS-VGG can be built offline, else ``(False, one-line reason with the fix)``.

    Imports nothing heavy: the package is located with ``importlib`` and the weights are looked up as files.
    """
    backbone_ok, reason = lpips_vgg_available()
    if not backbone_ok:
        return False, f"LPIPS skipped: {reason}"
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return False, "LPIPS skipped: the 'lpips' package is not installed (pip install lpips)"
    heads = Path(list(spec.submodule_search_locations)[0]) / "weights" / "v0.1" / "vgg.pth"
    if not heads.is_file():
        return False, f"LPIPS skipped: the lpips package has no VGG linear heads at {heads} (reinstall lpips)"
    return True, ""


def load_lpips_vgg(device: torch.device) -> Optional[nn.Module]:
    """The cached ``lpips.LPIPS(net='vgg')`` in eval mode on ``device``, or None when :func:`lpips_available` is
    False."""
    available, _ = lpips_available()
    if not available:
        return None
    key = str(device)
    if key not in _MODELS:
        import lpips

        _MODELS[key] = lpips.LPIPS(net="vgg", verbose=False).eval().to(device)
    return _MODELS[key]
