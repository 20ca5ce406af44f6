"""Lets nerfstudio checkpoints load under torch's weights-only unpickler.

nerfstudio's learning-rate scheduler state stores numpy float64 scalars; torch >= 2.6 loads checkpoints with
``weights_only=True`` and refuses them (``UnpicklingError: ... numpy.core.multiarray.scalar``). Registering exactly the
numpy reconstruction helpers and scalar dtypes as safe globals fixes ``ns-eval``/``ns-render``/``ns-viewer``/resume
without ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``; nothing else (no code objects) is allowed.
"""

from typing import List

import numpy as np
import torch


def _numpy_safe_globals() -> List[object]:
    import numpy.core.multiarray as multiarray

    dtype_classes = [type(np.dtype(t)) for t in ("float64", "float32", "float16", "int64", "int32", "bool")]
    return [multiarray.scalar, multiarray._reconstruct, np.ndarray, np.dtype, *dtype_classes]


def register_checkpoint_safe_globals() -> None:
    """Register numpy scalar types with torch's weights-only loader (idempotent)."""
    add = getattr(torch.serialization, "add_safe_globals", None)
    if add is not None:
        add(_numpy_safe_globals())
