#!/usr/bin/env bash
# The main job on embedded synthetic data: generate a small ZJU-MoCap-layout dataset, train ghnerf-tiny on the CPU,
# evaluate it on the validation person and on four test people nobody tuned on (3 input views, then every input
# camera), render the test views, print the results table. Run through `make demo`.
set -euo pipefail
DATA=${DEMO_DATA:-demo_data/zju}
OUT=${DEMO_OUT:-demo_outputs}
STEPS=${DEMO_STEPS:-1250}
RUN="$OUT/demo/ghnerf-tiny/run"
# 60 training people, 4 frames each: with 3 people the model memorised them and the unseen person stayed a smear, and
# 60 found the validation people's joints better than 15 at the same number of steps (benchmarks/README.md).
TRAIN_SUBJECTS="301 302 303 304 305 306 307 308 309 310 311 312 313 377 390 $(seq -s ' ' 401 445)"
# The validation person: every option of the preset was chosen on it (benchmarks/learning_curve.py scores it).
VAL_SUBJECT=386
# Test people: never looked at while tuning; the README reports them.
TEST_SUBJECTS="395 396 397 398"
# 24 cameras in a ring (ZJU-MoCap has 23): the even ones are the inputs, 30 degrees apart, as ZJU-MoCap's. With 12 (inputs
# 60 degrees apart) the cost volume could not find the surface and the images stayed blurred (benchmarks/README.md).
CAMERAS=24
FRAMES=4
EVAL_FRAMES="0 4 2"
# The preset's learning rate halves every 1000 of its 3000 steps; the demo stops earlier, so its rate decays to 2e-4 at
# its own last step instead (ending at the preset's mid-schedule rate left the colour unstable from one checkpoint to
# the next: benchmarks/README.md).
OPTIMIZER_GROUPS=$(python -W ignore -c 'from ghnerf_ns.ghnerf_config import PARAM_GROUPS; print(*PARAM_GROUPS)')
SCHEDULE=()
for group in $OPTIMIZER_GROUPS; do
  SCHEDULE+=(--optimizers.$group.scheduler.lr-final 2e-4 --optimizers.$group.scheduler.max-steps "$STEPS")
done
PEOPLE="$TRAIN_SUBJECTS $VAL_SUBJECT $TEST_SUBJECTS"
start=$(date +%s)

# Whether $DATA's ghnerf-synth summary lists every person of the demo with its cameras and frames.
data_matches() {
  grep -q "Frames per subject: $FRAMES\." "$DATA/GHNERF_SYNTH.txt" || return 1
  for person in $PEOPLE; do grep -q "CoreView_$person: .* $CAMERAS cameras" "$DATA/GHNERF_SYNTH.txt" || return 1; done
}
if [ -f "$DATA/GHNERF_SYNTH.txt" ] && ! data_matches; then
  echo "== $DATA holds an older synthetic demo dataset (other people, frames or cameras): writing it again"
  rm -rf "$DATA"
fi
if [ ! -f "$DATA/GHNERF_SYNTH.txt" ]; then
  echo "== 1/5 generating $(wc -w <<< "$PEOPLE") synthetic people in the ZJU-MoCap layout ($FRAMES frames," \
    "$CAMERAS cameras): $DATA"
  ghnerf-synth zju --out "$DATA" --subjects $PEOPLE --frames $FRAMES --cameras $CAMERAS --resolution 128
else
  echo "== 1/5 reusing synthetic data in $DATA"
fi

echo "== 2/5 training ghnerf-tiny for $STEPS steps on the CPU ($(wc -w <<< "$TRAIN_SUBJECTS") training people)"
ns-train ghnerf-tiny --data "$DATA" --output-dir "$OUT" --experiment-name demo --timestamp run \
  --max-num-iterations "$STEPS" --steps-per-save 250 --vis tensorboard "${SCHEDULE[@]}" \
  zju-mocap-data --train-subjects $TRAIN_SUBJECTS --val-subjects $VAL_SUBJECT --test-subjects $TEST_SUBJECTS \
  --eval-frames $EVAL_FRAMES

echo "== 3/5 evaluating on the 4 unseen test people (3 input views per prediction, then every input camera)"
ns-eval --load-config "$RUN/config.yml" --output-path "$OUT/eval.json" --render-output-path "$OUT/eval_images"
ghnerf-apply --load-config "$RUN/config.yml" --data "$DATA" --output-dir "$OUT/all_views" --num-views 0 \
  zju-mocap-data --test-subjects $TEST_SUBJECTS --eval-frames $EVAL_FRAMES > /dev/null
ns-eval --load-config "$OUT/all_views/config.yml" --output-path "$OUT/eval_all_views.json"
ghnerf-apply --load-config "$RUN/config.yml" --data "$DATA" --output-dir "$OUT/validation" \
  zju-mocap-data --test-subjects $VAL_SUBJECT --eval-frames $EVAL_FRAMES > /dev/null
ns-eval --load-config "$OUT/validation/config.yml" --output-path "$OUT/eval_validation.json"

echo "== 4/5 rendering the test views with heatmaps and skeleton"
ns-render dataset --load-config "$RUN/config.yml" --output-path "$OUT/renders" \
  --rendered-output-names rgb heatmap_overlay keypoints_overlay

echo "== 5/5 results (generated from the eval JSON files by scripts/results_table.py)"
python scripts/results_table.py --validation "$OUT/eval_validation.json" --test "$OUT/eval.json" \
  --test-all-views "$OUT/eval_all_views.json" | tee "$OUT/results.md"

echo
echo "Done in $(( $(date +%s) - start )) s. Outputs:"
echo "  data:        $DATA"
echo "  run/config:  $RUN/config.yml (checkpoints in $RUN/nerfstudio_models)"
echo "  metrics:     $OUT/eval.json (test people, 3 views), $OUT/eval_all_views.json, $OUT/eval_validation.json"
echo "  table:       $OUT/results.md"
echo "  eval images: $OUT/eval_images"
echo "  renders:     $OUT/renders"
echo "Look at it live:  ns-viewer --load-config $RUN/config.yml --viewer.websocket-host 127.0.0.1"
