"""annots.npy structure per style, and the exactness of the stored 2D keypoints (= cv2.projectPoints of joints3d)."""

import json
from pathlib import Path

import cv2
import numpy as np


def _load(root: Path) -> dict:
    return np.load(root / "annots.npy", allow_pickle=True).item()


def test_b23_annots_are_arrays(zju_root: Path) -> None:
    annots = _load(zju_root / "CoreView_386")
    assert set(annots) == {"cams", "ims"} and set(annots["cams"]) == {"K", "R", "T", "D"}
    shapes = {"K": (3, 3), "R": (3, 3), "T": (3, 1), "D": (5, 1)}
    for key, shape in shapes.items():
        assert isinstance(annots["cams"][key], list) and len(annots["cams"][key]) == 4
        assert all(isinstance(v, np.ndarray) and v.shape == shape for v in annots["cams"][key]), key
    for R in annots["cams"]["R"]:
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert len(annots["ims"]) == 2
    assert annots["ims"][1]["ims"] == [f"Camera_B{c}/000001.jpg" for c in range(1, 5)]
    assert isinstance(annots["ims"][0]["kpts2d"], np.ndarray) and annots["ims"][0]["kpts2d"].shape == (4, 25, 3)


def test_313_annots_are_plain_lists(zju_root: Path) -> None:
    annots = _load(zju_root / "CoreView_313")
    for key, shape in {"K": (3, 3), "R": (3, 3), "T": (3, 1), "D": (5, 1)}.items():
        for value in annots["cams"][key]:
            assert isinstance(value, list) and all(isinstance(row, list) for row in value)
            assert all(type(x) is float for row in value for x in row)
            assert np.array(value).shape == shape
    first = annots["ims"][0]["ims"][0]
    assert first.startswith("Camera (1)/CoreView_313_Camera_(1)_0001_") and first.endswith(".jpg")
    assert (zju_root / "CoreView_313" / first).is_file()


def test_translation_in_millimetres(zju_root: Path) -> None:
    for subject in ("CoreView_313", "CoreView_386"):
        cams = _load(zju_root / subject)["cams"]
        for R, T in zip(cams["R"], cams["T"]):
            center = -np.asarray(R).T @ (np.asarray(T) / 1000.0)
            # Cameras ~3 m from the subject at about 1.9 m height; ZJU's vertical axis is -z.
            assert 2.5 < np.linalg.norm(center[:2, 0] - np.array([0.46, 0.30])) < 3.6
            assert -2.1 < center[2, 0] < -1.7


def test_kpts2d_equal_projection_of_joints3d(zju_root: Path) -> None:
    for subject in ("CoreView_313", "CoreView_386"):
        root = zju_root / subject
        annots = _load(root)
        cams = {k: [np.asarray(v, dtype=np.float64) for v in vs] for k, vs in annots["cams"].items()}
        for frame, entry in enumerate(annots["ims"]):
            joints = np.load(root / "ghnerf_synth" / "joints3d" / f"{frame:06d}.npy")
            assert joints.shape == (25, 4) and joints.dtype == np.float64
            for c in range(len(cams["K"])):
                rvec, _ = cv2.Rodrigues(cams["R"][c])
                uv, _ = cv2.projectPoints(
                    np.ascontiguousarray(joints[:, :3]), rvec, cams["T"][c] / 1000.0, cams["K"][c], cams["D"][c]
                )
                np.testing.assert_allclose(entry["kpts2d"][c, :, :2], uv.reshape(-1, 2), rtol=0, atol=1e-9)
                conf = entry["kpts2d"][c, :, 2]
                assert set(np.unique(conf)) <= {0.0, 0.9}
                assert (conf > 0).sum() >= 10  # the person is in view of every camera
                # Joints marked visible are inside the image.
                visible = entry["kpts2d"][c, conf > 0, :2]
                assert np.all((visible >= 0) & (visible <= 63))


def test_zju_world_is_minus_z_up(zju_root: Path) -> None:
    joints = np.load(zju_root / "CoreView_386" / "ghnerf_synth" / "joints3d" / "000000.npy")
    nose, midhip, ankles = joints[0, 2], joints[8, 2], joints[[11, 14], 2]
    assert nose < midhip < ankles.min() and ankles.max() < 0  # higher = more negative z, floor at z = 0


def test_openpose_json_matches_kpts2d(zju_root: Path) -> None:
    root = zju_root / "CoreView_386"
    kpts = _load(root)["ims"][1]["kpts2d"][2]
    data = json.loads((root / "openpose" / "Camera_B3" / "000001_keypoints.json").read_text())
    values = np.array(data["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    visible = kpts[:, 2] > 0
    np.testing.assert_array_equal(values[visible], kpts[visible])
    np.testing.assert_array_equal(values[~visible], 0.0)  # OpenPose writes 0,0,0 for undetected joints


def test_renderpeople_keypoints_reproject(rp_root: Path) -> None:
    root = rp_root / "seq_000001-rp_synth_0001_rigged_001"
    cameras = json.loads((root / "cameras.json").read_text())
    for pose in range(2):
        joints = np.load(root / "ghnerf_synth" / "joints3d" / f"{pose:06d}.npy")[:, :3]
        assert joints[:, 1].max() > 1.4 and joints[:, 1].min() < 0.15  # +y up, floor at y = 0
        for name, cam in cameras.items():
            K, R, T = (np.array(cam[k], dtype=np.float64) for k in ("K", "R", "T"))
            uv = (joints @ R.T + T) @ K.T
            uv = uv[:, :2] / uv[:, 2:]
            data = json.loads((root / "openpose" / name / f"{pose:04d}_keypoints.json").read_text())
            values = np.array(data["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
            visible = values[:, 2] > 0
            assert visible.sum() >= 10
            np.testing.assert_allclose(values[visible, :2], uv[visible], atol=1e-6)
