"""The one restricted loader for every pickled dataset file (ZJU ``annots.npy``, SMPL ``.npz``).

Dataset files come from the internet; ``np.load(..., allow_pickle=True)`` would run any code a crafted pickle asks
for. Here a :class:`pickle.Unpickler` subclass resolves only the globals that the real formats contain (builtin
containers and numbers, numpy array/dtype/scalar reconstruction) and refuses everything else *before* it is called,
with a :class:`~dataparsers.human_common.DatasetFormatError` that names the file and the offending ``module.name``.

``.npy`` files are parsed by hand (magic + header via ``np.lib.format``) so that an object array's payload goes to
the restricted unpickler instead of numpy's; ``.npz`` archives are opened with :mod:`zipfile` and each member is
read the same way.
"""

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from dataparsers.human_common import DatasetFormatError

_BUILTIN_NAMES = ("dict", "list", "tuple", "str", "int", "float", "bool", "complex", "set", "frozenset", "bytes",
                  "bytearray")  # fmt: skip
"""Builtin types the real files pickle (dicts of lists, numbers, strings). ``None``/``True`` need no global."""

_ALLOWED: Optional[Dict[Tuple[str, str], Any]] = None


def _numpy_multiarray() -> Any:
    """numpy's ``multiarray`` module under both numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``) names."""
    try:
        from numpy._core import multiarray  # numpy >= 1.26 ships this alias
    except ImportError:  # pragma: no cover - older numpy
        from numpy.core import multiarray
    return multiarray


def _numpy_numeric() -> Any:
    """numpy's ``numeric`` module under both numpy 1 and numpy 2 names."""
    try:
        from numpy._core import numeric
    except ImportError:  # pragma: no cover - older numpy
        from numpy.core import numeric
    return numeric


def _allowed_globals() -> Dict[Tuple[str, str], Any]:
    """(module, name) -> object table, built once. Objects come from here, never from importing what a file names."""
    global _ALLOWED
    if _ALLOWED is None:
        import builtins

        multiarray = _numpy_multiarray()
        table: Dict[Tuple[str, str], Any] = {}
        for module in ("builtins", "__builtin__"):  # __builtin__: protocol-2 pickles written by Python 2
            for name in _BUILTIN_NAMES:
                table[(module, name)] = getattr(builtins, name)
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            table[(module, "_reconstruct")] = multiarray._reconstruct
            table[(module, "scalar")] = multiarray.scalar
        # Protocol >= 5 pickles of contiguous arrays: _frombuffer(bytes, dtype, shape, order) only wraps bytes.
        numeric = _numpy_numeric()
        for module in ("numpy.core.numeric", "numpy._core.numeric"):
            table[(module, "_frombuffer")] = numeric._frombuffer
        table[("numpy", "ndarray")] = np.ndarray
        table[("numpy", "dtype")] = np.dtype
        # numpy scalar types (np.float64, np.int32, ...) may be named directly by some writers.
        for scalar_type in set(np.sctypeDict.values()):
            table[("numpy", scalar_type.__name__)] = scalar_type
        # Protocol-2 pickles store bytes as _codecs.encode(str, "latin1"): a pure str -> bytes conversion.
        import _codecs

        table[("_codecs", "encode")] = _codecs.encode
        _ALLOWED = table
    return _ALLOWED


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can only build plain data: builtin containers/numbers and numpy arrays/scalars.

    Args:
        file: binary stream positioned at the pickle.
        source: the dataset file the stream comes from (named in errors).
    """

    def __init__(self, file: io.BufferedIOBase, source: Path):
        # latin1: numpy's documented choice for arrays pickled by Python 2; irrelevant for Python 3 pickles.
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed_globals().get((module, name))
        if obj is None:
            raise DatasetFormatError(
                f"{self.source}: refusing to unpickle '{module}.{name}' (only plain data and numpy arrays are "
                "allowed in dataset files); the file is not a genuine dataset file: re-download or re-create it"
            )
        return obj


def safe_unpickle(data: io.BufferedIOBase, source: Path) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; any other failure becomes a DatasetFormatError."""
    try:
        return RestrictedUnpickler(data, source).load()
    except DatasetFormatError:
        raise
    except Exception as err:  # pickle raises many types on garbage (UnpicklingError, EOFError, ValueError, ...)
        raise DatasetFormatError(
            f"{source}: cannot unpickle ({type(err).__name__}: {err}); the file is truncated or not a pickle: "
            "re-download it"
        ) from None


def _read_npy_stream(fp: io.BufferedIOBase, source: Path) -> np.ndarray:
    """Read one ``.npy`` payload from ``fp``; object arrays go through the restricted unpickler."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            # Version 3.0 only exists for utf8 structured field names: never an object array.
            raise ValueError(f"unsupported .npy format version {version}")
    except ValueError as err:
        raise DatasetFormatError(f"{source}: not a valid .npy file ({err}); re-download or re-create it") from None
    if dtype.hasobject:
        # np.save pickles object arrays whole; the restricted unpickler rebuilds the array.
        array = safe_unpickle(fp, source)
        if not isinstance(array, np.ndarray):
            raise DatasetFormatError(f"{source}: pickled payload is a {type(array).__name__}, not an array")
        return array
    count = int(np.prod(shape, dtype=np.int64))
    buffer = bytearray(count * dtype.itemsize)  # bytearray: the returned array stays writable
    if fp.readinto(buffer) != len(buffer):
        raise DatasetFormatError(f"{source}: .npy data is truncated (expected {count} x {dtype}); re-download it")
    array = np.frombuffer(buffer, dtype=dtype, count=count)
    if fortran_order:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)


def load_npy(path: Path) -> np.ndarray:
    """Load a ``.npy`` file, allowing pickled object arrays only through the restricted unpickler.

    Raises:
        DatasetFormatError: the file is missing, malformed or pickles anything but plain data.
    """
    try:
        with open(path, "rb") as fp:
            return _read_npy_stream(fp, Path(path))
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: file not found; check the dataset root (--data)") from None


def load_npy_object(path: Path) -> Any:
    """Load a ``.npy`` written by ``np.save(path, python_object)`` (a 0-d object array) and return the object."""
    array = load_npy(path)
    if array.dtype != object or array.ndim != 0:
        raise DatasetFormatError(
            f"{path}: expected a pickled Python object (0-d object array), got a {array.dtype} array of shape "
            f"{array.shape}"
        )
    return array.item()


def load_npz(path: Path) -> Dict[str, np.ndarray]:
    """Load every array of a ``.npz`` archive (``np.savez``), object arrays through the restricted unpickler."""
    path = Path(path)
    out: Dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                key = member[:-4] if member.endswith(".npy") else member
                with archive.open(member) as fp:
                    # zip members are not seekable; numpy's header readers only need read().
                    out[key] = _read_npy_stream(fp, Path(f"{path}[{member}]"))
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: file not found; check the dataset root (--data)") from None
    except zipfile.BadZipFile as err:
        raise DatasetFormatError(f"{path}: not a valid .npz archive ({err}); re-download or re-create it") from None
    return out
