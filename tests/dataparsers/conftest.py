"""Fixtures: tiny datasets written by ``ghnerf-synth`` in the native ZJU-MoCap / RenderPeople layouts.

Session-scoped and read-only for the tests that only parse; tests that corrupt a dataset copy it first
(``copy_dataset``). ``ghnerf_ns`` is imported inside the fixtures (the jaxtyping pytest hook must see it unimported).
"""

import shutil
from pathlib import Path

import pytest

from ghnerf_ns.synth import (
    EasyMocapSynthConfig,
    RenderPeopleSynthConfig,
    ZJUSynthConfig,
    write_easymocap,
    write_renderpeople,
    write_zju,
)


@pytest.fixture(scope="session")
def zju_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CoreView_313 ("313" naming, 21 cameras, 1-indexed) and CoreView_386 ("b23" naming), 2 frames, distorted."""
    out = tmp_path_factory.mktemp("zju")
    write_zju(
        ZJUSynthConfig(out=out, subjects=("313", "386"), frames=2, cameras=4, resolution=64, distortion=True,
                       style="auto", seed=0)
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def rp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three RenderPeople subjects, 2 poses, 4 cameras (SHERF layout)."""
    out = tmp_path_factory.mktemp("rp")
    write_renderpeople(RenderPeopleSynthConfig(out=out, num_subjects=3, frames=2, cameras=4, resolution=64, seed=0))
    return out


@pytest.fixture(scope="session")
def em_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three EasyMocap sequences without SMPL: mixed portrait/landscape sizes, +z up world, distortion, 6 cameras,
    2 frames, one missing view per sequence."""
    out = tmp_path_factory.mktemp("easymocap")
    write_easymocap(
        EasyMocapSynthConfig(out=out, num_subjects=3, frames=2, cameras=6, resolution=96, mixed_sizes=True, up="+z",
                             smpl=False, missing_views=1, seed=0, progress=False)
    )  # fmt: skip
    return out


@pytest.fixture
def copy_dataset(tmp_path: Path):
    """Copy a session dataset into this test's tmp_path so that it can be damaged."""

    def _copy(root: Path) -> Path:
        dst = tmp_path / root.name
        shutil.copytree(root, dst, symlinks=True)
        return dst

    return _copy
