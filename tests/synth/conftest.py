"""Tiny synthetic datasets shared by the synth tests (written once per session: 2 subjects x 2 frames x 4 cameras)."""

from pathlib import Path

import pytest

from ghnerf_ns.synth import write_renderpeople, write_zju
from tests.synth.synth_configs import rp_config, zju_config


@pytest.fixture(scope="session")
def zju_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ZJU layout: CoreView_313 (313 style, auto) and CoreView_386 (b23 style), with OpenPose JSON."""
    return write_zju(zju_config(tmp_path_factory.mktemp("zju"), openpose_json=True))


@pytest.fixture(scope="session")
def rp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RenderPeople layout: 2 subjects."""
    return write_renderpeople(rp_config(tmp_path_factory.mktemp("rp")))
