"""A Pose2Sim / Qualisys capture (calibration file + one video per camera) as an ``easymocap-data`` sequence.

    python scripts/pose2sim_to_easymocap.py --calibration Demo_SinglePerson/calibration/Calib.qca.txt \
        --videos Demo_SinglePerson/videos --out data/p2s_single --frames 0 100 20

writes ``<out>/intri.yml`` (names, K_<cam>, dist_<cam>, W_<cam>, H_<cam>), ``<out>/extri.yml`` (names, R_<cam>
Rodrigues, Rot_<cam>, T_<cam> in metres) as OpenCV FileStorage, and ``<out>/images/<cam>/<frame:06d>.jpg`` for the
frames ``range(start, stop, step)`` of every video. Then ``ghnerf-teacher --data <out>`` adds keypoints and masks.
Needs numpy and OpenCV only (the main venv or the teacher's).

Calibration files read (by suffix):

* ``.qca.txt`` / ``.qca`` (Qualisys QTM XML export, as in Pose2Sim's demos): per ``<camera serial=...>``, a
  ``<transform x y z r11 .. r33>`` and an ``<intrinsic ...>``. Conventions, checked on Pose2Sim's demo:

  - ``x, y, z`` is the camera centre in the world, **millimetres**; the matrix ``[[r11 r12 r13] [r21 ..] ..]`` is the
    world-to-camera rotation of a camera frame whose y points up and z backwards (OpenGL-like), so OpenCV's
    world-to-camera rotation is ``diag(1, -1, -1) @ r`` and ``T = -R_opencv @ centre / 1000``;
  - ``focalLengthU/V`` and ``centerPointU/V`` are in 1/64 pixel ("subpixels") of the sensor; the principal point is
    relative to the ``fov_video`` window, so ``cx = centerPointU / 64 - left``; the image size is
    ``right - left + 1`` by ``bottom - top + 1`` (``--binning 2`` for a 540p recording of a 1080p sensor);
  - ``radialDistortion1/2/3`` and ``tangentalDistortion1/2`` are OpenCV's dimensionless ``k1 k2 k3 p1 p2``: an
    OpenCV checkerboard calibration of the demo's own intrinsics images (cam01) gives k1 -0.053, k2 0.151, where the
    file says -0.046, 0.140. (Pose2Sim divides them by 64 as well and writes them times 64 in its own .qca export:
    for a file written by Pose2Sim's ``calib_toml_to_qca``, pass ``--qca-distortion-scale 64``.)

* ``.toml`` (Pose2Sim's own calibration, ``Calib_*.toml``): per camera table ``name``, ``size`` [w, h], ``matrix``
  (pixels), ``distortions`` [k1, k2, p1, p2], ``rotation`` (Rodrigues, world-to-camera), ``translation`` (metres),
  ``fisheye`` (fisheye cameras are refused: the dataparser models pinhole + OpenCV distortion). Needs Python 3.11
  (``tomllib``) or the ``tomli`` package.

Videos and cameras are matched by name (``cam01.mp4`` for camera ``cam01``) or else, with as many videos as
cameras, in natural name order (printed). A video whose size differs from the calibration's by at most 16 pixels
(codecs crop or pad to a multiple of 16: the demo's cam01 video is 1080 wide, its calibration 1088) keeps K; a
uniformly scaled one gets K scaled; anything else is refused. Unsynchronised videos: ``--offsets`` adds a frame
offset per camera (camera order of ``names``).
"""

import argparse
import math
import re
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")
SIZE_SLACK_PX = 16
"""Video sizes within this many pixels of the calibrated size keep K (codec cropping/padding to 16-pixel blocks)."""
QCA_SUBPIXELS = 64.0
"""Qualisys stores focal lengths and principal points in 1/64 pixel."""
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0])
"""Camera axes y up / z backwards (Qualisys) to y down / z forwards (OpenCV)."""


class ConversionError(ValueError):
    """A bad input file or option; the message names it and the fix."""


@dataclass
class Camera:
    """One camera in OpenCV conventions."""

    name: str
    K: np.ndarray
    """(3, 3) pixels."""
    dist: np.ndarray
    """(5,) k1 k2 p1 p2 k3."""
    R: np.ndarray
    """(3, 3) world-to-camera."""
    T: np.ndarray
    """(3,) metres."""
    size: Tuple[int, int]
    """(width, height) the calibration belongs to."""


def natural_key(name: str) -> Tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _float(element: ElementTree.Element, key: str, path: Path) -> float:
    value = element.get(key)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConversionError(f"{path}: <{element.tag}> has no numeric attribute {key} (got {value!r})") from None
    if not math.isfinite(number):
        raise ConversionError(f"{path}: <{element.tag}> {key} is not finite")
    return number


def read_qca(path: Path, binning: int = 1, distortion_scale: float = 1.0) -> List[Camera]:
    """Cameras of a Qualisys ``.qca.txt`` file (see the module docstring for the conventions)."""
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as err:
        raise ConversionError(f"{path}: not a readable Qualisys .qca XML file ({err})") from None
    cameras = []
    for element in root.findall("cameras/camera"):
        name = element.get("serial") or f"cam{len(cameras) + 1:02d}"
        if element.get("active", "1") == "0":
            print(f"{path}: camera {name} is inactive in the calibration; skipped")
            continue
        fov, transform, intrinsic = (element.find(tag) for tag in ("fov_video", "transform", "intrinsic"))
        if fov is None or transform is None or intrinsic is None:
            raise ConversionError(f"{path}: camera {name} lacks <fov_video>, <transform> or <intrinsic>")
        left, top = _float(fov, "left", path), _float(fov, "top", path)
        width = (_float(fov, "right", path) - left + 1) / binning
        height = (_float(fov, "bottom", path) - top + 1) / binning
        scale = QCA_SUBPIXELS * binning
        fu, fv = _float(intrinsic, "focalLengthU", path) / scale, _float(intrinsic, "focalLengthV", path) / scale
        cu = _float(intrinsic, "centerPointU", path) / scale - left / binning
        cv = _float(intrinsic, "centerPointV", path) / scale - top / binning
        skew = _float(intrinsic, "skew", path) / scale if intrinsic.get("skew") is not None else 0.0
        K = np.array([[fu, skew, cu], [0.0, fv, cv], [0.0, 0.0, 1.0]])
        k1, k2 = (_float(intrinsic, f"radialDistortion{i}", path) for i in (1, 2))
        k3 = _float(intrinsic, "radialDistortion3", path) if intrinsic.get("radialDistortion3") is not None else 0.0
        p1, p2 = (_float(intrinsic, f"tangentalDistortion{i}", path) for i in (1, 2))
        dist = np.array([k1, k2, p1, p2, k3]) / distortion_scale
        r = np.array([[_float(transform, f"r{i}{j}", path) for j in (1, 2, 3)] for i in (1, 2, 3)])
        centre = np.array([_float(transform, axis, path) for axis in "xyz"]) / 1000.0  # millimetres
        R = OPENGL_TO_OPENCV @ r
        cameras.append(Camera(name, K, dist, R, -R @ centre, (round(width), round(height))))
    if not cameras:
        raise ConversionError(f"{path}: no <cameras><camera> element; not a Qualisys calibration export")
    return cameras


def read_pose2sim_toml(path: Path) -> List[Camera]:
    """Cameras of a Pose2Sim ``Calib*.toml`` calibration."""
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError:
            raise ConversionError(f"{path}: reading .toml needs Python 3.11 or `pip install tomli`") from None
    import cv2

    try:
        with open(path, "rb") as fp:
            data = tomllib.load(fp)
    except (OSError, ValueError) as err:
        raise ConversionError(f"{path}: not a readable TOML file ({err})") from None
    cameras = []
    for key, table in data.items():
        if key == "metadata" or not isinstance(table, dict):
            continue
        try:
            if table.get("fisheye", False):
                raise ConversionError(f"{path}: camera {key} is a fisheye camera; only pinhole + OpenCV distortion")
            K = np.asarray(table["matrix"], dtype=np.float64).reshape(3, 3)
            d = np.asarray(table["distortions"], dtype=np.float64).reshape(-1)
            R = cv2.Rodrigues(np.asarray(table["rotation"], dtype=np.float64).reshape(3, 1))[0]
            T = np.asarray(table["translation"], dtype=np.float64).reshape(3)
            w, h = (int(round(float(v))) for v in table["size"])
        except (KeyError, ValueError, TypeError) as err:
            raise ConversionError(f"{path}: camera {key}: missing or malformed {err} (Pose2Sim calibration format)")
        cameras.append(Camera(str(table.get("name", key)), K, np.pad(d[:5], (0, 5 - min(d.size, 5))), R, T, (w, h)))
    if not cameras:
        raise ConversionError(f"{path}: no camera tables; not a Pose2Sim calibration")
    return cameras


def read_calibration(path: Path, binning: int, distortion_scale: float) -> List[Camera]:
    name = path.name.lower()
    if name.endswith(".qca.txt") or name.endswith(".qca"):
        cameras = read_qca(path, binning, distortion_scale)
    elif name.endswith(".toml"):
        cameras = read_pose2sim_toml(path)
    else:
        raise ConversionError(f"{path}: unknown calibration type; expected a Qualisys .qca.txt or a Pose2Sim .toml")
    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        raise ConversionError(f"{path}: camera names repeat ({', '.join(names)})")
    for cam in cameras:
        if not (np.isfinite(cam.R).all() and abs(np.linalg.det(cam.R) - 1) < 1e-3):
            raise ConversionError(f"{path}: camera {cam.name}: the rotation is not a rotation matrix")
    radius = max(float(np.linalg.norm(-c.R.T @ c.T)) for c in cameras)
    if radius > 100:
        raise ConversionError(f"{path}: camera centres up to {radius:.0f} units from the origin; expected metres")
    return sorted(cameras, key=lambda c: natural_key(c.name))


def match_videos(cameras: List[Camera], videos: Sequence[Path]) -> Dict[str, Path]:
    """camera name -> video: by file stem, else in natural order when the counts agree."""
    by_stem = {v.stem: v for v in videos}
    if all(c.name in by_stem for c in cameras):
        return {c.name: by_stem[c.name] for c in cameras}
    if len(videos) != len(cameras):
        raise ConversionError(
            f"{len(cameras)} calibrated cameras ({', '.join(c.name for c in cameras)}) but {len(videos)} videos "
            f"({', '.join(v.name for v in videos)}); name each video after its camera or pass one per camera"
        )
    ordered = sorted(videos, key=lambda v: natural_key(v.name))
    mapping = {c.name: v for c, v in zip(cameras, ordered)}
    print("videos matched to cameras in natural order: " + ", ".join(f"{c} <- {v.name}" for c, v in mapping.items()))
    return mapping


def fit_intrinsics(cam: Camera, width: int, height: int, video: Path) -> np.ndarray:
    """K for the video's frame size (see the module docstring)."""
    cw, ch = cam.size
    if (width, height) == (cw, ch):
        return cam.K
    if abs(width - cw) <= SIZE_SLACK_PX and abs(height - ch) <= SIZE_SLACK_PX:
        print(f"{video.name}: {width}x{height}, calibrated at {cw}x{ch}: taken as codec cropping/padding, K kept")
        return cam.K
    sx, sy = width / cw, height / ch
    if abs(sx - sy) < 0.01:
        print(f"{video.name}: {width}x{height}, calibrated at {cw}x{ch}: K scaled by {sx:.4f}")
        return np.diag([sx, sy, 1.0]) @ cam.K
    raise ConversionError(
        f"{video}: frames are {width}x{height} but camera {cam.name} was calibrated at {cw}x{ch}; "
        "recalibrate, or for a binned recording of the calibrated sensor pass --binning"
    )


def write_calibration(out: Path, cameras: List[Camera], K: Dict[str, np.ndarray], sizes: Dict[str, Tuple[int, int]]):
    """``intri.yml`` and ``extri.yml`` as the easymocap-data dataparser reads them."""
    import cv2

    out.mkdir(parents=True, exist_ok=True)
    intri = cv2.FileStorage(str(out / "intri.yml"), cv2.FILE_STORAGE_WRITE)
    extri = cv2.FileStorage(str(out / "extri.yml"), cv2.FILE_STORAGE_WRITE)
    for fs in (intri, extri):
        fs.startWriteStruct("names", cv2.FileNode_SEQ)
        for cam in cameras:
            fs.write("", cam.name)
        fs.endWriteStruct()
    for cam in cameras:
        intri.write(f"K_{cam.name}", K[cam.name])
        intri.write(f"dist_{cam.name}", cam.dist.reshape(1, 5))
        intri.write(f"W_{cam.name}", int(sizes[cam.name][0]))
        intri.write(f"H_{cam.name}", int(sizes[cam.name][1]))
        extri.write(f"R_{cam.name}", cv2.Rodrigues(cam.R)[0])
        extri.write(f"Rot_{cam.name}", cam.R)
        extri.write(f"T_{cam.name}", cam.T.reshape(3, 1))
    intri.release()
    extri.release()


def extract_frames(
    video: Path, out_dir: Path, frames: Sequence[int], offset: int, quality: int
) -> Tuple[Tuple[int, int], List[int]]:
    """Write ``<frame:06d>.jpg`` for each frame (read at ``frame + offset``); (width, height) and frames written."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise ConversionError(f"{video}: cannot be opened by OpenCV's VideoCapture (codec or file problem)")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    out_dir.mkdir(parents=True, exist_ok=True)
    written, position = [], 0
    for frame in sorted(frames):
        source = frame + offset
        if source < 0 or (count > 0 and source >= count):
            continue
        if source != position:  # seek only when not reading on (seeking is slow and inexact in some codecs)
            capture.set(cv2.CAP_PROP_POS_FRAMES, source)
            position = source
        ok, image = capture.read()
        position += 1
        if not ok:
            continue
        size = (image.shape[1], image.shape[0])
        cv2.imwrite(str(out_dir / f"{frame:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        written.append(frame)
    capture.release()
    return size, written


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibration", type=Path, required=True, help="Qualisys .qca.txt or Pose2Sim .toml")
    parser.add_argument(
        "--videos", type=Path, nargs="+", required=True, help="a folder of videos, or the video files (one per camera)"
    )
    parser.add_argument("--out", type=Path, required=True, help="the sequence folder to write")
    parser.add_argument(
        "--frames",
        type=int,
        nargs=3,
        default=(0, 300, 30),
        metavar=("START", "STOP", "STEP"),
        help="frames range(START, STOP, STEP) (default: 0 300 30)",
    )
    parser.add_argument(
        "--offsets",
        type=int,
        nargs="+",
        default=None,
        help="per-camera frame offsets for unsynchronised videos, in camera name order",
    )
    parser.add_argument("--binning", type=int, default=1, help="Qualisys binning factor (2 for 540p of 1080p)")
    parser.add_argument(
        "--qca-distortion-scale",
        type=float,
        default=1.0,
        help="divide the .qca distortion coefficients by this (64 for files from Pose2Sim's "
        "calib_toml_to_qca; default 1)",
    )
    parser.add_argument("--jpeg-quality", type=int, default=95)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        start, stop, step = args.frames
        if step <= 0 or start < 0 or stop <= start:
            raise ConversionError(f"--frames {start} {stop} {step}: expected 0 <= START < STOP and STEP > 0")
        if args.binning < 1 or args.qca_distortion_scale <= 0:
            raise ConversionError("--binning must be >= 1 and --qca-distortion-scale > 0")
        cameras = read_calibration(args.calibration, args.binning, args.qca_distortion_scale)
        videos: List[Path] = []
        for item in args.videos:
            if item.is_dir():
                videos += [p for p in sorted(item.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]
            elif item.is_file():
                videos.append(item)
            else:
                raise ConversionError(f"--videos {item}: not found")
        if not videos:
            raise ConversionError(f"--videos {' '.join(map(str, args.videos))}: no video files ({VIDEO_SUFFIXES})")
        mapping = match_videos(cameras, videos)
        offsets = args.offsets or [0] * len(cameras)
        if len(offsets) != len(cameras):
            raise ConversionError(f"--offsets: {len(offsets)} values for {len(cameras)} cameras")
        frames = list(range(start, stop, step))
        K, sizes = {}, {}
        for cam, offset in zip(cameras, offsets):
            size, written = extract_frames(
                mapping[cam.name], args.out / "images" / cam.name, frames, offset, args.jpeg_quality
            )
            if not written:
                raise ConversionError(f"{mapping[cam.name]}: none of the frames {start}..{stop - 1} could be read")
            K[cam.name] = fit_intrinsics(cam, size[0], size[1], mapping[cam.name])
            sizes[cam.name] = size
            print(f"{cam.name}: {len(written)} frames from {mapping[cam.name].name} ({size[0]}x{size[1]})")
        write_calibration(args.out, cameras, K, sizes)
        print(f"wrote {args.out}/intri.yml, extri.yml and images/; next: ghnerf-teacher --data {args.out}")
        return 0
    except ConversionError as err:
        sys.stderr.write(f"pose2sim_to_easymocap: error: {err}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
