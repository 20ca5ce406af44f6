"""``ghnerf-teacher`` (ghnerf_ns/cli/teacher.py) without mediapipe: --help, the capture reader against the
dataparser's, the consistency check of a synthetic capture's keypoint files (clean, one view moved, --drop-flagged,
--fix-mirrored), the re-run in the teacher's venv and its error when there is none, and the import-light rule. With
``.venv-teacher`` present (``make teacher``) one synthetic frame also runs through the real mediapipe."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dataparsers.body25 import BODY25_MIRROR, joint_index
from dataparsers.easymocap_calib import read_calibration
from dataparsers.openpose_json import read_openpose_json, write_openpose_json
from ghnerf_ns.cli import teacher as cli
from ghnerf_ns.synth import EasyMocapSynthConfig, write_easymocap
from ghnerf_ns.teacher.capture import frame_images, read_rig, sequence_cameras

REPO = Path(__file__).resolve().parents[2]
TEACHER_PYTHON = REPO / ".venv-teacher" / "bin" / "python"


@pytest.fixture(scope="module")
def synth_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One EasyMocap sequence (4 distorted cameras, 2 frames, 192 px) with ground-truth OpenPose files and masks."""
    root = tmp_path_factory.mktemp("teacher_synth")
    config = EasyMocapSynthConfig(out=root, num_subjects=1, frames=2, cameras=4, resolution=192, seed=3, progress=False)
    return write_easymocap(config) / "subject_00"


@pytest.fixture
def capture(synth_capture: Path, tmp_path: Path) -> Path:
    """A private copy (the tests rewrite files)."""
    return Path(shutil.copytree(synth_capture, tmp_path / "seq"))


def test_help_shows_an_example(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["ghnerf-teacher", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        cli.entrypoint()
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "ghnerf-teacher --data data/my_capture" in text and "make teacher" in text


def test_rig_reader_agrees_with_the_dataparser():
    """The teacher's torch-free calibration reader returns what the easymocap-data dataparser reads (the real ZJU rig
    with its 'none' placeholders, and a synthetic one with R_ Rodrigues and Rot_)."""
    fixture = REPO / "tests" / "fixtures" / "zju_rig"
    rig = read_rig(fixture)
    reference = read_calibration(fixture / "intri.yml", fixture / "extri.yml")
    assert rig.names == reference.names
    for name in rig.names:
        np.testing.assert_allclose(rig.K[name], reference.K[name])
        np.testing.assert_allclose(rig.dist[name], reference.dist[name])
        np.testing.assert_allclose(rig.w2c[name], reference.w2c[name], atol=1e-9)


def test_capture_listing_and_errors(capture: Path):
    rig = read_rig(capture)
    cameras = sequence_cameras(capture, rig)
    assert cameras == ["01", "02", "03", "04"]
    frames = frame_images(capture, cameras, ["1"])  # 1 matches 000001
    assert list(frames) == ["000001"] and sorted(frames["000001"]) == cameras
    assert cli.main(["--data", str(capture), "--check-only", "--frames", "7"]) == 2
    assert cli.main(["--data", str(capture / "images"), "--check-only"]) == 2
    assert cli.main(["--data", str(capture), "--check-only", "--joint-threshold", "5"]) == 2


def _report(capture: Path) -> dict:
    return json.loads((capture / cli.REPORT_NAME).read_text())


def test_check_only_passes_ground_truth_keypoints(capture: Path, capsys):
    """ghnerf-synth's keypoint files are exact projections through the distorted cameras: nothing is flagged and the
    reprojection errors are a fraction of a pixel (an independent check of the camera model)."""
    assert cli.main(["--data", str(capture), "--check-only"]) == 0
    report = _report(capture)
    assert report["settings"]["mode"] == "check only" and report["annotation"] is None
    for cam, view in report["views"].items():
        assert view["images"] == 2 and view["keypoint_files"] == 2 and view["flagged_joints"] == 0, cam
        assert view["median_error_px"] < 0.5 and not view["flagged_frames"]
        assert view["mask_agreement"] > 0.9
    assert all(frame["triangulated_joints"] >= 20 for frame in report["frames"].values())
    assert "no view flagged" in capsys.readouterr().out


def test_a_moved_view_is_flagged_and_dropped(capture: Path, capsys):
    path = capture / "openpose" / "03" / "000001_keypoints.json"
    keypoints = read_openpose_json(path)
    keypoints[keypoints[:, 2] > 0, :2] += 25.0  # 35 px at 192 px: far above 1 % / 2 % of the long side
    write_openpose_json(path, keypoints)
    assert cli.main(["--data", str(capture), "--check-only"]) == 0
    report = _report(capture)
    assert report["views"]["03"]["flagged_frames"] == ["000001"]
    assert all(not report["views"][c]["flagged_frames"] for c in ("01", "02", "04"))
    assert report["frames"]["000001"]["views"]["03"]["view_flagged"]
    assert "view flagged: 03 in 1 frame(s)" in capsys.readouterr().out
    assert np.array_equal(read_openpose_json(path), keypoints)  # the check alone rewrites nothing

    assert cli.main(["--data", str(capture), "--check-only", "--drop-flagged"]) == 0
    assert (read_openpose_json(path) == 0).all()
    report = _report(capture)
    frame = report["frames"]["000001"]
    assert frame["dropped"].pop("03") == "all joints (view flagged)"
    # Elsewhere only joints that view 03 and one other view saw, which then disagree (nothing says which is right).
    for cam, names in frame["dropped"].items():
        assert all(frame["views"][cam]["flagged_joints"][n] == "no two views agree" for n in names), (cam, names)
    assert report["views"]["03"]["files_rewritten"] == 1
    assert read_openpose_json(capture / "openpose" / "01" / "000001_keypoints.json")[:, 2].max() > 0


def test_fix_mirrored_exchanges_the_sides_back(capture: Path):
    path = capture / "openpose" / "02" / "000000_keypoints.json"
    clean = read_openpose_json(path)
    write_openpose_json(path, clean[list(BODY25_MIRROR)])
    assert cli.main(["--data", str(capture), "--check-only", "--frames", "0"]) == 0
    before = _report(capture)["views"]["02"]
    assert before["flagged_frames"] == ["000000"]
    assert cli.main(["--data", str(capture), "--check-only", "--frames", "0", "--fix-mirrored"]) == 0
    report = _report(capture)
    exchanged = report["frames"]["000000"]["sides_exchanged"]["02"]
    assert "RWrist/LWrist" in exchanged or "RKnee/LKnee" in exchanged
    assert not report["views"]["02"]["flagged_frames"]
    assert report["views"]["02"]["flagged_joints"] < before["flagged_joints"] / 2
    # Exchanged pairs are back as they were; pairs that the other views could not decide stay (and stay flagged).
    fixed = read_openpose_json(path)
    for pair in exchanged:
        for name in pair.split("/"):
            np.testing.assert_allclose(fixed[joint_index(name)], clean[joint_index(name)], atol=1e-4)


def test_check_only_without_keypoint_files_says_what_to_run(capture: Path, capsys):
    shutil.rmtree(capture / "openpose")
    assert cli.main(["--data", str(capture), "--check-only"]) == 2
    assert "run without --check-only" in capsys.readouterr().err


def test_without_mediapipe_or_teacher_venv_one_message(capture: Path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "mediapipe_available", lambda: False)
    monkeypatch.setattr(cli, "teacher_python", lambda: None)
    assert cli.main(["--data", str(capture)]) == 2
    err = capsys.readouterr().err
    assert "make teacher" in err and "GHNERF_TEACHER_PYTHON" in err and "Traceback" not in err


def test_reruns_with_the_teacher_python_and_does_not_loop(capture: Path, monkeypatch, capsys):
    """GHNERF_TEACHER_PYTHON names the interpreter to re-run in; one without mediapipe (this test's) fails with the
    install hint instead of re-running again."""
    monkeypatch.setattr(cli, "mediapipe_available", lambda: False)
    monkeypatch.setenv(cli.PYTHON_ENV, sys.executable)
    monkeypatch.delenv(cli.REEXEC_ENV, raising=False)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from ghnerf_ns.cli import teacher; sys.exit(teacher.main())",
            "--data",
            str(capture),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 2, child.stderr
    assert "running with" in child.stdout and "has no mediapipe" in child.stderr and "make teacher" in child.stderr
    monkeypatch.setenv(cli.PYTHON_ENV, str(capture / "no_such_python"))
    assert cli.main(["--data", str(capture)]) == 2
    assert "GHNERF_TEACHER_PYTHON=" in capsys.readouterr().err


def test_teacher_modules_import_neither_torch_nor_nerfstudio():
    """The teacher's venv has neither: its modules (and the dataparser modules they use) must not import them."""
    code = (
        "import sys\n"
        "import ghnerf_ns.cli.teacher, ghnerf_ns.teacher.mediapipe_teacher, ghnerf_ns.teacher.consistency\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'nerfstudio', 'mediapipe', 'tyro'))\n"
        "assert not heavy, heavy\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert child.returncode == 0, child.stderr


def _teacher_venv_ready() -> bool:
    if not TEACHER_PYTHON.is_file():
        return False
    probe = subprocess.run([str(TEACHER_PYTHON), "-c", "import mediapipe"], capture_output=True, timeout=120)
    return probe.returncode == 0


@pytest.mark.skipif(not _teacher_venv_ready(), reason="no .venv-teacher with mediapipe (optional: `make teacher`)")
def test_real_mediapipe_on_one_synthetic_frame(capture: Path):
    """The real teacher on one synthetic frame (4 views): BODY_25 files the dataparser reads, masks at the image size,
    keypoints near the synthetic ground truth in most views, a report."""
    truth = {
        c: read_openpose_json(capture / "openpose" / c / "000000_keypoints.json") for c in ("01", "02", "03", "04")
    }
    shutil.rmtree(capture / "openpose")
    shutil.rmtree(capture / "masks", ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.run(
        [str(TEACHER_PYTHON), "-m", "ghnerf_ns.cli.teacher", "--data", str(capture), "--frames", "0"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report = _report(capture)
    assert report["settings"]["mode"] == "mediapipe teacher" and report["annotation"]["annotated"] == 4
    close = 0
    for cam, expected in truth.items():
        keypoints = read_openpose_json(capture / "openpose" / cam / "000000_keypoints.json")
        assert (keypoints[[joint_index("LSmallToe"), joint_index("RSmallToe")]] == 0).all()
        image = cv2.imread(str(capture / "images" / cam / "000000.jpg"))
        mask = cv2.imread(str(capture / "masks" / cam / "000000.png"), cv2.IMREAD_GRAYSCALE)
        if keypoints[:, 2].max() == 0:
            continue  # nobody found in this view: an empty file, no mask
        assert mask.shape == image.shape[:2] and set(np.unique(mask).tolist()) <= {0, 255}
        both = (keypoints[:, 2] > 0) & (expected[:, 2] > 0)
        error = np.linalg.norm(keypoints[both, :2] - expected[both, :2], axis=1)
        close += int(both.sum() >= 12 and np.median(error) < 0.04 * max(image.shape))
    assert close >= 2, "mediapipe's keypoints are far from the synthetic truth in most views"
    # A second run keeps the files (no --overwrite) and only checks.
    again = subprocess.run(
        [str(TEACHER_PYTHON), "-m", "ghnerf_ns.cli.teacher", "--data", str(capture), "--frames", "0"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert again.returncode == 0 and _report(capture)["annotation"] == {
        "annotated": 0,
        "skipped_existing": 4,
        "no_person": [],
    }
