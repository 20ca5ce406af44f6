"""The two commands a user runs on a fresh clone, exactly as typed: ``ghnerf-synth zju --out d`` with every default,
then ``ns-train ghnerf-tiny --data d`` with the dataparser's defaults. The synthetic defaults and zju-mocap-data's
split must agree (the fast check on the parsed options: tests/cli/test_synth.py); this runs the real thing."""

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli

pytestmark = pytest.mark.slow


def test_default_synth_data_trains_with_default_split(tmp_path: Path) -> None:
    start = time.perf_counter()
    run_cli(["ghnerf-synth", "zju", "--out", "d"], cwd=tmp_path, timeout=300)
    synth_seconds = time.perf_counter() - start
    # The default must stay quick to write: a minute on two loaded cores is far above what it takes (about 15 s).
    assert synth_seconds < 60, f"ghnerf-synth zju with default options took {synth_seconds:.0f} s"
    proc = run_cli(["ns-train", "ghnerf-tiny", "--data", "d", "--max-num-iterations", "2", "--vis", "tensorboard",
                    "--output-dir", str(tmp_path / "outputs")], cwd=tmp_path, timeout=600)  # fmt: skip
    text = " ".join((proc.stdout + proc.stderr).split())  # rich wraps long lines
    # The six training people of the paper's split, the two unseen ones for evaluation, no image skipped.
    assert "of 6 subjects" in text and "of 2 unseen subjects" in text and "no image skipped" in text, text[-3000:]
    configs = list((tmp_path / "outputs" / "d" / "ghnerf-tiny").glob("*/config.yml"))
    assert len(configs) == 1, text[-3000:]
    assert list((configs[0].parent / "nerfstudio_models").glob("step-*.ckpt")), text[-3000:]
