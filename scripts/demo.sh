#!/usr/bin/env bash
# The main job on embedded synthetic data: generate a small ZJU-MoCap-layout dataset, train ghnerf-tiny on the CPU,
# evaluate it on the unseen subject, render a short video, and say where everything is. Run through `make demo`.
set -euo pipefail
DATA=${DEMO_DATA:-demo_data/zju}
OUT=${DEMO_OUT:-demo_outputs}
STEPS=${DEMO_STEPS:-500}
RUN="$OUT/demo/ghnerf-tiny/run"
start=$(date +%s)

if [ ! -f "$DATA/GHNERF_SYNTH.txt" ]; then
  echo "== 1/4 generating synthetic humans in the ZJU-MoCap layout: $DATA"
  ghnerf-synth zju --out "$DATA" --subjects 313 377 390 386 --frames 4 --cameras 12 --resolution 128
else
  echo "== 1/4 reusing synthetic data in $DATA"
fi

echo "== 2/4 training ghnerf-tiny for $STEPS steps on the CPU (train: 313 377 390; unseen test subject: 386)"
ns-train ghnerf-tiny --data "$DATA" --output-dir "$OUT" --experiment-name demo --timestamp run \
  --max-num-iterations "$STEPS" --steps-per-save 500 --vis tensorboard \
  zju-mocap-data --train-subjects 313 377 390 --test-subjects 386 --eval-frames 0 4 2

echo "== 3/4 evaluating on the unseen subject (ENeRF's human protocol + heatmap/keypoint/CSE metrics)"
ns-eval --load-config "$RUN/config.yml" --output-path "$OUT/eval.json" --render-output-path "$OUT/eval_images"

echo "== 4/4 rendering a video of the test subject with heatmaps and skeleton"
ns-render dataset --load-config "$RUN/config.yml" --output-path "$OUT/renders" \
  --rendered-output-names rgb heatmap_overlay keypoints_overlay cse_rgb

echo
echo "Done in $(( $(date +%s) - start )) s. Outputs:"
echo "  data:        $DATA"
echo "  run/config:  $RUN/config.yml (checkpoints in $RUN/nerfstudio_models)"
echo "  metrics:     $OUT/eval.json"
echo "  eval images: $OUT/eval_images"
echo "  renders:     $OUT/renders"
echo "Look at it live:  ns-viewer --load-config $RUN/config.yml --viewer.websocket-host 127.0.0.1"
