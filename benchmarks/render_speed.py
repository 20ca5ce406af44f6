"""Whole-image rendering speed of the method variants, measured side by side (the paper's Table 5 setting: 512x512,
2 source views).

All variants (enerf-heatmap, ghnerf-resnet18, ghnerf-resnet34, ghnerf = DINO; built from the method configs with random
weights) are built in one process and timed in interleaved **rounds**. A round renders, for every variant, ``--repeats``
frames of the **viewer case** (the camera moves, the sources stay: one fixed source set, so the encode cache hits every
frame) and then as many of the **video case** (a new frame, so new source images, every render: the encoders run
every frame); the variants take turns in an order that rotates from round to round, so that none is always first. One
untimed warm-up round comes first (allocator, kernels, the viewer case's cache entry). Every frame checks the encode
cache's hit/miss counters: a viewer frame must hit, a video frame must miss.

Why rounds: the ratio to enerf-heatmap is computed within each round, from frames rendered seconds apart, and the table
reports its median over the rounds with its spread (interquartile range and min-max). Drift of the machine over the run
(other work, clock, heat) then cancels out of the ratio instead of becoming it: the earlier script ran each variant in
its own process one after the other, and two of its runs an hour apart read viewer ratios of 0.66x and 1.09x. The FPS
of a variant is 1 / its median frame time over all rounds (its min-max over the rounds shows the drift).

Also reported:

* per-stage time of one video-case and one viewer-case frame of each variant, in ms and in % of the frame (human
  encoder, feature pyramid, cost volumes, ray sampling, projection = pixel-aligned/voxel feature lookups, field,
  compositing, outputs = the viewer's output images: overlays, keypoints, PCA colours; other = the rest: box mask,
  image bookkeeping, the source-view 3D keypoints of a heatmap-head encoder, ...), with the target "viewer outputs
  <= 10 % of a 512 px frame" checked on the viewer-case frame;
* memory. One process holds every variant now, so on a CPU the peak RSS (one number per process) covers all of them
  together: it is reported for the whole run, and each variant's weights and encode-cache bytes beside it.
  ``--isolated-memory`` adds each variant's own peak RSS, measured in a short subprocess of its own (build, one frame of
  each case): memory does not drift the way time does, so one variant after the other is fine for it. On CUDA each
  variant's frames also report the allocator's peak above what was allocated before the frame (its working memory).

Usage: ``python benchmarks/render_speed.py [--resolution 512] [--rounds 7] [--repeats 1] [--device auto]
[--variants ...] [--isolated-memory] [--json FILE]``
"""

import argparse
import contextlib
import dataclasses
import functools
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scene  # noqa: E402  (sibling module; the benchmarks are scripts, not a package)

BASELINE = "enerf-heatmap"
TARGETS = {  # (case, variant) -> minimum FPS ratio to enerf-heatmap (issue "Speed")
    ("viewer", "ghnerf"): 0.8,
    ("viewer", "ghnerf-resnet18"): 0.9,
    ("viewer", "ghnerf-resnet34"): 0.9,
    ("video", "ghnerf-resnet18"): 0.6,
    ("video", "ghnerf"): 0.3,
}
OUTPUTS_TARGET = 0.10
"""The viewer's output images (the 'outputs' stage) should take at most this share of a 512 px viewer-case frame."""
CASES = ("viewer", "video")
STAGES = ("human encoder", "feature pyramid", "cost volumes", "ray sampling", "projection", "field", "compositing")
STAGE_FRAME = 10_000
"""Frame number of the stage-timed video-case frame's sources (distinct from every round's, so its encoders run)."""


@dataclass
class Variant:
    """One variant's model and everything measured of it."""

    model: torch.nn.Module
    chunk: int
    seconds: Dict[str, List[List[float]]] = field(default_factory=lambda: {case: [] for case in CASES})
    """case -> per timed round, the seconds of its frames."""
    working_mb: float = 0.0
    """CUDA: the largest allocator peak above the memory allocated before one of its frames."""
    peak_mb: float = 0.0
    """CUDA: the largest allocator peak during one of its frames (all variants' resident memory included)."""
    stages: Dict[str, Dict[str, float]] = field(default_factory=dict)
    """case -> stage -> seconds, of one stage-timed frame."""

    def fps(self, case: str) -> float:
        return 1.0 / statistics.median([s for frames in self.seconds[case] for s in frames])

    def round_seconds(self, case: str) -> List[float]:
        return [statistics.median(frames) for frames in self.seconds[case]]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rss_peak_mb() -> float:
    """The process's peak RSS (Linux: VmHWM; elsewhere ru_maxrss)."""
    with contextlib.suppress(OSError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tensor_mb(tensors) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def encode_cache(model):
    """The model's encode cache, read for its hit/miss counters and bytes (no public accessor; a benchmark may look)."""
    return model._encode_cache  # pylint: disable=protected-access


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


SHOWN_OUTPUT = ["keypoints_overlay"]
"""The output the viewer shows while timing (``--output``; the viewer makes only that one): by default the skeleton,
the costliest single output (2D peak extraction and drawing)."""


def render_frame(model, sources, target, chunk: int, times: Optional[Dict[str, float]] = None) -> Dict:
    """What the viewer does per frame: encode (through the cache), render the image, make the output image it shows
    (:data:`SHOWN_OUTPUT`). ``times``: gets the seconds of the output images under 'outputs' (the caller synchronizes
    around the frame)."""
    from ghnerf_ns.keypoints.extractor import keypoint_extractor
    from ghnerf_ns.keypoints.view_keypoints import view_keypoints_2d
    from ghnerf_ns.render.image_renderer import render_image
    from ghnerf_ns.viewer.outputs import viewer_outputs

    settings = dataclasses.replace(model.viewer_controls.snapshot(), shown_outputs=frozenset(SHOWN_OUTPUT))
    with torch.inference_mode():
        raw = render_image(model.network, model.encode_sources(sources, target.box), target, chunk)
        synchronize(target.K.device)
        start = time.perf_counter()
        keypoints = None
        if SHOWN_OUTPUT[0] == "keypoints_overlay":  # as GHNeRFModel.get_outputs_for_camera ('channels' rule)
            keypoints = view_keypoints_2d(
                torch.nan_to_num(raw["heatmaps"].float()), keypoint_extractor(model.config.keypoint_threshold),
                max_side=model.config.viewer_keypoints_max_side,
            )  # fmt: skip
        out = viewer_outputs(raw, settings, model.config.keypoint_threshold, keypoints=keypoints)
        synchronize(target.K.device)
        if times is not None:
            times["outputs"] = time.perf_counter() - start
        return out


@contextlib.contextmanager
def expect_cache(model, case: str, check: bool = True) -> Iterator[None]:
    """Checks that the frame rendered inside hits the encode cache (viewer case) or misses it (video case)."""
    cache = encode_cache(model)
    hits, misses = cache.hits, cache.misses
    yield
    hit = (cache.hits - hits, cache.misses - misses) == (1, 0)
    if check and hit != (case == "viewer"):
        raise SystemExit(
            f"{case} frame {'hit' if hit else 'missed'} the encode cache: the {case} case would measure the wrong thing"
        )


def timed_frame(variant: Variant, case: str, sources, target, device: torch.device, check: bool) -> float:
    """Seconds of one frame (on CUDA also its allocator peak above what was allocated before it)."""
    synchronize(device)
    if device.type == "cuda":
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    with expect_cache(variant.model, case, check):
        start = time.perf_counter()
        render_frame(variant.model, sources, target, variant.chunk)
        synchronize(device)
        seconds = time.perf_counter() - start
    if device.type == "cuda":  # the peak is reset per frame: the process-wide peak is the largest of these
        peak = torch.cuda.max_memory_allocated(device)
        variant.working_mb = max(variant.working_mb, (peak - before) / 2**20)
        variant.peak_mb = max(variant.peak_mb, peak / 2**20)
    return seconds


class Scene:
    """Targets and sources shared by all variants: every variant renders the same frames in a round."""

    def __init__(self, args, device: torch.device) -> None:
        self.K, self.w2c = scene.load_rig()
        self.args, self.device = args, device
        # Targets: rig cameras in turn (the viewer's moving camera); fixed sources: the cameras nearest to the first.
        self.target_ids = list(range(0, 23, 2))
        self.targets = [scene.make_target(self.K, self.w2c, c, args.resolution, device) for c in self.target_ids]
        first = self.target_ids[0]
        self.fixed_ids = scene.nearest_cameras(self.w2c, self.w2c[first], args.views, exclude=first)
        self.fixed = scene.make_sources(self.K, self.w2c, self.fixed_ids, args.resolution, frame=0, device=device)

    def target(self, index: int):
        """The index-th frame's target: the rig cameras in turn."""
        return self.targets[index % len(self.targets)]

    def video_sources(self, index: int, frame: int):
        """New random sources of ``frame`` for the index-th frame: the cameras nearest to its target camera."""
        camera = self.target_ids[index % len(self.targets)]
        ids = scene.nearest_cameras(self.w2c, self.w2c[camera], self.args.views, exclude=camera)
        return scene.make_sources(self.K, self.w2c, ids, self.args.resolution, frame, self.device)

    def rays(self) -> int:
        from ghnerf_ns.model.geometry import box_mask

        counts = [int(box_mask(t.box, t.K, t.w2c, t.height, t.width).sum()) for t in self.targets]
        return round(sum(counts) / len(counts))


def run_round(variants: Dict[str, Variant], shared: Scene, index: int, timed: bool) -> Dict[str, Dict[str, float]]:
    """One round: the viewer frames of every variant, then their video frames, the variants in rotated order.
    ``index``: -1 for the warm-up round. Returns case -> variant -> median seconds of its frames in this round."""
    names = list(variants)
    shift = index % len(names)
    order = names[shift:] + names[:shift]
    repeats, device = shared.args.repeats, shared.device
    first = (index + 1) * repeats  # frame counter: distinct targets and video sources in every round
    video = [shared.video_sources(first + k, frame=1 + first + k) for k in range(repeats)]  # made before the timing
    medians: Dict[str, Dict[str, float]] = {case: {} for case in CASES}
    for case in CASES:
        for name in order:
            variant = variants[name]
            frames = []
            for k in range(repeats):
                sources = video[k] if case == "video" else shared.fixed
                frames.append(timed_frame(variant, case, sources, shared.target(first + k), device, check=timed))
            if timed:
                variant.seconds[case].append(frames)
            medians[case][name] = statistics.median(frames)
    return medians


def time_stages(variant: Variant, shared: Scene) -> None:
    """Per-stage seconds of one viewer-case frame (cache hit) and one video-case frame (new sources), in this order:
    the video frame's new entry may evict the viewer case's from the small cache, which a viewer frame after it would
    then miss."""
    device = shared.device
    video_sources = scene.make_sources(
        shared.K, shared.w2c, shared.fixed_ids, shared.args.resolution, frame=STAGE_FRAME, device=device
    )
    for case, sources in (("viewer", shared.fixed), ("video", video_sources)):
        outputs: Dict[str, float] = {}
        with expect_cache(variant.model, case), stage_timers(variant.model, device) as totals:
            synchronize(device)
            start = time.perf_counter()
            render_frame(variant.model, sources, shared.targets[0], variant.chunk, times=outputs)
            synchronize(device)
            total = time.perf_counter() - start
        stages = {**totals, "outputs": outputs["outputs"]}
        stages["other"] = max(total - sum(stages.values()), 0.0)
        variant.stages[case] = stages


def spread(values: List[float]) -> Tuple[float, float, float, float, float]:
    """(median, first quartile, third quartile, min, max)."""
    if len(values) < 2:
        return (values[0],) * 5
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q2, q1, q3, min(values), max(values)


def ratio_cells(case: str, name: str, ratios: List[float]) -> Tuple[str, str]:
    """('median ratio, target check', 'IQR (min-max)') of the per-round ratios."""
    median, q1, q3, low, high = spread(ratios)
    goal = TARGETS.get((case, name))
    cell = f"{median:.2f}x" if goal is None else f"{median:.2f}x {'ok' if median >= goal else 'below'} (>= {goal}x)"
    return cell, f"{q1:.2f}-{q3:.2f} ({low:.2f}-{high:.2f})"


def round_ratios(variants: Dict[str, Variant], case: str, name: str) -> List[float]:
    """Per round: FPS of ``name`` / FPS of the baseline, both from that round's frames."""
    base = variants[BASELINE].round_seconds(case)
    return [b / s for b, s in zip(base, variants[name].round_seconds(case))]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"


def print_tables(
    variants: Dict[str, Variant], shared: Scene, loads: Tuple[float, float], isolated: Dict[str, float]
) -> None:
    args, device = shared.args, shared.device
    has_base = BASELINE in variants
    print(
        f"\n## Render speed: {args.resolution}x{args.resolution}, {args.views} source views, {device_name(device)}, "
        f"load {loads[0]:.2f} -> {loads[1]:.2f}\n\n"
        f"All variants in one process, {args.rounds} interleaved rounds of {args.repeats} frame(s) per case after one "
        f"warm-up round. FPS: 1 / median frame time (min-max of the per-round FPS). Ratio: median over rounds of the "
        f"per-round FPS ratio to {BASELINE}; spread: interquartile range (min-max).\n"
    )
    print("| variant | rays/frame | viewer FPS | viewer ratio | spread | video FPS | video ratio | spread |")
    print("|---|---|---|---|---|---|---|---|")
    rays = shared.rays()
    for name, v in variants.items():
        cells = []
        for case in CASES:
            per_round = [1.0 / s for s in v.round_seconds(case)]
            cells.append(f"{v.fps(case):.3f} ({min(per_round):.3f}-{max(per_round):.3f})")
            cells.extend(ratio_cells(case, name, round_ratios(variants, case, name)) if has_base else ("-", "-"))
        print(f"| {name} | {rays} | " + " | ".join(cells) + " |")

    columns = [*STAGES, "outputs", "other"]
    print(f"\n## Per-stage time of one frame, the viewer showing {SHOWN_OUTPUT[0]}: ms (% of the frame)\n")
    print("| variant | case | " + " | ".join(columns) + " | total ms |")
    print("|---" * (len(columns) + 3) + "|")
    for name, v in variants.items():
        for case in ("video", "viewer"):
            stages = v.stages[case]
            total = sum(stages.values())
            cells = " | ".join(f"{1000 * stages[c]:.0f} ({100 * stages[c] / total:.0f}%)" for c in columns)
            print(f"| {name} | {case} | {cells} | {1000 * total:.0f} |")
    shares = []
    for name, v in variants.items():
        share = v.stages["viewer"]["outputs"] / sum(v.stages["viewer"].values())
        shares.append(f"{name} {100 * share:.1f}% {'ok' if share <= OUTPUTS_TARGET else 'below'}")
    scope = "" if args.resolution == 512 else f" (the target is for 512 px; this is {args.resolution} px)"
    print(f"\nViewer outputs share of a viewer-case frame (target <= {100 * OUTPUTS_TARGET:.0f}%){scope}: "
          + ", ".join(shares))  # fmt: skip

    cuda = device.type == "cuda"
    print("\n## Memory (MB)\n")
    header = ["variant", "weights", "encode cache"]
    header += ["frame working memory (allocator)"] if cuda else []
    header += ["isolated peak (own process)"] if isolated else []
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for name, v in variants.items():
        weights = tensor_mb([*v.model.parameters(), *v.model.buffers()])
        cells = [name, f"{weights:.0f}", f"{encode_cache(v.model).nbytes / 2**20:.0f}"]
        cells += [f"{v.working_mb:.0f}"] if cuda else []
        cells += [f"{isolated[name]:.0f}"] if isolated else []
        print("| " + " | ".join(cells) + " |")
    print(f"\nProcess peak RSS (all variants together, whole run): {rss_peak_mb():.0f} MB")
    if cuda:  # the timed frames reset the peak each; the stage-timed frames come after the last reset
        peak = max([torch.cuda.max_memory_allocated(device) / 2**20, *(v.peak_mb for v in variants.values())])
        print(f"CUDA allocator peak (all variants together, whole run): {peak:.0f} MB")
    if isolated:
        kind = "CUDA allocator peak" if cuda else "peak RSS"
        print(f"Isolated: each variant's {kind} in a subprocess of its own (build, one frame of each case).")


def write_json(path: str, variants: Dict[str, Variant], shared: Scene, isolated: Dict[str, float]) -> None:
    """The raw per-round seconds and stage seconds, for later comparison of runs."""
    args = shared.args
    data = {
        "resolution": args.resolution,
        "views": args.views,
        "rounds": args.rounds,
        "repeats": args.repeats,
        "device": device_name(shared.device),
        "variants": {
            name: {
                "seconds": v.seconds,
                "stages": v.stages,
                "working_mb": v.working_mb,
                "isolated_peak_mb": isolated.get(name),
            }
            for name, v in variants.items()
        },
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)


def build_variant(name: str, args, device: torch.device) -> Variant:
    # The cache keeps the viewer case's fixed entry plus one round's video entries and no more: the LRU order (the
    # viewer frames come first in a round) evicts the previous round's video entries, never the fixed one.
    model = scene.build_model(name, device, encode_cache_size=1 + args.repeats)
    return Variant(model=model, chunk=args.chunk or model.config.eval_num_rays_per_chunk)


def memory_child(name: str, args, device: torch.device) -> None:
    """``--memory-child``: build one variant, render one frame of each case, print its peak memory (MB) last."""
    shared = Scene(args, device)
    variants = {name: build_variant(name, args, device)}
    run_round(variants, shared, index=-1, timed=False)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else rss_peak_mb()
    print(json.dumps(peak))


def isolated_memory(names: List[str]) -> Dict[str, float]:
    peaks = {}
    for name in names:
        argv = [a for a in sys.argv[1:] if a != "--isolated-memory"]
        command = [sys.executable, os.path.abspath(__file__), *argv, "--memory-child", name]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{name} (memory subprocess) failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        peaks[name] = float(proc.stdout.strip().splitlines()[-1])
        print(f"{name}: isolated peak {peaks[name]:.0f} MB", flush=True)
    return peaks


DOC_START, DOC_END = "<!-- render-speed:start -->", "<!-- render-speed:end -->"
"""Markers of the generated block in a markdown file (``--doc``)."""


def replace_doc_block(path: Path, tables: str, arguments: str) -> None:
    """Put ``tables`` (and the command that made them) between :data:`DOC_START` and :data:`DOC_END` of ``path``."""
    text = path.read_text()
    if DOC_START not in text or DOC_END not in text:
        raise SystemExit(f"--doc {path}: no '{DOC_START}' ... '{DOC_END}' block to replace")
    head, rest = text.split(DOC_START, 1)
    _, tail = rest.split(DOC_END, 1)
    stamp = time.strftime("%Y-%m-%d")
    block = f"Generated on {stamp} by `python benchmarks/render_speed.py {arguments}`.\n\n{tables}"
    path.write_text(f"{head}{DOC_START}\n{block}\n{DOC_END}{tail}")
    print(f"render_speed: updated {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=512, help="target and source image size (pixels)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (each: every variant, both cases)")
    parser.add_argument("--repeats", type=int, default=1, help="frames per case, variant and round (median taken)")
    parser.add_argument("--views", type=int, default=2, help="source views per render (the paper: 2)")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda[:N]")
    parser.add_argument("--chunk", type=int, default=0, help="rays per chunk (0: the model config's)")
    parser.add_argument("--variants", nargs="+", default=list(scene.METHODS), choices=list(scene.METHODS))
    parser.add_argument("--isolated-memory", action="store_true", help="also each variant's peak in its own process")
    parser.add_argument("--json", default="", help="also write the raw per-round seconds to this file")
    parser.add_argument(
        "--output", default=SHOWN_OUTPUT[0], help="the viewer output shown while timing (the viewer makes only it)"
    )
    parser.add_argument(
        "--doc", default="", help="also replace the tables between the render-speed markers of this markdown file"
    )
    parser.add_argument("--memory-child", default="", help=argparse.SUPPRESS)  # internal: --isolated-memory's child
    args = parser.parse_args()
    if args.rounds < 1 or args.repeats < 1:
        parser.error("--rounds and --repeats must be >= 1")
    SHOWN_OUTPUT[0] = args.output
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if args.memory_child:
        memory_child(args.memory_child, args, device)
        return
    names: List[str] = list(dict.fromkeys(args.variants))
    if BASELINE in names:  # the baseline first in the tables
        names = [BASELINE, *[v for v in names if v != BASELINE]]
    isolated = isolated_memory(names) if args.isolated_memory else {}
    loads = [os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")]
    shared = Scene(args, device)
    variants = {}
    for name in names:
        variants[name] = build_variant(name, args, device)
        print(f"built {name}", flush=True)
    run_round(variants, shared, index=-1, timed=False)
    print("warm-up round done", flush=True)
    for index in range(args.rounds):
        medians = run_round(variants, shared, index, timed=True)
        line = "; ".join(
            f"{case} " + ", ".join(f"{name} {1000 * s:.0f}" for name, s in medians[case].items()) for case in CASES
        )
        print(f"round {index + 1}/{args.rounds} (ms, in the order rendered): {line}", flush=True)
    for variant in variants.values():
        time_stages(variant, shared)
    loads.append(os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"))
    tables = io.StringIO()
    with contextlib.redirect_stdout(tables):
        print_tables(variants, shared, (loads[0], loads[1]), isolated)
    print(tables.getvalue(), end="")
    if args.doc:
        replace_doc_block(Path(args.doc), tables.getvalue().strip(), " ".join(sys.argv[1:]))
    if args.json:
        write_json(args.json, variants, shared, isolated)


if __name__ == "__main__":
    main()
