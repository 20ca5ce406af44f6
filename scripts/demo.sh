#!/usr/bin/env bash
# The main job on embedded synthetic data: generate a small ZJU-MoCap-layout dataset, train ghnerf-tiny on the CPU,
# evaluate it on the unseen subject, render a short video, and say where everything is. Run through `make demo`.
set -euo pipefail
DATA=${DEMO_DATA:-demo_data/zju}
OUT=${DEMO_OUT:-demo_outputs}
STEPS=${DEMO_STEPS:-1250}
RUN="$OUT/demo/ghnerf-tiny/run"
# 15 training people: with 3 the model memorised them and the unseen person stayed a smear (benchmarks/README.md).
TRAIN_SUBJECTS="301 302 303 304 305 306 307 308 309 310 311 312 313 377 390"
# 24 cameras in a ring (ZJU-MoCap has 23): the even ones are the inputs, 30 degrees apart, as ZJU-MoCap's. With 12 (inputs
# 60 degrees apart) the cost volume could not find the surface and the images stayed blurred (benchmarks/README.md).
CAMERAS=24
start=$(date +%s)

if [ -f "$DATA/GHNERF_SYNTH.txt" ] && ! grep -q "CoreView_386: .* $CAMERAS cameras" "$DATA/GHNERF_SYNTH.txt"; then
  echo "== $DATA holds an older synthetic demo dataset (not $CAMERAS cameras): writing it again"
  rm -rf "$DATA"
fi
if [ ! -f "$DATA/GHNERF_SYNTH.txt" ]; then
  echo "== 1/4 generating 16 synthetic people in the ZJU-MoCap layout ($CAMERAS cameras): $DATA"
  ghnerf-synth zju --out "$DATA" --subjects $TRAIN_SUBJECTS 386 --frames 8 --cameras $CAMERAS --resolution 128
else
  echo "== 1/4 reusing synthetic data in $DATA"
fi

echo "== 2/4 training ghnerf-tiny for $STEPS steps on the CPU (15 training people; unseen test subject: 386)"
ns-train ghnerf-tiny --data "$DATA" --output-dir "$OUT" --experiment-name demo --timestamp run \
  --max-num-iterations "$STEPS" --steps-per-save 250 --vis tensorboard \
  zju-mocap-data --train-subjects $TRAIN_SUBJECTS --test-subjects 386 --eval-frames 0 8 4

echo "== 3/4 evaluating on the unseen subject (ENeRF's human protocol + heatmap/keypoint/CSE metrics)"
ns-eval --load-config "$RUN/config.yml" --output-path "$OUT/eval.json" --render-output-path "$OUT/eval_images"

echo "== 4/4 rendering a video of the test subject with heatmaps and skeleton"
ns-render dataset --load-config "$RUN/config.yml" --output-path "$OUT/renders" \
  --rendered-output-names rgb heatmap_overlay keypoints_overlay

echo
echo "Done in $(( $(date +%s) - start )) s. Outputs:"
echo "  data:        $DATA"
echo "  run/config:  $RUN/config.yml (checkpoints in $RUN/nerfstudio_models)"
echo "  metrics:     $OUT/eval.json"
echo "  eval images: $OUT/eval_images"
echo "  renders:     $OUT/renders"
echo "Look at it live:  ns-viewer --load-config $RUN/config.yml --viewer.websocket-host 127.0.0.1"
