"""ghnerf-synth easymocap: layout, calibration files, mixed sizes, up axis, SMPL on/off, missing views, determinism."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ghnerf_ns.synth import EasyMocapSynthConfig, write_easymocap
from ghnerf_ns.synth.easymocap_writer import camera_sizes

REPO = Path(__file__).resolve().parents[2]


def config(out: Path, **overrides) -> EasyMocapSynthConfig:
    options = dict(out=out, num_subjects=1, frames=2, cameras=4, resolution=64, seed=0, progress=False)
    options.update(overrides)
    return EasyMocapSynthConfig(**options)


def _files(root: Path) -> dict:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_calibration_files(tmp_path: Path) -> None:
    root = write_easymocap(config(tmp_path / "a", mixed_sizes=True, missing_views=1)) / "subject_00"
    intri = cv2.FileStorage(str(root / "intri.yml"), cv2.FILE_STORAGE_READ)
    extri = cv2.FileStorage(str(root / "extri.yml"), cv2.FILE_STORAGE_READ)
    names = [intri.getNode("names").at(i).string() for i in range(intri.getNode("names").size())]
    assert names == ["01", "02", "03", "04"]
    for c, name in enumerate(names):
        R = extri.getNode(f"Rot_{name}").mat()
        assert np.allclose(cv2.Rodrigues(extri.getNode(f"R_{name}").mat())[0], R, atol=1e-9)
        assert intri.getNode(f"K_{name}").mat().shape == (3, 3) and intri.getNode(f"dist_{name}").mat().shape == (1, 5)
        images = sorted((root / "images" / name).iterdir())
        assert all(
            cv2.imread(str(p)).shape[1::-1] == camera_sizes(config(tmp_path, mixed_sizes=True))[c] for p in images
        )
    written = sorted(p.relative_to(root / "images") for p in (root / "images").rglob("*.jpg"))
    assert len(written) == 2 * 4 - 1  # one missing view, with its mask and keypoints
    masks = sorted(p.relative_to(root / "masks") for p in (root / "masks").rglob("*.png"))
    assert [m.with_suffix(".jpg") for m in masks] == written
    assert len(list((root / "openpose").rglob("*_keypoints.json"))) == len(written)
    assert sorted(p.name for p in (root / "vertices").iterdir()) == ["000000.npy", "000001.npy"]
    assert (root / "ghnerf_synth" / "joints3d" / "000001.npy").is_file()
    doc = json.loads(next((root / "openpose").rglob("*_keypoints.json")).read_text())
    assert len(doc["people"][0]["pose_keypoints_2d"]) == 75


def test_sizes_up_axis_and_no_smpl(tmp_path: Path) -> None:
    assert set(camera_sizes(config(tmp_path, resolution=128, cameras=6, mixed_sizes=True))) == {(72, 128), (128, 96)}
    assert set(camera_sizes(config(tmp_path, resolution=128))) == {(128, 128)}
    for up, axis, sign in (("+z", 2, 1), ("-z", 2, -1), ("+y", 1, 1)):
        root = write_easymocap(config(tmp_path / up, frames=1, smpl=False, up=up)) / "subject_00"
        assert not (root / "vertices").exists()
        joints = np.load(root / "ghnerf_synth" / "joints3d" / "000000.npy")[:, :3]
        head, heels = joints[0, axis] * sign, joints[[21, 24], axis].mean() * sign  # Nose above the heels
        assert 1.2 < head - heels < 2.1


def test_same_seed_byte_identical(tmp_path: Path) -> None:
    first = _files(write_easymocap(config(tmp_path / "a", mixed_sizes=True, missing_views=2)))
    again = _files(write_easymocap(config(tmp_path / "b", mixed_sizes=True, missing_views=2)))
    assert first.keys() == again.keys() and [k for k in first if first[k] != again[k]] == []


def test_cli_and_option_errors(tmp_path: Path) -> None:
    args = ["easymocap", "--out", str(tmp_path / "c"), "--num-subjects", "2", "--frames", "1", "--cameras", "3",
            "--resolution", "48", "--mixed-sizes", "--no-smpl", "--up", "+z", "--mask-folder", "mask",
            "--mask-format", "jpg", "--no-progress"]  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "ghnerf_ns.cli.synth", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "c" / "subject_01" / "mask" / "02" / "000000.jpg").is_file()
    assert not (tmp_path / "c" / "subject_00" / "vertices").exists()
    with pytest.raises(ValueError, match="--missing-views"):
        write_easymocap(config(tmp_path / "d", missing_views=7))
    with pytest.raises(ValueError, match="--num-subjects"):
        write_easymocap(config(tmp_path / "d", num_subjects=0))
