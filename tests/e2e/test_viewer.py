"""ns-viewer on a tiny run, driven the way its web client drives it: viser's msgpack protocol over a websocket.

The test places the viewer camera on a training camera (the frustums the server draws), picks every GHNeRF output in
the "Output type" dropdown and checks the background images the server sends back.
"""

import io
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest

from tests.e2e.conftest import BIN

pytestmark = pytest.mark.slow

OUTPUTS = ["rgb", "depth", "accumulation", "heatmap", "heatmaps", "heatmap_overlay", "keypoints_overlay", "cse", "cse_rgb"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_viewer(config: Path, port: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    args = [str(BIN / "ns-viewer"), "--load-config", str(config), "--viewer.websocket-host", "127.0.0.1",
            "--viewer.websocket-port", str(port)]  # fmt: skip
    return subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, env=env)


def stop(proc: subprocess.Popen) -> None:
    """Stops the process and everything it started (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


class ViserClient:
    """Minimal client of viser 0.2.7's protocol: each server frame is a msgpack list of message dicts."""

    def __init__(self, port: int, deadline: float, proc: subprocess.Popen, log: Path) -> None:
        from websockets.sync.client import connect

        while True:
            if proc.poll() is not None:
                raise AssertionError(f"ns-viewer exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
            try:
                self.ws = connect(f"ws://127.0.0.1:{port}", subprotocols=["viser-websocket"], max_size=None)
                break
            except OSError:
                if time.time() > deadline:
                    raise AssertionError(f"ns-viewer did not start:\n{log.read_text()[-4000:]}")
                time.sleep(1.0)
        self.messages: List[Dict] = []

    def send(self, message_type: str, **fields) -> None:
        import msgpack

        self.ws.send(msgpack.packb({"type": message_type, **fields}, use_bin_type=True))

    def receive(self, timeout: float) -> List[Dict]:
        import msgpack

        try:
            raw = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return []
        batch = msgpack.unpackb(raw, raw=False)
        batch = batch if isinstance(batch, list) else [batch]
        self.messages += batch
        return batch

    def wait_for(self, predicate, timeout: float) -> Optional[Dict]:
        end = time.time() + timeout
        for message in self.messages:
            if predicate(message):
                return message
        while time.time() < end:
            for message in self.receive(1.0):
                if predicate(message):
                    return message
        return None


def decode(message: Dict) -> np.ndarray:
    import imageio.v3 as iio

    return np.asarray(iio.imread(io.BytesIO(message["rgb_bytes"])))


def test_viewer_renders_every_output_through_the_websocket(tiny_run: Path, tmp_path: Path):
    port = free_port()
    log = tmp_path / "viewer.log"
    proc = start_viewer(tiny_run, port, log)
    try:
        client = ViserClient(port, time.time() + 300, proc, log)
        dropdown = client.wait_for(lambda m: m["type"] == "GuiAddDropdownMessage" and m["label"] == "Output type", 120)
        assert dropdown is not None, "no Output type dropdown"
        # A training-camera frustum: its pose (OpenCV, viser scale) is what the client sends when one is clicked.
        frustum = client.wait_for(lambda m: m["type"] == "CameraFrustumMessage", 120)
        assert frustum is not None, "no training camera frustums"
        name = frustum["name"]
        position = client.wait_for(lambda m: m["type"] == "SetPositionMessage" and m["name"] == name, 30)["position"]
        wxyz = client.wait_for(lambda m: m["type"] == "SetOrientationMessage" and m["name"] == name, 30)["wxyz"]
        client.wait_for(lambda m: False, 5)  # drain: the other frustums follow the first one
        frustums = {m["name"] for m in client.messages if m["type"] == "CameraFrustumMessage"}
        # tiny run: 2 train subjects x 2 frames x 3 input cameras = 12 images, camera-major: 3 cameras, 12 frustums max.
        assert 1 < len(frustums) <= 12, frustums
        # Forward (+z, OpenCV) of the frustum: look at a point in front of it.
        w, x, y, z = wxyz
        forward = np.array([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)])
        look_at = (np.asarray(position) + forward).tolist()
        up = -np.array([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)])
        client.send("ViewerCameraMessage", wxyz=list(wxyz), position=list(position), fov=float(frustum["fov"]),
                    aspect=1.0, look_at=look_at, up_direction=up.tolist())  # fmt: skip
        images: Dict[str, np.ndarray] = {}
        for output in OUTPUTS:
            client.messages.clear()
            client.send("GuiUpdateMessage", id=dropdown["id"], updates={"value": output})
            client.send("ViewerCameraMessage", wxyz=list(wxyz), position=list(position), fov=float(frustum["fov"]),
                        aspect=1.0, look_at=look_at, up_direction=up.tolist())  # fmt: skip
            image = client.wait_for(lambda m: m["type"] == "BackgroundImageMessage", 120)
            assert image is not None, f"no frame for output {output}:\n{log.read_text()[-3000:]}"
            images[output] = decode(image)
            assert proc.poll() is None, f"ns-viewer died on output {output}:\n{log.read_text()[-4000:]}"
        for output, image in images.items():
            # Square (the client asked for aspect 1); the size is the render state machine's (small while moving).
            assert image.ndim == 3 and image.shape[2] == 3 and image.shape[0] == image.shape[1] >= 16, (output, image.shape)
        assert "Traceback" not in log.read_text()
        # The person: the rgb frame is not uniform, and differs from the heatmap overlay only where heat is drawn.
        rgb = images["rgb"].astype(np.float32)
        assert rgb.std() > 1.0
        h, w = rgb.shape[:2]
        lit = rgb.max(axis=2) > 20
        ys, xs = np.nonzero(lit)
        assert len(ys) > 20
        # Non-black pixels are concentrated around the image centre (the camera looks at the person).
        assert abs(ys.mean() - h / 2) < h / 4 and abs(xs.mean() - w / 2) < w / 4
    finally:
        stop(proc)
