#!/usr/bin/env bash
# GPU check (issue "Speed that can be trusted"): on a CUDA machine with the project installed in .venv, no network and
# no datasets, meant to take about 10 minutes on one H100 (not run on a GPU yet; lower STEPS if it takes longer):
#   1. writes a small synthetic ZJU-MoCap dataset at 512 px (ghnerf-synth; 3 people, 2 frames, 12 cameras);
#   2. trains ghnerf-resnet and ghnerf for STEPS steps each at 512 px with mixed precision (nerfstudio's CUDA float16
#      autocast and gradient scaler), the encoders from scratch, perceptual loss off (no downloads);
#   3. evaluates each run with ns-eval (metrics JSON and images), then times one eval image in a fresh process
#      (first call, then cache hits) with its allocator peak, and tries the same render under float16 autocast;
#   4. runs benchmarks/render_speed.py --device cuda --resolution 512 (all variants side by side);
#   5. prints a summary: seconds per training step, training peak memory, eval image time and memory, ns-eval metrics.
# Usage, from anywhere: bash benchmarks/gpu_check.sh. Environment: STEPS (300), OUT (a new folder under /tmp),
# WORKERS (8 data-loader processes: at 512 px the 2 of the presets may not keep up with a GPU), METHODS, RESOLUTION
# (512), DEVICE (cuda; cpu runs the same flow as a dry run, e.g. STEPS=3 RESOLUTION=64 SPEED_ARGS="--rounds 1";
# nerfstudio turns mixed precision off on a CPU), SPEED_ARGS (extra render_speed.py options). Stops at the first
# failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
export PATH="$ROOT/.venv/bin:$PATH"
STEPS=${STEPS:-300}
DEVICE=${DEVICE:-cuda}
RESOLUTION=${RESOLUTION:-512}
WORKERS=${WORKERS:-8}
METHODS=${METHODS:-ghnerf-resnet ghnerf}
SPEED_ARGS=${SPEED_ARGS:-}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ghnerf_gpu_check.XXXXXX")}
DATA="$OUT/zju"
mkdir -p "$OUT"
start=$(date +%s)

echo "== 0/5 machine (outputs in $OUT)"
"$PY" - "$DEVICE" <<'EOF'
import sys

import torch

print(f"torch {torch.__version__}, CUDA build {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
if sys.argv[1] == "cuda":
    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device visible to torch (DEVICE=cpu runs the flow on the CPU)")
    props = torch.cuda.get_device_properties(0)
    print(f"{props.name}, {props.total_memory / 2**30:.0f} GiB, {torch.cuda.device_count()} device(s)")
EOF

echo "== 1/5 synthetic data: 3 people x 2 frames x 12 cameras at $RESOLUTION px -> $DATA"
ghnerf-synth zju --out "$DATA" --subjects 301 302 386 --frames 2 --cameras 12 --resolution "$RESOLUTION" --no-progress

for method in $METHODS; do
  run="$OUT/runs/gpu_check/$method/run"
  echo "== 2/5 ns-train $method: $STEPS steps at $RESOLUTION px, --mixed-precision True (log: $OUT/train_$method.log)"
  t0=$(date +%s%N)
  # Training people 301 302, eval person 386 frames 0 and 1; the encoder from scratch and no perceptual loss: nothing
  # to download. The eval batches and images of the presets come every 500/2000 steps, so none interrupt the timing.
  if ! ns-train "$method" --data "$DATA" --output-dir "$OUT/runs" --experiment-name gpu_check --timestamp run \
      --max-num-iterations "$STEPS" --mixed-precision True --machine.device-type "$DEVICE" --vis tensorboard \
      --pipeline.datamanager.resolution "$RESOLUTION" --pipeline.datamanager.num-workers "$WORKERS" \
      --pipeline.model.human-encoder.pretrained False --pipeline.model.loss.perceptual-weight 0 \
      zju-mocap-data --train-subjects 301 302 --test-subjects 386 --eval-frames 0 2 1 \
      > "$OUT/train_$method.log" 2>&1; then
    tail -n 40 "$OUT/train_$method.log"
    echo "gpu_check: ns-train $method failed (whole log: $OUT/train_$method.log)" >&2
    exit 1
  fi
  echo "$(( ($(date +%s%N) - t0) / 1000000 ))" > "$OUT/train_${method}_wall_ms.txt"
  echo "   done in $(( ($(date +%s%N) - t0) / 1000000000 )) s (start-up included)"

  echo "== 3/5 ns-eval $method"
  ns-eval --load-config "$run/config.yml" --output-path "$OUT/eval_$method.json" \
    --render-output-path "$OUT/eval_images_$method" > "$OUT/eval_$method.log" 2>&1 \
    || { tail -n 40 "$OUT/eval_$method.log"; echo "gpu_check: ns-eval $method failed" >&2; exit 1; }
  # One eval image in a fresh process: the first call (encoders, kernel selection), then three more of the same
  # camera (encode-cache hits, the viewer's case); the allocator peak over them; then the same camera under float16
  # autocast with the cache emptied (reported, not fatal: tests/model/test_autocast.py knows a failure there).
  "$PY" - "$run/config.yml" "$OUT/render_$method.json" 2> "$OUT/render_$method.log" <<'EOF' \
    || { tail -n 40 "$OUT/render_$method.log"; echo "gpu_check: eval image timing of $method failed" >&2; exit 1; }
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from nerfstudio.utils.eval_utils import eval_setup

_, pipeline, _, step = eval_setup(Path(sys.argv[1]), test_mode="test")
model = pipeline.model
cuda = model.device.type == "cuda"


def sync():
    if cuda:
        torch.cuda.synchronize()


def render(camera):
    sync()
    start = time.perf_counter()
    out = model.get_outputs_for_camera(camera)
    sync()
    return time.perf_counter() - start, out


camera, _ = next(iter(pipeline.datamanager.fixed_indices_eval_dataloader))
if cuda:
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
first, out = render(camera)
warm = statistics.median(render(camera)[0] for _ in range(3))
result = {
    "step": step,
    "image": list(out["rgb"].shape[:2]),
    "first_ms": 1000 * first,
    "cache_hit_ms": 1000 * warm,
    "peak_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
}
model._encode_cache.clear()  # the cache key does not hold the autocast state: encode again under it
try:
    with torch.autocast(model.device.type, dtype=torch.float16 if cuda else torch.bfloat16):
        seconds, half = render(camera)
    diff = (half["rgb"].float() - out["rgb"].float()).abs().mean()
    result["autocast"] = f"ok: {1000 * seconds:.0f} ms, rgb mean abs diff {float(diff):.4f}"
except Exception as err:  # a report, not a failure of the check
    result["autocast"] = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:150]}"
print(json.dumps(result))
Path(sys.argv[2]).write_text(json.dumps(result), encoding="utf-8")
EOF
done

echo "== 4/5 render speed: all variants in one process, interleaved rounds ($RESOLUTION px, $DEVICE)"
# shellcheck disable=SC2086  # SPEED_ARGS is a list of options
"$PY" benchmarks/render_speed.py --device "$DEVICE" --resolution "$RESOLUTION" --json "$OUT/render_speed.json" \
  $SPEED_ARGS | tee "$OUT/render_speed.md"

echo "== 5/5 summary"
"$PY" - "$OUT" "$STEPS" "$RESOLUTION" $METHODS <<'EOF'
import json
import statistics
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

out, steps, resolution, methods = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]


def scalars(run: Path, tag: str):
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)] if tag in events.Tags()["scalars"] else []


def cell(value, fmt="{:.3f}"):
    return "-" if value is None else fmt.format(value)


print(f"\n## GPU check: {steps} training steps at {resolution} px, --mixed-precision True\n")
print("| method | mixed precision | s/step (median) | train wall s | train peak MB | eval image ms: first / cache hit "
      "| eval peak MB | PSNR | SSIM | PCK | float16 autocast render |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for method in methods:
    run = out / "runs" / "gpu_check" / method / "run"
    # nerfstudio's "Train Iter (time)" is a running mean of the last steps' times (data loading and the optimiser
    # step included, evaluations and checkpoints not); the first 10 % of the steps (warm-up) are left out.
    times = [v for s, v in scalars(run, "Train Iter (time)") if s >= max(1, steps // 10)]
    memory = scalars(run, "GPU Memory (MB)")
    wall = int((out / f"train_{method}_wall_ms.txt").read_text()) / 1000
    render = json.loads((out / f"render_{method}.json").read_text())
    results = json.loads((out / f"eval_{method}.json").read_text()).get("results", {})
    amp = "mixed_precision: true" in (run / "config.yml").read_text()  # what the run was configured with
    print(
        f"| {method} | {'on' if amp else 'OFF'} | {cell(statistics.median(times) if times else None)} | {wall:.0f} "
        f"| {cell(memory[-1][1] if memory else None, '{:.0f}')} "
        f"| {render['first_ms']:.0f} / {render['cache_hit_ms']:.0f} | {cell(render['peak_mb'], '{:.0f}')} "
        f"| {cell(results.get('psnr'), '{:.2f}')} | {cell(results.get('ssim'))} | {cell(results.get('pck'))} "
        f"| {render['autocast']} |"
    )
print(f"\nns-eval JSON: {out}/eval_<method>.json; eval images: {out}/eval_images_<method>; "
      f"render speed tables: {out}/render_speed.md (raw rounds: render_speed.json)")
EOF
echo "gpu_check: all steps passed in $(( $(date +%s) - start )) s"
