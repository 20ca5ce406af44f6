"""Start the web viewer's camera on the person: at an input camera of the chosen subject/frame, looking at the human
box.

viser's default camera sits far from a person a couple of metres tall, so a new browser tab would show mostly grid.
:class:`GHNeRFViewerCamera` is a nerfstudio ``ViewerControl`` (the viewer finds it by walking the pipeline's modules
and hands it the viser server through ``_setup``); it moves each client's camera when the client connects and
whenever the Subject control changes (a Frame change keeps the user's camera).

Conventions: poses are computed in the dataparser's world (metres, where nerfstudio's ``Cameras`` live). viser's scene
is that world times ``VISER_NERFSTUDIO_SCALE_RATIO``, and its camera is OpenCV (+z forward, -y up); nerfstudio turns
it back into an OpenGL camera-to-world (``SO3(wxyz) @ Rx(pi)``, position / scale) before rendering.
"""

import threading
from dataclasses import dataclass
from typing import Any, Callable, FrozenSet, Optional

import numpy as np
from jaxtyping import Float
from nerfstudio.viewer.viewer_elements import ViewerControl

from ghnerf_ns.data.source_bank import SourceViewBank


@dataclass(frozen=True)
class ViewerPose:
    """A viewer camera in the dataparser's world (metres)."""

    position: np.ndarray
    """(3,) camera centre."""
    look_at: np.ndarray
    """(3,) point the camera looks at."""
    up: np.ndarray
    """(3,) unit up direction (the orbit controls turn around it)."""
    fov_y: float
    """Vertical field of view, radians (viser's and nerfstudio's viewer convention)."""


def look_at_c2w(
    position: Float[np.ndarray, "3"], target: Float[np.ndarray, "3"], up: Float[np.ndarray, "3"]
) -> Float[np.ndarray, "3 4"]:
    """nerfstudio (OpenGL: -z forward, +y up) camera-to-world of a camera at ``position`` looking at ``target``.

    The camera's +y is ``up`` made orthogonal to the viewing direction (no roll relative to ``up``).
    """
    position, target, up = (np.asarray(v, dtype=np.float64) for v in (position, target, up))
    forward = target - position
    distance = np.linalg.norm(forward)
    if distance < 1e-9:
        raise ValueError("look-at target coincides with the camera position")
    forward = forward / distance
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-6 * max(np.linalg.norm(up), 1e-12):
        raise ValueError("the up direction is parallel to the viewing direction: the camera roll is undefined")
    right = right / np.linalg.norm(right)
    cam_up = np.cross(right, forward)
    return np.stack([right, cam_up, -forward, position], axis=1)


def input_camera_view(bank: SourceViewBank, subject: str, frame: int) -> ViewerPose:
    """The viewer pose of (subject, frame): its first input camera's centre, field of view and up direction (the
    image's up, which is the world's up for a level rig), looking at the centre of the human's 3D box."""
    entry = bank.pool(subject, frame)[0]
    view = bank.load([entry])  # cached: the viewer's first render at this pose uses this very camera as a source
    K, w2c = view.K[0].double().numpy(), view.w2c[0].double().numpy()
    height = view.hw[0]
    R, t = w2c[:3, :3], w2c[:3, 3]
    box = np.asarray(bank.box(subject, frame), dtype=np.float64)
    return ViewerPose(
        position=-R.T @ t,
        look_at=box.mean(axis=0),
        up=-R[1],  # OpenCV rows of R are the camera axes in the world; image up is -y
        fov_y=float(2.0 * np.arctan(height / (2.0 * K[1, 1]))),
    )


def place_client_camera(camera: Any, pose: ViewerPose, scale: float) -> None:
    """Move a viser ``CameraHandle`` to ``pose`` (world metres, scaled into viser's scene by ``scale``)."""
    with camera.client.atomic():
        camera.fov = pose.fov_y
        # viser's position setter drags look_at along; set the position first, then the target and the up direction.
        camera.position = pose.position * scale
        camera.look_at = pose.look_at * scale
        camera.up_direction = pose.up


class GHNeRFViewerCamera(ViewerControl):
    """Puts every viewer client's camera on the chosen subject/frame's person (see the module docstring)."""

    def __init__(self) -> None:
        self._pose_source: Optional[Callable[[], Optional[ViewerPose]]] = None
        self._lock: Any = None

    def shown_outputs(self) -> Optional[FrozenSet[str]]:
        """The outputs nerfstudio's viewer displays now (its "Output type" and, with the split view on, the split
        output); None when no viewer is attached (ns-render, scripts: every output is made)."""
        panel = getattr(getattr(self, "viewer", None), "control_panel", None)
        if panel is None:
            return None
        shown = {str(panel.output_render)}
        if getattr(panel, "split", False):
            shown.add(str(panel.split_output_render))
        return frozenset(shown)

    def set_pose_source(self, source: Callable[[], Optional[ViewerPose]]) -> None:
        """``source()`` gives the pose for the current controls (None: nothing to look at yet)."""
        self._pose_source = source

    def _setup(self, viewer) -> None:
        super()._setup(viewer)
        self._lock = viewer.train_lock  # the render thread holds it while it renders (it reads the source bank too)
        self.viser_server.on_client_connect(self._on_connect)

    def _on_connect(self, client: Any) -> None:
        # viser calls this from its message loop while holding its client lock, after the client's first camera
        # message: place the camera from a thread so neither the loop nor a running render is waited on here.
        threading.Thread(target=self._place_first, args=(client,), daemon=True, name="ghnerf-viewer-camera").start()

    def _place_first(self, client: Any) -> None:
        if self._lock is None:
            self._place(client)
            return
        with self._lock:
            self._place(client)

    def _place(self, client: Any) -> None:
        pose = self._pose_source() if self._pose_source is not None else None
        if pose is None:
            return
        from nerfstudio.viewer.viewer import VISER_NERFSTUDIO_SCALE_RATIO

        place_client_camera(client.camera, pose, VISER_NERFSTUDIO_SCALE_RATIO)

    def place_all(self) -> None:
        """Move every connected client to the current subject/frame (the caller holds the viewer's lock: GUI callbacks
        run inside it). Clients whose first camera message has not arrived are placed when it does."""
        if not hasattr(self, "viser_server"):
            return  # no viewer (ns-render, ns-eval, tests)
        for client in self.viser_server.get_clients().values():
            self._place(client)
