"""Problems a user can fix (bad dataset files, missing weights, bad options) end an ns-* command with one clear
message, not a Python traceback.

The ns-* commands are nerfstudio's, so the plugin cannot wrap their ``main``; instead it installs a ``sys.excepthook``
(when a GHNeRF pipeline is built: :func:`ghnerf_ns.runtime.setup_runtime`) that prints these exceptions as a single
block and keeps the default behaviour for everything else. Set ``GHNERF_DEBUG=1`` to get the full traceback.
"""

import os
import sys
from types import TracebackType
from typing import Optional, Tuple, Type

from dataparsers.human_common import DatasetFormatError

DEBUG_ENV = "GHNERF_DEBUG"
"""Environment variable that restores full tracebacks for user-facing errors."""


class GHNeRFConfigError(ValueError):
    """An option has a value GHNeRF cannot use; the message names the option and a valid value."""


def user_facing_errors() -> Tuple[Type[BaseException], ...]:
    """Exception types whose message is meant for the user as-is."""
    from ghnerf_ns.runtime.weights import WeightsError

    return (DatasetFormatError, WeightsError, GHNeRFConfigError)


def _hook(previous):
    def excepthook(kind: Type[BaseException], value: BaseException, tb: Optional[TracebackType]) -> None:
        if os.environ.get(DEBUG_ENV) or not issubclass(kind, user_facing_errors()):
            previous(kind, value, tb)
            return
        sys.stderr.write(f"\nghnerf_ns error: {value}\n(set {DEBUG_ENV}=1 for the full traceback)\n")
        sys.stderr.flush()

    excepthook.ghnerf_hook = True  # type: ignore[attr-defined]
    return excepthook


def install_excepthook() -> None:
    """Install the hook once (idempotent)."""
    if not getattr(sys.excepthook, "ghnerf_hook", False):
        sys.excepthook = _hook(sys.excepthook)
