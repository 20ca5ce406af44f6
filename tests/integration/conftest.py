"""An in-process GHNeRF pipeline (ghnerf-tiny, random weights) on a tiny synthetic ZJU-MoCap dataset."""

import copy
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ghnerf_ns.ghnerf_config import ghnerf_tiny_method
from ghnerf_ns.synth import ZJUSynthConfig, write_zju


@pytest.fixture(scope="session")
def tiny_zju(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("integration") / "zju"
    write_zju(
        ZJUSynthConfig(
            out=out, subjects=("313", "377", "386"), frames=2, cameras=6, resolution=64, seed=3, progress=False
        )
    )
    return out


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_zju: Path):
    torch.manual_seed(0)
    config = copy.deepcopy(ghnerf_tiny_method.config.pipeline)  # never mutate the registered preset
    dm = config.datamanager
    dm.data = tiny_zju
    dm.resolution = 64
    dm.num_workers = 0
    dm.train_num_rays_per_batch = 128
    dm.dataparser.train_subjects = ("313", "377")
    dm.dataparser.test_subjects = ("386",)
    dm.dataparser.eval_frames = (0, 2, 1)
    config.model.network = replace(config.model.network, cse_dim=16)  # the preset has no CSE head: cover it here
    return config.setup(device="cpu", test_mode="val")
