"""Checkpoints load weights-only: the registered safe globals are exactly numpy's scalar/array reconstruction types,
and a checkpoint holding code is refused (a real ghnerf-tiny checkpoint is checked in test_resume.py, which owns that
run)."""

import pickle

import numpy as np
import numpy.core.multiarray as multiarray
import pytest
import torch

from ghnerf_ns.runtime.checkpoint_safety import _numpy_safe_globals, register_checkpoint_safe_globals


def test_registered_safe_globals_are_exactly_the_numpy_reconstruction_types():
    register_checkpoint_safe_globals()
    register_checkpoint_safe_globals()  # idempotent
    allowed = set(_numpy_safe_globals())
    expected = {multiarray.scalar, multiarray._reconstruct, np.ndarray, np.dtype}
    expected |= {type(np.dtype(t)) for t in ("float64", "float32", "float16", "int64", "int32", "bool")}
    assert allowed == expected
    registered = set(torch.serialization.get_safe_globals())
    assert allowed <= registered
    assert all(getattr(g, "__module__", "").startswith("numpy") for g in allowed)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_checkpoint_holding_code_is_refused(tmp_path):
    register_checkpoint_safe_globals()
    path = tmp_path / "evil.ckpt"
    torch.save({"step": 1, "x": _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
