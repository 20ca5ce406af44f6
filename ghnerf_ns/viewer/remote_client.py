"""A remote client of ``ns-viewer``: viser's websocket protocol and a headless Chromium driven through DevTools.

Used by the end-to-end viewer tests (``tests/e2e/test_viewer*.py``, ``tests/e2e/test_apply_capture.py``) and by
``scripts/readme_images.py``, so the README pictures are made the way the tests exercise the viewer. ``websockets``,
``msgpack`` and ``viser`` are imported inside the functions that use them (``websockets`` and ``msgpack`` are dev
extras); every process started here runs in its own process group and :func:`stop` ends the whole group.

No helper waits for a quiet period: each waits for a state the server reports (a GUI broadcast, a frame of a requested
size), with a generous deadline that only a state never reached runs into (see :func:`full_frame`).
"""

import base64
import io
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

Seconds = Union[int, float]
"""A duration or deadline in seconds, int or float (annotations are checked at test time by jaxtyping's hook)."""
BIN = Path(sys.executable).parent
"""This interpreter's scripts folder (where ``ns-viewer`` is installed beside it)."""
FULL_RES = 512
"""nerfstudio's default "Max res": a still aspect-1 camera's final frame is FULL_RES x FULL_RES."""
MAX_RES = "Max res"
"""Label of nerfstudio's "Max res" slider (Render Options)."""
_BARRIERS = itertools.cycle(range(65, 80, 2))
"""Odd "Max res" values ``full_frame`` sets as render barriers: no low-resolution frame has an odd size unless it is
clamped to the Max res it was rendered under (render_state_machine.py rounds low sizes to multiples of 10)."""
WAIT_S = 300.0
"""Deadline of every wait for a server state: long enough for a loaded 2-core machine; only a failure reaches it."""


CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium package (``make browser``), driven headless."""
WINDOW = (800, 600)
"""Default browser window size in pixels (width, height)."""


class RemoteViewerError(RuntimeError):
    """The viewer or the browser did not reach a state in time, or exited."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_viewer(config: Path, port: int, log: Path, bin_dir: Path = BIN) -> subprocess.Popen:
    """``ns-viewer`` of ``bin_dir`` (this interpreter's scripts by default) serving ``config`` on ``port``, logging to
    ``log``, in its own process group (see :func:`stop`)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    args = [str(bin_dir / "ns-viewer"), "--load-config", str(config), "--viewer.websocket-host", "127.0.0.1",
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

    def __init__(self, port: int, deadline: Seconds, proc: subprocess.Popen, log: Path) -> None:
        from websockets.sync.client import connect

        self.port, self.proc, self.log = port, proc, log
        while True:
            if proc.poll() is not None:
                raise RemoteViewerError(f"ns-viewer exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
            try:
                self.ws = connect(f"ws://127.0.0.1:{port}", subprotocols=["viser-websocket"], max_size=None)
                break
            except OSError:
                if time.time() > deadline:
                    raise RemoteViewerError(f"ns-viewer did not start:\n{log.read_text()[-4000:]}")
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
        """Close this connection and the observer's."""
        if self._observer is not None:
            self._observer.close()
        self.ws.close()

    def send(self, message_type: str, **fields) -> None:
        """Send one message of viser's protocol."""
        import msgpack

        self.ws.send(msgpack.packb({"type": message_type, **fields}, use_bin_type=True))

    def receive(self, timeout: Seconds) -> List[Dict]:
        """The next batch of server messages (empty after ``timeout`` s), recorded in ``messages``/``values``."""
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

    def wait_for(self, predicate, timeout: Seconds, since: int = 0) -> Optional[Dict]:
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

    def wait_until(self, condition: Callable[[], bool], timeout: Seconds) -> bool:
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
    """The image of a BackgroundImageMessage."""
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


def server_camera(client: "ViserClient", timeout: Seconds = WAIT_S) -> Dict:
    """The camera the server put the client on (its SetCamera* messages in ``client.messages``, waited for).

    The server moves its own copy of the client's camera before it sends these messages (and only after the client
    counts as connected), so every render started after they arrived looks from this pose."""
    kinds = ["SetCameraFovMessage", "SetCameraPositionMessage", "SetCameraLookAtMessage", "SetCameraUpDirectionMessage"]
    for kind in kinds:
        if client.wait_for(lambda m: m["type"] == kind, timeout) is None:
            raise RemoteViewerError(f"the server sent no {kind}")
    last = {kind: [m for m in client.messages if m["type"] == kind][-1] for kind in kinds}
    # (SetCameraUpDirectionMessage names its vector "position" in viser 0.2.7.)
    return camera_message(last[kinds[1]]["position"], last[kinds[2]]["look_at"], last[kinds[3]]["position"],
                          last[kinds[0]]["fov"])  # fmt: skip


def follow_server_camera(client: "ViserClient", timeout: Seconds = WAIT_S) -> Dict:
    """Do what the browser does when the server moves its camera: apply the SetCamera* messages, report the camera."""
    pose = server_camera(client, timeout)
    client.send("ViewerCameraMessage", **pose)
    return pose


def _frame_of_size(client: "ViserClient", size: int, since: int, deadline: Seconds, what: str) -> np.ndarray:
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
        raise RemoteViewerError(f"no {size}x{size} frame ({what}); frames: {sizes}\n{client.log.read_text()[-3000:]}")
    return found["image"]


def full_frame(client: "ViserClient", applied: Sequence[Tuple[Dict, Any]] = (), size: int = FULL_RES,
               timeout: Seconds = WAIT_S) -> np.ndarray:
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
    if gui_add(observer, MAX_RES)["id"] != max_res["id"]:
        raise RemoteViewerError(f"the two connections see different {MAX_RES!r} elements")
    barrier = next(_BARRIERS)
    if observer.values.get(max_res["id"]) == barrier:
        barrier = next(_BARRIERS)
    mark, seen = len(client.messages), len(observer.messages)
    client.set_gui(max_res, barrier)

    def barrier_broadcast(m: Dict) -> bool:
        return m["type"] == "GuiUpdateMessage" and m["id"] == max_res["id"] and m["updates"].get("value") == barrier

    if observer.wait_for(barrier_broadcast, deadline - time.time(), since=seen) is None:
        raise RemoteViewerError(f"the server never applied Max res {barrier}:\n{client.log.read_text()[-3000:]}")
    for element, value in applied:
        if not observer.wait_until(lambda: observer.values.get(element["id"]) == value, deadline - time.time()):
            raise RemoteViewerError(
                f"the server never applied {element.get('label')}={value!r} "
                f"(shows {observer.values.get(element['id'])!r})"
            )
    _frame_of_size(client, barrier, mark, deadline, f"barrier Max res {barrier}")
    mark = len(client.messages)
    client.set_gui(max_res, size)
    return _frame_of_size(client, size, mark, deadline, f"Max res {size}")


def gui_add(client: "ViserClient", label: str, timeout: Seconds = WAIT_S) -> Dict:
    """The GuiAdd message of the element labelled ``label`` (waited for)."""
    if not client.wait_until(lambda: label in client.elements, timeout):
        raise RemoteViewerError(f"no {label!r} GUI element")
    return client.elements[label]


def wait_for_page(port: int, proc: subprocess.Popen, log: Path, timeout: Seconds = WAIT_S) -> None:
    """Waits until the viewer's web server answers on http://127.0.0.1:<port>/."""
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise RemoteViewerError(f"ns-viewer exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.time() > deadline:
            raise RemoteViewerError(f"ns-viewer page did not answer:\n{log.read_text()[-4000:]}")
        time.sleep(1.0)  # poll interval (the deadline decides)


class DevTools:
    """Just enough of the Chrome DevTools protocol (through the `websockets` package) to read and screenshot a page."""

    def __init__(self, debug_port: int, page_url: str, deadline: Seconds) -> None:
        from websockets.sync.client import connect

        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json/list", timeout=5) as answer:
                    targets = json.load(answer)
                page = next(t for t in targets if t.get("type") == "page" and t.get("url", "").startswith(page_url))
                break
            except (OSError, StopIteration, ValueError):
                if time.time() > deadline:
                    raise RemoteViewerError(f"chromium opened no page {page_url} (DevTools port {debug_port})")
                time.sleep(1.0)  # poll interval while chromium starts (the deadline decides)
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None)
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        """Send one DevTools command and return its result (events in between are skipped)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # skip the protocol's events until our answer
            message = json.loads(self.ws.recv(timeout=WAIT_S))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RemoteViewerError(f"DevTools {method} failed: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        """Value of a JavaScript expression in the page."""
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def screenshot_png(self) -> bytes:
        """A PNG screenshot of the page."""
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


