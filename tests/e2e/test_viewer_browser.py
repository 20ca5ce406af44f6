"""ns-viewer in a real browser: headless Chromium loads the viewer page, and its screenshot shows the render.

The websocket test (test_viewer.py) checks the protocol; this one checks that the web client nerfstudio ships really
connects to the plugin's viewer and draws a frame of the person: the viewer starts the browser's camera at an input
camera of the chosen subject looking at the person, so the middle of the canvas must be the person, in the colours of
the viewer's own render of that camera (fetched through the websocket afterwards), not grid lines.

Set ``GHNERF_VIEWER_SCREENSHOT=/path/shot.png`` to keep a copy of the screenshot.
"""

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest

from tests.e2e.test_viewer import (
    ViserClient,
    camera_message,
    follow_server_camera,
    free_port,
    settled_frame,
    start_viewer,
    stop,
)

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
WINDOW = (800, 600)


def wait_for_page(port: int, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    """Waits until the viewer's web server answers on http://127.0.0.1:<port>/."""
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"ns-viewer exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.time() > deadline:
            raise AssertionError(f"ns-viewer page did not answer:\n{log.read_text()[-4000:]}")
        time.sleep(1.0)


def screenshot(port: int, png: Path, profile: Path, budget_ms: int = 20000) -> np.ndarray:
    """Headless Chromium screenshot of the viewer page (RGB array); virtual time lets the page connect and render."""
    import imageio.v3 as iio

    png.unlink(missing_ok=True)
    args = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
            f"--virtual-time-budget={budget_ms}", f"--screenshot={png}", f"http://127.0.0.1:{port}/"]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert png.is_file(), f"chromium wrote no screenshot ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return np.asarray(iio.imread(png))[..., :3]


def centre_person(image: np.ndarray, box: Tuple[slice, slice]) -> Tuple[float, np.ndarray]:
    """Fraction of ``box`` that is clearly brighter than the render's black background, and the mean colour of those
    pixels. Thin grid lines cover a few percent at most; the person covers a large part."""
    region = image[box].astype(np.int32)
    lit = region.max(axis=2) > 12
    mean = region[lit].mean(axis=0) if lit.any() else np.zeros(3)
    return float(lit.mean()), mean


def screenshot_centre(image: np.ndarray) -> Tuple[slice, slice]:
    """The middle of the 3D canvas: below the title bar and left of the control panel (800 x 600 window)."""
    h, w = image.shape[:2]
    return slice(h // 4, 3 * h // 4), slice(w // 8, 5 * w // 8)


def render_centre(image: np.ndarray) -> Tuple[slice, slice]:
    h, w = image.shape[:2]
    return slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4)


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="/usr/bin/chromium is absent (make browser installs it)")
def test_chromium_shows_the_rendered_person(tiny_run: Path, tmp_path: Path):
    port = free_port()
    log = tmp_path / "viewer.log"
    proc = start_viewer(tiny_run, port, log)
    try:
        wait_for_page(port, proc, log)
        png = tmp_path / "viewer.png"
        fraction, colour = 0.0, np.zeros(3)
        for attempt in range(3):  # the first load may beat the first render (model loading, slow CPU)
            image = screenshot(port, png, tmp_path / f"profile{attempt}")
            assert image.shape[:2] == (WINDOW[1], WINDOW[0])
            fraction, colour = centre_person(image, screenshot_centre(image))
            if fraction > 0.2:
                break
        if os.environ.get("GHNERF_VIEWER_SCREENSHOT"):
            shutil.copyfile(png, os.environ["GHNERF_VIEWER_SCREENSHOT"])
        # A fifth of the canvas centre or more is the person (0.5 on the 4-step test run; grid lines alone: < 0.05).
        assert fraction > 0.2, f"no rendered person in the middle of the screenshot {png} ({fraction:.2f} of it)"
        # The viewer's own render from where it puts a new client's camera: a person in the middle, in the colours
        # the browser shows (compression and scaling blur them a little).
        client = ViserClient(port, time.time() + 60, proc, log)
        client.send("ViewerCameraMessage", **camera_message([30.0, 30.0, 30.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], 1.3))
        follow_server_camera(client)
        render = settled_frame(client, quiet=3.0, timeout=180)
        client.ws.close()
        assert render is not None, log.read_text()[-3000:]
        render_fraction, render_colour = centre_person(render, render_centre(render))
        assert render_fraction > 0.2, render_fraction
        assert np.abs(colour - render_colour).max() < 20, (colour, render_colour)
        assert proc.poll() is None and "Traceback" not in log.read_text(), log.read_text()[-4000:]
    finally:
        stop(proc)
