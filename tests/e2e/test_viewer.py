"""ns-viewer on a tiny run, driven the way its web client drives it: viser's msgpack protocol over a websocket.

One ns-viewer serves the module. The tests
- check that a new client's camera is put on the person (server -> client SetCamera* messages) and that following it
  (as the browser does) renders the person in the middle;
- place the viewer camera on a training camera (the frustums the server draws), pick every GHNeRF output in the
  "Output type" dropdown and check the background images the server sends back;
- change the custom controls (Subject, Frame, Source views, Heatmap joint) with the GUI update messages the web client
  sends, and check each change re-renders, names the new sources in the "Source cameras" text and moves the camera.

No test waits for a quiet period: each waits for a state the server reports (a GUI broadcast, a frame of a requested
size, all frustums drawn), with a generous deadline that only a state never reached runs into (see ``full_frame``).
"""

import io
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
import pytest

from tests.e2e.conftest import BIN, TEST_SUBJECTS, TRAIN_SUBJECTS

pytestmark = pytest.mark.slow

OUTPUTS = ["rgb", "depth", "accumulation", "heatmap", "heatmaps", "heatmap_overlay", "keypoints_overlay", "cse", "cse_rgb"]
FULL_RES = 512
"""nerfstudio's default "Max res": a still aspect-1 camera's final frame is FULL_RES x FULL_RES."""
MAX_RES = "Max res"
"""Label of nerfstudio's "Max res" slider (Render Options)."""
_BARRIERS = itertools.cycle(range(65, 80, 2))
"""Odd "Max res" values ``full_frame`` sets as render barriers: no low-resolution frame has an odd size unless it is
clamped to the Max res it was rendered under (render_state_machine.py rounds low sizes to multiples of 10)."""
WAIT_S = 300.0
"""Deadline of every wait for a server state: long enough for a loaded 2-core machine; only a failure reaches it."""


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
    """Minimal client of viser 0.2.7's protocol: each server frame is a msgpack list of message dicts.

    Besides the raw ``messages`` (which tests may clear) it keeps what the server has told this connection so far:
    ``values`` (GUI element id -> value: the GuiAdd value, then every broadcast GuiUpdate of it) and ``elements``
    (label -> GuiAdd message, first one of each label). viser broadcasts a GUI change made by a client to every
    other connection only, so ``observer`` (a second connection that never sends a camera, hence no viewer client
    and no renders of its own) is how a client sees its own changes take effect.
    """

    def __init__(self, port: int, deadline: float, proc: subprocess.Popen, log: Path) -> None:
        from websockets.sync.client import connect

        self.port, self.proc, self.log = port, proc, log
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"ns-viewer exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
            try:
                self.ws = connect(f"ws://127.0.0.1:{port}", subprotocols=["viser-websocket"], max_size=None)
                break
            except OSError:
                if time.time() > deadline:
                    raise AssertionError(f"ns-viewer did not start:\n{log.read_text()[-4000:]}")
                time.sleep(1.0)  # retry interval while the server starts (the deadline decides)
        self.messages: List[Dict] = []
        self.values: Dict[str, Any] = {}
        self.elements: Dict[str, Dict] = {}
        self._observer: Optional["ViserClient"] = None

    @property
    def observer(self) -> "ViserClient":
        """A second connection to the same server, opened on first use (see the class docstring)."""
        if self._observer is None:
            self._observer = ViserClient(self.port, time.time() + WAIT_S, self.proc, self.log)
        return self._observer

    def close(self) -> None:
        if self._observer is not None:
            self._observer.close()
        self.ws.close()

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
        for message in batch:
            if message["type"].startswith("GuiAdd"):
                self.elements.setdefault(message.get("label"), message)
                if "value" in message:
                    self.values[message["id"]] = message["value"]
            elif message["type"] == "GuiUpdateMessage" and "value" in message["updates"]:
                self.values[message["id"]] = message["updates"]["value"]
        self.messages += batch
        return batch

    def wait_for(self, predicate, timeout: float, since: int = 0) -> Optional[Dict]:
        """The first message from ``messages[since]`` on that satisfies ``predicate`` (None after ``timeout`` s)."""
        end = time.time() + timeout
        for message in self.messages[since:]:
            if predicate(message):
                return message
        while time.time() < end:
            for message in self.receive(1.0):
                if predicate(message):
                    return message
        return None

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Receive until ``condition()`` holds; False if it still does not after ``timeout`` s."""
        end = time.time() + timeout
        while not condition():
            if time.time() > end:
                return False
            self.receive(1.0)
        return True

    def set_gui(self, element: Dict, value) -> None:
        """Send a GUI value change as the web client does (``full_frame`` waits until it took effect)."""
        self.send("GuiUpdateMessage", id=element["id"], updates={"value": value})


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


def server_camera(client: "ViserClient", timeout: float = WAIT_S) -> Dict:
    """The camera the server put the client on (its SetCamera* messages in ``client.messages``, waited for).

    The server moves its own copy of the client's camera before it sends these messages (and only after the client
    counts as connected), so every render started after they arrived looks from this pose."""
    kinds = ["SetCameraFovMessage", "SetCameraPositionMessage", "SetCameraLookAtMessage", "SetCameraUpDirectionMessage"]
    for kind in kinds:
        assert client.wait_for(lambda m: m["type"] == kind, timeout) is not None, f"the server sent no {kind}"
    last = {kind: [m for m in client.messages if m["type"] == kind][-1] for kind in kinds}
    # (SetCameraUpDirectionMessage names its vector "position" in viser 0.2.7.)
    return camera_message(last[kinds[1]]["position"], last[kinds[2]]["look_at"], last[kinds[3]]["position"],
                          last[kinds[0]]["fov"])  # fmt: skip


def follow_server_camera(client: "ViserClient", timeout: float = WAIT_S) -> Dict:
    """Do what the browser does when the server moves its camera: apply the SetCamera* messages, report the camera."""
    pose = server_camera(client, timeout)
    client.send("ViewerCameraMessage", **pose)
    return pose


def _frame_of_size(client: "ViserClient", size: int, since: int, deadline: float, what: str) -> np.ndarray:
    """The first background image of exactly ``size`` x ``size`` among ``client.messages[since:]`` and later ones."""
    found: Dict[str, np.ndarray] = {}

    def sized(message: Dict) -> bool:
        if message["type"] != "BackgroundImageMessage":
            return False
        image = decode(message)
        if image.shape[:2] != (size, size):
            return False
        found["image"] = image
        return True

    if client.wait_for(sized, max(deadline - time.time(), 0.0), since=since) is None:
        sizes = [decode(m).shape[:2] for m in client.messages[since:] if m["type"] == "BackgroundImageMessage"]
        raise AssertionError(f"no {size}x{size} frame ({what}); frames: {sizes}\n{client.log.read_text()[-3000:]}")
    return found["image"]


def full_frame(client: "ViserClient", applied: Sequence[Tuple[Dict, Any]] = (), size: int = FULL_RES,
               timeout: float = WAIT_S) -> np.ndarray:
    """The first ``size`` x ``size`` frame rendered after every GUI change in ``applied`` took effect (changes the
    caller already sent, as (GuiAdd message, value) pairs) and after every render started before this call.

    nerfstudio renders progressively (viewer/render_state_machine.py): after a change, low-resolution frames (their
    height a multiple of 10, at least 30, at most "Max res"), then, once nothing moves, one frame at "Max res" (for
    an aspect-1 camera exactly Max res x Max res). A frame's size thus tells which Max res it was rendered under,
    and that orders frames after changes without any timing:
    1. Max res := an odd barrier B, and wait until the observer connection sees the server's broadcast of it: the
       observer has then received every earlier broadcast;
    2. for each change in ``applied`` that the observer does not show yet, wait for its broadcast too (viser
       broadcasts a change after running its callbacks, nerfstudio's re-render trigger among them); a change to the
       value the server already had is a no-op there (no callbacks, no broadcast) and needs no wait;
    3. wait for a B x B frame: each client has one render thread, so every render started before B took effect has
       been sent by then;
    4. Max res := ``size`` and return the first ``size`` x ``size`` frame: its render started after steps 2 and 3.
    The last step leaves Max res at ``size``. Camera messages have no acknowledgement: the frame shows the camera the
    server holds, which is the one it placed itself once its SetCamera* messages arrived (see server_camera).
    """
    deadline = time.time() + timeout
    observer = client.observer
    max_res = gui_add(client, MAX_RES)
    assert gui_add(observer, MAX_RES)["id"] == max_res["id"]
    barrier = next(_BARRIERS)
    if observer.values.get(max_res["id"]) == barrier:
        barrier = next(_BARRIERS)
    mark, seen = len(client.messages), len(observer.messages)
    client.set_gui(max_res, barrier)

    def barrier_broadcast(m: Dict) -> bool:
        return m["type"] == "GuiUpdateMessage" and m["id"] == max_res["id"] and m["updates"].get("value") == barrier

    assert observer.wait_for(barrier_broadcast, deadline - time.time(), since=seen) is not None, (
        f"the server never applied Max res {barrier}:\n{client.log.read_text()[-3000:]}"
    )
    for element, value in applied:
        assert observer.wait_until(lambda: observer.values.get(element["id"]) == value, deadline - time.time()), (
            f"the server never applied {element.get('label')}={value!r} (shows {observer.values.get(element['id'])!r})"
        )
    _frame_of_size(client, barrier, mark, deadline, f"barrier Max res {barrier}")
    mark = len(client.messages)
    client.set_gui(max_res, size)
    return _frame_of_size(client, size, mark, deadline, f"Max res {size}")


def settled_frame(client: "ViserClient", quiet: float = 0.0, timeout: float = WAIT_S) -> np.ndarray:
    """Former name of :func:`full_frame` (no changes to confirm, FULL_RES), kept for its callers; ``quiet`` is
    ignored: nothing waits for a quiet period any more."""
    del quiet
    return full_frame(client, timeout=max(timeout, WAIT_S))


def gui_add(client: "ViserClient", label: str, timeout: float = WAIT_S) -> Dict:
    if label not in client.elements:
        client.wait_until(lambda: label in client.elements, timeout)
    assert label in client.elements, f"no {label!r} GUI element"
    return client.elements[label]


def drawn_frustums(config: Path) -> Set[str]:
    """Names of the training-camera frustums ns-viewer draws for the run of ``config``: nerfstudio's init_scene draws
    the dataset positions np.linspace(0, n - 1, min(max_num_display_images, n)) of the n training images."""
    n = json.loads((config.parent / "data_report.json").read_text())["images_used"]["train"]
    match = re.search(r"^\s*max_num_display_images: (-?\d+)\s*$", config.read_text(), re.MULTILINE)
    assert match is not None, f"no viewer.max_num_display_images in {config}"
    shown = n if int(match.group(1)) < 0 else min(int(match.group(1)), n)
    return {f"/cameras/camera_{i:05d}" for i in np.linspace(0, n - 1, shown, dtype=np.int32).tolist()}


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
    client = ViserClient(port, time.time() + WAIT_S, proc, log)
    output = gui_add(client, "Output type")
    subject = gui_add(client, "Subject")
    # viser's default far-away camera, as the browser reports it when it connects (before any GUI message: viser
    # counts a client as connected from its first camera message on, and the server's SetCamera* show it did).
    client.send("ViewerCameraMessage", **camera_message([30.0, 30.0, 30.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], 1.3))
    pose = follow_server_camera(client)
    client.set_gui(output, "rgb")
    # The camera moved: near the person (the test rig is ~2-3 m around it, x10 in viser's scene), not the default.
    distance = np.linalg.norm(np.subtract(pose["position"], pose["look_at"])) / 10.0
    assert 0.5 < distance < 10.0, pose
    assert pose["fov"] != pytest.approx(1.3), "fov not taken from the input camera"
    image = full_frame(client, applied=[(output, "rgb")])
    centre, outer = person_fraction(image)
    # The person fills a good part of the centre and less of the border (black background around the person).
    assert centre > 0.25 and centre > 2 * outer, (centre, outer, image.shape, subject["value"])
    assert proc.poll() is None
    client.close()


OUTPUT_RES = 64
"""Max res of the every-output test: its checks do not need a large frame (nerfstudio's slider minimum)."""


def test_viewer_renders_every_output_through_the_websocket(viewer, tiny_run: Path):
    proc, port, log = viewer
    client = ViserClient(port, time.time() + WAIT_S, proc, log)
    dropdown = gui_add(client, "Output type")
    # A training-camera frustum: its pose (OpenCV, viser scale) is what the client sends when one is clicked.
    frustum = client.wait_for(lambda m: m["type"] == "CameraFrustumMessage", WAIT_S)
    assert frustum is not None, "no training camera frustums"
    name = frustum["name"]
    position = client.wait_for(lambda m: m["type"] == "SetPositionMessage" and m["name"] == name, WAIT_S)["position"]
    wxyz = client.wait_for(lambda m: m["type"] == "SetOrientationMessage" and m["name"] == name, WAIT_S)["wxyz"]

    def frustum_names() -> Set[str]:
        return {m["name"] for m in client.messages if m["type"] == "CameraFrustumMessage"}

    expected = drawn_frustums(tiny_run)  # the other frustums follow the first one: wait for all the server draws
    assert client.wait_until(lambda: expected <= frustum_names(), WAIT_S), (sorted(expected), sorted(frustum_names()))
    frustums = frustum_names()
    # tiny run: 2 train subjects x 2 frames x 3 input cameras = 12 images, camera-major: 3 cameras, 12 frustums max.
    assert 1 < len(frustums) <= 12, frustums
    # Forward (+z, OpenCV) of the frustum: look at a point in front of it.
    w, x, y, z = wxyz
    forward = np.array([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)])
    look_at = (np.asarray(position) + forward).tolist()
    up = -np.array([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)])
    camera = dict(wxyz=list(wxyz), position=list(position), fov=float(frustum["fov"]), aspect=1.0, look_at=look_at,
                  up_direction=up.tolist())  # fmt: skip
    client.send("ViewerCameraMessage", **camera)
    server_camera(client)  # connected, and the server has put it on the person: back on the frustum
    client.send("ViewerCameraMessage", **camera)
    images: Dict[str, np.ndarray] = {}
    for output in OUTPUTS:
        client.messages.clear()
        client.set_gui(dropdown, output)
        client.send("ViewerCameraMessage", **camera)
        images[output] = full_frame(client, applied=[(dropdown, output)], size=OUTPUT_RES)
        assert proc.poll() is None, f"ns-viewer died on output {output}:\n{log.read_text()[-4000:]}"
    for output, image in images.items():
        # Square (the client asked for aspect 1), OUTPUT_RES high: a frame rendered after the output was chosen.
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
    client.close()


def test_custom_controls_rerender_and_name_the_sources(viewer):
    proc, port, log = viewer
    client = ViserClient(port, time.time() + WAIT_S, proc, log)
    output, subject, frame = gui_add(client, "Output type"), gui_add(client, "Subject"), gui_add(client, "Frame")
    views, joint, sources = gui_add(client, "Source views"), gui_add(client, "Heatmap joint"), gui_add(client, "Source cameras")
    assert subject["options"][0].endswith(TEST_SUBJECTS[0]), subject["options"]  # test subjects first
    train_subject = next(name for name in subject["options"] if name.endswith(TRAIN_SUBJECTS[0]))
    client.send("ViewerCameraMessage", **camera_message([30.0, 30.0, 30.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], 1.3))
    follow_server_camera(client)  # (also: the client is connected, so its GUI changes reach the callbacks)
    client.set_gui(output, "rgb")

    def change(element: Dict, value, expect_text) -> str:
        """Send a GUI value change as the web client does; wait for the sources text and a frame rendered after it."""
        client.messages.clear()
        client.set_gui(element, value)

        def names_it(m: Dict) -> bool:
            value_update = m["type"] == "GuiUpdateMessage" and m["id"] == sources["id"] and "value" in m["updates"]
            return value_update and expect_text(m["updates"]["value"])

        text = client.wait_for(names_it, WAIT_S)
        assert text is not None, f"{element['label']}={value!r}: sources text never matched; got " + repr(
            [m["updates"] for m in client.messages if m["type"] == "GuiUpdateMessage" and m["id"] == sources["id"]]
        )
        after = next(i for i, m in enumerate(client.messages) if m is text)
        new_frame = client.wait_for(lambda m: m["type"] == "BackgroundImageMessage", WAIT_S, since=after + 1)
        assert new_frame is not None, f"{element['label']}={value!r} rendered no new frame"
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
    # Heatmap joint: the full-resolution heatmap frame differs between the maximum over joints and one joint (each
    # the first FULL_RES frame rendered after its change took effect, see full_frame).
    client.set_gui(output, "heatmap")
    client.set_gui(joint, joint["value"])  # the maximum over joints (the initial value: a no-op unless changed)
    max_frame = full_frame(client, applied=[(output, "heatmap"), (joint, joint["value"])])
    client.set_gui(joint, "RWrist")
    wrist_frame = full_frame(client, applied=[(joint, "RWrist")])
    assert max_frame.shape == wrist_frame.shape == (FULL_RES, FULL_RES, 3)
    difference = np.abs(max_frame.astype(np.float32) - wrist_frame.astype(np.float32)).mean()
    # The 4-step model's heads still sit at their prior (every joint ~0.01, model/field.py init_head_outputs), so the
    # joints differ little; renders are deterministic, though: back on the maximum, the frame is the same again.
    client.set_gui(joint, joint["value"])
    max_again = full_frame(client, applied=[(joint, joint["value"])])
    assert np.array_equal(max_again, max_frame), "the same settings rendered a different frame"
    assert difference > 0.1, f"joint=max and joint=RWrist heatmaps are the same (mean |diff| {difference:.2f})"
    assert proc.poll() is None
    client.close()
