"""Session fixtures of the reliability tests: one tiny ghnerf-synth dataset, damaged copies of it, and a training
run that was killed and resumed."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict

import pytest
import torch

from ghnerf_ns.runtime.checkpoint_safety import register_checkpoint_safe_globals
from tests.reliability.helpers import BIN, cli_env, make_synth, ns_train_args, run_cli


@pytest.fixture(scope="session")
def synth_zju(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only tiny ZJU-MoCap dataset: subjects 313, 377 (train) and 386 (test), 2 frames, 6 cameras, 64 px."""
    return make_synth(tmp_path_factory.mktemp("rel") / "zju")


@pytest.fixture
def damaged_copy(synth_zju: Path, tmp_path: Path):
    """A private copy of the dataset that a test may damage."""

    def _copy() -> Path:
        dst = tmp_path / "zju"
        shutil.copytree(synth_zju, dst)
        return dst

    return _copy


def _loadable(path: Path) -> bool:
    register_checkpoint_safe_globals()  # as a GHNeRF pipeline does before it loads a checkpoint

    try:
        torch.load(path, map_location="cpu", weights_only=True)
        return True
    except Exception:  # a partial file (the process was killed while torch.save wrote it)
        return False


@pytest.fixture(scope="session")
def resumed_run(synth_zju: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, object]:
    """ns-train ghnerf-tiny killed (SIGKILL, whole process group) after its first checkpoint, then resumed with
    --load-dir into a new run folder for 3 more steps."""
    out = tmp_path_factory.mktemp("resume")
    args = ns_train_args(synth_zju, out, 100_000, extra=["--steps-per-save", "2"])
    log_path = out / "killed.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(BIN / args[0]), *args[1:]], cwd=out, stdout=log, stderr=subprocess.STDOUT,
                                env=cli_env(), start_new_session=True)  # fmt: skip
    ckpt_dir = out / "rel" / "ghnerf-tiny" / "run" / "nerfstudio_models"
    deadline = time.monotonic() + 400
    try:
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"ns-train ended before its first checkpoint:\n{log_path.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no checkpoint after 400 s:\n{log_path.read_text()[-4000:]}")
            if any(_loadable(p) for p in ckpt_dir.glob("step-*.ckpt")):
                break
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its DataLoader workers
        proc.wait(timeout=60)
    # A kill can land while nerfstudio writes the next checkpoint in place: a user deletes that partial file (see
    # docs/TROUBLESHOOTING.md), so does the test.
    for path in ckpt_dir.glob("step-*.ckpt"):
        if not _loadable(path):
            path.unlink()
    saved_path = sorted(ckpt_dir.glob("step-*.ckpt"))[-1]
    saved = torch.load(saved_path, map_location="cpu", weights_only=True)
    resume = ns_train_args(synth_zju, out, 3, extra=["--steps-per-save", "2", "--load-dir", str(ckpt_dir)],
                           timestamp="resumed")  # fmt: skip
    proc2 = run_cli(resume, cwd=out, timeout=600)
    assert proc2.returncode == 0, proc2.stdout[-3000:] + proc2.stderr[-5000:]
    return {"saved": saved, "resumed_dir": out / "rel" / "ghnerf-tiny" / "resumed", "log": proc2.stdout + proc2.stderr}
