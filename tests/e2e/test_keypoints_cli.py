"""ghnerf-keypoints on the tiny e2e run: OpenPose JSON that the dataparser's reader reads back, the 3D JSON, and clear
errors for unknown subjects/frames."""

import json
from pathlib import Path

import numpy as np
import pytest

from dataparsers.body25 import BODY25_JOINTS
from dataparsers.openpose_json import read_openpose_json
from tests.e2e.conftest import TEST_SUBJECTS, run_cli

pytestmark = pytest.mark.slow
SUBJECT = f"CoreView_{TEST_SUBJECTS[0]}"


def test_keypoints_cli_writes_openpose_and_3d_json(tiny_run: Path, tmp_path: Path):
    out = tmp_path / "kp"
    run_cli(["ghnerf-keypoints", "--load-config", str(tiny_run), "--output-dir", str(out), "--frames", "0",
             "--cameras", "1", "3", "--keypoints.volume-resolution", "12"], cwd=tmp_path)  # fmt: skip
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


def test_keypoints_cli_lists_what_exists(tiny_run: Path, tmp_path: Path):
    proc = run_cli(["ghnerf-keypoints", "--load-config", str(tiny_run), "--output-dir", str(tmp_path),
                    "--subjects", "nobody"], cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode == 2 and "nobody" in proc.stdout and SUBJECT in proc.stdout
    proc = run_cli(["ghnerf-keypoints", "--load-config", str(tiny_run), "--output-dir", str(tmp_path),
                    "--frames", "99"], cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode == 2 and "99" in proc.stdout and "[0, 1]" in proc.stdout
