"""ns-viewer in a real browser: headless Chromium loads the viewer page, and its screenshot shows the render.

The websocket test (test_viewer.py) checks the protocol; this one checks that the web client nerfstudio ships really
connects to the plugin's viewer and draws a frame of the person: the viewer starts the browser's camera at an input
camera of the chosen subject looking at the person, so the middle of the canvas must be the person, in the colours of
the viewer's own render of that camera (fetched through the websocket afterwards), not grid lines.

The page is driven through the Chrome DevTools protocol in real time and screenshotted once it shows a full-resolution
render of the person (its "Resolution" line and its pixels say so), however long the CPU takes to get there.

Set ``GHNERF_VIEWER_SCREENSHOT=/path/shot.png`` to keep a copy of the screenshot.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import pytest

from tests.e2e.test_viewer import (
    FULL_RES,
    WAIT_S,
    ViserClient,
    camera_message,
    follow_server_camera,
    free_port,
    full_frame,
    start_viewer,
    stop,
)

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
WINDOW = (800, 600)


def wait_for_page(port: int, proc: subprocess.Popen, log: Path, timeout: float = WAIT_S) -> None:
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
        time.sleep(1.0)  # poll interval (the deadline decides)


class DevTools:
    """Just enough of the Chrome DevTools protocol (through the `websockets` package) to read and screenshot a page."""

    def __init__(self, debug_port: int, page_url: str, deadline: float) -> None:
        from websockets.sync.client import connect

        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json/list", timeout=5) as answer:
                    targets = json.load(answer)
                page = next(t for t in targets if t.get("type") == "page" and t.get("url", "").startswith(page_url))
                break
            except (OSError, StopIteration, ValueError):
                if time.time() > deadline:
                    raise AssertionError(f"chromium opened no page {page_url} (DevTools port {debug_port})")
                time.sleep(1.0)  # poll interval while chromium starts (the deadline decides)
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None)
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # skip the protocol's events until our answer
            message = json.loads(self.ws.recv(timeout=WAIT_S))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"DevTools {method} failed: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        """Value of a JavaScript expression in the page."""
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def screenshot_png(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])


def render_resolution(text: str) -> Optional[Tuple[int, int]]:
    """The "Resolution: W×Hpx" the viewer's panel shows for its latest render, if any."""
    match = re.search(r"Resolution:\s*(\d+)\s*\D\s*(\d+)\s*px", text)
    return None if match is None else (int(match.group(1)), int(match.group(2)))


def start_chromium(url: str, debug_port: int, profile: Path, window: Tuple[int, int] = WINDOW) -> subprocess.Popen:
    """Headless Chromium showing ``url``, driven through DevTools on ``debug_port`` (in its own process group)."""
    args = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
            f"--remote-debugging-port={debug_port}", "--remote-allow-origins=*", f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}", url]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


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
    import imageio.v3 as iio

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
