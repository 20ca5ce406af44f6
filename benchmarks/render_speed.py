"""Whole-image rendering speed of the method variants (the paper's Table 5 setting: 512x512, 2 source views).

For each variant (enerf-heatmap, ghnerf-resnet18, ghnerf-resnet34, ghnerf = DINO), built from the method configs with
random weights, it measures in one run:

* frames/s (1 / median frame time) of the **viewer case** (the camera moves, the sources stay: the encode cache
  hits every frame) and of the **video case** (a new frame, so new source images, every render: encoders run every
  frame);
* per-stage time of one video-case frame (human encoder, feature pyramid, cost volumes, ray sampling, projection =
  pixel-aligned/voxel feature lookups, field, compositing, outputs = the viewer's output images and the rest);
* peak memory (CUDA: allocator peak; CPU: peak RSS of the process while rendering);
* each variant's FPS as a ratio to enerf-heatmap's, and the targets.

Usage: ``python benchmarks/render_speed.py [--resolution 512] [--repeats 5] [--device auto] [--variants ...]``
"""

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scene  # noqa: E402  (sibling module; the benchmarks are scripts, not a package)

TARGETS = {  # (case, variant) -> minimum FPS ratio to enerf-heatmap (issue "Speed")
    ("viewer", "ghnerf"): 0.8,
    ("viewer", "ghnerf-resnet18"): 0.9,
    ("viewer", "ghnerf-resnet34"): 0.9,
    ("video", "ghnerf-resnet18"): 0.6,
    ("video", "ghnerf"): 0.3,
}
STAGES = ("human encoder", "feature pyramid", "cost volumes", "ray sampling", "projection", "field", "compositing")


@dataclass
class Result:
    viewer_fps: float
    video_fps: float
    peak_mb: float
    rays: int
    stages: Dict[str, float] = field(default_factory=dict)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):  # Linux: "5" resets the process's peak RSS (VmHWM)
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")


def peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    with contextlib.suppress(OSError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def stage_timers(model, device: torch.device) -> Iterator[Dict[str, float]]:
    """Accumulate wall time per stage by wrapping the functions the network calls (restored on exit)."""
    from ghnerf_ns.model import network as network_module

    totals = {name: 0.0 for name in STAGES}

    def timed(stage: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            synchronize(device)
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            synchronize(device)
            totals[stage] += time.perf_counter() - start
            return out

        return wrapper

    module_stages = {
        "ray sampling": ("pixel_directions", "sample_pixel_maps", "sample_along_depth"),
        "projection": ("project_samples", "sample_voxel_features"),
        "compositing": ("weights_from_density", "expected_depth", "composite", "accumulation", "enerf_depth"),
    }
    saved_module = {name: getattr(network_module, name) for names in module_stages.values() for name in names}
    net = model.network
    instance_stages = [
        (model.human_encoder, "encode_lowres", "human encoder"),
        (net.feature_net, "forward", "feature pyramid"),
        (net, "build_volumes", "cost volumes"),
        *((f, "forward", "field") for f in net.fields),
    ]
    try:
        for stage, names in module_stages.items():
            for name in names:
                setattr(network_module, name, timed(stage, saved_module[name]))
        for obj, attr, stage in instance_stages:
            setattr(obj, attr, timed(stage, getattr(obj, attr)))
        yield totals
    finally:
        for name, fn in saved_module.items():
            setattr(network_module, name, fn)
        for obj, attr, _ in instance_stages:  # the wrappers are instance attributes shadowing the class's methods
            if attr in vars(obj):
                delattr(obj, attr)


def render_frame(model, sources, target, chunk: int) -> Dict[str, torch.Tensor]:
    """What the viewer does per frame: encode (through the cache), render the image, make the output images."""
    from ghnerf_ns.render.image_renderer import render_image
    from ghnerf_ns.viewer.outputs import viewer_outputs

    with torch.inference_mode():
        raw = render_image(model.network, model.encode_sources(sources, target.box), target, chunk)
        return viewer_outputs(raw, model.viewer_controls.snapshot(), model.config.keypoint_threshold)


def bench_variant(variant: str, args, device: torch.device) -> Result:
    K, w2c = scene.load_rig()
    model = scene.build_model(variant, device)
    chunk = args.chunk or model.config.eval_num_rays_per_chunk
    # Targets: rig cameras in turn (the viewer's moving camera); sources: the 2 cameras nearest to the first target.
    target_ids = list(range(0, 23, 2))
    targets = [scene.make_target(K, w2c, c, args.resolution, device) for c in target_ids]
    fixed_ids = scene.nearest_cameras(w2c, w2c[target_ids[0]], args.views, exclude=target_ids[0])
    fixed = scene.make_sources(K, w2c, fixed_ids, args.resolution, frame=0, device=device)
    with torch.inference_mode():
        rays = int(sum(int(scene_rays(t)) for t in targets) / len(targets))
        render_frame(model, fixed, targets[0], chunk)  # warm-up (allocator, kernels); fills the cache
        reset_peak(device)

        viewer_fps = 1.0 / median_seconds(
            [lambda t=targets[i % len(targets)]: render_frame(model, fixed, t, chunk) for i in range(args.repeats)],
            device,
        )
        video_frames = [
            (
                t,
                scene.make_sources(
                    K, w2c, scene.nearest_cameras(w2c, w2c[c], args.views, c), args.resolution, 1 + i, device
                ),
            )
            for i, (t, c) in enumerate(zip(targets, target_ids))
        ][: args.repeats]
        video_renders = [lambda t=t, s=s: render_frame(model, s, t, chunk) for t, s in video_frames]
        video_fps = 1.0 / median_seconds(video_renders, device)
        peak = peak_mb(device)

        sources = scene.make_sources(K, w2c, fixed_ids, args.resolution, frame=10_000, device=device)
        with stage_timers(model, device) as totals:
            synchronize(device)
            start = time.perf_counter()
            render_frame(model, sources, targets[0], chunk)
            synchronize(device)
            total = time.perf_counter() - start
        stages = dict(totals)
        stages["outputs"] = max(total - sum(totals.values()), 0.0)
    return Result(viewer_fps=viewer_fps, video_fps=video_fps, peak_mb=peak, rays=rays, stages=stages)


def median_seconds(frames: List[Callable[[], object]], device: torch.device) -> float:
    """Median wall time of one call each (the median shrugs off a frame slowed by something else on the machine)."""
    times = []
    for frame in frames:
        synchronize(device)
        start = time.perf_counter()
        frame()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scene_rays(target) -> int:
    from ghnerf_ns.model.geometry import box_mask

    return int(box_mask(target.box, target.K, target.w2c, target.height, target.width).sum())


def ratio_cell(case: str, variant: str, ratio: float) -> str:
    goal = TARGETS.get((case, variant))
    if goal is None:
        return f"{ratio:.2f}x"
    return f"{ratio:.2f}x ({'ok' if ratio >= goal else 'below'} >= {goal}x)"


def print_tables(results: Dict[str, Result], args, device: torch.device) -> None:
    base = results.get("enerf-heatmap")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"\n## Render speed: {args.resolution}x{args.resolution}, {args.views} source views, {name}, load {load:.2f}\n"
    )
    print("| variant | rays/frame | viewer FPS | viewer ratio | video FPS | video ratio | peak MB |")
    print("|---|---|---|---|---|---|---|")
    for variant, r in results.items():
        viewer = ratio_cell("viewer", variant, r.viewer_fps / base.viewer_fps) if base else "-"
        video = ratio_cell("video", variant, r.video_fps / base.video_fps) if base else "-"
        print(
            f"| {variant} | {r.rays} | {r.viewer_fps:.3f} | {viewer} | {r.video_fps:.3f} | {video} | {r.peak_mb:.0f} |"
        )
    print("\n## Per-stage time of one video-case frame (ms)\n")
    columns = [*STAGES, "outputs"]
    print("| variant | " + " | ".join(columns) + " | total |")
    print("|---" * (len(columns) + 2) + "|")
    for variant, r in results.items():
        cells = " | ".join(f"{1000 * r.stages[c]:.0f}" for c in columns)
        print(f"| {variant} | {cells} | {1000 * sum(r.stages.values()):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=512, help="target and source image size (pixels)")
    parser.add_argument("--repeats", type=int, default=5, help="timed frames per case; FPS = 1 / median frame time")
    parser.add_argument("--views", type=int, default=2, help="source views per render (the paper: 2)")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda[:N]")
    parser.add_argument("--chunk", type=int, default=0, help="rays per chunk (0: the model config's)")
    parser.add_argument("--variants", nargs="+", default=list(scene.METHODS), choices=list(scene.METHODS))
    parser.add_argument("--one-variant", action="store_true", help=argparse.SUPPRESS)  # internal: child process
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    variants: List[str] = args.variants
    if "enerf-heatmap" in variants:  # the baseline first, so ratios can be printed
        variants = ["enerf-heatmap", *[v for v in variants if v != "enerf-heatmap"]]
    if args.one_variant:  # child process: one variant, result as JSON on the last line
        print(json.dumps(dataclasses.asdict(bench_variant(variants[0], args, device))))
        return
    results = {}
    for variant in variants:
        results[variant] = run_isolated(variant, sys.argv[1:])
        r = results[variant]
        print(
            f"{variant}: viewer {r.viewer_fps:.3f} FPS, video {r.video_fps:.3f} FPS, peak {r.peak_mb:.0f} MB",
            flush=True,
        )
    print_tables(results, args, device)


def run_isolated(variant: str, argv: List[str]) -> Result:
    """Benchmark one variant in a fresh interpreter: no allocator state or cached memory from the variant before
    (which skewed in-process runs by +-15 %), and a peak RSS of its own."""
    command = [sys.executable, os.path.abspath(__file__), *argv, "--variants", variant, "--one-variant"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return Result(**json.loads(proc.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
