"""Pipeline correctness: ghnerf-tiny must overfit one person at one frame through the real CLIs.

Every input camera is both a source and a target (a target never conditions on its own image), and ns-eval renders
those same cameras. A model that cannot reproduce the views it trains on has a bug (a detached tensor, targets at the
wrong pixel, an output activation, a learning rate that decays to nothing) and no preset tuning will hide it: this
test is the floor under every learning curve.

Floors, a little under what 800 CPU steps of the shipped preset reach (PSNR 27.2 dB, SSIM 0.839, PCK 0.994 with the
preset's 2D keypoints and with each channel's own peak alike; 3D keypoints with all 25 joints: the preset's
source-view estimate 23 mm, volumetric 51 mm, the rendered views triangulated 38 mm): PSNR >= 26 dB in the box,
PCK@0.2 >= 0.9 by both rules, every joint found in 3D, the model's 3D keypoints
(source views) <= 35 mm, volumetric <= 75 mm and triangulated <= 55 mm. The issue asks for 30 mm of the volumetric and
triangulated estimates; at this cheap CI setting (12 cameras, 64 px) only the preset's own estimate gets there
(benchmarks/README.md, "3D keypoints").
"""

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli

pytestmark = pytest.mark.slow

SUBJECT = "386"
RESOLUTION = 64
STEPS = 800


def overfit_train_args(data: Path, output_dir: Path, steps: int) -> list:
    """ns-train arguments: ghnerf-tiny as shipped, on one subject and frame, every camera an input and a test view."""
    return [
        "ns-train", "ghnerf-tiny", "--data", str(data), "--output-dir", str(output_dir), "--experiment-name", "overfit",
        "--timestamp", "run", "--max-num-iterations", str(steps), "--steps-per-save", str(steps),
        "--vis", "tensorboard",
        "--pipeline.datamanager.resolution", str(RESOLUTION),
        "zju-mocap-data", "--train-subjects", SUBJECT, "--test-subjects", SUBJECT, "--train-frames", "0", "1", "1",
        "--eval-frames", "0", "1", "1", "--input-views", "0", "-1", "1", "--test-views", "0", "-1", "1",
    ]  # fmt: skip


def test_ghnerf_tiny_overfits_one_person(tmp_path: Path):
    data = tmp_path / "zju"
    run_cli(["ghnerf-synth", "zju", "--out", str(data), "--subjects", SUBJECT, "--frames", "1", "--cameras", "12",
             "--resolution", str(RESOLUTION), "--no-progress"], cwd=tmp_path)  # fmt: skip
    run_cli(overfit_train_args(data, tmp_path / "out", STEPS), cwd=tmp_path, timeout=1800)
    config = tmp_path / "out" / "overfit" / "ghnerf-tiny" / "run" / "config.yml"
    out = tmp_path / "eval.json"
    run_cli(["ns-eval", "--load-config", str(config), "--output-path", str(out)], cwd=tmp_path)
    results = json.loads(out.read_text())["results"]
    summary = {k: results.get(k) for k in ("psnr", "ssim", "pck", "pck_channels", "mpjpe_3d", "mpjpe_3d_volumetric",
                                           "mpjpe_3d_source_views", "mpjpe_3d_triangulated", "mpjpe_3d_num_missing",
                                           "mpjpe_3d_triangulated_num_missing")}  # fmt: skip
    print("overfit:", summary)
    assert results["num_images"] == 12, summary
    assert results["psnr"] >= 26.0, summary
    assert results["pck"] >= 0.9, summary
    # The heat field itself must separate the sides of a person it has memorised: each channel's own peak (the paper's
    # rule), not only the keypoints whose sides come from the 3D keypoints (the preset's pck).
    assert results["pck_channels"] >= 0.9, summary
    assert results["mpjpe_3d_num_missing"] == 0 and results["mpjpe_3d"] <= 35.0, summary
    assert results["mpjpe_3d_volumetric_num_missing"] == 0 and results["mpjpe_3d_volumetric"] <= 75.0, summary
    assert results["mpjpe_3d_triangulated_num_missing"] == 0 and results["mpjpe_3d_triangulated"] <= 55.0, summary
