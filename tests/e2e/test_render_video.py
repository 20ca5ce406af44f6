"""ghnerf-camera-path -> ns-render camera-path: an orbit video of the unseen subject, with and without the venv on
PATH."""

import json
import os
import subprocess
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest

from tests.e2e.conftest import BIN, run_cli

pytestmark = pytest.mark.slow

OUTPUT_NAMES = ["rgb", "heatmap_overlay", "keypoints_overlay"]
WIDTH, HEIGHT, FRAMES = 64, 48, 6


def probe(video: Path):
    """(frame count, frames array) of an mp4, read back with imageio's ffmpeg."""
    counted, _ = imageio_ffmpeg.count_frames_and_secs(str(video))
    frames = np.stack(list(iio.imiter(video)))
    return counted, frames


def render_args(config: Path, camera_path: Path, video: Path):
    return ["ns-render", "camera-path", "--load-config", str(config), "--camera-path-filename", str(camera_path),
            "--rendered-output-names", *OUTPUT_NAMES, "--output-path", str(video)]  # fmt: skip


@pytest.fixture(scope="module")
def orbit(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("orbit") / "orbit.json"
    args = ["ghnerf-camera-path", "--load-config", str(tiny_run), "--output-path", str(out), "--subject", "386",
            "--frame", "0", "--frames", str(FRAMES), "--resolution", str(WIDTH), str(HEIGHT)]  # fmt: skip
    proc = run_cli(args, cwd=out.parent)
    assert "GHNERF_SUBJECT=CoreView_386 GHNERF_FRAME=0" in proc.stdout
    data = json.loads(out.read_text())
    assert (data["render_width"], data["render_height"], len(data["camera_path"])) == (WIDTH, HEIGHT, FRAMES)
    return out


def check_video(video: Path) -> None:
    counted, frames = probe(video)
    assert counted == FRAMES and frames.shape[0] == FRAMES
    # nerfstudio puts the rendered outputs side by side (concatenated along the width).
    assert frames.shape[1:] == (HEIGHT, WIDTH * len(OUTPUT_NAMES), 3), frames.shape
    assert frames.std() > 1.0  # not a blank video


def test_orbit_video_has_every_frame_and_output_side_by_side(tiny_run: Path, orbit: Path, tmp_path: Path):
    video = tmp_path / "x.mp4"
    run_cli(
        render_args(tiny_run, orbit, video), cwd=tmp_path, env={"GHNERF_SUBJECT": "CoreView_386", "GHNERF_FRAME": "0"}
    )
    check_video(video)


def test_ns_render_finds_ffmpeg_without_the_venv_on_path(tiny_run: Path, orbit: Path, tmp_path: Path):
    """Console scripts run by absolute path work without the venv's bin on PATH; ns-render still needs an ffmpeg."""
    video = tmp_path / "x.mp4"
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != BIN.resolve()
    )
    env = dict(os.environ, PATH=path, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"),
               GHNERF_SUBJECT="CoreView_386", GHNERF_FRAME="0", PYTHONUNBUFFERED="1")  # fmt: skip
    args = render_args(tiny_run, orbit, video)
    proc = subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    check_video(video)
