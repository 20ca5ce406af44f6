"""What a GHNeRF process needs from its environment: pretrained weights, checkpoint loading, ffmpeg, user errors.

:func:`setup_runtime` is the one place that changes the process (``sys.excepthook``, torch's safe globals, ``PATH``).
It runs when a GHNeRF pipeline is built (before its dataparser runs and before any checkpoint loads) and at the start of
our own console scripts, never on import: nerfstudio imports every installed plugin's entry points for every ``ns-*``
command, including ``ns-train nerfacto``, and importing this plugin must change nothing for other methods.
"""

from ghnerf_ns.runtime.checkpoint_safety import register_checkpoint_safe_globals
from ghnerf_ns.runtime.ffmpeg import ensure_ffmpeg
from ghnerf_ns.runtime.user_errors import install_excepthook


def setup_runtime() -> None:
    """Prepare this process for a GHNeRF run (idempotent: each step checks whether it is already done).

    - checkpoints written by nerfstudio (whose scheduler state holds numpy scalars) load under torch's weights-only
      unpickler without any user action;
    - errors a user can fix (dataset files, weights, options) print as one message instead of a traceback;
    - ``ns-render`` finds an ``ffmpeg`` even when the venv's ``bin`` is not on PATH (imageio-ffmpeg's binary).
    """
    register_checkpoint_safe_globals()
    install_excepthook()
    ensure_ffmpeg()
