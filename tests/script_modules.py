"""Repository scripts (``benchmarks/``, ``scripts/``: not packages) loaded as modules for their tests."""

import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def script_module(relative_path: str) -> Iterator[ModuleType]:
    """The script at ``relative_path`` (from the repository root) imported under its file name, registered in
    ``sys.modules`` while in use (dataclasses resolve their module by name) and removed afterwards."""
    path = REPO / relative_path
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)
