"""ns-viewer in a real browser: headless Chromium loads the viewer page, and its screenshot shows the render.

The websocket test (test_viewer.py) checks the protocol; this one checks that the web client nerfstudio ships really
connects to the plugin's viewer and draws a frame of the person: the viewer starts the browser's camera at an input
camera of the chosen subject looking at the person, so the middle of the canvas must be the person, in the colours of
the viewer's own render of that camera (fetched through the websocket afterwards), not grid lines.

The page is driven through the Chrome DevTools protocol in real time and screenshotted once it shows a full-resolution
render of the person (its "Resolution" line and its pixels say so), however long the CPU takes to get there.

Set ``GHNERF_VIEWER_SCREENSHOT=/path/shot.png`` to keep a copy of the screenshot.
"""

import os
import shutil
import time
from pathlib import Path
from typing import Tuple

import imageio.v3 as iio
import numpy as np
import pytest

from ghnerf_ns.viewer.remote_client import (
    CHROMIUM,
    FULL_RES,
    WAIT_S,
    WINDOW,
    DevTools,
    ViserClient,
    camera_message,
    follow_server_camera,
    free_port,
    full_frame,
    render_resolution,
    start_chromium,
    start_viewer,
    stop,
    wait_for_page,
)

pytestmark = pytest.mark.slow

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
        url, debug_port = f"http://127.0.0.1:{port}/", free_port()
        browser = start_chromium(url, debug_port, tmp_path / "profile")
        try:
            devtools = DevTools(debug_port, url, time.time() + WAIT_S)
            # The page's viewport is the whole window (headless windows keep some of it for the browser's own UI).
            devtools.call("Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=WINDOW[1], deviceScaleFactor=1,
                          mobile=False)  # fmt: skip
            # The state: the page shows a full-resolution render (the last, still-camera frame is FULL_RES on its
            # longer side; the low-resolution ones before it are smaller) and its centre is the person. The first
            # full-resolution render may still be of the browser's own start camera, before the viewer moved it.
            deadline = time.time() + WAIT_S
            fraction, colour, resolution = 0.0, np.zeros(3), None
            while True:
                resolution = render_resolution(str(devtools.evaluate("document.body.innerText")))
                if resolution is not None and max(resolution) == FULL_RES:
                    png.write_bytes(devtools.screenshot_png())
                    image = np.asarray(iio.imread(png))[..., :3]
                    assert image.shape[:2] == (WINDOW[1], WINDOW[0])
                    fraction, colour = centre_person(image, screenshot_centre(image))
                    if fraction > 0.2:
                        break
                if time.time() > deadline:
                    break
                time.sleep(1.0)  # poll interval (the state or the deadline ends the loop)
            devtools.ws.close()
        finally:
            stop(browser)
        if os.environ.get("GHNERF_VIEWER_SCREENSHOT") and png.is_file():
            shutil.copyfile(png, os.environ["GHNERF_VIEWER_SCREENSHOT"])
        assert resolution is not None and max(resolution) == FULL_RES, f"no full-resolution render shown: {resolution}"
        # A fifth of the canvas centre or more is the person (0.5 on the 4-step test run; grid lines alone: < 0.05).
        assert fraction > 0.2, f"no rendered person in the middle of the screenshot {png} ({fraction:.2f} of it)"
        # The viewer's own render from where it puts a new client's camera: a person in the middle, in the colours
        # the browser shows (compression and scaling blur them a little).
        client = ViserClient(port, time.time() + WAIT_S, proc, log)
        client.send("ViewerCameraMessage", **camera_message([30.0, 30.0, 30.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], 1.3))
        follow_server_camera(client)
        render = full_frame(client)
        client.close()
        render_fraction, render_colour = centre_person(render, render_centre(render))
        assert render_fraction > 0.2, render_fraction
        assert np.abs(colour - render_colour).max() < 20, (colour, render_colour)
        assert proc.poll() is None and "Traceback" not in log.read_text(), log.read_text()[-4000:]
    finally:
        stop(proc)
