"""ZJU-MoCap dataparser on ghnerf-synth data: cameras, splits, frame numbering, bad-input errors."""

import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from nerfstudio.data.dataparsers.base_dataparser import DataparserOutputs

from dataparsers.human_common import SOURCES_KEY, TARGETS_KEY, DatasetFormatError, HumanImageIndex
from dataparsers.zju_mocap_dataparser import ZJUMocapDataParserConfig, vertex_number
from tests.dataparsers.human_projection_ref import opencv_from_nerfstudio, project

ALL = (0, -1, 1)


def parse(root: Path, split: str = "train", **options: Any) -> DataparserOutputs:
    return ZJUMocapDataParserConfig(data=root, **options).setup().get_dataparser_outputs(split)


def load_annots(root: Path, subject: str) -> dict:
    return np.load(root / subject / "annots.npy", allow_pickle=True).item()  # our own synthetic file: trusted


def save_annots(root: Path, subject: str, annots: Any) -> None:
    np.save(root / subject / "annots.npy", np.array(annots, dtype=object), allow_pickle=True)


def test_reference_projection_matches_opencv() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(0, 0.3, (25, 3)) + [0, 0, 3]
    K = np.array([[60.0, 0, 31], [0, 62, 30], [0, 0, 1]])
    R = cv2.Rodrigues(np.array([0.1, -0.2, 0.05]))[0]
    t, dist = np.array([0.1, 0.2, 0.3]), np.array([-0.2, 0.05, 0.001, -0.002, 0.01])
    expected = cv2.projectPoints(points, cv2.Rodrigues(R)[0], t, K, dist)[0][:, 0]
    assert np.abs(project(points, K, R, t, dist) - expected).max() < 1e-9


@pytest.mark.parametrize("subject", ["CoreView_313", "CoreView_386"])
def test_cameras_project_joints_onto_keypoints(zju_root: Path, subject: str) -> None:
    out = parse(zju_root, train_subjects=(subject,), train_frames=ALL, input_views=ALL)
    index: HumanImageIndex = out.metadata[TARGETS_KEY]
    annots = load_annots(zju_root, subject)
    assert len(out.image_filenames) == len(annots["ims"]) * len(annots["cams"]["K"])
    assert np.abs(index.dist).max() > 0  # distortion on: the test below exercises it
    assert out.cameras.distortion_params is None or not out.cameras.distortion_params.any()
    checked = 0
    for row in range(len(index)):
        joints = np.load(index.joints3d_files[(int(index.subject_idx[row]), int(index.frame[row]))])
        K, R, t = opencv_from_nerfstudio(out.cameras, row)
        uv = project(joints[:, :3], K, R, t, index.dist[row])
        keypoints = index.keypoints_2d[row]
        ok = (keypoints[:, 2] > 0) & (joints[:, 3] > 0)
        assert np.abs(uv[ok] - keypoints[ok, :2]).max() < 0.5, index.image_filenames[row]
        checked += int(ok.sum())
        assert int(out.cameras.width[row]) == 64 and int(out.cameras.height[row]) == 64
    assert checked > 10 * len(index)


@pytest.mark.parametrize("train, test", [("313", "386"), ("386", "313")])
def test_splits(zju_root: Path, train: str, test: str) -> None:
    options = dict(train_subjects=(train,), test_subjects=(test,), train_frames=ALL, eval_frames=(0, -1, 1))
    train_out, test_out = parse(zju_root, "train", **options), parse(zju_root, "test", **options)
    num_cams = {s: len(load_annots(zju_root, f"CoreView_{s}")["cams"]["K"]) for s in (train, test)}
    num_frames = {s: len(load_annots(zju_root, f"CoreView_{s}")["ims"]) for s in (train, test)}
    targets, sources = train_out.metadata[TARGETS_KEY], train_out.metadata[SOURCES_KEY]
    assert targets.subjects == [f"CoreView_{train}"] and sources is targets
    assert len(targets) == num_frames[train] * len(range(0, num_cams[train], 2))
    assert set(targets.camera.tolist()) == set(range(0, num_cams[train], 2))  # ENeRF parity: even input cameras
    assert len(train_out.mask_filenames) == len(train_out.image_filenames)
    assert all(p.exists() for p in train_out.image_filenames + train_out.mask_filenames)
    test_targets, test_sources = test_out.metadata[TARGETS_KEY], test_out.metadata[SOURCES_KEY]
    assert test_targets.subjects == [f"CoreView_{test}"]
    assert set(test_targets.camera.tolist()) == set(range(1, num_cams[test], 2))  # ENeRF parity: odd test cameras
    assert set(test_sources.camera.tolist()) == set(range(0, num_cams[test], 2))
    assert len(test_sources) == num_frames[test] * len(range(0, num_cams[test], 2))
    assert np.array_equal(np.unique(test_sources.frame), np.unique(test_targets.frame))
    train_files = {str(p) for p in train_out.image_filenames}
    test_files = {str(p) for p in test_targets.image_filenames + test_sources.image_filenames}
    assert not train_files & test_files
    assert all(f"CoreView_{test}" in p for p in test_files) and all(f"CoreView_{train}" in p for p in train_files)
    # The scene box covers every camera centre of the split.
    aabb = test_out.scene_box.aabb.numpy()
    centres = test_out.cameras.camera_to_worlds[:, :, 3].numpy()
    assert (centres >= aabb[0] - 1e-5).all() and (centres <= aabb[1] + 1e-5).all()


def test_val_subjects_are_the_val_split_and_test_subjects_the_test_split(zju_root: Path) -> None:
    options = dict(train_subjects=("313",), test_subjects=("386",), eval_frames=(0, -1, 1))
    assert parse(zju_root, "val", **options).metadata[TARGETS_KEY].subjects == ["CoreView_386"]  # no val people
    options["val_subjects"] = ("313",)
    assert parse(zju_root, "val", **options).metadata[TARGETS_KEY].subjects == ["CoreView_313"]
    assert parse(zju_root, "test", **options).metadata[TARGETS_KEY].subjects == ["CoreView_386"]


def test_eval_frames_default_every_100th(zju_root: Path) -> None:
    out = parse(zju_root, "val", test_subjects=("386",))
    assert set(out.metadata[TARGETS_KEY].frame.tolist()) == {0}  # ENeRF parity: frames 0, 100, ... (2 exist)


def test_vertex_files_follow_each_subjects_numbering(zju_root: Path) -> None:
    out = parse(zju_root, train_subjects=("313", "386"), train_frames=ALL)
    index: HumanImageIndex = out.metadata[TARGETS_KEY]
    for (s_idx, frame), path in index.box_sources.items():
        one_based = index.subjects[s_idx] == "CoreView_313"
        assert path.name == f"{frame + 1 if one_based else frame}.npy"
    for row in range(len(index)):  # the box of each image's frame holds that frame's 3D joints
        joints = np.load(index.joints3d_files[(int(index.subject_idx[row]), int(index.frame[row]))])
        box = index.box(row)
        valid = joints[joints[:, 3] > 0, :3]
        assert (valid >= box[0]).all() and (valid <= box[1]).all()
    assert vertex_number("Camera (1)/CoreView_313_Camera_(1)_0007_2019-08-23_16-08-50.592.jpg", 6) == 7
    assert vertex_number("Camera_B3/000006.jpg", 6) == 6


def test_mask_folder_preference(zju_root: Path) -> None:
    out = parse(zju_root, train_subjects=("313", "386"))
    index: HumanImageIndex = out.metadata[TARGETS_KEY]
    for subject_idx, mask in zip(index.subject_idx, index.mask_filenames):
        folder = mask.relative_to(zju_root / index.subjects[subject_idx]).parts[0]
        has_plain = (zju_root / index.subjects[subject_idx] / "mask").is_dir()
        assert folder == ("mask" if has_plain else "mask_cihp")  # ENeRF parity: mask/ first
    cihp = parse(zju_root, train_subjects=("313",), mask_folder="mask_cihp").metadata[TARGETS_KEY]
    assert all("mask_cihp" in str(m) for m in cihp.mask_filenames)
    assert parse(zju_root, train_subjects=("313",), mask_folder="none").mask_filenames is None


def test_missing_subjects(zju_root: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(DatasetFormatError, match=r"none of the train subjects.*CoreView_313.*--train-subjects"):
        parse(zju_root, train_subjects=("CoreView_999", "398"))
    out = parse(zju_root, train_subjects=("313", "CoreView_999"))
    assert "train subject CoreView_999 not found" in capsys.readouterr().out
    assert out.metadata[TARGETS_KEY].subjects == ["CoreView_313"]
    with pytest.raises(DatasetFormatError, match="dataset root not found"):
        parse(zju_root / "nope")
    with pytest.raises(DatasetFormatError, match="split is empty"):
        parse(zju_root, train_subjects=("313",), train_frames=(500, 600, 1))


def test_missing_files_are_counted_not_dropped_silently(zju_root: Path, copy_dataset, capsys) -> None:
    root = copy_dataset(zju_root)
    full = parse(root, train_subjects=("386",))
    first = full.image_filenames[0]
    first.unlink()
    out = parse(root, train_subjects=("386",))
    assert len(out.image_filenames) == len(full.image_filenames) - 1 and first not in out.image_filenames
    text = capsys.readouterr().out
    assert f"1 of {len(full.image_filenames)} images skipped (image file missing)" in text and first.name in text
    for folder in ("mask", "mask_cihp"):
        for path in (root / "CoreView_386" / folder).rglob("*.png"):
            path.unlink()
    with pytest.raises(DatasetFormatError, match=r"CoreView_386: no foreground masks.*mask-folder none"):
        parse(root, train_subjects=("386",))
    assert len(parse(root, train_subjects=("386",), mask_folder="none").image_filenames) == len(out.image_filenames)


def test_frame_without_kpts2d_is_masked(zju_root: Path, copy_dataset, capsys) -> None:
    root = copy_dataset(zju_root)
    annots = load_annots(root, "CoreView_386")
    del annots["ims"][1]["kpts2d"]
    save_annots(root, "CoreView_386", annots)
    index = parse(root, train_subjects=("386",), train_frames=ALL).metadata[TARGETS_KEY]
    assert (index.keypoints_2d[index.frame == 1, :, 2] == 0).all()
    assert (index.keypoints_2d[index.frame == 0, :, 2] > 0).any()
    assert "1 frames of annots.npy have no kpts2d" in capsys.readouterr().out


def _break(annots: dict, how: str) -> Any:
    if how == "not_a_dict":
        return "a string, not a dict"
    if how == "camera_count":
        annots["ims"][0]["ims"] = annots["ims"][0]["ims"][:-1]
    elif how == "kpts_shape":
        annots["ims"][1]["kpts2d"] = np.zeros((3, 18, 3))
    elif how == "nan_R":
        annots["cams"]["R"][2] = np.full((3, 3), np.nan)
    elif how == "scaled_R":
        annots["cams"]["R"][2] = 2 * np.asarray(annots["cams"]["R"][2])
    elif how == "traversal":
        annots["ims"][0]["ims"][0] = "../../../etc/passwd"
    elif how == "absolute":
        annots["ims"][0]["ims"][0] = "/etc/passwd"
    return annots


@pytest.mark.parametrize(
    "how, message",
    [
        ("not_a_dict", "expected a dict with 'cams'"),
        ("camera_count", "frame 0 lists .* images but annots\\['cams'\\] has"),
        ("kpts_shape", "frame 1: kpts2d has shape \\(3, 18, 3\\)"),
        ("nan_R", "cams\\['R'\\]\\[2\\] contains NaN"),
        ("scaled_R", "camera 2: R is not a rotation"),
        ("traversal", "escapes the dataset root"),
        ("absolute", "absolute path"),
    ],
)
def test_bad_annots_name_the_file(zju_root: Path, copy_dataset, how: str, message: str) -> None:
    root = copy_dataset(zju_root)
    save_annots(root, "CoreView_386", _break(load_annots(root, "CoreView_386"), how))
    with pytest.raises(DatasetFormatError, match=rf"CoreView_386/annots\.npy: .*{message}"):
        parse(root, train_subjects=("386",))


def test_missing_or_malicious_annots(zju_root: Path, copy_dataset, tmp_path: Path) -> None:
    root = copy_dataset(zju_root)
    (root / "CoreView_386" / "annots.npy").unlink()
    with pytest.raises(DatasetFormatError, match=r"CoreView_386/annots\.npy: annots\.npy not found"):
        parse(root, train_subjects=("386",))

    class Exploit:
        def __reduce__(self):
            return (open, (str(tmp_path / "marker"), "w"))

    save_annots(root, "CoreView_386", {"cams": Exploit(), "ims": []})
    with pytest.raises(DatasetFormatError, match=r"annots\.npy: refusing to unpickle 'io\.open'"):
        parse(root, train_subjects=("386",))
    assert not (tmp_path / "marker").exists()


def test_explicit_camera_lists(zju_root: Path) -> None:
    out = parse(zju_root, "test", test_subjects=("386",), input_view_ids=(0, 3), test_view_ids=(1,))
    assert set(out.metadata[SOURCES_KEY].camera.tolist()) == {0, 3}
    assert set(out.metadata[TARGETS_KEY].camera.tolist()) == {1}
    with pytest.raises(DatasetFormatError, match=r"--input-view-ids \(0, 99\): camera ids \[99\] do not exist"):
        parse(zju_root, "test", test_subjects=("386",), input_view_ids=(0, 99))


def test_missing_vertices_found_at_parse_time_and_kpts2d_box_takes_over(zju_root: Path, copy_dataset, capsys) -> None:
    root = copy_dataset(zju_root)
    (root / "CoreView_386" / "vertices" / "1.npy").unlink()
    index = parse(root, train_subjects=("386",), train_frames=ALL).metadata[TARGETS_KEY]
    text = capsys.readouterr().out
    assert "CoreView_386: 1 of 2 frames have no SMPL file (e.g. CoreView_386/vertices/1.npy)" in text
    assert "else triangulated 2D keypoints (annots.npy kpts2d" in text
    for row in np.flatnonzero(index.frame == 1).tolist():
        joints = np.load(index.joints3d_files[(0, 1)])[:, :3]
        surface = np.load(zju_root / "CoreView_386" / "vertices" / "1.npy")
        box = index.box(row)
        assert (joints >= box[0]).all() and (joints <= box[1]).all()
        assert (surface >= box[0]).all() and (surface <= box[1]).all()
    shutil.rmtree(root / "CoreView_386" / "vertices")
    message = r"no way to locate the person.*CoreView_386/vertices/0\.npy is missing"
    with pytest.raises(DatasetFormatError, match=message):
        parse(root, train_subjects=("386",), mask_folder="none", box_source="masks")


def test_eval_box_comes_from_the_input_cameras_only(zju_root: Path, copy_dataset) -> None:
    """Without SMPL the person's box is triangulated from keypoints: only the input cameras' may count, so that a test
    camera's own annotation never shapes its prediction (the box bounds the cost volumes and the rendered region)."""
    options = dict(train_subjects=("313",), test_subjects=("386",), eval_frames=(0, -1, 1), box_source="keypoints")
    before = parse(zju_root, "test", **options).metadata[TARGETS_KEY]
    root = copy_dataset(zju_root)
    annots = load_annots(root, "CoreView_386")
    for frame in annots["ims"]:
        kpts = np.array(frame["kpts2d"])
        kpts[1::2, :, :2] += 25.0  # every odd (test) camera's keypoints moved far off
        frame["kpts2d"] = kpts
    save_annots(root, "CoreView_386", annots)
    after = parse(root, "test", **options).metadata[TARGETS_KEY]
    for row in range(len(before)):
        np.testing.assert_allclose(after.box(row), before.box(row), atol=1e-9)
