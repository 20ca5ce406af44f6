"""Exact on-disk layouts written by ghnerf-synth: ZJU-MoCap (b23 and 313 styles) and SHERF RenderPeople."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ghnerf_ns.synth import write_zju
from ghnerf_ns.synth.zju_writer import camera_folders, resolve_style
from tests.synth.synth_configs import zju_config

STEM_313 = re.compile(r"^CoreView_313_Camera_\((\d+)\)_(\d{4})_2019-08-23_\d{2}-\d{2}-\d{2}\.\d{3}$")


def test_b23_layout(zju_root: Path) -> None:
    root = zju_root / "CoreView_386"
    for cam in range(1, 5):
        for frame in range(2):
            for sub in ("", "mask/", "mask_cihp/"):
                ext = "png" if sub else "jpg"
                assert (root / f"{sub}Camera_B{cam}" / f"{frame:06d}.{ext}").is_file()
            assert (root / "cse" / f"Camera_B{cam}" / f"{frame:06d}.npy").is_file()
            assert (root / "openpose" / f"Camera_B{cam}" / f"{frame:06d}_keypoints.json").is_file()
    assert not (root / "Camera_B5").exists()
    assert sorted(p.name for p in (root / "vertices").iterdir()) == ["0.npy", "1.npy"]
    assert sorted(p.name for p in (root / "ghnerf_synth" / "joints3d").iterdir()) == ["000000.npy", "000001.npy"]
    assert (root / "ghnerf_synth" / "README.txt").is_file()
    vertices = np.load(root / "vertices" / "0.npy")
    assert vertices.dtype == np.float32 and vertices.shape == (6890, 3)


def test_313_layout(zju_root: Path) -> None:
    root = zju_root / "CoreView_313"
    assert not (root / "mask").exists(), "313/315 have no mask/ folder, only mask_cihp/"
    assert sorted(p.name for p in root.iterdir() if p.name.startswith("Camera")) == [
        "Camera (1)", "Camera (2)", "Camera (3)", "Camera (4)"
    ]  # fmt: skip
    for cam in range(1, 5):
        images = sorted((root / f"Camera ({cam})").iterdir())
        assert len(images) == 2
        for frame, image in enumerate(images):
            match = STEM_313.match(image.stem)
            assert match and image.suffix == ".jpg", image.name
            assert int(match.group(1)) == cam
            # neuralbody: frame_index = int(basename.split('_')[4]) - 1
            assert int(image.name.split("_")[4]) - 1 == frame
            assert (root / "mask_cihp" / f"Camera ({cam})" / f"{image.stem}.png").is_file()
            assert (root / "cse" / f"Camera ({cam})" / f"{image.stem}.npy").is_file()
            assert (root / "openpose" / f"Camera ({cam})" / f"{image.stem}_keypoints.json").is_file()
    first = sorted((root / "Camera (1)").iterdir())[0].name
    assert first == "CoreView_313_Camera_(1)_0001_2019-08-23_16-08-50.592.jpg"  # the release's reference name
    assert sorted(p.name for p in (root / "vertices").iterdir()) == ["1.npy", "2.npy"]  # 1-indexed
    assert sorted(p.name for p in (root / "ghnerf_synth" / "joints3d").iterdir()) == ["000000.npy", "000001.npy"]


def test_313_camera_numbers_skip_20_and_21() -> None:
    assert camera_folders("313", 21) == [f"Camera ({n})" for n in list(range(1, 20)) + [22, 23]]
    assert camera_folders("313", 23)[-2:] == ["Camera (24)", "Camera (25)"]
    assert camera_folders("b23", 3) == ["Camera_B1", "Camera_B2", "Camera_B3"]
    assert resolve_style("auto", "315") == "313" and resolve_style("auto", "377") == "b23"
    assert resolve_style("313", "377") == "313"
    with pytest.raises(ValueError, match="--style"):
        resolve_style("b21", "313")


def test_forced_style_and_default_camera_counts(tmp_path: Path) -> None:
    write_zju(zju_config(tmp_path, subjects=("390",), style="313", frames=1, cameras=None, resolution=32,
                         cse_downscale=8))  # fmt: skip
    root = tmp_path / "CoreView_390"
    folders = sorted(p.name for p in root.iterdir() if p.name.startswith("Camera"))
    assert len(folders) == 21 and "Camera (20)" not in folders and "Camera (23)" in folders
    assert (root / "vertices" / "1.npy").is_file() and not (root / "mask").exists()
    annots = np.load(root / "annots.npy", allow_pickle=True).item()
    assert len(annots["cams"]["K"]) == 21 and annots["ims"][0]["kpts2d"].shape == (21, 25, 3)


def test_renderpeople_layout(rp_root: Path) -> None:
    subjects = (rp_root / "human_list.txt").read_text().split()
    assert subjects == ["seq_000000-rp_synth_0000_rigged_001", "seq_000001-rp_synth_0001_rigged_001"]
    assert (rp_root / "GHNERF_SYNTH.txt").is_file()
    for subject in subjects:
        root = rp_root / subject
        cameras = json.loads((root / "cameras.json").read_text())
        assert list(cameras) == ["camera0000", "camera0001", "camera0002", "camera0003"]
        for cam in cameras.values():
            assert np.array(cam["K"]).shape == (3, 3) and np.array(cam["R"]).shape == (3, 3)
            assert len(cam["T"]) == 3 and 2.0 < np.linalg.norm(cam["T"]) < 4.5  # metres
        for name in cameras:
            for pose in range(2):
                assert (root / "img" / name / f"{pose:04d}.jpg").is_file()
                assert (root / "mask" / name / f"{pose:04d}.png").is_file()
                assert (root / "cse" / name / f"{pose:04d}.npy").is_file()
                data = json.loads((root / "openpose" / name / f"{pose:04d}_keypoints.json").read_text())
                assert data["version"] == 1.3 and len(data["people"]) == 1
                person = data["people"][0]
                assert person["person_id"] == [-1] and len(person["pose_keypoints_2d"]) == 75
                assert person["face_keypoints_2d"] == [] and person["hand_left_keypoints_2d"] == []
        for pose in range(2):
            joints = np.load(root / "ghnerf_synth" / "joints3d" / f"{pose:06d}.npy")
            assert joints.shape == (25, 4) and np.all(joints[:, 3] == 1)
        smpl = np.load(root / "outputs_re_fitting" / "refit_smpl_2nd.npz", allow_pickle=True)["smpl"].item()
        assert smpl["betas"].shape == (10,) and smpl["global_orient"].shape == (2, 3)
        assert smpl["body_pose"].shape == (2, 69) and smpl["transl"].shape == (2, 3)
        assert all(v.dtype == np.float32 for v in smpl.values())
        joints = np.load(root / "ghnerf_synth" / "joints3d" / "000001.npy")
        np.testing.assert_allclose(smpl["transl"][1], joints[8, :3], atol=1e-6)  # transl = MidHip (root)
