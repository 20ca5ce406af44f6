"""TRC and C3D marker files: hand-made BODY_25 tracks (non-consecutive frames, invalid joints) written and read back,
the TRC header and cells checked line by line, the C3D read with ``c3d.Reader``."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from dataparsers.body25 import BODY25_JOINTS, joint_index
from ghnerf_ns.keypoints.marker_files import frame_step, read_trc, write_c3d, write_trc

FRAMES = np.array([2, 3, 7])
"""Dataset frames (0-based) of the hand-made track: a gap of three frames between the last two."""
RWRIST, RHEEL = joint_index("RWrist"), joint_index("RHeel")


def _track():
    """Positions (metres) that differ for every frame, joint and axis; RWrist missing in frame 3 and RHeel (the last
    marker, whose gap ends the row) in frame 7."""
    frame, joint, axis = np.meshgrid(np.arange(3), np.arange(25), np.arange(3), indexing="ij")
    points = 0.1 * frame + 0.01 * joint - 0.5 * axis + 0.1234567  # e.g. 0.1234567 m for frame 2, Nose, x
    valid = np.ones((3, 25), dtype=bool)
    valid[1, RWRIST] = False
    valid[2, RHEEL] = False
    points[1, RWRIST] = 99.0  # an invalid joint's coordinates must not reach the files
    return points, valid


def _read_c3d(path: Path):
    import c3d

    with open(path, "rb") as handle, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No analog data found in file")  # none on purpose
        reader = c3d.Reader(handle)
        frames = list(reader.read_frames())
        labels = [label.strip() for label in reader.point_labels]
        units = reader.get("POINT:UNITS").string_value.strip()
        return reader.point_rate, reader.first_frame, labels, units, frames


def test_frame_step_is_the_gcd_of_the_gaps():
    assert frame_step(np.array([0, 10, 20])) == 10
    assert frame_step(np.array([5, 15, 35])) == 10
    assert frame_step(np.array([2, 3, 7])) == 1
    assert frame_step(np.array([4])) == 1


def test_trc_round_trip_keeps_values_gaps_and_dataset_time(tmp_path: Path):
    points, valid = _track()
    path = tmp_path / "keypoints3d.trc"
    write_trc(path, BODY25_JOINTS, FRAMES, points, valid, 50.0)
    trc = read_trc(path)
    assert trc.names == list(BODY25_JOINTS)
    assert trc.frame_numbers.tolist() == [3, 4, 8]  # dataset frame + 1
    np.testing.assert_allclose(trc.times, [0.04, 0.06, 0.14], rtol=0, atol=1e-12)  # frame / 50 fps: gap kept
    assert trc.points.shape == (3, 25, 3)
    gaps = np.isnan(trc.points)
    assert (gaps.all(axis=-1) == ~valid).all() and (gaps.any(axis=-1) == ~valid).all()
    np.testing.assert_allclose(trc.points[valid], points[valid], rtol=0, atol=1e-6)
    assert trc.points[0, 0, 0] == pytest.approx(0.1234567, abs=1e-9)
    assert trc.metadata == {
        "DataRate": "50",  # step 1 (gcd of the gaps 1 and 4)
        "CameraRate": "50",
        "NumFrames": "3",
        "NumMarkers": "25",
        "Units": "m",
        "OrigDataRate": "50",
        "OrigDataStartFrame": "3",
        "OrigNumFrames": "6",  # dataset frames 2..7
    }


def test_trc_layout_read_with_plain_python(tmp_path: Path):
    """The header lines as OpenSim's TRCFileAdapter and Pose2Sim's read_trc parse them, and every row cell by cell."""
    points, valid = _track()
    path = tmp_path / "keypoints3d.trc"
    write_trc(path, BODY25_JOINTS, FRAMES, points, valid, 50.0)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "PathFileType\t4\t(X/Y/Z)\tkeypoints3d.trc"
    assert lines[1].split("\t") == [
        "DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate", "OrigDataStartFrame",
        "OrigNumFrames",
    ]  # fmt: skip
    assert lines[2].split("\t") == ["50", "50", "3", "25", "m", "50", "3", "6"]
    names_line = lines[3].split("\t")
    assert names_line[:2] == ["Frame#", "Time"] and len(names_line) == 2 + 75 + 1
    assert names_line[2::3][:25] == list(BODY25_JOINTS)  # each name, then two empty cells (Pose2Sim: [2::3])
    assert all(cell == "" for i, cell in enumerate(names_line[2:]) if i % 3 != 0)
    xyz_line = lines[4].split("\t")
    assert xyz_line[:2] == ["", ""] and xyz_line[2:5] == ["X1", "Y1", "Z1"] and xyz_line[74:77] == ["X25", "Y25", "Z25"]
    assert lines[5] == "" and lines[9:] == [""] and len(lines) == 10  # blank line, three rows, final newline
    for row, line in enumerate(lines[6:9]):
        # Every cell ends with a tab: OpenSim's tokenizer then yields exactly 2 + 3 * 25 cells, also when the row
        # ends with a gap, and the row has as many fields as the X1/Y1/Z1 line (78, the last one empty).
        assert line.endswith("\t")
        cells = line.split("\t")
        assert len(cells) == len(xyz_line) == 78 and cells[-1] == ""
        assert int(cells[0]) == FRAMES[row] + 1 and float(cells[1]) == pytest.approx(FRAMES[row] / 50.0, abs=1e-12)
        for joint in range(25):
            xyz = cells[2 + 3 * joint : 5 + 3 * joint]
            if valid[row, joint]:
                np.testing.assert_allclose([float(v) for v in xyz], points[row, joint], rtol=0, atol=1e-6)
            else:
                assert xyz == ["", "", ""]
    assert lines[7].split("\t")[2 + 3 * RWRIST : 5 + 3 * RWRIST] == ["", "", ""]
    assert lines[8].endswith("\t\t\t\t")  # RHeel's gap: three empty cells, each closed by its tab


def test_c3d_round_trip_fills_skipped_frames_as_gaps(tmp_path: Path):
    points, valid = _track()
    path = tmp_path / "keypoints3d.c3d"
    write_c3d(path, BODY25_JOINTS, FRAMES, points, valid, 50.0)
    rate, first, labels, units, frames = _read_c3d(path)
    assert rate == pytest.approx(50.0) and units == "m" and labels == list(BODY25_JOINTS)
    # Dataset frames 2..7 at step 1: C3D frames 3..8 (frame + 1), so (number - 1) / rate is the dataset time.
    assert first == 3 and [number for number, _, _ in frames] == [3, 4, 5, 6, 7, 8]
    by_dataset_frame = {number - 1: data for number, data, _ in frames}
    for skipped in (4, 5, 6):
        assert (by_dataset_frame[skipped][:, 3] == -1).all()  # not exported: every marker invalid
    for row, frame in enumerate(FRAMES):
        data = by_dataset_frame[frame]
        assert data.shape == (25, 5)
        assert ((data[:, 3] == -1) == ~valid[row]).all() and (data[valid[row], 3] == 0).all()
        np.testing.assert_allclose(data[valid[row], :3], points[row][valid[row]], rtol=0, atol=1e-6)
    assert by_dataset_frame[3][RWRIST, 3] == -1 and by_dataset_frame[7][RHEEL, 3] == -1


def test_c3d_evenly_spaced_frames_lower_the_rate(tmp_path: Path):
    points, valid = _track()
    path = tmp_path / "keypoints3d.c3d"
    write_c3d(path, BODY25_JOINTS, np.array([10, 20, 30]), points, valid, 50.0)
    rate, first, _, _, frames = _read_c3d(path)
    assert rate == pytest.approx(5.0)  # 50 fps / step 10
    assert first == 2 and len(frames) == 3  # 10 / 10 + 1: (2 - 1) / 5 fps = 0.2 s = frame 10 / 50 fps
    np.testing.assert_allclose(frames[2][1][valid[2], :3], points[2][valid[2]], rtol=0, atol=1e-6)
    # An offset grid (5, 15, 25: step 10 does not divide 5) starts at frame number 1.
    write_c3d(path, BODY25_JOINTS, np.array([5, 15, 25]), points, valid, 50.0)
    assert _read_c3d(path)[1] == 1


def test_bad_input_names_the_file_and_the_fix(tmp_path: Path):
    points, valid = _track()
    path = tmp_path / "keypoints3d.trc"
    with pytest.raises(ValueError, match=r"keypoints3d\.trc.*sort them"):
        write_trc(path, BODY25_JOINTS, np.array([3, 2, 7]), points, valid, 50.0)
    with pytest.raises(ValueError, match=r"keypoints3d\.c3d.*24 marker names for 25 markers"):
        write_c3d(tmp_path / "keypoints3d.c3d", BODY25_JOINTS[:24], FRAMES, points, valid, 50.0)
    with pytest.raises(ValueError, match="frame rate 0.0"):
        write_trc(path, BODY25_JOINTS, FRAMES, points, valid, 0.0)
    (tmp_path / "other.trc").write_text("not a marker file\n")
    with pytest.raises(ValueError, match=r"other\.trc: not a TRC file"):
        read_trc(tmp_path / "other.trc")
    assert not path.exists()
