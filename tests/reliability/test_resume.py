"""A run killed with SIGKILL resumes from its last checkpoint with the same optimizer state, and finishes; its
checkpoints hold only plain tensors and numbers (weights-only loading with just the numpy safe globals)."""

import numpy as np
import pytest
import torch

from ghnerf_ns.runtime.checkpoint_safety import register_checkpoint_safe_globals

pytestmark = pytest.mark.slow


def test_resume_continues_from_the_saved_step_with_the_saved_optimizer_state(resumed_run):
    register_checkpoint_safe_globals()  # as a GHNeRF pipeline does before it loads a checkpoint

    saved = resumed_run["saved"]
    step = saved["step"]
    assert step >= 2 and step % 2 == 0
    assert "Done loading Nerfstudio checkpoint" in resumed_run["log"]
    ckpts = sorted((resumed_run["resumed_dir"] / "nerfstudio_models").glob("step-*.ckpt"))
    final = torch.load(ckpts[-1], map_location="cpu", weights_only=True)
    # nerfstudio resumes at saved step + 1 and runs --max-num-iterations (3) more steps: the last one is saved.
    assert final["step"] == step + 3
    assert saved["optimizers"].keys() == final["optimizers"].keys()
    for group, state in saved["optimizers"].items():
        before = {float(s["step"]) for s in state["state"].values()}
        after = {float(s["step"]) for s in final["optimizers"][group]["state"].values()}
        # Adam's per-parameter step counters carried over (a fresh optimizer would restart at 0): saved + 3.
        assert before == {step + 1.0} and after == {step + 4.0}, (group, before, after)
        assert (
            state["param_groups"][0]["lr"] > final["optimizers"][group]["param_groups"][0]["lr"]
        )  # schedule continued
    for group, sched in saved["schedulers"].items():
        assert final["schedulers"][group]["last_epoch"] == sched["last_epoch"] + 3
    # One test, not two: under pytest-xdist a second test could land on the other worker and re-run the whole
    # kill-and-resume fixture.
    _assert_plain_tensors_and_numbers(ckpts[-1])


def _assert_plain_tensors_and_numbers(ckpt) -> None:
    """Only numpy's safe globals (no plugin class) are needed for a ghnerf-tiny checkpoint: plain tensors/numbers."""
    register_checkpoint_safe_globals()
    state = torch.load(ckpt, map_location="cpu", weights_only=True)

    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from leaves(v)
        else:
            yield value

    kinds = {type(v) for v in leaves(state)}
    assert kinds <= {torch.Tensor, torch.nn.Parameter, int, float, bool, str, type(None), np.float64}, kinds
