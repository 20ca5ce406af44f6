"""ns-viewer in a real browser: headless Chromium loads the viewer page, and its screenshot shows the render.

The websocket test (test_viewer.py) checks the protocol; this one checks that the web client nerfstudio ships really
connects to the plugin's viewer and draws a frame of the person.
"""

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_viewer import free_port, start_viewer, stop

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


def person_pixels(image: np.ndarray) -> int:
    """Pixels of the central region that differ clearly from the page's plain background (its most common colour).

    The viewer draws the rendered frame behind a grid and panels; the centre of the canvas is where the person is.
    """
    h, w = image.shape[:2]
    colours, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
    background = colours[counts.argmax()].astype(np.int32)
    centre = image[h // 4 : 3 * h // 4, w // 8 : 5 * w // 8].astype(np.int32)  # left of the control panel
    return int((np.abs(centre - background).max(axis=2) > 40).sum())


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="/usr/bin/chromium is absent (make browser installs it)")
def test_chromium_shows_the_rendered_person(tiny_run: Path, tmp_path: Path):
    port = free_port()
    log = tmp_path / "viewer.log"
    proc = start_viewer(tiny_run, port, log)
    try:
        wait_for_page(port, proc, log)
        png = tmp_path / "viewer.png"
        found = 0
        for attempt in range(3):  # the first load may beat the first render (model loading, slow CPU)
            image = screenshot(port, png, tmp_path / f"profile{attempt}")
            assert image.shape[:2] == (WINDOW[1], WINDOW[0])
            found = person_pixels(image)
            if found > 200:
                break
        assert found > 200, f"no rendered person in the screenshot {png} ({found} pixels)"
        assert proc.poll() is None and "Traceback" not in log.read_text(), log.read_text()[-4000:]
    finally:
        stop(proc)
