"""ns-viewer on a tiny run, driven the way its web client drives it: viser's msgpack protocol over a websocket.

One ns-viewer serves the module. The tests
- check that a new client's camera is put on the person (server -> client SetCamera* messages) and that following it
  (as the browser does) renders the person in the middle;
- place the viewer camera on a training camera (the frustums the server draws), pick every GHNeRF output in the
  "Output type" dropdown and check the background images the server sends back;
- change the custom controls (Subject, Frame, Source views, Heatmap joint) with the GUI update messages the web client
  sends, and check each change re-renders, names the new sources in the "Source cameras" text and moves the camera.
"""

import io
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest

from tests.e2e.conftest import BIN, TEST_SUBJECTS, TRAIN_SUBJECTS

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



def camera_message(position, look_at, up, fov: float, aspect: float = 1.0) -> Dict:
    """The ViewerCameraMessage fields of a camera at ``position`` looking at ``look_at`` (viser: OpenCV, -y is up)."""
    import viser.transforms as vtf

    position, look_at, up = (np.asarray(v, dtype=np.float64) for v in (position, look_at, up))
    z = (look_at - position) / np.linalg.norm(look_at - position)
    y = -(up - (up @ z) * z)
    y /= np.linalg.norm(y)
    wxyz = vtf.SO3.from_matrix(np.stack([np.cross(y, z), y, z], axis=1)).wxyz
    return dict(wxyz=[float(v) for v in wxyz], position=position.tolist(), fov=float(fov), aspect=aspect,
                look_at=look_at.tolist(), up_direction=up.tolist())  # fmt: skip


def follow_server_camera(client: "ViserClient", timeout: float = 30) -> Dict:
    """Do what the browser does when the server moves its camera: apply the SetCamera* messages, report the camera."""
    kinds = ["SetCameraFovMessage", "SetCameraPositionMessage", "SetCameraLookAtMessage", "SetCameraUpDirectionMessage"]
    for kind in kinds:
        assert client.wait_for(lambda m: m["type"] == kind, timeout) is not None, f"the server sent no {kind}"
    last = {kind: [m for m in client.messages if m["type"] == kind][-1] for kind in kinds}
    # (SetCameraUpDirectionMessage names its vector "position" in viser 0.2.7.)
    pose = camera_message(last[kinds[1]]["position"], last[kinds[2]]["look_at"], last[kinds[3]]["position"],
                          last[kinds[0]]["fov"])  # fmt: skip
    client.send("ViewerCameraMessage", **pose)
    return pose


def settled_frame(client: "ViserClient", quiet: float, timeout: float) -> Optional[np.ndarray]:
    """The last background image once the server has sent nothing new for ``quiet`` seconds (its full-resolution
    render: the render state machine sends low-resolution frames first)."""
    end = time.time() + timeout
    last, last_time = None, time.time()
    while time.time() < end:
        for message in client.receive(0.5):
            if message["type"] == "BackgroundImageMessage":
                last, last_time = message, time.time()
        if last is not None and time.time() - last_time > quiet:
            break
    return None if last is None else decode(last)


def gui_add(client: "ViserClient", label: str, timeout: float = 120) -> Dict:
    message = client.wait_for(lambda m: m["type"].startswith("GuiAdd") and m.get("label") == label, timeout)
    assert message is not None, f"no {label!r} GUI element"
    return message


def person_fraction(image: np.ndarray) -> Tuple[float, float]:
    """Fractions of lit (non-black background) pixels in the central and the outer parts of a frame."""
    h, w = image.shape[:2]
    lit = image.max(axis=2) > 12  # the 4-step test model renders a dim person
    centre = lit[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    outer = lit.sum() - centre.sum()
    return float(centre.mean()), float(outer / (lit.size - centre.size))


@pytest.fixture(scope="module")
def viewer(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    """(ns-viewer process, port, log) serving the tiny run, stopped after the module."""
    port = free_port()
    log = tmp_path_factory.mktemp("viewer") / "viewer.log"
    proc = start_viewer(tiny_run, port, log)
    try:
        yield proc, port, log
    finally:
        stop(proc)
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]


def test_new_client_starts_on_the_person(viewer):
    proc, port, log = viewer
    client = ViserClient(port, time.time() + 300, proc, log)
    output = gui_add(client, "Output type")
    subject = gui_add(client, "Subject")
    # viser's default far-away camera, as the browser reports it when it connects (before any GUI message: viser
    # counts a client as connected from its first camera message on).
    client.send("ViewerCameraMessage", **camera_message([30.0, 30.0, 30.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], 1.3))
    client.send("GuiUpdateMessage", id=output["id"], updates={"value": "rgb"})
    pose = follow_server_camera(client)
    # The camera moved: near the person (the test rig is ~2-3 m around it, x10 in viser's scene), not the default.
    distance = np.linalg.norm(np.subtract(pose["position"], pose["look_at"])) / 10.0
    assert 0.5 < distance < 10.0, pose
    assert pose["fov"] != pytest.approx(1.3), "fov not taken from the input camera"
    image = settled_frame(client, quiet=3.0, timeout=180)
    assert image is not None, f"no frame after the camera was placed:\n{log.read_text()[-3000:]}"
    centre, outer = person_fraction(image)
    # The person fills a good part of the centre and less of the border (black background around the person).
    assert centre > 0.25 and centre > 2 * outer, (centre, outer, image.shape, subject["value"])
    assert proc.poll() is None
    client.ws.close()


def test_viewer_renders_every_output_through_the_websocket(viewer):
    proc, port, log = viewer
    client = ViserClient(port, time.time() + 300, proc, log)
    dropdown = gui_add(client, "Output type")
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
    client.ws.close()


def test_custom_controls_rerender_and_name_the_sources(viewer):
    proc, port, log = viewer
    client = ViserClient(port, time.time() + 300, proc, log)
    output, subject, frame = gui_add(client, "Output type"), gui_add(client, "Subject"), gui_add(client, "Frame")
    views, joint, sources = gui_add(client, "Source views"), gui_add(client, "Heatmap joint"), gui_add(client, "Source cameras")
    assert subject["options"][0].endswith(TEST_SUBJECTS[0]), subject["options"]  # test subjects first
    train_subject = next(name for name in subject["options"] if name.endswith(TRAIN_SUBJECTS[0]))
    client.send("ViewerCameraMessage", **camera_message([30.0, 30.0, 30.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], 1.3))
    client.send("GuiUpdateMessage", id=output["id"], updates={"value": "rgb"})
    follow_server_camera(client)

    def change(element: Dict, value, expect_text) -> str:
        """Send a GUI value change as the web client does; wait for the sources text and a frame rendered after it."""
        client.messages.clear()
        client.send("GuiUpdateMessage", id=element["id"], updates={"value": value})

        def names_it(m: Dict) -> bool:
            value_update = m["type"] == "GuiUpdateMessage" and m["id"] == sources["id"] and "value" in m["updates"]
            return value_update and expect_text(m["updates"]["value"])

        text = client.wait_for(names_it, 120)
        assert text is not None, f"{element['label']}={value!r}: sources text never matched; got " + repr(
            [m["updates"] for m in client.messages if m["type"] == "GuiUpdateMessage" and m["id"] == sources["id"]]
        )
        after = next(i for i, m in enumerate(client.messages) if m is text)
        end = time.time() + 120
        while not any(m["type"] == "BackgroundImageMessage" for m in client.messages[after + 1 :]):
            assert time.time() < end, f"{element['label']}={value!r} rendered no new frame"
            client.receive(1.0)
        return text["updates"]["value"]

    # Subject: the training subject, then back to the test subject; the camera follows each (SetCamera* messages).
    text = change(subject, train_subject, lambda t: t.startswith(f"{train_subject} frame "))
    assert text.count(",") == 1, text  # 2 source cameras
    follow_server_camera(client)
    first = change(subject, subject["options"][0], lambda t: t.startswith(f"{subject['options'][0]} frame "))
    follow_server_camera(client)
    # Frame: the second frame of the test subject (the slider holds the position in its frame list).
    second = change(frame, 1, lambda t: t.startswith(subject["options"][0]) and t != first)
    assert second.split(":")[0] != first.split(":")[0], (first, second)  # "<subject> frame <n>" changed
    assert not any(m["type"].startswith("SetCamera") for m in client.messages), "a Frame change moved the camera"
    # Source views 2 -> 3: three cameras named.
    three = change(views, 3, lambda t: t.count(",") == 2)
    assert three.split(":")[0] == second.split(":")[0], three
    # Heatmap joint: the full-resolution heatmap frame differs between the maximum over joints and one joint.
    client.send("GuiUpdateMessage", id=output["id"], updates={"value": "heatmap"})
    max_frame = settled_frame(client, quiet=3.0, timeout=180)
    client.send("GuiUpdateMessage", id=joint["id"], updates={"value": "RWrist"})
    wrist_frame = settled_frame(client, quiet=3.0, timeout=180)
    assert max_frame is not None and wrist_frame is not None, log.read_text()[-3000:]
    assert max_frame.shape == wrist_frame.shape
    difference = np.abs(max_frame.astype(np.float32) - wrist_frame.astype(np.float32)).mean()
    assert difference > 2.0, f"joint=max and joint=RWrist heatmaps look the same (mean |diff| {difference:.2f})"
    client.send("GuiUpdateMessage", id=joint["id"], updates={"value": joint["value"]})
    assert proc.poll() is None
    client.ws.close()
