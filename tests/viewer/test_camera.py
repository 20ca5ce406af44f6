"""Viewer start camera: look-at maths, the pose of a subject/frame's input camera, and the viser camera it becomes.

The chain is checked against nerfstudio's own conversion (``ViewerControl.get_camera``: viser's OpenCV camera at
``VISER_NERFSTUDIO_SCALE_RATIO`` back to an OpenGL ``Cameras``), so the render really is taken from the input camera.
"""

import contextlib
import threading
from typing import List, Tuple

import numpy as np
import pytest
import torch
import viser
from nerfstudio.viewer.viewer import VISER_NERFSTUDIO_SCALE_RATIO
from nerfstudio.viewer.viewer_elements import ViewerControl

from ghnerf_ns.data.source_bank import SourceViewBank, SubjectFrames
from ghnerf_ns.model.views import SourceViews
from ghnerf_ns.viewer.camera import ViewerPose, input_camera_view, look_at_c2w, place_client_camera
from ghnerf_ns.viewer.controls import GHNeRFViewerControls


def test_look_at_hand_cases():
    # Looking down -z with +y up: the identity rotation.
    c2w = look_at_c2w(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(c2w, [[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3]], atol=1e-12)
    # ZJU-like world (z up): a camera on +x looking at the origin. right = +y, up = +z, back (+z_cam) = +x.
    c2w = look_at_c2w(np.array([2.0, 0.0, 0.0]), np.zeros(3), np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(c2w, [[0, 0, 1, 2], [1, 0, 0, 0], [0, 1, 0, 0]], atol=1e-12)
    # A tilted up vector is made orthogonal to the view direction (no roll), the rotation stays orthonormal.
    c2w = look_at_c2w(np.array([0.0, -3.0, 1.0]), np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.3, 1.0]))
    R = c2w[:, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    np.testing.assert_allclose(-R[:, 2], np.array([0.0, 3.0, -1.0]) / np.sqrt(10.0), atol=1e-12)
    assert R[:, 0] @ np.array([0.0, 0.3, 1.0]) == pytest.approx(0.0, abs=1e-12)


def test_look_at_degenerate_inputs_raise():
    with pytest.raises(ValueError, match="coincides"):
        look_at_c2w(np.ones(3), np.ones(3), np.array([0.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="parallel"):
        look_at_c2w(np.zeros(3), np.array([0.0, 0.0, 5.0]), np.array([0.0, 0.0, 1.0]))


def opencv_w2c(position: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(4, 4) OpenCV world-to-camera of a camera at ``position`` looking at ``target`` (reference, by hand)."""
    z = (target - position) / np.linalg.norm(target - position)
    x = np.cross(z, up)  # right = forward x up
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: camera axes in the world
    w2c = np.eye(4)
    w2c[:3, :3], w2c[:3, 3] = R, -R @ position
    return w2c


class TinyBank(SourceViewBank):
    """Two subjects with one input camera per frame each; no images on disk (only what the viewer camera reads)."""

    def __init__(self, rigs) -> None:  # no super().__init__: nothing to index
        self.rigs = rigs  # {(subject, frame): (K, w2c, height, box)}
        self.loaded: List[Tuple[int, int]] = []

    @property
    def subjects(self) -> List[SubjectFrames]:
        names = sorted({s for s, _ in self.rigs})
        return [SubjectFrames(n, "test", tuple(sorted(f for s, f in self.rigs if s == n))) for n in names]

    def pool(self, subject: str, frame: int) -> List[Tuple[int, int]]:
        return [(sorted(self.rigs).index((subject, frame)), 0)]

    def load(self, entries) -> SourceViews:
        self.loaded += list(entries)
        K, w2c, height, _ = self.rigs[sorted(self.rigs)[entries[0][0]]]
        return SourceViews(
            images=torch.zeros(1, 3, height, 48), K=torch.from_numpy(K)[None].float(),
            w2c=torch.from_numpy(w2c)[None].float(), camera_ids=torch.zeros(1, dtype=torch.long),
        )  # fmt: skip

    def box(self, subject: str, frame: int) -> np.ndarray:
        return self.rigs[(subject, frame)][3]


CAM_A = np.array([3.0, -1.0, 1.2])
CAM_B = np.array([-2.0, 2.0, 0.5])
BOX_A = np.array([[-0.3, -0.2, 0.0], [0.3, 0.2, 1.8]], dtype=np.float32)  # centre (0, 0, 0.9)
BOX_B = np.array([[0.7, 0.8, -0.1], [1.3, 1.2, 1.7]], dtype=np.float32)  # centre (1, 1, 0.8)
K_A = np.array([[40.0, 0, 24.0], [0, 32.0, 32.0], [0, 0, 1]])  # H = 64, fy = 32: fov 90 degrees
K_B = np.array([[60.0, 0, 24.0], [0, 60.0, 20.0], [0, 0, 1]])  # H = 40, fy = 60


def tiny_bank() -> TinyBank:
    # Each camera aims *off* the box centre (at a point 0.4 m away), so "looks at the box centre" is a real check.
    w2c_a = opencv_w2c(CAM_A, np.array([0.0, 0.4, 0.9]), np.array([0.0, 0.0, 1.0]))
    w2c_b = opencv_w2c(CAM_B, np.array([1.0, 1.0, 0.4]), np.array([0.0, 0.0, 1.0]))
    return TinyBank({("A", 0): (K_A, w2c_a, 64, BOX_A), ("B", 3): (K_B, w2c_b, 40, BOX_B)})


def test_input_camera_view_hand_numbers():
    bank = tiny_bank()
    pose = input_camera_view(bank, "A", 0)
    np.testing.assert_allclose(pose.position, CAM_A, atol=1e-5)
    np.testing.assert_allclose(pose.look_at, [0.0, 0.0, 0.9], atol=1e-6)
    assert pose.fov_y == pytest.approx(np.pi / 2)  # 2 atan(64 / (2 * 32))
    # The level camera's image-up is the world's +z once made orthogonal to its (slightly downward) view.
    assert pose.up @ np.array([0.0, 0.0, 1.0]) > 0.9 and abs(np.linalg.norm(pose.up) - 1.0) < 1e-6
    c2w = look_at_c2w(pose.position, pose.look_at, pose.up)
    to_box = (pose.look_at - pose.position) / np.linalg.norm(pose.look_at - pose.position)
    np.testing.assert_allclose(-c2w[:, 2], to_box, atol=1e-9)  # OpenGL forward (-z) points at the box centre
    assert input_camera_view(bank, "B", 3).fov_y == pytest.approx(2 * np.arctan(40 / 120))


class FakeConnection:
    def __init__(self) -> None:
        self.sent: List[object] = []

    def queue_message(self, message) -> None:
        self.sent.append(message)


class FakeClient:
    """What viser's CameraHandle needs of a client: a connection to queue messages on and ``atomic()``."""

    def __init__(self, client_id: int = 0) -> None:
        self.client_id = client_id
        self._websock_connection = FakeConnection()
        self.camera = viser.CameraHandle(self)  # the real handle: its setters do the look-at -> wxyz maths
        # As after the client's first ViewerCameraMessage: viser's default far-away camera.
        state = self.camera._state
        state.position, state.look_at = np.array([30.0, 30.0, 30.0]), np.zeros(3)
        state.up_direction = np.array([0.0, 0.0, 1.0])
        state.fov, state.aspect, state.update_timestamp = 1.3, 1.0, 1.0
        self.camera._update_wxyz()

    def atomic(self):
        return contextlib.nullcontext()


class FakeServer:
    def __init__(self, clients) -> None:
        self.clients = {c.client_id: c for c in clients}
        self.connect_callbacks: List = []

    def get_clients(self):
        return dict(self.clients)

    def on_client_connect(self, cb):
        self.connect_callbacks.append(cb)
        return cb


class FakeViewer:
    def __init__(self, server) -> None:
        self.viser_server = server
        self.train_lock = threading.Lock()


def nerfstudio_camera(client: FakeClient, height: int):
    """nerfstudio's own reading of the client camera (what the viewer renders)."""
    control = ViewerControl()
    control._setup(FakeViewer(FakeServer([client])))
    return control.get_camera(height, height, client.client_id)


def test_placed_viser_camera_is_the_input_camera_for_nerfstudio():
    pose = input_camera_view(tiny_bank(), "A", 0)
    client = FakeClient()
    place_client_camera(client.camera, pose, VISER_NERFSTUDIO_SCALE_RATIO)
    kinds = [type(m).__name__ for m in client._websock_connection.sent]
    assert {
        "SetCameraFovMessage",
        "SetCameraPositionMessage",
        "SetCameraLookAtMessage",
        "SetCameraUpDirectionMessage",
    } <= set(kinds)
    look = [m for m in client._websock_connection.sent if type(m).__name__ == "SetCameraLookAtMessage"][-1]
    np.testing.assert_allclose(look.look_at, np.array([0.0, 0.0, 0.9]) * VISER_NERFSTUDIO_SCALE_RATIO, atol=1e-5)
    camera = nerfstudio_camera(client, 64)
    c2w = camera.camera_to_worlds.reshape(3, 4).double().numpy()
    np.testing.assert_allclose(c2w, look_at_c2w(pose.position, pose.look_at, pose.up), atol=1e-5)
    np.testing.assert_allclose(c2w[:, 3], CAM_A, atol=1e-5)
    assert float(camera.fy) == pytest.approx(32.0, rel=1e-5)  # same vertical field of view as the input camera
    # The box centre projects to the image centre of the rendered view.
    centre_cam = c2w[:, :3].T @ (np.array([0.0, 0.0, 0.9]) - c2w[:, 3])
    assert centre_cam[2] < 0 and np.allclose(centre_cam[:2], 0.0, atol=1e-6)


def test_viewer_control_places_on_connect_and_on_subject_change(monkeypatch):
    monkeypatch.delenv("GHNERF_SUBJECT", raising=False)
    monkeypatch.delenv("GHNERF_FRAME", raising=False)
    bank = tiny_bank()
    controls = GHNeRFViewerControls()
    controls.attach_bank(bank)
    assert controls.subject_frame() == ("A", 0)
    client = FakeClient(7)
    server = FakeServer([client])
    viewer = FakeViewer(server)
    controls.h_camera._setup(viewer)
    assert server.connect_callbacks, "the camera control did not listen for new clients"
    server.connect_callbacks[0](client)  # viser: the client's first camera message arrived
    for thread in [t for t in threading.enumerate() if t.name == "ghnerf-viewer-camera"]:
        thread.join(timeout=300)  # a deadline for a hang only: a loaded machine may take long to place the camera
        assert not thread.is_alive(), "the camera placement thread never finished"
    np.testing.assert_allclose(
        nerfstudio_camera(client, 64).camera_to_worlds.reshape(3, 4)[:, 3].numpy(), CAM_A, atol=1e-5
    )
    # Choosing subject B (as the dropdown callback does) moves the connected client to B's input camera.
    controls.a_subject.value = "B"
    controls._on_subject(controls.a_subject)
    camera = nerfstudio_camera(client, 40)
    np.testing.assert_allclose(camera.camera_to_worlds.reshape(3, 4)[:, 3].numpy(), CAM_B, atol=1e-5)
    assert float(camera.fy) == pytest.approx(60.0, rel=1e-5)
    # Frame changes keep the user's camera (no callback on the slider).
    client._websock_connection.sent.clear()
    controls.b_frame.value = 1
    controls.b_frame.cb_hook(controls.b_frame)
    assert not any(type(m).__name__.startswith("SetCamera") for m in client._websock_connection.sent)


def test_without_a_viewer_nothing_is_placed(monkeypatch):
    monkeypatch.delenv("GHNERF_SUBJECT", raising=False)
    monkeypatch.delenv("GHNERF_FRAME", raising=False)
    controls = GHNeRFViewerControls()
    controls.attach_bank(tiny_bank())
    controls._on_subject(controls.a_subject)  # ns-render / ns-eval: no viser server, no error
    assert isinstance(controls.h_camera._pose_source(), ViewerPose)
