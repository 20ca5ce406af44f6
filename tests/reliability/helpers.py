"""Shared helpers of the reliability tests: tiny datasets made with ghnerf-synth, the ghnerf-tiny config in-process,
and ns-train through its real CLI."""

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from ghnerf_ns.ghnerf_config import ghnerf_tiny_method

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
TRAIN_SUBJECTS = ("313", "377")
TEST_SUBJECTS = ("386",)


def make_synth(out: Path, subjects=TRAIN_SUBJECTS + TEST_SUBJECTS, frames: int = 2, cameras: int = 6) -> Path:
    """A tiny synthetic ZJU-MoCap dataset (64 px) written by the real ghnerf-synth CLI."""
    subprocess.run(
        [str(BIN / "ghnerf-synth"), "zju", "--out", str(out), "--subjects", *subjects, "--frames", str(frames),
         "--cameras", str(cameras), "--resolution", "64", "--no-progress"],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return out


def tiny_method_config(data: Path, num_workers: int = 0):
    """The ghnerf-tiny TrainerConfig at 64 px / 64 rays on a tiny dataset, as ns-train would build it."""
    config = copy.deepcopy(ghnerf_tiny_method.config)
    dm = config.pipeline.datamanager
    dm.data = Path(data)
    dm.resolution = 64
    dm.train_num_rays_per_batch = 64
    dm.num_workers = num_workers
    dm.dataparser.train_subjects = TRAIN_SUBJECTS
    dm.dataparser.test_subjects = TEST_SUBJECTS
    dm.dataparser.eval_frames = (0, 2, 1)
    return config


def ns_train_args(data: Path, output_dir: Path, steps: int, extra: Optional[List[str]] = None,
                  dataparser_extra: Optional[List[str]] = None, method: str = "ghnerf-tiny",
                  timestamp: str = "run") -> List[str]:
    """ns-train arguments of a seconds-long run on a tiny dataset (run folder
    ``<output_dir>/rel/<method>/<timestamp>``)."""
    return [
        "ns-train", method, "--data", str(data), "--output-dir", str(output_dir), "--experiment-name", "rel",
        "--timestamp", timestamp, "--max-num-iterations", str(steps), "--vis", "tensorboard",
        "--pipeline.datamanager.resolution", "64", "--pipeline.datamanager.train-num-rays-per-batch", "64",
        "--pipeline.datamanager.num-workers", "1", *(extra or []),
        "zju-mocap-data", "--train-subjects", *TRAIN_SUBJECTS, "--test-subjects", *TEST_SUBJECTS,
        "--eval-frames", "0", "2", "1", *(dataparser_extra or []),
    ]  # fmt: skip


def cli_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The test process's environment (minus a developer's GHNERF_DEBUG) with this venv first on PATH, plus
    ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "GHNERF_DEBUG"}
    env.update(PYTHONUNBUFFERED="1", **(extra or {}))
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_cli(
    args: List[str], cwd: Path, timeout: int = 300, env: Optional[Dict[str, str]] = None
) -> subprocess.CompletedProcess:
    """Run an installed console script of this venv; never raises on a non-zero exit (the tests check it)."""
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=cli_env(env))  # fmt: skip
