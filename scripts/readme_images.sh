#!/usr/bin/env bash
# The README's pictures, made with the project's own commands from the `make demo` run (trained first if it is not
# there): the demo's ns-eval comparison images of three test views (docs/eval_views.png), an orbit of a test person (rgb | heatmap_overlay | keypoints_overlay, side by side, heatmaps as rendered: no renormalisation) with one
# frame kept as docs/render_frame.png, then ns-viewer's heatmap_overlay output in headless Chromium as
# docs/viewer_heatmap.png.
# Run through `make readme-images` (needs /usr/bin/chromium: `make browser`).
# Everything else goes under $README_OUT (git-ignored). Heavy steps run under `nice -n 19`.
set -euo pipefail
DEMO_OUT=${DEMO_OUT:-demo_outputs}
OUT=${README_OUT:-readme_outputs}
SUBJECT=${README_SUBJECT:-395}
FRAME=${README_FRAME:-0}
DOCS=${README_DOCS:-docs}
RUN="$DEMO_OUT/demo/ghnerf-tiny/run"
NICE=(nice -n 19)
start=$(date +%s)
mkdir -p "$OUT" "$DOCS"

if [ -f "$RUN/config.yml" ] && ls "$RUN/nerfstudio_models/"step-*.ckpt >/dev/null 2>&1; then
  echo "== 1/3 reusing the demo run in $RUN"
else
  echo "== 1/3 no demo run in $RUN: running the demo first"
  bash scripts/demo.sh
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

echo "== 2/3 orbit video of subject $SUBJECT (frame $FRAME): rgb | heatmap_overlay | keypoints_overlay"
"${NICE[@]}" ghnerf-camera-path --load-config "$RUN/config.yml" --output-path "$OUT/orbit.json" \
  --subject "$SUBJECT" --frame "$FRAME" --frames 8 --resolution 256 256
GHNERF_SUBJECT="$SUBJECT" GHNERF_FRAME="$FRAME" "${NICE[@]}" ns-render camera-path --load-config "$RUN/config.yml" \
  --camera-path-filename "$OUT/orbit.json" --rendered-output-names rgb heatmap_overlay keypoints_overlay \
  --output-path "$OUT/orbit.mp4"

echo "== 3/3 ns-viewer with the heatmap_overlay output, screenshot by headless Chromium"
GHNERF_SUBJECT="$SUBJECT" GHNERF_FRAME="$FRAME" "${NICE[@]}" python scripts/readme_images.py \
  --config "$RUN/config.yml" --video "$OUT/orbit.mp4" --work "$OUT" --docs "$DOCS" --output heatmap_overlay \
  --eval-images "$DEMO_OUT/eval_images"

echo
echo "Done in $(( $(date +%s) - start )) s: $DOCS/eval_views.png, $DOCS/render_frame.png, $DOCS/viewer_heatmap.png (video: $OUT/orbit.mp4)"
