"""An ``ffmpeg`` for ``ns-render`` when none is on PATH: the static binary shipped in the imageio-ffmpeg wheel.

``ns-render camera-path`` first checks ``shutil.which("ffmpeg")`` (and exits if it is missing), then writes videos
through mediapy, which runs ``ffmpeg`` by name. A venv's console scripts run fine by absolute path without the venv's
``bin`` on PATH, so the ``ffmpeg`` link ``make install`` puts there is not always found. When no ``ffmpeg`` is on PATH,
:func:`ensure_ffmpeg` links the imageio-ffmpeg binary as ``ffmpeg`` in a private folder, appends that folder to PATH
(a user's own ffmpeg, if one appears earlier on PATH, still wins) and points mediapy at it.
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional


def _link_dir() -> Path:
    """A per-user folder for the ``ffmpeg`` link (the user cache, or the temp folder when the cache is read-only)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ghnerf_ns" / "bin"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        if os.access(cache, os.W_OK):
            return cache
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"ghnerf_ns-bin-{os.getuid()}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def ensure_ffmpeg() -> Optional[str]:
    """Path of the ``ffmpeg`` now on PATH, making the imageio-ffmpeg one available if needed; None if there is none.

    Cheap when an ``ffmpeg`` is already on PATH (one ``shutil.which``); imports imageio_ffmpeg and mediapy only when
    not.
    """
    found = shutil.which("ffmpeg")
    if found is not None:
        return found
    try:
        import imageio_ffmpeg

        exe = Path(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):  # no wheel binary for this platform: ns-render reports the missing ffmpeg
        return None
    try:
        folder = _link_dir()
        link = folder / "ffmpeg"
        if not (link.is_symlink() and Path(os.readlink(link)) == exe):
            # Replace atomically: several ns-* processes may start at once.
            tmp = folder / f".ffmpeg-{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(exe)
            os.replace(tmp, link)
    except OSError:
        return None
    os.environ["PATH"] = f"{os.environ.get('PATH', '')}{os.pathsep}{folder}" if os.environ.get("PATH") else str(folder)
    try:
        import mediapy

        mediapy.set_ffmpeg(str(link))
    except ImportError:
        pass
    return shutil.which("ffmpeg")
