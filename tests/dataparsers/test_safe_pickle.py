"""The restricted unpickler: refuses code, loads the real formats exactly like numpy would."""

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dataparsers.human_common import DatasetFormatError
from dataparsers.safe_pickle import load_npy, load_npy_object, load_npz, safe_unpickle


class _Exploit:
    """Unpickling this runs ``os.system('touch <marker>')``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _OpenExploit:
    """Unpickling this calls ``open(marker, 'w')`` (creates the file)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _sample() -> dict:
    """Everything the real files hold: nested dicts/lists, arrays of several dtypes, numpy scalars, plain numbers."""
    return {
        "cams": {"K": [np.eye(3)], "T": [np.arange(3.0).reshape(3, 1)], "D": [[0.1], [0.2]]},
        "ims": [{"ims": ["Camera_B1/000000.jpg"], "kpts2d": np.ones((1, 25, 3), np.float32)}],
        "scalars": (np.float64(1.5), np.int64(3), np.float32(2.0), np.bool_(True), 1j, None, True, {1, 2}),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
    }


def _assert_same(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    else:
        assert a == b and type(a) is type(b)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_loads_plain_data_like_numpy(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "annots.npy"
    array = np.array(_sample(), dtype=object)
    with open(path, "wb") as fp:  # np.save always uses protocol 3; older files (Python 2 era) use 2
        np.lib.format.write_array_header_1_0(fp, np.lib.format.header_data_from_array_1_0(array))
        pickle.dump(array, fp, protocol=protocol)
    _assert_same(np.load(path, allow_pickle=True).item(), load_npy_object(path))


def test_plain_arrays_and_npz(tmp_path: Path) -> None:
    array = np.asfortranarray(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32))
    np.save(tmp_path / "v.npy", array)
    loaded = load_npy(tmp_path / "v.npy")
    assert loaded.dtype == np.float32 and np.array_equal(loaded, array)
    loaded[0, 0] = 1.0  # writable, like np.load's result
    smpl = {"betas": np.zeros((1, 10)), "transl": np.arange(6.0).reshape(2, 3), "body_pose": np.zeros((2, 69))}
    np.savez(tmp_path / "fit.npz", smpl=smpl, other=np.arange(3))
    out = load_npz(tmp_path / "fit.npz")
    _assert_same(smpl, out["smpl"].item())
    assert np.array_equal(out["other"], np.arange(3))


@pytest.mark.parametrize("exploit", [_Exploit, _OpenExploit])
def test_refuses_code_in_npy_npz_and_raw_pickle(tmp_path: Path, exploit: type) -> None:
    marker = tmp_path / "pwned"
    payload = {"cams": {}, "ims": [exploit(marker)]}
    npy = tmp_path / "annots.npy"
    np.save(npy, np.array(payload, dtype=object), allow_pickle=True)
    with pytest.raises(
        DatasetFormatError, match=r"annots\.npy.*refusing to unpickle '(posix|builtins|io)\.(system|open)'"
    ):
        load_npy_object(npy)
    npz = tmp_path / "fit.npz"
    np.savez(npz, smpl=np.array(payload, dtype=object))
    with pytest.raises(DatasetFormatError, match=r"fit\.npz\[smpl\.npy\].*refusing"):
        load_npz(npz)
    with pytest.raises(DatasetFormatError, match="refusing"):
        safe_unpickle(io.BytesIO(pickle.dumps(exploit(marker))), tmp_path / "x.pkl")
    assert not marker.exists()
    # Sanity check of the test itself: numpy's own loader would have run it.
    np.load(npy, allow_pickle=True)
    assert marker.exists()


def test_refuses_dotted_getattr_of_allowed_module(tmp_path: Path) -> None:
    """Protocol 4 resolves dotted names; 'builtins.dict.__class__'-style lookups are not on the list."""
    data = b"\x80\x04\x8c\x08builtins\x8c\x0cgetattr.eval\x93."  # STACK_GLOBAL builtins 'getattr.eval'
    with pytest.raises(DatasetFormatError, match=r"builtins\.getattr\.eval"):
        safe_unpickle(io.BytesIO(data), tmp_path / "x.pkl")


def test_garbled_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "annots.npy"
    bad.write_bytes(b"not a numpy file at all")
    with pytest.raises(DatasetFormatError, match=r"annots\.npy: not a valid \.npy"):
        load_npy(bad)
    np.save(bad, np.array({"a": np.arange(1000)}, dtype=object), allow_pickle=True)
    bad.write_bytes(bad.read_bytes()[:-200])  # truncated pickle
    with pytest.raises(DatasetFormatError, match=r"annots\.npy: cannot unpickle"):
        load_npy(bad)
    with pytest.raises(DatasetFormatError, match=r"missing\.npy: file not found"):
        load_npy(tmp_path / "missing.npy")
    with zipfile.ZipFile(tmp_path / "broken.npz", "w"):
        pass
    (tmp_path / "broken.npz").write_bytes(b"PK garbage")
    with pytest.raises(DatasetFormatError, match=r"broken\.npz: not a valid \.npz"):
        load_npz(tmp_path / "broken.npz")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(DatasetFormatError, match="expected a pickled Python object"):
        load_npy_object(tmp_path / "plain.npy")
