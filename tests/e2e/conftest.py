"""Session fixtures for end-to-end tests: a tiny synthetic ZJU-MoCap dataset and a few-step ghnerf-tiny run,
both made with the project's own CLIs in subprocesses (as a user would run them)."""

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

BIN = Path(sys.executable).parent
TRAIN_SUBJECTS = ["313", "377"]
TEST_SUBJECTS = ["386"]


def run_cli(
    args: List[str], cwd: Path, timeout: int = 600, check: bool = True, env=None
) -> subprocess.CompletedProcess:
    """Run an installed console script (from this venv) and return its completed process."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
    proc = subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def synth_zju(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "zju"
    run_cli(
        ["ghnerf-synth", "zju", "--out", str(out), "--subjects", *TRAIN_SUBJECTS, *TEST_SUBJECTS, "--frames", "2",
         "--cameras", "6", "--resolution", "64", "--no-progress"],
        cwd=out.parent,
    )  # fmt: skip
    return out


def tiny_train_args(data: Path, output_dir: Path, steps: int) -> List[str]:
    """ns-train arguments of a seconds-long ghnerf-tiny run on the tiny dataset."""
    return [
        "ns-train", "ghnerf-tiny", "--data", str(data), "--output-dir", str(output_dir), "--experiment-name", "e2e",
        "--timestamp", "run", "--max-num-iterations", str(steps), "--steps-per-save", "2", "--vis", "tensorboard",
        "--pipeline.datamanager.resolution", "64", "--pipeline.datamanager.train-num-rays-per-batch", "128",
        "--pipeline.datamanager.num-workers", "1",
        "--pipeline.model.network.cse-dim", "16",  # the preset has no CSE head: the e2e runs cover it
        # Heads at 0.5 (not the preset's 0.01 prior): after 4 steps every joint then has a peak, so the keypoint paths
        # (2D, volumetric, triangulated, JSON) run on found joints; test_overfit.py checks that they are right.
        "--pipeline.model.network.heatmap-prior", "0.5",
        "zju-mocap-data", "--train-subjects", *TRAIN_SUBJECTS, "--test-subjects", *TEST_SUBJECTS,
        "--eval-frames", "0", "2", "1",
    ]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_run(synth_zju: Path) -> Path:
    """config.yml of a 4-step ghnerf-tiny run (nerfstudio keeps only the latest checkpoint: step 3)."""
    out = synth_zju.parent / "outputs"
    run_cli(tiny_train_args(synth_zju, out, 4), cwd=synth_zju.parent)
    config = out / "e2e" / "ghnerf-tiny" / "run" / "config.yml"
    assert config.is_file()
    return config
