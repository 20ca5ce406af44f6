"""scripts/pose2sim_to_easymocap.py: Qualisys .qca.txt and Pose2Sim .toml calibrations to intri.yml/extri.yml (units,
camera axes, principal point origin, distortion order) and frames extracted from videos, read back by the
easymocap-data dataparser's calibration reader."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from dataparsers.easymocap_calib import read_calibration
from tests.script_modules import script_module


@pytest.fixture(scope="module")
def conv():
    with script_module("scripts/pose2sim_to_easymocap.py") as module:
        yield module


def _qca_camera(serial: str, centre_mm, rows, size=(64, 48), left=0, top=0, f=60.0, c=(31.0, 23.5)) -> str:
    """One <camera> element, written in Qualisys' own terms: centre in mm, focal length and principal point in 1/64
    pixel of the sensor (principal point from the sensor origin), rotation rows r11..r33."""
    rotation = " ".join(f'r{i + 1}{j + 1}="{rows[i][j]}"' for i in range(3) for j in range(3))
    x, y, z = centre_mm
    w, h = size
    return f"""
    <camera active="1" avg-residual="0.4" model="none" point-count="9" serial="{serial}" viewrotation="0">
      <fov_video bottom="{top + h - 1}" left="{left}" right="{left + w - 1}" top="{top}"/>
      <transform {rotation} x="{x}" y="{y}" z="{z}"/>
      <intrinsic centerPointU="{(c[0] + left) * 64}" centerPointV="{(c[1] + top) * 64}" focalLengthU="{f * 64}"
        focalLengthV="{f * 64 * 1.01}" radialDistortion1="-0.05" radialDistortion2="0.12" radialDistortion3="0.01"
        tangentalDistortion1="0.001" tangentalDistortion2="-0.002" skew="0"/>
    </camera>"""


# Cameras 3 m from the origin at 1 m height, looking horizontally at the world's y axis (world z up). In Qualisys'
# camera frame x is right, y up and z points backwards: the rows of r are those axes in world coordinates.
LOOK_ALONG_Y = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]  # from (0, -3, 1) towards +y
LOOK_ALONG_MINUS_X = [[0, 1, 0], [0, 0, 1], [1, 0, 0]]  # from (3, 0, 1) towards -x


@pytest.fixture
def qca(tmp_path: Path) -> Path:
    body = _qca_camera("cam01", (0, -3000, 1000), LOOK_ALONG_Y) + _qca_camera(
        "cam02", (3000, 0, 1000), LOOK_ALONG_MINUS_X, left=8, top=4
    )
    path = tmp_path / "Calib.qca.txt"
    path.write_text(f"<?xml version='1.0'?><calibration><cameras>{body}</cameras></calibration>")
    return path


def _video(path: Path, size=(64, 48), frames: int = 6) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 20 * i, np.uint8))
    writer.release()
    return path


def _project(K, R, T, point):
    cam = R @ point + T
    return (K @ (cam / cam[2]))[:2], cam[2]


def test_qca_conventions(conv, qca: Path):
    cams = {c.name: c for c in conv.read_calibration(qca, binning=1, distortion_scale=1.0)}
    cam = cams["cam01"]
    np.testing.assert_allclose(-cam.R.T @ cam.T, [0.0, -3.0, 1.0], atol=1e-12)  # centre, metres
    assert np.linalg.det(cam.R) == pytest.approx(1.0)
    np.testing.assert_allclose(cam.K, [[60, 0, 31], [0, 60.6, 23.5], [0, 0, 1]], atol=1e-9)
    np.testing.assert_allclose(cam.dist, [-0.05, 0.12, 0.001, -0.002, 0.01])  # k1 k2 p1 p2 k3 (OpenCV order)
    assert cam.size == (64, 48)
    # The origin is 3 m ahead and 1 m below the camera: in front, centred, below the principal point.
    (u, v), depth = _project(cam.K, cam.R, cam.T, np.zeros(3))
    assert depth == pytest.approx(3.0) and u == pytest.approx(31.0) and v > 23.5 + 10
    # A point to the camera's right (world +x), at its height: right of the principal point, on its row.
    (u, v), _ = _project(cam.K, cam.R, cam.T, np.array([1.0, 0.0, 1.0]))
    assert u > 31 + 10 and v == pytest.approx(23.5)
    # The second camera's principal point is relative to its fov_video window (left 8, top 4).
    np.testing.assert_allclose(cams["cam02"].K[:2, 2], [31.0, 23.5], atol=1e-9)
    (u, v), depth = _project(cams["cam02"].K, cams["cam02"].R, cams["cam02"].T, np.array([0.0, 1.0, 1.0]))
    assert depth == pytest.approx(3.0) and u > 31 + 10  # world +y is on the right of a camera looking along -x
    divided = conv.read_calibration(qca, binning=1, distortion_scale=64.0)[0]
    np.testing.assert_allclose(divided.dist, cam.dist / 64)


def test_convert_and_read_back(conv, qca: Path, tmp_path: Path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    _video(videos / "cam01.avi")
    _video(videos / "cam02.avi", size=(56, 48))  # 8 px narrower than calibrated: codec cropping, K kept
    out = tmp_path / "seq"
    assert (
        conv.main(["--calibration", str(qca), "--videos", str(videos), "--out", str(out), "--frames", "0", "6", "2"])
        == 0
    )
    assert sorted(p.name for p in (out / "images" / "cam01").iterdir()) == ["000000.jpg", "000002.jpg", "000004.jpg"]
    assert cv2.imread(str(out / "images" / "cam02" / "000004.jpg")).shape == (48, 56, 3)
    assert "codec cropping" in capsys.readouterr().out
    calib = read_calibration(out / "intri.yml", out / "extri.yml")  # the dataparser's reader and checks
    assert calib.names == ["cam01", "cam02"] and calib.size == {"cam01": (64, 48), "cam02": (56, 48)}
    cams = {c.name: c for c in conv.read_calibration(qca, 1, 1.0)}
    for name in calib.names:
        np.testing.assert_allclose(calib.K[name], cams[name].K)
        np.testing.assert_allclose(calib.w2c[name][:, :3], cams[name].R, atol=1e-12)
        np.testing.assert_allclose(calib.w2c[name][:, 3], cams[name].T, atol=1e-12)
        np.testing.assert_allclose(calib.dist[name], cams[name].dist)


def test_pose2sim_toml(conv, tmp_path: Path):
    rvec = cv2.Rodrigues(np.array(LOOK_ALONG_Y, float) * [[1], [-1], [-1]])[0].ravel()
    path = tmp_path / "Calib_board.toml"
    path.write_text(
        f'[cam_01]\nname = "cam01"\nsize = [ 64.0, 48.0]\nmatrix = [ [ 60.0, 0.0, 31.0], [ 0.0, 60.0, 23.5], '
        f"[ 0.0, 0.0, 1.0]]\ndistortions = [ -0.05, 0.12, 0.001, -0.002]\nrotation = [ {rvec[0]}, {rvec[1]}, "
        f"{rvec[2]}]\ntranslation = [ 0.0, 1.0, 3.0]\nfisheye = false\n\n[metadata]\nadjusted = false\nerror = 0.0\n"
    )
    (cam,) = conv.read_calibration(path, 1, 1.0)
    assert cam.name == "cam01" and cam.size == (64, 48)
    np.testing.assert_allclose(-cam.R.T @ cam.T, [0.0, -3.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(cam.dist, [-0.05, 0.12, 0.001, -0.002, 0.0])


def test_errors_name_the_problem(conv, qca: Path, tmp_path: Path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    _video(videos / "a.avi")
    args = ["--calibration", str(qca), "--videos", str(videos), "--out", str(tmp_path / "o")]
    assert conv.main(args) == 2
    assert "2 calibrated cameras" in capsys.readouterr().err
    _video(videos / "b.avi", size=(32, 48))
    assert conv.main(args) == 2  # matched in natural order; b.avi is neither cropped nor scaled: refused
    err = capsys.readouterr().err
    assert "calibrated at 64x48" in err and "--binning" in err
    assert conv.main(["--calibration", str(tmp_path / "x.json"), "--videos", str(videos), "--out", "o"]) == 2
    assert "unknown calibration type" in capsys.readouterr().err
