#!/usr/bin/env bash
# The README's two pictures, made with the project's own commands: train ghnerf-tiny on the synthetic demo data, render
# an orbit of the unseen test subject (rgb | heatmap | keypoints_overlay, side by side) and keep one frame as
# docs/render_frame.png, then screenshot ns-viewer's heatmap output in headless Chromium as docs/viewer_heatmap.png.
# The `heatmap` output (max over joints) is shown normalised (turbo colours from its min to its max), as the viewer
# does by default: a short CPU run's heat is too faint for heatmap_overlay to show it.
# Run through `make readme-images` (needs /usr/bin/chromium: `make browser`).
# Everything else goes under $README_OUT (git-ignored). Heavy steps run under `nice -n 19`.
set -euo pipefail
DATA=${README_DATA:-demo_data/zju}
OUT=${README_OUT:-readme_outputs}
STEPS=${README_STEPS:-1500}
SUBJECT=${README_SUBJECT:-386}
FRAME=${README_FRAME:-0}
DOCS=${README_DOCS:-docs}
RUN="$OUT/readme/ghnerf-tiny/run"
NICE=(nice -n 19)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
start=$(date +%s)
mkdir -p "$OUT" "$DOCS"

if [ ! -f "$DATA/GHNERF_SYNTH.txt" ]; then
  echo "== 1/4 generating synthetic humans in the ZJU-MoCap layout: $DATA"
  "${NICE[@]}" ghnerf-synth zju --out "$DATA" --subjects 313 377 390 386 --frames 4 --cameras 12 --resolution 128
else
  echo "== 1/4 reusing synthetic data in $DATA"
fi

if [ -f "$RUN/nerfstudio_models/step-$(printf %09d $((STEPS - 1))).ckpt" ]; then
  echo "== 2/4 reusing the $STEPS-step run in $RUN"
else
  echo "== 2/4 training ghnerf-tiny for $STEPS steps on the CPU (train: 313 377 390; unseen test subject: 386)"
  "${NICE[@]}" ns-train ghnerf-tiny --data "$DATA" --output-dir "$OUT" --experiment-name readme --timestamp run \
    --max-num-iterations "$STEPS" --steps-per-save 500 --vis tensorboard \
    zju-mocap-data --train-subjects 313 377 390 --test-subjects 386 --eval-frames 0 4 2
fi

echo "== 3/4 orbit video of subject $SUBJECT (frame $FRAME): rgb | heatmap | keypoints_overlay"
"${NICE[@]}" ghnerf-camera-path --load-config "$RUN/config.yml" --output-path "$OUT/orbit.json" \
  --subject "$SUBJECT" --frame "$FRAME" --frames 8 --resolution 256 256
GHNERF_SUBJECT="$SUBJECT" GHNERF_FRAME="$FRAME" "${NICE[@]}" ns-render camera-path --load-config "$RUN/config.yml" \
  --camera-path-filename "$OUT/orbit.json" --rendered-output-names rgb heatmap keypoints_overlay \
  --colormap-options.normalize True --output-path "$OUT/orbit.mp4"

echo "== 4/4 ns-viewer with the heatmap output, screenshot by headless Chromium"
GHNERF_SUBJECT="$SUBJECT" GHNERF_FRAME="$FRAME" "${NICE[@]}" python scripts/readme_images.py \
  --config "$RUN/config.yml" --video "$OUT/orbit.mp4" --work "$OUT" --docs "$DOCS" --output heatmap

echo
echo "Done in $(( $(date +%s) - start )) s: $DOCS/render_frame.png, $DOCS/viewer_heatmap.png (video: $OUT/orbit.mp4)"
