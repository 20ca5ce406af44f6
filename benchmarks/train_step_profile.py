"""Where a training step's time goes: data, the forward stages, losses, backward, optimiser.

    python benchmarks/train_step_profile.py --steps 30 -- ghnerf-tiny --data demo_data/zju \
        zju-mocap-data --train-subjects 301 302 303 --test-subjects 386

Builds the run exactly as ``ns-train`` would (``learning_curve.build_trainer``: the same tyro command line), runs
``--warmup`` untimed steps, then ``--steps`` steps of nerfstudio's own ``Trainer.train_iteration`` with the training
callbacks, and prints a markdown table of milliseconds per step and share of the step for:

* top level (they add up to the step): data (``next_train``: sampling and loading the images), forward (the model's
  ``get_outputs``), losses (``get_loss_dict``, the heatmap targets and the volumetric heat loss included), backward
  (``Tensor.backward``), optimiser (Adam steps, gradient scaler), other (callbacks, bookkeeping);
* inside the forward (``render_speed.stage_timers``, the same wrappers as the render benchmark): human encoder (the
  source views and the 2D pose views), feature pyramid, cost volumes, ray sampling, projection, field, compositing.

Backward time is not split by stage: autograd runs the stages' gradients interleaved. Timings use the wall clock on
the CPU (with CUDA the wrappers synchronise, which itself costs a little). The table header gives the load average,
since the 2-core machines are often shared.
"""

import argparse
import contextlib
import functools
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

TOP = ("data", "forward", "losses", "backward", "optimiser")


@contextlib.contextmanager
def top_level_timers(trainer) -> Iterator[Dict[str, float]]:
    """Accumulate wall time of the step's top-level parts (restored on exit)."""
    import torch

    totals = {name: 0.0 for name in TOP}
    pipeline, model = trainer.pipeline, trainer.pipeline.model

    def timed(part: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            totals[part] += time.perf_counter() - start
            return out

        return wrapper

    instances = [
        (pipeline.datamanager, "next_train", "data"),
        (model, "get_outputs", "forward"),
        (model, "get_loss_dict", "losses"),
        (trainer.optimizers, "optimizer_scaler_step_some", "optimiser"),
    ]
    backward = torch.Tensor.backward
    try:
        for obj, attr, part in instances:
            setattr(obj, attr, timed(part, getattr(obj, attr)))
        torch.Tensor.backward = timed("backward", backward)  # type: ignore[method-assign]
        yield totals
    finally:
        torch.Tensor.backward = backward  # type: ignore[method-assign]
        for obj, attr, _ in instances:
            if attr in vars(obj):
                delattr(obj, attr)


def run_steps(trainer, first: int, count: int) -> List[float]:
    """``count`` training iterations from step ``first`` as nerfstudio's trainer runs them; seconds of each."""
    from nerfstudio.engine.callbacks import TrainingCallbackLocation

    seconds = []
    for step in range(first, first + count):
        start = time.perf_counter()
        trainer.pipeline.train()
        for callback in trainer.callbacks:
            callback.run_callback_at_location(step, location=TrainingCallbackLocation.BEFORE_TRAIN_ITERATION)
        trainer.train_iteration(step)
        for callback in trainer.callbacks:
            callback.run_callback_at_location(step, location=TrainingCallbackLocation.AFTER_TRAIN_ITERATION)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (allocator, caches, first loads)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/train_step_profile"), help="run folder")
    parser.add_argument("ns_train", nargs=argparse.REMAINDER, help="-- then the ns-train arguments (method first)")
    args = parser.parse_args()
    ns_train = args.ns_train[1:] if args.ns_train[:1] == ["--"] else args.ns_train
    if not ns_train or args.steps < 1:
        parser.error("give --steps >= 1 and the ns-train command line after --, e.g. -- ghnerf-tiny --data DATA")

    import torch
    from learning_curve import build_trainer
    from render_speed import STAGES, stage_timers

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    _, trainer = build_trainer(ns_train, args.out, "profile")
    run_steps(trainer, 0, args.warmup)
    device = trainer.pipeline.model.device
    with top_level_timers(trainer) as top, stage_timers(trainer.pipeline.model, torch.device(device)) as inner:
        seconds = run_steps(trainer, args.warmup, args.steps)
    total = sum(seconds)
    per_step = {name: 1000 * value / args.steps for name, value in top.items()}
    per_step["other"] = 1000 * total / args.steps - sum(per_step.values())
    step_ms = 1000 * total / args.steps
    print(f"\n## Training step of `{' '.join(ns_train[:1])}`: {args.steps} steps after {args.warmup} warm-up, "
          f"{torch.get_num_threads()} threads, {device}, load {load:.2f}\n")  # fmt: skip
    print(f"Median step {1000 * statistics.median(seconds):.0f} ms, mean {step_ms:.0f} ms.\n")
    print("| part | ms per step | % of the step |\n|---|---|---|")
    for name, ms in per_step.items():
        print(f"| {name} | {ms:.0f} | {100 * ms / step_ms:.0f}% |")
        if name == "forward":
            for stage in STAGES:
                stage_ms = 1000 * inner[stage] / args.steps
                print(f"| - {stage} | {stage_ms:.0f} | {100 * stage_ms / step_ms:.0f}% |")


if __name__ == "__main__":
    main()
