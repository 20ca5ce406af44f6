"""The README's PNGs from a trained run (called by scripts/readme_images.sh, which trains and renders the video).

- ``eval_views.png``: ``ns-eval``'s comparison images of a few test views (``--eval-images``), one row per view:
  rgb, heatmap_overlay and keypoints_overlay, each as prediction | ground truth.
- ``render_frame.png``: one frame of the ``ns-render camera-path`` orbit video (its outputs side by side).
- ``viewer_heatmap.png``: headless Chromium's screenshot of ``ns-viewer`` showing one output (``--output``). The
  output type (and overlay opacity) are chosen first over the viewer's websocket, the way its web client does: the GUI
  state lives on the server, so the browser opened afterwards shows that output at the camera the viewer gives a new
  client (an input camera of GHNERF_SUBJECT / GHNERF_FRAME).

The viewer and browser helpers are the end-to-end tests' (:mod:`ghnerf_ns.viewer.remote_client`), so the pictures are
made the way the tests exercise the viewer. The viewer runs in its own process group and is stopped on exit, error or
not.
"""

import argparse
import io
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ghnerf_ns.viewer.remote_client import (
    CHROMIUM,
    DevTools,
    RemoteViewerError,
    ViserClient,
    camera_message,
    free_port,
    gui_add,
    render_resolution,
    start_chromium,
    start_viewer,
    stop,
    wait_for_page,
)

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 150_000
MAX_WIDTH = 800
WINDOW = (1000, 800)
"""Chromium window: wide enough that the 3D canvas beside the control panel is larger than the panel."""
EVAL_OUTPUTS = ("rgb", "heatmap_overlay", "keypoints_overlay", "cse_rgb")
"""ns-eval comparison images tiled into eval_views.png (each is prediction | ground truth); ``cse_rgb`` where the model
has a CSE head."""
REQUIRED_EVAL_OUTPUTS = 3
"""The first outputs every model has."""
HEADER_PX = 52
"""Height of the web client's title bar (logo and links), cropped off the screenshot."""


def save_small_png(image: np.ndarray, path: Path) -> int:
    """Writes ``image`` (H, W, 3 uint8) as a PNG at most MAX_WIDTH wide; palette-quantised if a full-colour PNG would
    exceed MAX_BYTES. Returns the file size."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    if picture.width > MAX_WIDTH:
        picture = picture.resize((MAX_WIDTH, round(picture.height * MAX_WIDTH / picture.width)), Image.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    if buffer.tell() > MAX_BYTES:
        buffer = io.BytesIO()
        picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            buffer, format="PNG", optimize=True
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.tell()


def video_frame(video: Path, index: int) -> np.ndarray:
    """Frame ``index`` of an mp4 (imageio with the imageio-ffmpeg plugin)."""
    import imageio.v3 as iio

    for position, frame in enumerate(iio.imiter(video)):
        if position == index:
            return np.asarray(frame)
    raise SystemExit(f"readme_images: {video} has only {position + 1} frames, asked for frame {index} (--frame-index)")


def eval_views(folder: Path, views: Sequence[int]) -> np.ndarray:
    """ns-eval's ``eval_<output>_<index>.png`` images of ``views`` tiled: one row per view, outputs side by side, each
    as prediction | ground truth, cut to the person."""
    import imageio.v3 as iio

    rows = []
    for view in views:
        paths = [folder / f"eval_{name}_{view:04d}.png" for name in EVAL_OUTPUTS]
        paths = paths[:REQUIRED_EVAL_OUTPUTS] + [p for p in paths[REQUIRED_EVAL_OUTPUTS:] if p.is_file()]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise SystemExit(f"readme_images: {', '.join(missing)} missing: run ns-eval with --render-output-path")
        rows.append([np.asarray(iio.imread(p))[..., :3] for p in paths])
    # Each comparison image is prediction | ground truth: cut every half to the window that holds the person in all of
    # them (the person is a small part of a 128 px view), then enlarge 2x without smoothing.
    halves = [half for row in rows for image in row for half in np.split(image, 2, axis=1)]
    ys, xs = np.nonzero(np.stack(halves).max(axis=(0, 3)) > 5)
    if len(ys) == 0:
        raise SystemExit(f"readme_images: the eval images in {folder} are black")
    top, bottom = max(ys.min() - 4, 0), ys.max() + 5
    left, right = max(xs.min() - 4, 0), xs.max() + 5
    tiles = [[half[top:bottom, left:right] for image in row for half in np.split(image, 2, axis=1)] for row in rows]
    grid = np.concatenate([np.concatenate(row, axis=1) for row in tiles], axis=0)
    return grid.repeat(2, axis=0).repeat(2, axis=1)


def browser_screenshot(port: int, work: Path, output: str, quiet: float, timeout: float) -> np.ndarray:
    """Headless Chromium on the viewer page showing ``output`` (checked in the page's form fields); waits in real time
    until the render's resolution has not changed for ``quiet`` seconds (the viewer sends small frames first and bigger
    ones as renders finish), then screenshots the page without its title bar.

    (``--screenshot`` with ``--virtual-time-budget``, as the browser test uses, fires before a slow CPU render arrives:
    virtual time does not wait for websocket traffic.)"""
    import imageio.v3 as iio

    debug_port, url = free_port(), f"http://127.0.0.1:{port}/"
    browser = start_chromium(url, debug_port, work / "chromium", window=WINDOW)
    try:
        devtools = DevTools(debug_port, url, time.time() + 120)
        end = time.time() + timeout
        last, since = None, time.time()
        while time.time() < end:
            resolution = render_resolution(str(devtools.evaluate("document.body.innerText")))
            if resolution != last:
                last, since = resolution, time.time()
                print(f"readme_images: viewer render {resolution}")
            elif resolution is not None and time.time() - since > quiet:
                break
            time.sleep(1.0)
        else:
            print(f"readme_images: the render did not settle in {timeout:.0f} s; screenshot of {last}")
        fields = devtools.evaluate("Array.from(document.querySelectorAll('input,select')).map(e => e.value)") or []
        if output not in fields:
            raise SystemExit(f"readme_images: the page's Output type is not {output!r} (form values: {fields})")
        png = devtools.screenshot_png()
        devtools.ws.close()
    finally:
        stop(browser)
    (work / "viewer_screenshot.png").write_bytes(png)
    return np.asarray(iio.imread(png))[HEADER_PX:, :, :3]


def viewer_screenshot(config: Path, work: Path, output: str, opacity: float, quiet: float) -> np.ndarray:
    """Start ns-viewer, select ``output`` (and the overlay opacity) over the websocket, screenshot the page."""
    if not CHROMIUM.is_file():
        raise SystemExit(f"readme_images: {CHROMIUM} is missing: run `make browser` (Debian's chromium package)")
    port, log = free_port(), work / "viewer.log"
    proc = start_viewer(config, port, log)
    try:
        wait_for_page(port, proc, log)
        client = ViserClient(port, time.time() + 300, proc, log)
        dropdown, slider = gui_add(client, "Output type"), gui_add(client, "Overlay opacity")
        # viser counts a client as connected from its first camera message: send one before the GUI updates.
        client.send("ViewerCameraMessage", **camera_message([30.0, 30.0, 30.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], 1.3))
        client.send("GuiUpdateMessage", id=dropdown["id"], updates={"value": output})
        client.send("GuiUpdateMessage", id=slider["id"], updates={"value": opacity})
        client.wait_for(lambda m: False, 3)  # let the server apply both updates before the browser connects
        client.ws.close()
        image = browser_screenshot(port, work, output, quiet=quiet, timeout=600)
        if proc.poll() is not None or "Traceback" in log.read_text():
            raise SystemExit(f"readme_images: ns-viewer failed:\n{log.read_text()[-4000:]}")
        return image
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="config.yml of the ns-train run")
    parser.add_argument("--video", type=Path, required=True, help="orbit mp4 written by ns-render camera-path")
    parser.add_argument("--work", type=Path, required=True, help="folder for the viewer log and raw screenshot")
    parser.add_argument("--docs", type=Path, default=REPO / "docs", help="where the two PNGs go")
    parser.add_argument("--frame-index", type=int, default=0, help="video frame kept as render_frame.png")
    parser.add_argument("--eval-images", type=Path, help="ns-eval --render-output-path folder (eval_views.png)")
    parser.add_argument(
        "--eval-views", type=int, nargs="+", default=[0, 27, 55], help="eval image indices tiled (three test people)"
    )
    parser.add_argument("--output", default="heatmap_overlay", help="viewer output type in the screenshot")
    parser.add_argument("--opacity", type=float, default=0.8, help="heatmap_overlay opacity in the screenshot")
    parser.add_argument("--quiet", type=float, default=20.0, help="seconds without a new render before the screenshot")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    if args.eval_images is not None:
        size = save_small_png(eval_views(args.eval_images, args.eval_views), args.docs / "eval_views.png")
        print(f"readme_images: {args.docs / 'eval_views.png'} ({size // 1000} KB)")
    size = save_small_png(video_frame(args.video, args.frame_index), args.docs / "render_frame.png")
    print(f"readme_images: {args.docs / 'render_frame.png'} ({size // 1000} KB)")
    try:
        image = viewer_screenshot(args.config, args.work, args.output, args.opacity, args.quiet)
    except RemoteViewerError as err:
        raise SystemExit(f"readme_images: {err}") from None
    size = save_small_png(image, args.docs / "viewer_heatmap.png")
    print(f"readme_images: {args.docs / 'viewer_heatmap.png'} ({size // 1000} KB)")


if __name__ == "__main__":
    main()
