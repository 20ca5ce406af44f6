"""ghnerf-apply: the tiny run (ZJU-MoCap layout) applied to a capture of other people in the EasyMocap layout with a
real rig's quirks (portrait 9:16 and landscape 4:3 cameras in one rig, a +z-up world, frames with missing views), then
every command it prints, run as printed: ns-eval (valid JSON), ns-render dataset and an orbit video, ghnerf-keypoints
(JSON) and ns-viewer (a frame through the websocket). What the written config reads and loads, and ghnerf-apply's
errors: tests/cli/test_apply.py; mixed sizes on the ZJU layout with a frame that lost input views:
tests/integration/test_real_rig.py."""

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Dict, List

import cv2
import imageio.v3 as iio
import numpy as np
import pytest

from dataparsers.openpose_json import read_openpose_json
from ghnerf_ns.viewer.remote_client import (
    ViserClient,
    camera_message,
    follow_server_camera,
    free_port,
    full_frame,
    stop,
)
from tests.e2e.conftest import BIN, run_cli

pytestmark = pytest.mark.slow

SUBJECTS = ["subject_00", "subject_01"]
"""The capture's people: none of them is in the tiny run's training or test split."""
PORTRAIT_TEST_CAMERA = "3"
"""Cameras 0 and 3 are portrait (54x96), 1 and 2 landscape (96x72); inputs 0, 2 (mixed sizes), tests 1, 3."""


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("capture") / "new_capture"
    run_cli(["ghnerf-synth", "easymocap", "--out", str(out), "--num-subjects", "2", "--frames", "2", "--cameras", "4",
             "--resolution", "96", "--mixed-sizes", "--up", "+z", "--missing-views", "1", "--no-progress"],
            cwd=out.parent)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def applied(tiny_run: Path, capture: Path) -> Dict[str, str]:
    """ghnerf-apply's output folder, eval image count and the commands it printed, by tool name."""
    out = capture.parent / "applied"
    proc = run_cli(["ghnerf-apply", "--load-config", str(tiny_run), "--data", str(capture), "--output-dir", str(out),
                    "easymocap-data", "--eval-frames", "0", "-1", "1"], cwd=capture.parent)  # fmt: skip
    summary = re.search(r"Wrote (\S+): (\d+) eval images of 2 unseen subject", proc.stdout.replace("\n", ""))
    assert summary and summary.group(1) == str(out / "config.yml"), proc.stdout
    commands: Dict[str, str] = {"out": str(out), "num_images": summary.group(2)}
    for line in proc.stdout.splitlines():
        for tool in ("ns-eval", "ns-render dataset", "ghnerf-camera-path", "ns-viewer", "ghnerf-keypoints"):
            if line.startswith(tool + " "):
                commands[tool] = line
    assert len(commands) == 7, proc.stdout
    return commands


def run_printed(command: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """A printed command line, run by a shell as a user would paste it (venv on PATH)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def test_ns_eval_writes_valid_json(applied: Dict[str, str]):
    """The printed ns-eval: valid JSON (null, never NaN) over every test view, portrait ones included."""
    out = Path(applied["out"])
    run_printed(applied["ns-eval"], out)
    text = (out / "eval.json").read_text()
    results = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in eval.json: not valid JSON"))["results"]
    # 2 subjects x 2 test cameras x 2 frames, less the missing views that hit a test camera.
    assert 4 <= results["num_images"] == int(applied["num_images"]) <= 8
    for key in ("psnr", "ssim", "heatmap_mse"):
        assert np.isfinite(results[key]), key
    assert results["mpjpe_3d_num_frames"] == 4  # once per (subject, frame)
    # Ground truth | render side by side: landscape 64x64 and portrait 32x64 (width x height) test views.
    shapes = {iio.imread(p).shape for p in out.glob("eval_images/eval_rgb_*.png")}
    assert shapes == {(64, 128, 3), (64, 64, 3)}, shapes
    for key in ("mpjpe_3d", "mpjpe_3d_triangulated"):
        assert results[key] is None or np.isfinite(results[key]), key


def test_ns_render_dataset_and_orbit_video(applied: Dict[str, str]):
    out = Path(applied["out"])
    run_printed(applied["ns-render dataset"], out)
    shapes = {cv2.imread(str(p)).shape for p in (out / "renders" / "test" / "rgb").rglob("*.jpg")}
    assert shapes == {(64, 64, 3), (64, 32, 3)}, shapes  # the x2 camera and the portrait test camera
    # As printed, with 8 orbit frames instead of 60 (the test's time).
    run_printed(applied["ghnerf-camera-path"].replace("ghnerf-camera-path ", "ghnerf-camera-path --frames 8 ", 1), out)
    orbit = json.loads((out / "orbit.json").read_text())
    frames = np.stack(list(iio.imiter(out / "orbit.mp4")))
    assert frames.shape == (len(orbit["camera_path"]), orbit["render_height"], 3 * orbit["render_width"], 3)
    assert frames.std() > 1.0


def test_ghnerf_keypoints_writes_json(applied: Dict[str, str]):
    out = Path(applied["out"])
    run_printed(applied["ghnerf-keypoints"], out)
    portrait = sorted((out / "keypoints").glob(f"*/{PORTRAIT_TEST_CAMERA}/*_keypoints.json"))
    assert portrait, sorted(p.relative_to(out) for p in (out / "keypoints").rglob("*.json"))
    for path in portrait:
        keypoints = read_openpose_json(path)
        found = keypoints[:, 2] > 0
        assert ((keypoints[found, 0] <= 31) & (keypoints[found, 1] <= 63)).all()  # inside the 32x64 portrait render
    for subject in SUBJECTS:
        for frame in (0, 1):
            record = json.loads((out / "keypoints" / subject / f"{frame:06d}_keypoints3d.json").read_text())
            assert record["subject"] == subject and record["frame"] == frame
            assert len(record["volumetric"]["xyz"]) == len(record["triangulated"]["xyz"]) == 25


def test_ns_viewer_renders_the_capture(applied: Dict[str, str]):
    out = Path(applied["out"])
    port = free_port()
    log = out / "viewer_test.log"
    args: List[str] = shlex.split(applied["ns-viewer"]) + ["--viewer.websocket-port", str(port)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True, env=env, cwd=out)  # fmt: skip
    try:
        client = ViserClient(port, time.time() + 300, proc, log)
        subject = client.wait_for(lambda m: m["type"].startswith("GuiAdd") and m.get("label") == "Subject", 120)
        assert subject is not None and sorted(subject["options"]) == SUBJECTS, subject
        client.send("ViewerCameraMessage", **camera_message([30.0, 30.0, 30.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], 1.3))
        follow_server_camera(client)
        image = full_frame(client)
        assert image is not None and image.std() > 1.0, log.read_text()[-3000:]
        # The start camera (an input camera of the +z-up capture) looks at the person: lit pixels in the middle.
        lit = image.max(axis=2) > 12
        h, w = lit.shape
        assert lit[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].mean() > 2 * lit.mean() / 3, "no person in the middle"
        # The frustums are the capture's input cameras, square and portrait (nerfstudio's aspect is cx / cy).
        aspects = [m["aspect"] for m in client.messages if m["type"] == "CameraFrustumMessage"]
        assert min(aspects) < 0.7 and max(aspects) > 0.9, aspects
        assert proc.poll() is None
        client.ws.close()
    finally:
        stop(proc)
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]
