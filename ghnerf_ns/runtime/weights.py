"""Where pretrained weights live, how they are obtained, and clear errors when they cannot be.

Policy (README.md, "Offline machines and weights"): real loading code always. A pretrained
backbone is taken, in this order, from (1) a local file named by a config field, (2) the torch hub
cache (``$TORCH_HOME/hub/checkpoints/<file>``, the same place timm and torchvision cache their
downloads, so weights downloaded by either are found), (3) a download into that cache. When none of
these works the run stops at construction with ONE short message (``PretrainedWeightsUnavailable``) that
names the missing file and the ways forward; nothing ever falls back silently to random weights.

Weights files are always read with ``torch.load(..., weights_only=True)``: a weights file is data, and
must not be able to run code.
"""

import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Dict, List, Literal, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

DOWNLOAD_TIMEOUT_S = 20.0
"""Socket timeout of a weights download: offline machines must fail fast, not hang."""

VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
"""torchvision's ImageNet VGG16 weights (the LPIPS-VGG backbone and ENeRF's perceptual-loss network)."""

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
"""torchvision's ImageNet AlexNet weights (the LPIPS-Alex backbone, torchmetrics' default LPIPS net)."""

_NESTED_STATE_DICT_KEYS = ("state_dict", "model", "teacher")
"""Keys under which checkpoints commonly nest the weights (timm/torchvision training files, DINO full checkpoints)."""

_STRIPPED_PREFIXES = ("module.", "backbone.")
"""Prefixes added by DDP wrappers and by DINO's teacher/student heads; stripped from every key."""


class WeightsError(RuntimeError):
    """Base class of the weights errors: the message is meant to be shown to the user as-is."""


class PretrainedWeightsUnavailable(WeightsError):
    """Pretrained weights were asked for but are neither in a local file, nor cached, nor downloadable."""


class WeightsFileError(WeightsError):
    """A weights file exists (or was named) but cannot be used: missing, unreadable or not matching the model."""


def hub_dir() -> Path:
    """The torch hub directory (``$TORCH_HOME/hub``, default ``~/.cache/torch/hub``), read at call time."""
    return Path(torch.hub.get_dir())


def hub_checkpoints_dir() -> Path:
    """Where timm (0.6.x) and torchvision cache downloaded weights: ``<hub_dir>/checkpoints``."""
    return hub_dir() / "checkpoints"


def url_filename(url: str) -> str:
    """The cache file name of a weights URL (its last path component, as torch.hub and timm use)."""
    return os.path.basename(urllib.parse.urlparse(url).path)


def cached_weights_file(url: str) -> Path:
    """The path the weights of ``url`` have in the torch hub cache (it may not exist)."""
    return hub_checkpoints_dir() / url_filename(url)


def download_weights(url: str, dst: Path, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Download ``url`` to ``dst`` atomically (temporary file then rename), with a socket timeout.

    Raises ``urllib.error.URLError`` / ``OSError`` (e.g. offline, within the DNS failure time) and
    ``RuntimeError`` when torch.hub's file-name hash prefix check fails. Kept module-level so tests can
    replace it and never touch the network.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial")
    with urllib.request.urlopen(url, timeout=timeout_s) as response, open(tmp, "wb") as out:
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
    match = torch.hub.HASH_REGEX.search(dst.name)
    if match is not None:
        import hashlib

        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        if not digest.startswith(match.group(1)):
            tmp.unlink()
            raise RuntimeError(f"downloaded {url} but its sha256 {digest[:12]}... does not match {match.group(1)}")
    os.replace(tmp, dst)


def obtain_pretrained_file(
    url: str,
    what: str,
    ways_forward: Sequence[str],
    allow_download: bool = True,
) -> Path:
    """Return a local file holding the pretrained weights of ``url``: cached, or downloaded into the cache.

    Args:
        url: the canonical download URL (its file name is the cache name).
        what: human-readable name of the weights, used in the error (e.g. "the human encoder 'resnet34'").
        ways_forward: one line per way forward, shown in the error message.
        allow_download: when False only the cache is looked at (no network access at all).

    Raises:
        PretrainedWeightsUnavailable: not cached and the download failed (or was not allowed).
    """
    cached = cached_weights_file(url)
    if cached.is_file():
        return cached
    reason = "downloads are disabled"
    if allow_download:
        try:
            download_weights(url, cached)
            return cached
        except (urllib.error.URLError, OSError, RuntimeError) as err:  # URLError is an OSError; both kept for clarity
            reason = f"download failed ({type(err).__name__}: {_one_line(err)})"
    lines = [
        f"Pretrained weights for {what} are not available: {cached} does not exist and {reason}.",
        "Ways forward:",
        *[f"  - {line}" for line in ways_forward],
    ]
    raise PretrainedWeightsUnavailable("\n".join(lines))


def _one_line(err: BaseException, max_len: int = 160) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= max_len else text[: max_len - 3] + "..."


def read_state_dict(path: Path) -> Dict[str, Tensor]:
    """Read a weights file (weights-only) and return a flat ``{name: tensor}`` state dict.

    Accepts a bare state dict or one nested under ``state_dict`` / ``model`` / ``teacher``; strips
    ``module.`` and ``backbone.`` prefixes. Raises ``WeightsFileError`` naming the file on any problem.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"Weights file {path} does not exist (or is not a file).")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling/zip/EOF errors have no common base class
        raise WeightsFileError(
            f"Weights file {path} could not be read as a torch state dict (weights-only load): "
            f"{type(err).__name__}: {_one_line(err)}"
        ) from None
    for key in _NESTED_STATE_DICT_KEYS:
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsFileError(f"Weights file {path} does not hold a state dict (a mapping of names to tensors).")
    state: Dict[str, Tensor] = {}
    for name, value in obj.items():
        for prefix in _STRIPPED_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
        state[name] = value
    return state


def load_into(module: nn.Module, state: Mapping[str, Tensor], source: str, unused_prefixes: Sequence[str] = ()) -> None:
    """Load ``state`` into ``module`` strictly, except for file tensors under ``unused_prefixes``.

    Every module tensor must be present with the right shape, and every file tensor must be used unless it
    belongs to a part that is deliberately not built (a classifier head, ResNet's layer4): a deeper
    network's file then fails instead of loading silently into a shallower one. Raises ``WeightsFileError``
    naming ``source`` and a few offending keys.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    unused = [k for k in state if k not in own and not k.startswith(tuple(unused_prefixes))]
    problems: List[str] = []
    if missing:
        problems.append(f"{len(missing)} missing tensors (e.g. {', '.join(missing[:3])})")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatches (e.g. {'; '.join(wrong[:2])})")
    if unused:
        problems.append(f"{len(unused)} unexpected tensors (e.g. {', '.join(unused[:3])})")
    if problems:
        raise WeightsFileError(
            f"Weights from {source} do not match the {type(module).__name__} being built: {'; '.join(problems)}. "
            "Is it the checkpoint of the right architecture?"
        )
    module.load_state_dict({k: state[k] for k in own}, strict=True)


def lpips_backbone_available(net: Literal["vgg", "alex"] = "vgg") -> Tuple[bool, str]:
    """Whether LPIPS can be computed offline: its torchvision backbone must be in the torch hub cache.

    The LPIPS linear heads ship inside the ``lpips`` package; only the ImageNet backbone is downloaded on
    first use. Returns ``(True, "")`` or ``(False, one-line reason with the fix)``.
    """
    url = VGG16_URL if net == "vgg" else ALEXNET_URL
    cached = cached_weights_file(url)
    if cached.is_file():
        return True, ""
    return False, (
        f"LPIPS-{net} needs the torchvision ImageNet backbone weights {cached.name}, not found at {cached} "
        f"(download {url} there, or set TORCH_HOME to a folder whose hub/checkpoints holds it)"
    )


def lpips_vgg_available() -> Tuple[bool, str]:
    """``lpips_backbone_available("vgg")``: the check ``ns-eval`` uses before reporting LPIPS (VGG)."""
    return lpips_backbone_available("vgg")


def resolve_weights_path(weights_path: Optional[Path]) -> Optional[Path]:
    """Expand ``~`` and environment variables of a config path (None stays None)."""
    if weights_path is None:
        return None
    return Path(os.path.expandvars(os.path.expanduser(str(weights_path))))
