"""The paper presets at CPU scale: a Table-1-shaped comparison (paper 4.1) under one wall-clock budget per method.

    python benchmarks/paper_table.py --work-dir /tmp/paper_table --doc docs/methods.md

What it does (all through the project's own CLIs, in subprocesses, as a user would run them):

1. data: ``--data``, else the demo's data ``demo_data/zju`` (``make demo``) when it holds every person asked for with
   ``--synth-frames`` frames each (the demo writes 4, this protocol 8), else the people asked for written by
   ghnerf-synth into ``<work-dir>/zju_synth`` (``--synth-frames`` frames, 24 cameras, ``--resolution``). The
   protocol is the demo's but for its training people and frames: train people 301..313 377 390 (the demo also trains
   on 401-445: add them with ``--train-subjects``), validation person 386 (``--val-subjects`` of ns-train: its
   evaluations and any tuning), test people 395-398 (what ns-eval reports), eval frames 0 8 4;
2. methods: ``enerf-heatmap``, ``ghnerf-resnet`` with ResNet18 and with ResNet34 (the preset's encoder), and
   ``ghnerf`` (DINO ViT-S/8). Every method gets the same budget (``--budget-min``). ns-train has no wall-clock stop,
   so a short timing run (``--timing-steps``) measures each method's seconds per step after its first
   ``--warmup-steps`` (the rest of its wall time is start-up) and the real run gets ``(budget - start-up) / s per
   step`` iterations; its real wall time is reported, and marked when it missed the budget by more than 25% (on a
   shared machine another job's load can change a step's time several times over). A method that would get fewer
   than ``--min-steps`` iterations is not trained: its row says it does not fit the budget, with its s/step;
3. settings: the paper presets keep their own settings (Adam 5e-4, 2 source views per prediction, 2 or 3 in
   training, heatmap weight 0.5, heatmap sigma 7 px, volumetric 3D keypoints, each channel's own peak); only what
   every method shares is set here: the resolution, the rays per step, the perceptual loss off (its VGG weights are
   not available offline; ``--perceptual-weight``) and the human encoders trained from scratch (``--weights
   METHOD=FILE`` starts one from a local file);
4. ns-eval each run on the test people and print a markdown table (PSNR, SSIM, LPIPS when present, heatmap MSE with
   the predicting-0 level, PCK@0.2 by the paper's rule, MPJPE 3D and volumetric, iterations, s/step, train time)
   with a settings line measured from the data and the runs (cameras, frames, people, source views). The paper's
   Table 1 PCK is a reference column, the paper's figures on real ZJU-MoCap at 512 px after 200k steps.

The table goes to ``<work-dir>/paper_table.md`` and, with ``--doc FILE``, between the file's
``<!-- paper-table:start -->`` and ``<!-- paper-table:end -->`` markers. ``--reuse`` keeps the methods a previous call
finished in the same work dir (their eval JSON and row file) and only trains the others.

How long: per method, a timing run (about a minute) + the budget + ns-eval (one to a few minutes at 128 px); the
default (4 methods x 6 min at 128 px) takes about 45-55 minutes on 2 CPU cores, less if a method does not fit.
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
DEMO_DATA = REPO / "demo_data" / "zju"
"""The demo's data (``make demo``, scripts/demo.sh): 65 people, 4 frames, 24 cameras, 128 px."""
TRAIN_SUBJECTS = [*(str(s) for s in range(301, 314)), "377", "390"]
VAL_SUBJECTS = ["386"]
TEST_SUBJECTS = ["395", "396", "397", "398"]
START, END = "<!-- paper-table:start -->", "<!-- paper-table:end -->"
"""Markers around the generated block in ``--doc``."""
PAPER_NOTE = (
    "the paper's Table 1 PCK@0.2, on real ZJU-MoCap at 512 px after 200k steps with pretrained encoders (OpenPose: "
    "0.632); not measured here"
)


@dataclass(frozen=True)
class Variant:
    """One row of the table: an ns-train method and its human encoder."""

    key: str
    """Name in ``--methods`` and in the work dir's files."""
    method: str
    """The ns-train method."""
    encoder: Optional[str]
    """``--pipeline.model.human-encoder.name`` (None: the method has no human encoder)."""
    label: str
    """The table's method cell."""
    paper_pck: Optional[float]
    """The paper's Table 1 PCK@0.2 of this method (its figure, hand-typed; the table labels it as the paper's)."""


VARIANTS: Tuple[Variant, ...] = (
    Variant("enerf-heatmap", "enerf-heatmap", None, "enerf-heatmap", 0.438),
    Variant("ghnerf-resnet18", "ghnerf-resnet", "resnet18", "ghnerf-resnet (ResNet18)", 0.573),
    Variant("ghnerf-resnet34", "ghnerf-resnet", "resnet34", "ghnerf-resnet (ResNet34, the preset's)", 0.573),
    Variant("ghnerf", "ghnerf", "dino_vits8", "ghnerf (DINO ViT-S/8)", 0.691),
)
BY_KEY = {v.key: v for v in VARIANTS}


@dataclass
class Row:
    """What one method gave: its eval results, or none when it did not fit the budget."""

    variant: Variant
    per_step: float
    startup: float
    steps: int
    seconds: float = 0.0
    results: Optional[Dict[str, object]] = None
    source_views: Optional[int] = None
    """``num_source_views`` of the run's config.yml (input views per prediction)."""


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


def encoder_args(variant: Variant, opts: argparse.Namespace) -> List[str]:
    """The encoder choice and the weights policy (from scratch unless ``--weights KEY=FILE``)."""
    if variant.encoder is None:
        return []
    prefix = "--pipeline.model.human-encoder."
    weights = opts.weights.get(variant.key)
    start = [prefix + "weights-path", str(weights)] if weights else [prefix + "pretrained", "False"]
    return [prefix + "name", variant.encoder, *start]


def train_args(variant: Variant, data: Path, out: Path, steps: int, opts: argparse.Namespace) -> List[str]:
    """The ns-train command line: the preset's own settings plus what every method shares here."""
    never = str(10**9)
    return [
        "ns-train", variant.method, "--data", str(data), "--output-dir", str(out), "--experiment-name", variant.key,
        "--timestamp", "run", "--max-num-iterations", str(steps), "--steps-per-save", str(max(steps, 1)),
        "--steps-per-eval-batch", never, "--steps-per-eval-image", never, "--steps-per-eval-all-images", never,
        "--vis", "tensorboard", "--machine.device-type", "cpu",
        "--pipeline.datamanager.resolution", str(opts.resolution),
        "--pipeline.datamanager.num-workers", "1",
        "--pipeline.model.loss.perceptual-weight", str(opts.perceptual_weight),
        "--pipeline.datamanager.train-num-rays-per-batch", str(opts.rays_per_batch),
        # The 64x64 perceptual patches are only needed by the perceptual loss (they are extra rays every step).
        "--pipeline.datamanager.num-patches", str(opts.num_patches if opts.perceptual_weight > 0 else 0),
        *encoder_args(variant, opts),
        "zju-mocap-data", "--train-subjects", *opts.train_subjects, "--val-subjects", *opts.val_subjects,
        "--test-subjects", *opts.test_subjects, "--eval-frames", *(str(x) for x in opts.eval_frames),
    ]  # fmt: skip


def fitting_steps(budget_s: float, per_step: float, startup: float) -> int:
    """Iterations that fit ``budget_s`` after ``startup`` seconds at ``per_step`` seconds each (0 if none)."""
    return max(int((budget_s - startup) / max(per_step, 1e-3)), 0)


def steady_step_time(run_dir: Path, steps: int, warmup: int) -> Optional[float]:
    """Mean seconds per step of a run after its first ``warmup`` steps (the first ones are slower: data loader start,
    allocator warm-up), from the tensorboard events of a run logged every step; None when they are unreadable.

    nerfstudio logs "Train Iter (time)" as the running mean of the last 20 steps (its writer's buffer), so for a run of
    at most 20 steps the value at step k is the mean of steps 0..k and the steps after the warm-up took
    ``(n * mean[n-1] - w * mean[w-1]) / (n - w)``; a longer run's last value is already a mean over its last 20 steps.
    """
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        means: Dict[int, float] = {}
        for events in sorted(run_dir.rglob("events.out.tfevents.*")):
            accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
            accumulator.Reload()
            means.update({e.step: e.value for e in accumulator.Scalars("Train Iter (time)")})
    except Exception:  # any failure falls back to the profiler's mean
        return None
    last = steps - 1
    if last not in means:
        return None
    if steps > 20 or warmup <= 0 or warmup >= steps or warmup - 1 not in means:
        return means[last]
    return (steps * means[last] - warmup * means[warmup - 1]) / (steps - warmup)


def time_method(variant: Variant, data: Path, work: Path, opts: argparse.Namespace) -> Tuple[float, float]:
    """(seconds per step, start-up seconds) from one short timing run of ``--timing-steps`` steps.

    Seconds per step is the mean time of the steps after the first ``--warmup-steps`` (:func:`steady_step_time`; else
    the mean ``Trainer.train_iteration`` time of all steps that nerfstudio's profiler prints at the end of a run);
    the rest of the run's wall time is start-up (the warm-up steps' extra time included), so that start-up + steps x
    seconds per step is the wall time of a run of that many steps.
    """
    steps = opts.timing_steps
    log = work / f"{variant.key}_timing.log"
    args = train_args(variant, data, work / "timing", steps, opts)
    shutil.rmtree(work / "timing" / variant.key, ignore_errors=True)  # a previous call's events and checkpoints
    elapsed = run([*args[:2], "--logging.steps-per-log", "1", *args[2:]], work, log)
    match = re.search(r"Trainer\.train_iteration:\s*([0-9.]+)", log.read_text())
    if match is None:
        raise SystemExit(f"{log}: no 'Trainer.train_iteration' profile line (is --logging.profiler off?)")
    steady = steady_step_time(work / "timing" / variant.key, steps, opts.warmup_steps)
    per_step = max(steady if steady is not None else float(match.group(1)), 1e-3)
    return per_step, max(elapsed - steps * per_step, 0.0)


def evaluate(config: Path, work: Path, key: str) -> Dict[str, object]:
    out = work / f"{key}_eval.json"
    run(["ns-eval", "--load-config", str(config), "--output-path", str(out)], work, work / f"{key}_eval.log")
    return json.loads(out.read_text())["results"]


def source_views_of(config: Path) -> Optional[int]:
    """``num_source_views`` of a run's config.yml (the input views of every prediction), read from its text."""
    match = re.search(r"^\s*num_source_views:\s*(\d+)\s*$", config.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else None


# ----------------------------------------------------------------------------------------------------- the table


def _number(results: Dict[str, object], key: str) -> Optional[float]:
    value = results.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
        return float(value)
    return None


def _fmt(value: Optional[float], fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _found(results: Dict[str, object], key: str) -> str:
    """`` (found %)`` of a 3D error: joints compared / (compared + missing)."""
    joints = _number(results, f"{key}_num_joints")
    missing = _number(results, f"{key}_num_missing") or 0.0
    if joints is None or joints + missing <= 0:
        return ""
    return f" ({joints / (joints + missing):.0%} found)"


def pck_key(results: Dict[str, object]) -> str:
    """The paper's rule (each channel's own peak): ``pck_channels`` where ns-eval wrote it, else ``pck``."""
    return "pck_channels" if _number(results, "pck_channels") is not None else "pck"


def metric_cells(results: Dict[str, object], with_lpips: bool) -> List[str]:
    """PSNR, SSIM, [LPIPS], heatmap MSE (predicting 0), PCK@0.2, MPJPE 3D, volumetric."""
    cells = [_fmt(_number(results, "psnr"), ".2f"), _fmt(_number(results, "ssim"), ".3f")]
    if with_lpips:
        cells.append(_fmt(_number(results, "lpips"), ".3f"))
    mse, zero = _number(results, "heatmap_mse"), _number(results, "heatmap_mse_zero")
    cells.append(_fmt(mse, ".5f") + (f" ({zero:.5f})" if zero is not None else ""))
    cells.append(_fmt(_number(results, pck_key(results)), ".3f"))
    for key in ("mpjpe_3d", "mpjpe_3d_volumetric"):
        value = _number(results, key)
        cells.append(_fmt(value, ".0f") + _found(results, key))
    return cells


def off_budget(row: Row, budget_min: float, tolerance: float = 0.25) -> bool:
    """Whether a trained row's wall time missed the budget by more than ``tolerance`` (the machine's load changed
    between its timing run and its training: its iterations are not what the budget gives)."""
    budget = budget_min * 60.0
    return row.results is not None and budget > 0 and abs(row.seconds - budget) > tolerance * budget


def table(rows: Sequence[Row], min_steps: int, budget_min: float) -> str:
    """The markdown table, one line per method (a method that did not fit the budget says so, with its s/step; a
    train time more than 25% off the budget is marked ²)."""
    with_lpips = any(r.results is not None and _number(r.results, "lpips") is not None for r in rows)
    head = ["method", "PSNR", "SSIM", *(["LPIPS"] if with_lpips else []), "heatmap MSE (predicting 0)",
            "PCK@0.2", "MPJPE 3D (mm)", "volumetric 3D (mm)", "iterations", "s/step (timing run)", "train time (s)",
            "paper's PCK@0.2 ¹"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    width = len(head) - 5  # the metric cells
    for row in rows:
        paper = _fmt(row.variant.paper_pck, ".3f")
        if row.results is None:
            why = f"does not fit the budget: {row.steps} steps in {budget_min:g} min < --min-steps {min_steps}"
            cells = [why, *(["-"] * (width - 1)), str(row.steps), f"{row.per_step:.2f}", "-"]
        else:
            cells = metric_cells(row.results, with_lpips)
            mark = " ²" if off_budget(row, budget_min) else ""
            cells += [str(row.steps), f"{row.per_step:.2f}", f"{row.seconds:.0f}{mark}"]
        lines.append("| " + " | ".join([row.variant.label, *cells, paper]) + " |")
    return "\n".join(lines)


def _people(ids: Sequence[str]) -> str:
    """``301..313 377 390`` for runs of consecutive numbers."""
    out: List[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1].isdigit() and ids[j].isdigit() and int(ids[j + 1]) == int(ids[j]) + 1:
            j += 1
        out.append(f"{ids[i]}..{ids[j]}" if j - i >= 2 else " ".join(ids[i : j + 1]))
        i = j + 1
    return " ".join(out)


def data_facts(data: Path, subjects: Sequence[str]) -> Dict[str, object]:
    """What the data holds, read from it: cameras and frames per person (annots.npy), the input and test cameras the
    dataparser's defaults take, and whether ghnerf-synth wrote it."""
    from dataparsers.index_utils import index_range
    from dataparsers.path_safety import DatasetTree
    from dataparsers.zju_annots import read_zju_annots
    from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig, zju_subject_name

    tree = DatasetTree(data)
    cameras, frames = set(), set()
    for subject in subjects:
        annots = read_zju_annots(tree, zju_subject_name(subject))
        cameras.add(annots.num_cameras)
        frames.add(annots.num_frames)
    cfg = ZJUMocapDataParserConfig()
    num = min(cameras)
    return {
        "cameras": "/".join(str(c) for c in sorted(cameras)),
        "frames": "/".join(str(f) for f in sorted(frames)),
        "inputs": len(index_range(cfg.input_views, num, "input_views")),
        "tests": len(index_range(cfg.test_views, num, "test_views")),
        "synthetic": (data / "GHNERF_SYNTH.txt").is_file(),
    }


def settings_line(opts: argparse.Namespace, data: Path, facts: Dict[str, object], rows: Sequence[Row]) -> str:
    views = sorted({r.source_views for r in rows if r.source_views is not None})
    scratch = [v.label for v in (r.variant for r in rows) if v.encoder and not opts.weights.get(v.key)]
    loaded = [f"{v.label} from {opts.weights[v.key]}" for v in (r.variant for r in rows) if opts.weights.get(v.key)]
    encoders = "human encoders trained from scratch" if not loaded else (
        "human encoders: " + "; ".join(loaded) + (f"; {', '.join(scratch)} from scratch" if scratch else "")
    )  # fmt: skip
    frames = opts.eval_frames
    return (
        f"Settings (read from the data and the runs): {'ghnerf-synth' if facts['synthetic'] else 'ZJU-MoCap'} data "
        f"`{data.name}` in the ZJU-MoCap layout, {facts['cameras']} cameras per person ({facts['inputs']} input "
        f"cameras, {facts['tests']} test views), {facts['frames']} frames per person (eval frames "
        f"{frames[0]}:{frames[1]}:{frames[2]}); train people {_people(opts.train_subjects)} "
        f"({len(opts.train_subjects)}), validation person {_people(opts.val_subjects)}, test people "
        f"{_people(opts.test_subjects)} (pooled: the figures are theirs); {opts.resolution} px; budget "
        f"{opts.budget_min:g} min per method on the CPU ({os.cpu_count()} cores), train time includes start-up; "
        f"{'/'.join(str(v) for v in views) or 'n/a'} source views per prediction; {encoders}; perceptual weight "
        f"{opts.perceptual_weight:g}; {opts.rays_per_batch} rays per step; every other setting the preset's (the "
        f"paper's). PCK@0.2 is each heatmap channel's own peak (the paper's rule); MPJPE 3D is the preset's 3D "
        f"keypoints (the paper's: the volumetric peaks), with the share of joints found."
    )


def replace_block(text: str, block: str, where: str) -> str:
    """``text`` with what lies between :data:`START` and :data:`END` replaced by ``block``."""
    if START not in text or END not in text or text.index(START) > text.index(END):
        raise SystemExit(f"paper_table: {where} has no '{START}' ... '{END}' block to replace")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}\n{END}{tail}"


# ------------------------------------------------------------------------------------------------------ running


def _weights(text: str) -> Tuple[str, Path]:
    key, sep, path = text.partition("=")
    if not sep or key not in BY_KEY or not path:
        raise argparse.ArgumentTypeError(f"expected METHOD=FILE with METHOD one of {', '.join(BY_KEY)}: {text!r}")
    return key, Path(path)


def parse(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work-dir", type=Path, required=True, help="where data, runs, logs, eval JSONs and the table go")
    p.add_argument("--data", type=Path, default=None,
                   help=f"ZJU-MoCap-layout dataset (default: {DEMO_DATA.relative_to(REPO)} when it holds every person "
                        "asked for, else the demo's people written by ghnerf-synth into the work dir)")  # fmt: skip
    p.add_argument("--budget-min", type=float, default=6.0, help="training wall-clock budget per method, minutes")
    p.add_argument("--min-steps", type=int, default=100,
                   help="fewer iterations in the budget: the method is reported as not fitting it")  # fmt: skip
    p.add_argument("--resolution", type=int, default=128, help="working resolution (long side, multiple of 32)")
    p.add_argument("--train-subjects", nargs="+", default=TRAIN_SUBJECTS, help="people trained on")
    p.add_argument("--val-subjects", nargs="+", default=VAL_SUBJECTS, help="validation person (ns-train's evals)")
    p.add_argument("--test-subjects", nargs="+", default=TEST_SUBJECTS, help="test people (what the table reports)")
    p.add_argument("--eval-frames", nargs=3, type=int, default=[0, 8, 4], metavar=("START", "END", "STEP"),
                   help="eval frames of the dataparser (start end step)")  # fmt: skip
    p.add_argument("--synth-frames", type=int, default=8, help="frames per person when the data is written (demo: 8)")
    p.add_argument("--synth-cameras", type=int, default=24, help="cameras per person when written (demo: 24)")
    p.add_argument("--methods", nargs="+", choices=list(BY_KEY), default=list(BY_KEY), help="rows of the table")
    p.add_argument("--weights", type=_weights, action="append", default=[], metavar="METHOD=FILE",
                   help="start METHOD's human encoder from a local weights file (default: from scratch)")  # fmt: skip
    p.add_argument("--perceptual-weight", type=float, default=0.0, help="lambda_p (needs VGG weights; 0 offline)")
    p.add_argument("--rays-per-batch", type=int, default=1024, help="training rays per step (all methods)")
    p.add_argument("--num-patches", type=int, default=4, help="perceptual-loss patches per step (with lambda_p > 0)")
    p.add_argument("--timing-steps", type=int, default=10, help="iterations of each method's timing run")
    p.add_argument("--warmup-steps", type=int, default=3, help="first steps of a timing run left out of s/step")
    p.add_argument("--doc", type=Path, default=None, help="also replace the paper-table block of this markdown file")
    p.add_argument("--reuse", action="store_true", help="keep methods a previous call finished in --work-dir")
    opts = p.parse_args(argv)
    opts.weights = dict(opts.weights)
    return opts


def missing_people(root: Path, people: Sequence[str]) -> List[str]:
    """The ids of ``people`` without a ``CoreView_<id>/annots.npy`` under ``root``."""
    return [s for s in people if not (root / f"CoreView_{s}" / "annots.npy").is_file()]


def find_data(opts: argparse.Namespace, work: Path) -> Path:
    """``--data``, else the demo's data when it holds every person with ``--synth-frames`` frames, else those people
    written into the work dir."""
    people = [*opts.train_subjects, *opts.val_subjects, *opts.test_subjects]
    if opts.data is not None:
        missing = missing_people(opts.data, people)
        if missing:
            raise SystemExit(f"paper_table: {opts.data} has no CoreView_<id>/annots.npy for {' '.join(missing)}")
        return opts.data.resolve()
    if not missing_people(DEMO_DATA, people) and data_facts(DEMO_DATA, people)["frames"] == str(opts.synth_frames):
        return DEMO_DATA
    data = work / "zju_synth"
    if missing_people(data, people):
        print(f"writing the demo's people ({len(people)}) to {data}", flush=True)
        run(["ghnerf-synth", "zju", "--out", str(data), "--subjects", *people, "--frames", str(opts.synth_frames),
             "--cameras", str(opts.synth_cameras), "--resolution", str(opts.resolution), "--no-progress"],
            work, work / "synth.log")  # fmt: skip
    return data


def run_settings(variant: Variant, data: Path, opts: argparse.Namespace) -> Dict[str, object]:
    """What a row depends on: ``--reuse`` keeps a saved row only when these are unchanged."""
    names = ("budget_min", "min_steps", "resolution", "train_subjects", "val_subjects", "test_subjects", "eval_frames",
             "perceptual_weight", "rays_per_batch", "num_patches")  # fmt: skip
    weights = opts.weights.get(variant.key)
    return {"data": str(data), "weights": str(weights) if weights else None, **{n: getattr(opts, n) for n in names}}


def measure(variant: Variant, data: Path, work: Path, opts: argparse.Namespace) -> Row:
    """Time, train and evaluate one method (or reuse a previous call's row with ``--reuse``)."""
    saved = work / f"{variant.key}_row.json"
    settings = run_settings(variant, data, opts)
    if opts.reuse and saved.is_file():
        row = json.loads(saved.read_text())
        if row.get("settings") == settings:
            print(f"{variant.key}: reusing {saved}", flush=True)
            return Row(variant, row["per_step"], row["startup"], row["steps"], row["seconds"], row["results"],
                       row.get("source_views"))  # fmt: skip
        print(f"{variant.key}: {saved} was measured with other settings: measuring again", flush=True)
    per_step, startup = time_method(variant, data, work, opts)
    steps = fitting_steps(opts.budget_min * 60.0, per_step, startup)
    row = Row(variant, per_step, startup, steps)
    print(f"{variant.key}: {per_step:.2f} s/step, start-up {startup:.0f} s -> {steps} iterations", flush=True)
    if steps >= opts.min_steps:
        log = work / f"{variant.key}_train.log"
        shutil.rmtree(work / "runs" / variant.key, ignore_errors=True)  # ns-eval would load a stale later checkpoint
        row.seconds = run(train_args(variant, data, work / "runs", steps, opts), work, log)
        config = work / "runs" / variant.key / variant.method / "run" / "config.yml"
        row.source_views = source_views_of(config)
        row.results = evaluate(config, work, variant.key)
    else:
        print(f"{variant.key}: fewer than --min-steps {opts.min_steps}: not trained", flush=True)
    fields = {k: getattr(row, k) for k in ("per_step", "startup", "steps", "seconds", "results", "source_views")}
    fields["settings"] = settings
    saved.write_text(json.dumps(fields, indent=1))
    return row


def main(argv: Optional[Sequence[str]] = None) -> None:
    opts = parse(argv)
    work = opts.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    data = find_data(opts, work)
    facts = data_facts(data, [*opts.train_subjects, *opts.val_subjects, *opts.test_subjects])
    print(f"data: {data} ({facts['cameras']} cameras, {facts['frames']} frames per person)", flush=True)
    rows = [measure(BY_KEY[key], data, work, opts) for key in opts.methods]
    notes = [f"¹ {PAPER_NOTE}. Generated by `python benchmarks/paper_table.py`; nothing in the table is typed by hand "
             "but that column."]  # fmt: skip
    if any(off_budget(r, opts.budget_min) for r in rows):
        notes.append(
            "² trained more than 25% off the budget: the machine's load changed between the method's timing run and "
            "its training, so its iterations are not what the budget gives on a quiet machine (to measure it again: "
            "delete its `<method>_row.json` in the work dir and run with `--reuse`)."
        )
    block = "\n\n".join([settings_line(opts, data, facts, rows), table(rows, opts.min_steps, opts.budget_min), *notes])
    print()
    print(block)
    (work / "paper_table.md").write_text(block + "\n")
    print(f"\npaper_table: wrote {work / 'paper_table.md'}")
    if opts.doc is not None:
        opts.doc.write_text(replace_block(opts.doc.read_text(), block, str(opts.doc)))
        print(f"paper_table: updated {opts.doc}")


if __name__ == "__main__":
    main()
