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

import json
import re
import time
from pathlib import Path
from typing import Dict, Set, Tuple

import numpy as np
import pytest

from ghnerf_ns.viewer.remote_client import (
    FULL_RES,
    WAIT_S,
    ViserClient,
    camera_message,
    follow_server_camera,
    free_port,
    full_frame,
    gui_add,
    server_camera,
    start_viewer,
    stop,
)
from tests.e2e.conftest import TEST_SUBJECTS, TRAIN_SUBJECTS

pytestmark = pytest.mark.slow

OUTPUTS = ["rgb", "depth", "accumulation", "heatmap", "heatmaps", "heatmap_overlay", "keypoints_overlay", "cse",
           "cse_rgb"]  # fmt: skip


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
    views, joint, sources = (
        gui_add(client, "Source views"),
        gui_add(client, "Heatmap joint"),
        gui_add(client, "Source cameras"),
    )
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
    assert text.count(",") == 2, text  # the preset's 3 source cameras
    follow_server_camera(client)
    first = change(subject, subject["options"][0], lambda t: t.startswith(f"{subject['options'][0]} frame "))
    follow_server_camera(client)
    # Frame: the second frame of the test subject (the slider holds the position in its frame list).
    second = change(frame, 1, lambda t: t.startswith(subject["options"][0]) and t != first)
    assert second.split(":")[0] != first.split(":")[0], (first, second)  # "<subject> frame <n>" changed
    assert not any(m["type"].startswith("SetCamera") for m in client.messages), "a Frame change moved the camera"
    # Source views 3 -> 2: two cameras named.
    two = change(views, 2, lambda t: t.count(",") == 1)
    assert two.split(":")[0] == second.split(":")[0], two
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
