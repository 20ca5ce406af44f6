"""Pipeline correctness: ghnerf-tiny must overfit one person at one frame through the real CLIs.

Every input camera is both a source and a target (a target never conditions on its own image), and ns-eval renders
those same cameras. A model that cannot reproduce the views it trains on has a bug (a detached tensor, targets at the
wrong pixel, an output activation, a learning rate that decays to nothing) and no preset tuning will hide it: this
test is the floor under every learning curve.

Measured with the shipped preset at this setting (12 cameras, 64 px, every view's predictions from its 3 nearest other
cameras; ``benchmarks/learning_curve.py`` on the same command line), at 300 / 400 steps: PSNR 26.5 / 27.3 dB, PCK@0.2
0.955 / 0.991 by both rules (the model's 2D keypoints are each channel's own peak), heatmap MSE 13 % / 11 % of
predicting 0, CSE MSE 57 % / 51 % of predicting the mean, 3D keypoints with all 25 joints of every view: the preset's
source-view estimate 64 / 43 mm, volumetric 54 / 44 mm, the rendered views triangulated 46 / 37 mm. The test trains
350 steps (about two minutes of training on 2 cores) and asserts floors a little under the 300-step figures.
"""

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli

pytestmark = pytest.mark.slow

SUBJECT = "386"
RESOLUTION = 64
STEPS = 350


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
    summary = {k: results.get(k) for k in ("psnr", "ssim", "pck", "pck_channels", "heatmap_mse", "heatmap_mse_zero",
                                           "cse_mse", "cse_mse_mean", "mpjpe_3d", "mpjpe_3d_volumetric",
                                           "mpjpe_3d_source_views", "mpjpe_3d_triangulated", "mpjpe_3d_num_missing",
                                           "mpjpe_3d_triangulated_num_missing")}  # fmt: skip
    print("overfit:", summary)
    assert results["num_images"] == 12, summary
    assert results["psnr"] >= 26.0, summary
    assert results["pck"] >= 0.9, summary
    # The heat field itself must separate the sides of a person it has memorised: each channel's own peak (the paper's
    # rule) as well as the model's 2D keypoints.
    assert results["pck_channels"] >= 0.9, summary
    assert results["heatmap_mse"] <= 0.25 * results["heatmap_mse_zero"], summary
    assert results["cse_mse"] <= 0.7 * results["cse_mse_mean"], summary  # the CSE head learns, too
    assert results["mpjpe_3d_num_missing"] == 0 and results["mpjpe_3d"] <= 75.0, summary
    assert results["mpjpe_3d_volumetric_num_missing"] == 0 and results["mpjpe_3d_volumetric"] <= 70.0, summary
    assert results["mpjpe_3d_triangulated_num_missing"] == 0 and results["mpjpe_3d_triangulated"] <= 60.0, summary
