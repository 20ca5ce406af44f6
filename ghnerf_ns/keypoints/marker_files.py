"""3D keypoint tracks as motion-capture marker files: TRC (OpenSim, Pose2Sim) and C3D (biomechanics, animation).

``ghnerf-keypoints`` writes one JSON per frame; gait and animation tools instead read one file holding a whole
trajectory of named markers. The two formats they share are:

* **TRC** (Track Row Column, tab-separated text), OpenSim's and Pose2Sim's marker format. Layout, as OpenSim's own
  ``TRCFileAdapter`` writes it::

      PathFileType  4  (X/Y/Z)  <file name>
      DataRate  CameraRate  NumFrames  NumMarkers  Units  OrigDataRate  OrigDataStartFrame  OrigNumFrames
      <values of the line above>
      Frame#  Time  <marker 1>  <empty>  <empty>  <marker 2> ...
              X1  Y1  Z1  X2 ...
      <empty line>
      <Frame#>  <Time>  <x y z of each marker>   (one row per frame)

  ``Frame#`` is the dataset frame + 1 (TRC frames count from 1) and ``Time`` is the dataset frame / frame rate, so the
  rows may skip frames (``--frames 0 10 20``) and keep true time: OpenSim reads the time column, not a rate. A gap
  (a joint not found in a frame) is three empty cells. OpenSim reads empty cells as NaN (missing marker) since 4.0
  (``TRCFileAdapter``, opensim-core PR #2187) and Pose2Sim's ``read_trc`` (pandas) reads them as NaN. Every cell is
  followed by a tab, as in OpenSim's writer: OpenSim's tokenizer drops the last cell of a line when it is empty and
  has no tab after it, which would make a row with a gap in the last marker one cell short. The trailing tab of the
  ``X1 Y1 Z1`` line gives pandas the same number of columns as the data rows (one unnamed, empty column at the end,
  which Pose2Sim drops).
* **C3D** (binary, c3d.org), read by Vicon/Qualisys tools, Mokka, OpenSim (``C3DFileAdapter``), Blender add-ons and
  Python's ``c3d``/``ezc3d``. Written with the pure-Python ``c3d`` package, in float format, units ``"m"``. C3D has
  no time column: frame ``i`` is at ``(i - first) / rate``, so the frames must be evenly spaced. The file therefore
  covers the dataset frames from the first to the last exported frame in steps of the greatest common divisor of
  the gaps between exported frames (``0 10 20``: step 10, rate ``frame_rate / 10``; ``0 1 5``: step 1, and frames
  2-4 are written as gaps). A gap is a point with residual -1, C3D's mark of an invalid point (its coordinates
  mean nothing); a found joint has residual 0 (a computed rather than camera-measured point, as Pose2Sim writes)
  and camera mask 0. The first frame number is ``first / step + 1`` when ``step`` divides the first exported frame
  (so frame number ``n`` is at time ``(n - 1) / rate``, the TRC's clock) and 1 otherwise.

Coordinates are stored as given (metres in the dataset's world frame for ``ghnerf-keypoints``); C3D keeps them as
float32 (about 0.1 micrometre resolution at 1 m).
"""

import math
import warnings
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from jaxtyping import Bool, Float, Int

TRC_METADATA_KEYS = (
    "DataRate",
    "CameraRate",
    "NumFrames",
    "NumMarkers",
    "Units",
    "OrigDataRate",
    "OrigDataStartFrame",
    "OrigNumFrames",
)
"""The keys of a TRC's second line, in the order OpenSim requires."""


@dataclass
class TrcMarkers:
    """The contents of a TRC file (:func:`read_trc`)."""

    names: List[str]
    """Marker names, in column order."""
    metadata: Dict[str, str]
    """The header's ``DataRate ... OrigNumFrames`` values as written."""
    frame_numbers: Int[np.ndarray, " num_frames"]
    """The ``Frame#`` column (as in the file, 1-based)."""
    times: Float[np.ndarray, " num_frames"]
    """The ``Time`` column, seconds."""
    points: Float[np.ndarray, "num_frames num_markers 3"]
    """Marker positions; NaN where the file has a gap (empty cells)."""


def frame_step(frames: Int[np.ndarray, " num_frames"]) -> int:
    """The regular step that holds every exported frame: the greatest common divisor of the gaps between them (1 for
    a single frame). ``frames`` must be increasing."""
    gaps = np.diff(frames.astype(np.int64))
    return int(reduce(math.gcd, gaps.tolist(), 0)) or 1


def _check_track(
    path: Path,
    names: Sequence[str],
    frames: Int[np.ndarray, " num_frames"],
    points: Float[np.ndarray, "num_frames num_markers 3"],
    frame_rate: float,
) -> None:
    """Errors that name the file and the fix, for input that no marker file can hold."""
    if len(names) != points.shape[1]:
        raise ValueError(f"{path}: {len(names)} marker names for {points.shape[1]} markers; give one name per marker")
    if len(frames) == 0:
        raise ValueError(f"{path}: no frames to write; export at least one frame")
    if (frames < 0).any() or (np.diff(frames) <= 0).any():
        raise ValueError(
            f"{path}: frame numbers must be non-negative and strictly increasing, got {frames.tolist()}; sort them and "
            "drop duplicates"
        )
    if not (math.isfinite(frame_rate) and frame_rate > 0):
        raise ValueError(f"{path}: frame rate {frame_rate} is not a positive number of frames per second")


def _number(value: float) -> str:
    """A TRC cell: 10 significant digits (1e-9 m at a metre), plain decimal where it fits."""
    return f"{value:.10g}"


def write_trc(
    path: Path,
    names: Sequence[str],
    frames: Int[np.ndarray, " num_frames"],
    points: Float[np.ndarray, "num_frames num_markers 3"],
    valid: Bool[np.ndarray, "num_frames num_markers"],
    frame_rate: float,
    units: str = "m",
) -> None:
    """Write a marker track as a TRC file (module docstring): one row per entry of ``frames`` (dataset frame
    numbers, 0-based, increasing), ``Frame#`` = frame + 1, ``Time`` = frame / ``frame_rate``. Markers that are not
    ``valid`` or not finite are written as gaps (empty cells). ``DataRate`` is ``frame_rate`` divided by the step of
    the exported frames (:func:`frame_step`), ``CameraRate`` and ``OrigDataRate`` are ``frame_rate``."""
    path = Path(path)
    frames = np.asarray(frames, dtype=np.int64)
    _check_track(path, names, frames, points, frame_rate)
    present = np.asarray(valid, dtype=bool) & np.isfinite(points).all(axis=-1)
    values = [
        _number(frame_rate / frame_step(frames)),
        _number(frame_rate),
        str(len(frames)),
        str(len(names)),
        units,
        _number(frame_rate),
        str(int(frames[0]) + 1),
        str(int(frames[-1] - frames[0]) + 1),  # the span of original frames the exported ones come from
    ]
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "\t".join(TRC_METADATA_KEYS),
        "\t".join(values),
        "Frame#\tTime\t" + "".join(f"{name}\t\t\t" for name in names),
        "\t\t" + "".join(f"X{i}\tY{i}\tZ{i}\t" for i in range(1, len(names) + 1)),
        "",
    ]
    for row, frame in enumerate(frames.tolist()):
        cells = [str(frame + 1), _number(frame / frame_rate)]
        for marker in range(len(names)):
            xyz = points[row, marker]
            cells += [_number(float(v)) for v in xyz] if present[row, marker] else ["", "", ""]
        lines.append("".join(f"{cell}\t" for cell in cells))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_trc(path: Path) -> TrcMarkers:
    """Read a TRC file (as :func:`write_trc` and OpenSim write them): names, header values, frame numbers, times and
    positions, with NaN for empty cells."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise ValueError(f"{path}: not a TRC file (the first line must start with 'PathFileType')")
    keys = [cell for cell in lines[1].split("\t") if cell.strip()]
    values = [cell for cell in lines[2].split("\t") if cell.strip()]
    if len(keys) != len(values):
        raise ValueError(f"{path}: line 2 has {len(keys)} header keys but line 3 has {len(values)} values")
    metadata = dict(zip((key.strip() for key in keys), (value.strip() for value in values)))
    names = [cell.strip() for cell in lines[3].split("\t")[2:] if cell.strip()]
    frame_numbers, times, rows = [], [], []
    for number, line in enumerate(lines[5:], start=6):
        if not line.strip():
            continue
        cells = [cell.strip() for cell in line.split("\t")]
        cells += [""] * (2 + 3 * len(names) - len(cells))  # a writer that drops trailing empty cells
        try:
            frame_numbers.append(int(cells[0]))
            times.append(float(cells[1]))
            rows.append([float(cell) if cell else math.nan for cell in cells[2 : 2 + 3 * len(names)]])
        except ValueError:
            raise ValueError(f"{path}: line {number} is not a data row of numbers: {line!r}") from None
    return TrcMarkers(
        names=names,
        metadata=metadata,
        frame_numbers=np.asarray(frame_numbers, dtype=np.int64),
        times=np.asarray(times, dtype=np.float64),
        points=np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names), 3),
    )


def write_c3d(
    path: Path,
    names: Sequence[str],
    frames: Int[np.ndarray, " num_frames"],
    points: Float[np.ndarray, "num_frames num_markers 3"],
    valid: Bool[np.ndarray, "num_frames num_markers"],
    frame_rate: float,
    units: str = "m",
) -> None:
    """Write a marker track as a C3D file (module docstring): frames ``frames[0]`` to ``frames[-1]`` of the dataset
    in steps of :func:`frame_step` at ``frame_rate / step`` frames per second; grid frames that were not exported and
    markers that are not ``valid`` or not finite are invalid points (residual -1)."""
    import c3d  # imported here: entry-point modules must import fast

    path = Path(path)
    frames = np.asarray(frames, dtype=np.int64)
    _check_track(path, names, frames, points, frame_rate)
    step = frame_step(frames)
    first = int(frames[0])
    grid = np.zeros(((int(frames[-1]) - first) // step + 1, len(names), 5), dtype=np.float32)
    grid[:, :, 3] = -1.0  # residual -1: invalid, until an exported, valid marker fills it
    present = np.asarray(valid, dtype=bool) & np.isfinite(points).all(axis=-1)
    rows = (frames - first) // step
    grid[rows, :, :3] = np.where(present[..., None], points, 0.0)
    grid[rows, :, 3] = np.where(present, 0.0, -1.0)

    writer = c3d.Writer(point_rate=frame_rate / step, analog_rate=0.0, point_scale=-1.0, point_units=units)
    writer.set_point_labels(list(names))
    writer.set_start_frame(first // step + 1 if first % step == 0 else 1)
    writer.add_frames([(frame_points, np.zeros((0, 0), dtype=np.float32)) for frame_points in grid])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle, warnings.catch_warnings():
        # c3d warns about every file without analog channels; marker-only files are the point here.
        warnings.filterwarnings("ignore", message="No analog data found in file")
        writer.write(handle)
