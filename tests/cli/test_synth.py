"""The ghnerf-synth CLI (run as ``python -m ghnerf_ns.cli.synth`` in a subprocess) and its option checks."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tyro

from ghnerf_ns.cli.synth import Commands
from ghnerf_ns.synth import write_renderpeople, write_zju
from tests.synth.synth_configs import rp_config, zju_config

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ghnerf_ns.cli.synth", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_cli_zju_and_renderpeople(tmp_path: Path) -> None:
    result = _run("zju", "--out", str(tmp_path / "z"), "--subjects", "313", "386", "--frames", "1", "--cameras", "2",
                  "--resolution", "32", "--no-distortion", "--style", "auto", "--cse-dim", "4", "--openpose-json",
                  "--seed", "3", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    annots = np.load(tmp_path / "z" / "CoreView_386" / "annots.npy", allow_pickle=True).item()
    assert len(annots["cams"]["K"]) == 2 and not np.any(annots["cams"]["D"][0])
    assert np.load(tmp_path / "z" / "CoreView_386" / "cse" / "Camera_B1" / "000000.npy").shape == (8, 8, 4)
    assert (tmp_path / "z" / "CoreView_313" / "openpose" / "Camera (2)").is_dir()
    result = _run("renderpeople", "--out", str(tmp_path / "r"), "--subjects", "1", "--poses", "1", "--cameras", "2",
                  "--resolution", "32", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r" / "seq_000000-rp_synth_0000_rigged_001" / "img" / "camera0001" / "0000.jpg").is_file()


def test_cli_bad_options_fail_clearly(tmp_path: Path) -> None:
    result = _run("zju", "--out", str(tmp_path), "--resolution", "16", "--no-progress")
    assert result.returncode == 2 and "--resolution must be at least 32" in result.stderr
    with pytest.raises(SystemExit):  # tyro rejects an unknown style before anything runs
        tyro.cli(Commands, args=["zju", "--out", str(tmp_path), "--style", "b21"])


def test_writer_option_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--cameras must be at least 2"):
        write_zju(zju_config(tmp_path, cameras=1))
    with pytest.raises(ValueError, match="--resolution"):
        write_renderpeople(rp_config(tmp_path, resolution=31))
    with pytest.raises(ValueError, match="folder name"):
        write_zju(zju_config(tmp_path, subjects=("a/b",)))
    with pytest.raises(ValueError, match="duplicates"):
        write_zju(zju_config(tmp_path, subjects=("386", "386")))
    with pytest.raises(ValueError, match="--poses"):
        write_renderpeople(rp_config(tmp_path, poses=0))
