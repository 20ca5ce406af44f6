"""A Table-1-shaped comparison (paper 4.1) of enerf-heatmap, ghnerf-resnet and ghnerf under one CPU budget.

Steps (all through the project's own CLIs, in subprocesses, as a user would run them):

1. data: reuse ``--data`` or write a ghnerf-synth ZJU-MoCap split into ``--work-dir`` (train and *unseen* test
   subjects);
2. budget: every method gets the same wall-clock training budget (``--budget-min``). ns-train has no wall-clock
   stop, so the iteration count is estimated per method from a short timing run (mean iteration time from
   nerfstudio's profiler, the rest of its wall time is start-up) and the real run gets
   ``(budget - start-up) / time per step`` iterations; its actual training time is reported;
3. train ``enerf-heatmap``, ``ghnerf-resnet`` (``--resnet``: resnet18/34) and ``ghnerf`` (DINO ViT-S/8) at the same
   resolution; the human encoders train from scratch (``pretrained False``) unless ``--resnet-weights`` /
   ``--dino-weights`` name local weight files; the perceptual loss is off by default (its VGG weights are not
   available offline; ``--perceptual-weight`` turns it on);
4. ns-eval each run and print a markdown table (PSNR, SSIM, LPIPS, heatmap MSE, PCK@0.2, MPJPE 3D volumetric and
   triangulated, iterations, train time) with the settings used.

The default budget (12 min per method at 64 px) finishes in under an hour on 2 CPU cores. Usage::

    python benchmarks/paper_table.py --work-dir /tmp/paper_table [--budget-min 12] [--resolution 64]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

BIN = Path(sys.executable).parent
TRAIN_SUBJECTS = ["313", "377", "390"]
TEST_SUBJECTS = ["386", "387"]
COLUMNS = [
    ("PSNR", "psnr", "{:.2f}"),
    ("SSIM", "ssim", "{:.3f}"),
    ("LPIPS", "lpips", "{:.3f}"),
    ("heatmap MSE", "heatmap_mse", "{:.5f}"),
    ("PCK@0.2", "pck", "{:.3f}"),
    ("MPJPE 3D (mm)", "mpjpe_3d", "{:.0f}"),
    ("MPJPE tri. (mm)", "mpjpe_3d_triangulated", "{:.0f}"),
]


def run(args: List[str], cwd: Path, log: Path) -> float:
    """Run a console script of this venv; returns its wall time. Output goes to ``log``; errors show its tail."""
    start = time.monotonic()
    with open(log, "w") as fp:
        proc = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, stdout=fp, stderr=subprocess.STDOUT, text=True)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"{' '.join(args[:2])} failed ({proc.returncode}); log {log}:\n{tail}")
    return elapsed


def method_args(method: str, opts: argparse.Namespace) -> List[str]:
    """Method-specific flags: the encoder choice and the pretrained-weights policy."""
    prefix = "--pipeline.model.human-encoder."
    if method == "ghnerf-resnet":
        weights = ["weights-path", str(opts.resnet_weights)] if opts.resnet_weights else ["pretrained", "False"]
        return [prefix + "name", opts.resnet, prefix + weights[0], weights[1]]
    if method == "ghnerf":
        weights = ["weights-path", str(opts.dino_weights)] if opts.dino_weights else ["pretrained", "False"]
        return [prefix + weights[0], weights[1]]
    return []


def train_args(method: str, data: Path, out: Path, name: str, steps: int, opts: argparse.Namespace) -> List[str]:
    never = str(10**9)
    return [
        "ns-train", method, "--data", str(data), "--output-dir", str(out), "--experiment-name", name,
        "--timestamp", "run", "--max-num-iterations", str(steps), "--steps-per-save", str(max(steps, 1)),
        "--steps-per-eval-batch", never, "--steps-per-eval-image", never, "--steps-per-eval-all-images", never,
        "--vis", "tensorboard", "--machine.device-type", "cpu",
        "--pipeline.datamanager.resolution", str(opts.resolution),
        "--pipeline.datamanager.num-workers", "1",
        "--pipeline.model.loss.perceptual-weight", str(opts.perceptual_weight),
        "--pipeline.datamanager.train-num-rays-per-batch", str(opts.rays_per_batch),
        # The 64x64 perceptual patches are only needed by the perceptual loss (they are extra rays every step).
        "--pipeline.datamanager.num-patches", str(opts.num_patches if opts.perceptual_weight > 0 else 0),
        *method_args(method, opts),
        "zju-mocap-data", "--train-subjects", *opts.train_subjects, "--test-subjects", *opts.test_subjects,
        "--eval-frames", "0", str(opts.frames), "1",
    ]  # fmt: skip


def estimate_steps(method: str, data: Path, work: Path, opts: argparse.Namespace) -> Tuple[int, float, float]:
    """(iterations that fit the budget, seconds per step, start-up seconds) from one short timing run.

    Seconds per step is the mean ``Trainer.train_iteration`` time nerfstudio's profiler prints at the end of a run
    (robust on a busy machine, unlike differences of wall times); the rest of the run's wall time is start-up.
    """
    steps = opts.timing_steps
    log = work / f"{method}_timing.log"
    elapsed = run(train_args(method, data, work / "timing", method, steps, opts), work, log)
    match = re.search(r"Trainer\.train_iteration:\s*([0-9.]+)", log.read_text())
    if match is None:
        raise SystemExit(f"{log}: no 'Trainer.train_iteration' profile line (is --logging.profiler off?)")
    per_step = max(float(match.group(1)), 1e-3)
    startup = max(elapsed - steps * per_step, 0.0)
    return max(int((opts.budget_min * 60.0 - startup) / per_step), 1), per_step, startup


def evaluate(config: Path, work: Path, method: str) -> Dict[str, float]:
    out = work / f"{method}_eval.json"
    run(["ns-eval", "--load-config", str(config), "--output-path", str(out)], work, work / f"{method}_eval.log")
    return json.loads(out.read_text())["results"]


def table(rows: List[Tuple[str, Dict[str, float], int, float]]) -> str:
    head = ["Method", *[c[0] for c in COLUMNS], "iterations", "train time (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, results, steps, seconds in rows:
        cells = [method]
        for _, key, fmt in COLUMNS:
            value = results.get(key)
            cells.append(fmt.format(value) if isinstance(value, (int, float)) and value == value else "n/a")
        lines.append("| " + " | ".join([*cells, str(steps), f"{seconds:.0f}"]) + " |")
    return "\n".join(lines)


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work-dir", type=Path, required=True, help="where data, runs, logs and eval JSONs go")
    p.add_argument(
        "--data", type=Path, default=None, help="existing ZJU-MoCap-layout dataset (default: synthesise one)"
    )
    p.add_argument("--budget-min", type=float, default=12.0, help="training wall-clock budget per method, minutes")
    p.add_argument("--resolution", type=int, default=64, help="working resolution (long side, multiple of 32)")
    p.add_argument(
        "--frames", type=int, default=2, help="frames per subject of the synthetic data (all are eval frames)"
    )
    p.add_argument("--cameras", type=int, default=6, help="cameras per subject of the synthetic data")
    p.add_argument("--train-subjects", nargs="+", default=TRAIN_SUBJECTS, help="ZJU subject ids used for training")
    p.add_argument("--test-subjects", nargs="+", default=TEST_SUBJECTS, help="unseen ZJU subject ids used for eval")
    p.add_argument("--methods", nargs="+", default=["enerf-heatmap", "ghnerf-resnet", "ghnerf"])
    p.add_argument("--resnet", choices=["resnet18", "resnet34"], default="resnet18", help="ghnerf-resnet's encoder")
    p.add_argument("--resnet-weights", type=Path, default=None, help="local ResNet weights (else from scratch)")
    p.add_argument("--dino-weights", type=Path, default=None, help="local DINO ViT-S/8 weights (else from scratch)")
    p.add_argument("--perceptual-weight", type=float, default=0.0, help="lambda_p (needs VGG weights; 0 offline)")
    p.add_argument("--rays-per-batch", type=int, default=1024, help="training rays per step (all methods)")
    p.add_argument(
        "--num-patches", type=int, default=4, help="perceptual-loss patches per step (only with lambda_p > 0)"
    )
    p.add_argument("--timing-steps", type=int, default=5, help="iterations of each method's timing run")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    opts = parse(argv)
    work = opts.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    data = opts.data
    if data is None:
        data = work / "zju_synth"
        if not data.exists():
            print(f"writing synthetic data to {data}", flush=True)
            run(["ghnerf-synth", "zju", "--out", str(data), "--subjects", *opts.train_subjects, *opts.test_subjects,
                 "--frames", str(opts.frames), "--cameras", str(opts.cameras), "--resolution", str(opts.resolution),
                 "--no-progress"], work, work / "synth.log")  # fmt: skip
    rows = []
    for method in opts.methods:
        steps, per_step, startup = estimate_steps(method, data, work, opts)
        print(f"{method}: {per_step:.2f} s/step, start-up {startup:.0f} s -> {steps} iterations", flush=True)
        seconds = run(train_args(method, data, work / "runs", method, steps, opts), work, work / f"{method}_train.log")
        config = work / "runs" / method / method / "run" / "config.yml"
        rows.append((method, evaluate(config, work, method), steps, seconds))
    print()
    print(
        f"Settings: ghnerf-synth ZJU layout, train subjects {opts.train_subjects}, unseen test subjects "
        f"{opts.test_subjects}, {opts.frames} frames x {opts.cameras} cameras, resolution {opts.resolution}, "
        f"budget {opts.budget_min} min/method on CPU ({os.cpu_count()} cores), resnet={opts.resnet}, "
        f"encoders {'pretrained' if opts.dino_weights or opts.resnet_weights else 'from scratch'}, "
        f"perceptual weight {opts.perceptual_weight}, {opts.rays_per_batch} rays/step; train time includes start-up."
    )
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
