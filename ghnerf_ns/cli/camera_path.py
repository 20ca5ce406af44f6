"""``ghnerf-camera-path``: an orbit around one subject at one frame, as a camera-path JSON for
``ns-render camera-path``.

    ghnerf-camera-path --load-config outputs/.../config.yml --output-path orbit.json --subject 386 --frame 0
    GHNERF_SUBJECT=CoreView_386 GHNERF_FRAME=0 ns-render camera-path --load-config outputs/.../config.yml \\
        --camera-path-filename orbit.json --output-path orbit.mp4 \\
        --rendered-output-names rgb heatmap_overlay keypoints_overlay

The orbit circles the centre of the subject's 3D box, at the box centre's height, around the world's up axis. The up
axis is the mean up vector of the subject's input cameras (ZJU-MoCap's world is -z up), never assumed. The radius and
field of view default to the input cameras' mean distance and field of view, so the person fills the frame as in the
inputs. The JSON follows nerfstudio's viewer export; ``ns-render`` cannot read the extra ``ghnerf_subject`` and
``ghnerf_frame`` keys, hence the printed ``GHNERF_SUBJECT``/``GHNERF_FRAME`` line.
"""

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import tyro
import yaml

from dataparsers.human_common import SOURCES_KEY, HumanImageIndex
from ghnerf_ns.runtime import setup_runtime
from ghnerf_ns.runtime.user_errors import GHNeRFConfigError
from ghnerf_ns.viewer.controls import FRAME_ENV, SUBJECT_ENV, match_subject


@dataclass(frozen=True)
class Orbit:
    """Circle of camera centres around ``centre`` in the plane orthogonal to ``up``."""

    centre: np.ndarray
    """(3,) point every camera looks at (box centre)."""
    up: np.ndarray
    """(3,) unit world up vector."""
    start: np.ndarray
    """(3,) unit vector orthogonal to ``up``: direction from the centre to the first camera."""
    radius: float
    """Distance of the cameras from the centre."""


def look_at_c2w(position: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """4x4 camera-to-world in nerfstudio's (OpenGL) convention: x right, y up, z backward (away from ``target``)."""
    back = position - target
    back = back / np.linalg.norm(back)
    right = np.cross(up, back)
    right = right / np.linalg.norm(right)
    cam_up = np.cross(back, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, cam_up, back, position
    return c2w


def orbit_c2ws(orbit: Orbit, num_frames: int) -> np.ndarray:
    """(num_frames, 4, 4) cameras evenly spaced on a full turn (the last one stops short of the first)."""
    side = np.cross(orbit.up, orbit.start)
    poses = []
    for k in range(num_frames):
        angle = 2.0 * math.pi * k / num_frames
        position = orbit.centre + orbit.radius * (math.cos(angle) * orbit.start + math.sin(angle) * side)
        poses.append(look_at_c2w(position, orbit.centre, orbit.up))
    return np.stack(poses)


def orbit_from_cameras(box: np.ndarray, w2cs: np.ndarray, radius: Optional[float] = None) -> Orbit:
    """Orbit around a (2, 3) box's centre, from the input cameras' OpenCV (N, 3|4, 4) world-to-camera matrices."""
    centre = box.mean(axis=0)
    rotations = w2cs[:, :3, :3]
    positions = -np.einsum("nji,nj->ni", rotations, w2cs[:, :3, 3])  # -R^T t
    up = -rotations[:, 1, :].mean(axis=0)  # OpenCV's y axis points down in the image
    if np.linalg.norm(up) < 1e-6:
        raise GHNeRFConfigError("the input cameras' up vectors cancel out: cannot derive the world's up axis")
    up = up / np.linalg.norm(up)
    offsets = positions - centre
    horizontal = offsets - np.outer(offsets @ up, up)
    start = horizontal[0] if np.linalg.norm(horizontal[0]) > 1e-6 else np.cross(up, [1.0, 0.0, 0.0])
    if np.linalg.norm(start) < 1e-6:
        start = np.cross(up, [0.0, 1.0, 0.0])
    start = start / np.linalg.norm(start)
    if radius is None:
        radius = float(np.linalg.norm(offsets, axis=1).mean())
    if radius <= 0:
        raise GHNeRFConfigError(f"--radius must be positive, got {radius}")
    return Orbit(centre=centre, up=up, start=start, radius=float(radius))


def camera_path_json(
    c2ws: np.ndarray, fov_deg: float, width: int, height: int, seconds: float, subject: str, frame: int
) -> Dict:
    """The camera-path dictionary ``ns-render camera-path`` reads (nerfstudio's viewer export format)."""
    aspect = width / height
    return {
        "camera_type": "perspective",
        "render_height": int(height),
        "render_width": int(width),
        "fps": len(c2ws) / seconds,
        "seconds": seconds,
        "camera_path": [
            {"camera_to_world": c2w.reshape(-1).tolist(), "fov": fov_deg, "aspect": aspect} for c2w in c2ws
        ],
        "ghnerf_subject": subject,
        "ghnerf_frame": int(frame),
    }


def load_sources(config_path: Path) -> Tuple[List[HumanImageIndex], int]:
    """Input-camera index of both splits (test first) and the working resolution of a training run's config.yml."""
    if not config_path.is_file():
        raise GHNeRFConfigError(f"--load-config {config_path}: no such file (give an ns-train run's config.yml)")
    config = yaml.load(config_path.read_text(), Loader=yaml.Loader)
    datamanager = config.pipeline.datamanager
    parser_config = datamanager.dataparser
    if getattr(datamanager, "data", None) is not None:
        parser_config.data = datamanager.data
    parser = parser_config.setup()
    indices = [parser.get_dataparser_outputs(split=split).metadata[SOURCES_KEY] for split in ("test", "train")]
    return indices, int(datamanager.resolution)


@dataclass
class CameraPathConfig:
    """Write an orbit camera path around one subject at one frame."""

    load_config: Path
    """config.yml of an ns-train run (its dataset and working resolution are used)."""
    output_path: Path = Path("orbit.json")
    """Camera-path JSON to write."""
    subject: Optional[str] = None
    """Subject name or unique suffix (e.g. 386); default: the first test subject."""
    frame: Optional[int] = None
    """Frame number of the subject; default: its first frame."""
    frames: int = 60
    """Number of cameras (video frames) on the orbit."""
    seconds: float = 4.0
    """Video duration."""
    radius: Optional[float] = None
    """Orbit radius in world units; default: the input cameras' mean distance to the box centre."""
    fov: Optional[float] = None
    """Vertical field of view in degrees; default: the input cameras' mean."""
    resolution: Optional[Tuple[int, int]] = None
    """Video size W H; default: the input images' working size."""


def write_camera_path(cfg: CameraPathConfig) -> Dict:
    """Builds the orbit of ``cfg`` and writes it to ``cfg.output_path``; returns the JSON dictionary."""
    if cfg.frames < 1:
        raise GHNeRFConfigError(f"--frames must be at least 1, got {cfg.frames}")
    indices, resolution = load_sources(cfg.load_config)
    names: List[str] = []
    for index in indices:
        names += [n for n in dict.fromkeys(index.subjects[s] for s in index.subject_idx) if n not in names]
    subject = match_subject(cfg.subject, names) if cfg.subject else names[0]
    index = next(i for i in indices if subject in i.subjects)
    rows = np.flatnonzero(np.array([index.subjects[s] == subject for s in index.subject_idx]))
    frames = sorted({int(f) for f in index.frame[rows]})
    frame = frames[0] if cfg.frame is None else cfg.frame
    if frame not in frames:
        raise GHNeRFConfigError(f"--frame {frame} is not a frame of {subject}: its frames are {frames}")
    rows = rows[index.frame[rows] == frame]
    from ghnerf_ns.data.image_loading import working_camera

    cams = [working_camera(index, int(r), resolution) for r in rows]
    w2cs = np.stack([w2c for _, w2c, _ in cams]).astype(np.float64)
    orbit = orbit_from_cameras(index.box(int(rows[0])), w2cs, cfg.radius)
    width, height = cfg.resolution or cams[0][2]
    fov = cfg.fov
    if fov is None:
        fov = float(np.mean([math.degrees(2.0 * math.atan(0.5 * size[1] / K[1, 1])) for K, _, size in cams]))
    data = camera_path_json(orbit_c2ws(orbit, cfg.frames), fov, int(width), int(height), cfg.seconds, subject, frame)
    cfg.output_path.parent.mkdir(parents=True, exist_ok=True)
    cfg.output_path.write_text(json.dumps(data, indent=1))
    return data


def entrypoint() -> None:
    """Console-script entry point."""
    cfg = tyro.cli(CameraPathConfig, prog="ghnerf-camera-path", description=__doc__)
    setup_runtime()
    try:
        data = write_camera_path(cfg)
    except GHNeRFConfigError as err:
        print(f"ghnerf-camera-path: error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"ghnerf-camera-path: wrote {len(data['camera_path'])} cameras to {cfg.output_path}")
    print("render it with the same subject and frame:")
    print(f"{SUBJECT_ENV}={data['ghnerf_subject']} {FRAME_ENV}={data['ghnerf_frame']}")


if __name__ == "__main__":
    entrypoint()
