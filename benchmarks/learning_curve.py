"""Learning curves: train a preset on ``ghnerf-synth`` people and score it on an unseen one every K steps.

    # one run (any ns-train option after the method name; the dataparser subcommand and its options last)
    python benchmarks/learning_curve.py run --label tiny --steps 1500 --eval-every 250 --out benchmarks/results \
        -- ghnerf-tiny --data demo_data/zju zju-mocap-data --train-subjects 313 377 390 --test-subjects 386
    # score a finished run's checkpoints again with today's code (training seconds and losses kept from its CSV)
    python benchmarks/learning_curve.py rescore --csv benchmarks/results/tiny.csv --label tiny-src \
        --config benchmarks/results/runs/tiny/ghnerf-tiny/run/config.yml --set keypoints_3d=source-views
    # overlay several runs (A/B of a change) in one plot and one markdown table
    python benchmarks/learning_curve.py plot benchmarks/results/tiny.csv benchmarks/results/other.csv \
        --out benchmarks/results/curves.png

``run`` builds the run exactly as ``ns-train`` would (the same tyro command line over nerfstudio's method registry),
trains it in this process with nerfstudio's own ``Trainer.train_iteration`` and training callbacks, and at every
``--eval-every`` steps saves a checkpoint and evaluates the unseen subject's eval split with the pipeline's
``get_average_eval_image_metrics``: the code ``ns-eval`` runs (PSNR in the box, SSIM, heatmap MSE, pooled PCK@0.2,
volumetric and triangulated MPJPE). Wall-clock seconds count training only (evaluation time is excluded); the load
average at the start is recorded beside them, since the 2-core machines are often shared.

Each CSV row also carries ns-eval's ``heatmap_mse_zero``: the heatmap MSE of predicting 0 everywhere on the same eval
images. A heatmap MSE at that level means the heatmap head has learned nothing, whatever its value looks like.
"""

import argparse
import csv
import math
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

COLUMNS = (
    "label",
    "step",
    "train_seconds",
    "load_avg",
    "psnr",
    "ssim",
    "heatmap_mse",
    "heatmap_mse_zero",
    "pck",
    "pck_num_joints",
    "pck_channels",
    "mpjpe_3d",
    "mpjpe_3d_num_joints",
    "mpjpe_3d_num_missing",
    "mpjpe_3d_triangulated",
    "mpjpe_3d_triangulated_num_joints",
    "mpjpe_3d_volumetric",
    "mpjpe_3d_source_views",
    "cse_mse",
    "cse_mse_mean",
    "train_loss",
)
"""CSV columns, in order (metric names are those of ns-eval's JSON)."""


def build_trainer(ns_train_args: Sequence[str], out_dir: Path, label: str):
    """A nerfstudio Trainer set up from an ``ns-train`` command line (without the ``ns-train`` word)."""
    import tyro
    from nerfstudio.configs.method_configs import AnnotatedBaseConfigUnion

    config = tyro.cli(AnnotatedBaseConfigUnion, args=list(ns_train_args))
    if config.data:  # ns-train's --data alias
        config.pipeline.datamanager.data = config.data
    config.output_dir = out_dir
    config.experiment_name = label
    config.timestamp = "run"
    config.vis = "tensorboard"
    config.save_only_latest_checkpoint = False
    config.get_base_dir().mkdir(parents=True, exist_ok=True)
    config.save_config()
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    return config, trainer


def evaluate(trainer, step: int) -> Dict[str, float]:
    """ns-eval's metrics of the current weights on the eval split (unseen subjects)."""
    return trainer.pipeline.get_average_eval_image_metrics(step=step)


def run(args: argparse.Namespace) -> Path:
    import torch
    from nerfstudio.engine.callbacks import TrainingCallbackLocation

    torch.manual_seed(args.seed)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    config, trainer = build_trainer(args.ns_train, out_dir / "runs", args.label)
    csv_path = out_dir / f"{args.label}.csv"
    load_avg = os.getloadavg()[0]
    rows: List[Dict[str, object]] = []
    train_seconds = 0.0
    recent_losses: List[float] = []

    def record(step: int) -> None:
        trainer.pipeline.eval()
        metrics = evaluate(trainer, step)
        trainer.pipeline.train()
        row: Dict[str, object] = {"label": args.label, "step": step, "train_seconds": round(train_seconds, 1)}
        row["load_avg"] = round(load_avg, 2)
        row["train_loss"] = sum(recent_losses) / len(recent_losses) if recent_losses else math.nan
        for key in COLUMNS:
            if key not in row:
                row[key] = metrics.get(key, math.nan)
        rows.append(row)
        write_csv(csv_path, rows)
        print(format_row(row), flush=True)
        if step > 0:
            trainer.save_checkpoint(step)

    record(0)
    for step in range(args.steps):
        start = time.perf_counter()
        trainer.pipeline.train()
        for callback in trainer.callbacks:
            callback.run_callback_at_location(step, location=TrainingCallbackLocation.BEFORE_TRAIN_ITERATION)
        loss, _, _ = trainer.train_iteration(step)
        for callback in trainer.callbacks:
            callback.run_callback_at_location(step, location=TrainingCallbackLocation.AFTER_TRAIN_ITERATION)
        train_seconds += time.perf_counter() - start
        recent_losses = (recent_losses + [float(loss.item())])[-50:]
        if (step + 1) % 50 == 0:
            print(f"  step {step + 1}: {train_seconds:.0f} s, loss {recent_losses[-1]:.4f}", flush=True)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            load_avg = os.getloadavg()[0]
            record(step + 1)
    print(f"learning_curve: wrote {csv_path} (run folder {config.get_base_dir()})")
    return csv_path


def _parse_value(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def rescore(args: argparse.Namespace) -> Path:
    """Evaluates every checkpoint of a run's ``config.yml`` again (model options changed by ``--set``); training
    seconds, load average and loss come from the run's CSV rows of the same steps."""
    from nerfstudio.utils.eval_utils import eval_setup

    old = {int(row["step"]): row for row in read_csv(Path(args.csv))}
    ckpt_dir = Path(args.config).parent / "nerfstudio_models"
    steps = sorted(int(p.stem.split("-")[1]) for p in ckpt_dir.glob("step-*.ckpt"))
    options = dict(item.split("=", 1) for item in args.set)
    rows: List[Dict[str, object]] = []
    out_path = Path(args.csv).with_name(f"{args.label}.csv")
    for step in [s for s in steps if s in old]:

        def update(config, step=step):
            config.load_step = step
            for key, value in options.items():
                if not hasattr(config.pipeline.model, key):
                    sys.exit(f"--set {key}=...: the model config has no option {key!r}")
                setattr(config.pipeline.model, key, _parse_value(value))
            return config

        _, pipeline, _, _ = eval_setup(Path(args.config), test_mode="test", update_config_callback=update)
        metrics = pipeline.get_average_eval_image_metrics(step=step)
        row: Dict[str, object] = {**old[step], "label": args.label}
        for key in COLUMNS:
            if key in metrics:
                row[key] = metrics[key]
        rows.append(row)
        write_csv(out_path, rows)
        print(format_row(row), flush=True)
    print(f"learning_curve: wrote {out_path}")
    return out_path


def write_csv(path: Path, rows: List[Dict[str, object]]) -> None:
    with open(path, "w", newline="") as fp:
        writer = csv.DictWriter(fp, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> List[Dict[str, object]]:
    with open(path, newline="") as fp:
        rows: List[Dict[str, object]] = []
        for raw in csv.DictReader(fp):
            row: Dict[str, object] = {"label": raw["label"]}
            for key in COLUMNS[1:]:
                value = raw.get(key, "")
                row[key] = float(value) if value not in ("", None) else math.nan
            rows.append(row)
        return rows


def _fmt(value: object, digits: int) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def format_row(row: Dict[str, object]) -> str:
    """One markdown table row: label, steps, seconds, PSNR, SSIM, heatmap MSE (zero level), PCK, MPJPE (found)."""
    joints = row["mpjpe_3d_num_joints"]
    missing = row["mpjpe_3d_num_missing"]
    found = "-" if isinstance(joints, float) and math.isnan(joints) else f"{int(joints)}/{int(joints) + int(missing)}"
    per_channel = row.get("pck_channels", math.nan)
    # keypoint-sides 3d-keypoints: the paper's per-channel PCK in brackets beside the model's
    channels = "" if isinstance(per_channel, float) and math.isnan(per_channel) else f" ({_fmt(per_channel, 3)})"
    return (
        f"| {row['label']} | {int(row['step'])} | {_fmt(float(row['train_seconds']), 0)} | {_fmt(row['psnr'], 2)} | "
        f"{_fmt(row['ssim'], 3)} | {_fmt(row['heatmap_mse'], 5)} ({_fmt(row['heatmap_mse_zero'], 5)}) | "
        f"{_fmt(row['pck'], 3)}{channels} | {_fmt(row['mpjpe_3d'], 0)} ({found}) | "
        f"{_fmt(row['mpjpe_3d_volumetric'], 0)} | {_fmt(row['mpjpe_3d_triangulated'], 0)} | "
        f"{_fmt(row.get('cse_mse', math.nan), 4)} ({_fmt(row.get('cse_mse_mean', math.nan), 4)}) |"
    )


TABLE_HEADER = (
    "| run | step | train s | PSNR | SSIM | heatmap MSE (predict-0) | PCK@0.2 (per channel) "
    "| mpjpe_3d mm (found) | volumetric mm | rendered-views DLT mm | CSE MSE (predict-mean) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def plot(csv_paths: Sequence[Path], out: Path) -> None:
    """One PNG: PSNR, SSIM, heatmap MSE (with each run's predict-zero level dashed), PCK and MPJPE against steps
    (top row) and training seconds (bottom row); one colour per run. Also prints the runs' rows as one table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [read_csv(Path(p)) for p in csv_paths]
    panels = [("psnr", "PSNR in box (dB)"), ("ssim", "SSIM"), ("heatmap_mse", "heatmap MSE"), ("pck", "PCK@0.2"),
              ("mpjpe_3d", "mpjpe_3d (mm)")]  # fmt: skip
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 7.5), squeeze=False)
    for r, x_key in enumerate(("step", "train_seconds")):
        for c, (key, title) in enumerate(panels):
            ax = axes[r][c]
            for i, rows in enumerate(runs):
                colour = f"C{i}"
                xs = [float(row[x_key]) for row in rows]
                ys = [float(row[key]) for row in rows]
                ax.plot(xs, ys, "o-", color=colour, label=str(rows[0]["label"]), markersize=3)
                if key == "heatmap_mse":
                    ax.axhline(float(rows[0]["heatmap_mse_zero"]), color=colour, linestyle="--", linewidth=1)
            ax.set_title(title + (" (dashed: predict 0)" if key == "heatmap_mse" else ""))
            ax.set_xlabel("training steps" if x_key == "step" else "training seconds (2 CPU cores)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print(f"learning_curve: wrote {out}")
    print(TABLE_HEADER)
    for rows in runs:
        for row in rows:
            print(format_row(row))


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    ns_train: List[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, ns_train = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train one preset and evaluate it every K steps (ns-train args after --)")
    p_run.add_argument("--label", required=True, help="run name (CSV file name and legend)")
    p_run.add_argument("--steps", type=int, required=True, help="training steps")
    p_run.add_argument("--eval-every", type=int, default=250, help="steps between evaluations/checkpoints")
    p_run.add_argument("--out", default="benchmarks/results", help="folder of the CSVs (run folders under runs/)")
    p_run.add_argument("--seed", type=int, default=0, help="torch seed of the weight initialisation")
    p_re = sub.add_parser("rescore", help="evaluate a finished run's checkpoints again (model options via --set)")
    p_re.add_argument("--csv", required=True, help="the run's CSV (training seconds and losses are taken from it)")
    p_re.add_argument("--config", required=True, help="the run's config.yml")
    p_re.add_argument("--label", required=True, help="name of the new CSV (written beside --csv)")
    p_re.add_argument("--set", nargs="*", default=[], help="model options as key=value, e.g. keypoints_3d=source-views")
    p_plot = sub.add_parser("plot", help="overlay CSVs of several runs in one PNG and print their table")
    p_plot.add_argument("csv", nargs="+", help="CSV files written by `run`")
    p_plot.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    if args.command == "run":
        if not ns_train:
            parser.error("give the ns-train command line after `--` (method name, options, dataparser subcommand)")
        args.ns_train = ns_train
        run(args)
    elif args.command == "rescore":
        rescore(args)
    else:
        plot([Path(p) for p in args.csv], Path(args.out))


if __name__ == "__main__":
    main()
