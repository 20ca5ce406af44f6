"""ghnerf-keypoints on the tiny e2e run: OpenPose JSON that the dataparser's reader reads back, the 3D JSON, the
TRC/C3D marker files of the model estimate, and clear errors for unknown subjects/frames and a bad frame rate."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from dataparsers.body25 import BODY25_JOINTS
from dataparsers.openpose_json import read_openpose_json
from ghnerf_ns.keypoints.marker_files import read_trc
from tests.e2e.conftest import TEST_SUBJECTS, run_cli

pytestmark = pytest.mark.slow
SUBJECT = f"CoreView_{TEST_SUBJECTS[0]}"


def test_keypoints_cli_writes_openpose_and_3d_json(tiny_run: Path, tmp_path: Path):
    out = tmp_path / "kp"
    run_cli(["ghnerf-keypoints", "--load-config", str(tiny_run), "--output-dir", str(out), "--frames", "0", "1",
             "--cameras", "1", "3", "--keypoints.volume-resolution", "12", "--frame-rate", "15"],
            cwd=tmp_path)  # fmt: skip
    files = sorted((out / SUBJECT).glob("*/000000_keypoints.json"))
    assert [f.parent.name for f in files] == ["1", "3"]
    for path in files:
        raw = json.loads(path.read_text())
        keypoints = read_openpose_json(path)
        assert keypoints.shape == (25, 3) and np.isfinite(keypoints).all()
        if raw["people"]:
            np.testing.assert_allclose(keypoints.reshape(-1), raw["people"][0]["pose_keypoints_2d"], rtol=0, atol=1e-4)
        found = keypoints[:, 2] > 0
        assert ((keypoints[found, :2] >= 0) & (keypoints[found, :2] <= 63)).all()  # inside the 64x64 render
    record = json.loads((out / SUBJECT / "000000_keypoints3d.json").read_text())
    assert record["subject"] == SUBJECT and record["frame"] == 0 and record["joint_names"] == list(BODY25_JOINTS)
    assert record["triangulated_from"] == ["1", "3"]
    # ghnerf-tiny has the 2D pose head and reports its source-view estimate as the model's 3D keypoints.
    assert record["model_estimate"] == "source_views"
    for name in ("volumetric", "triangulated", "source_views"):
        est = record[name]
        assert len(est["xyz"]) == len(est["score"]) == len(est["valid"]) == 25
        assert all(len(p) == 3 and all(np.isfinite(p)) for p in est["xyz"])
    assert any(record["volumetric"]["valid"])
    _check_marker_files(out / SUBJECT, frames=[0, 1], frame_rate=15.0)


def _check_marker_files(folder: Path, frames, frame_rate: float):
    """keypoints3d.trc and keypoints3d.c3d hold the model estimate of every frame's 3D JSON (to 1e-6 m), with gaps
    exactly where it is not valid."""
    import c3d

    records = [json.loads((folder / f"{frame:06d}_keypoints3d.json").read_text()) for frame in frames]
    xyz = np.asarray([r[r["model_estimate"]]["xyz"] for r in records])
    valid = np.asarray([r[r["model_estimate"]]["valid"] for r in records])
    trc = read_trc(folder / "keypoints3d.trc")
    assert trc.names == list(BODY25_JOINTS) and trc.frame_numbers.tolist() == [f + 1 for f in frames]
    np.testing.assert_allclose(trc.times, np.asarray(frames) / frame_rate, rtol=0, atol=1e-9)
    assert trc.metadata["Units"] == "m" and float(trc.metadata["CameraRate"]) == frame_rate
    assert (np.isnan(trc.points).any(axis=-1) == ~valid).all()
    np.testing.assert_allclose(trc.points[valid], xyz[valid], rtol=0, atol=1e-6)
    with open(folder / "keypoints3d.c3d", "rb") as handle, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No analog data found in file")
        reader = c3d.Reader(handle)
        assert reader.point_rate == pytest.approx(frame_rate)  # consecutive frames: step 1
        assert [label.strip() for label in reader.point_labels] == list(BODY25_JOINTS)
        c3d_frames = list(reader.read_frames())
    assert [number for number, _, _ in c3d_frames] == [f + 1 for f in frames]
    for row, (_, points, _) in enumerate(c3d_frames):
        assert ((points[:, 3] == -1) == ~valid[row]).all()
        np.testing.assert_allclose(points[valid[row], :3], xyz[row][valid[row]], rtol=0, atol=1e-6)


def test_keypoints_cli_lists_what_exists(tiny_run: Path, tmp_path: Path):
    proc = run_cli(["ghnerf-keypoints", "--load-config", str(tiny_run), "--output-dir", str(tmp_path),
                    "--subjects", "nobody"], cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode == 2 and "nobody" in proc.stdout and SUBJECT in proc.stdout
    proc = run_cli(["ghnerf-keypoints", "--load-config", str(tiny_run), "--output-dir", str(tmp_path),
                    "--frames", "99"], cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode == 2 and "99" in proc.stdout and "[0, 1]" in proc.stdout
    proc = run_cli(["ghnerf-keypoints", "--load-config", str(tiny_run), "--output-dir", str(tmp_path),
                    "--frame-rate", "0"], cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode == 2 and "--frame-rate" in proc.stdout and "positive" in proc.stdout
