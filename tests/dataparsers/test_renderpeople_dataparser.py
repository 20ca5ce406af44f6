"""RenderPeople (SHERF layout) dataparser on ghnerf-synth data: cameras, splits, views, boxes, bad-input errors."""

import json
import shutil
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest
from nerfstudio.data.dataparsers.base_dataparser import DataparserOutputs

from dataparsers.human_common import SOURCES_KEY, TARGETS_KEY, DatasetFormatError, HumanImageIndex
from dataparsers.openpose_json import read_openpose_json, write_openpose_json
from dataparsers.renderpeople_dataparser import RenderPeopleDataParserConfig, evenly_spaced
from tests.dataparsers.human_projection_ref import opencv_from_nerfstudio, project


def parse(root: Path, split: str = "train", **options: Any) -> DataparserOutputs:
    options.setdefault("num_train_subjects", 2)
    options.setdefault("train_poses", (0, -1, 1))
    return RenderPeopleDataParserConfig(data=root, **options).setup().get_dataparser_outputs(split)


def subjects(root: Path) -> List[str]:
    return (root / "human_list.txt").read_text().split()


def test_cameras_project_joints_onto_openpose_keypoints(rp_root: Path) -> None:
    out = parse(rp_root, num_train_subjects=3)
    index: HumanImageIndex = out.metadata[TARGETS_KEY]
    assert len(index) == 3 * 2 * 4 and not index.dist.any()
    checked = 0
    for row in range(len(index)):
        key = (int(index.subject_idx[row]), int(index.frame[row]))
        joints = np.load(index.joints3d_files[key])
        K, R, t = opencv_from_nerfstudio(out.cameras, row)
        uv = project(joints[:, :3], K, R, t, index.dist[row])
        keypoints = read_openpose_json(index.keypoint_files[row])
        ok = (keypoints[:, 2] > 0) & (joints[:, 3] > 0)
        assert np.abs(uv[ok] - keypoints[ok, :2]).max() < 0.5, index.image_filenames[row]
        checked += int(ok.sum())
        box = index.box(row)  # SMPL translation +- half extent holds the body
        assert (joints[ok, :3] >= box[0]).all() and (joints[ok, :3] <= box[1]).all()
    assert checked > 10 * len(index)
    assert all(p is not None and p.exists() for p in index.cse_files)


def test_subject_split_and_views(rp_root: Path) -> None:
    names = subjects(rp_root)
    train = parse(rp_root)
    test = parse(rp_root, "test")
    train_index, test_targets, test_sources = (
        train.metadata[TARGETS_KEY], test.metadata[TARGETS_KEY], test.metadata[SOURCES_KEY],
    )  # fmt: skip
    assert train_index.subjects == names[:2] and train.metadata[SOURCES_KEY] is train_index
    assert test_targets.subjects == names[2:] == test_sources.subjects
    assert set(train_index.camera.tolist()) == {0, 1, 2, 3}  # SHERF trains on every view
    # 4 cameras cannot hold SHERF's views (0, 16, 31): 3 evenly spaced cameras instead; targets: every 2nd, others.
    assert evenly_spaced(3, 36) == [0, 12, 24] and evenly_spaced(3, 4) == [0, 1, 2]
    assert set(test_sources.camera.tolist()) == {0, 1, 2}
    assert set(test_targets.camera.tolist()) == {3}
    train_files = {str(p) for p in train.image_filenames}
    assert not train_files & {str(p) for p in test_targets.image_filenames + test_sources.image_filenames}
    assert len(train.mask_filenames) == len(train.image_filenames) and all(p.exists() for p in train.mask_filenames)


def test_explicit_test_views(rp_root: Path) -> None:
    out = parse(rp_root, "test", input_view_ids=(0, 2), test_view_ids=(1, 3), eval_poses=(0, -1, 1))
    assert set(out.metadata[SOURCES_KEY].camera.tolist()) == {0, 2}
    assert set(out.metadata[TARGETS_KEY].camera.tolist()) == {1, 3}
    assert len(out.image_filenames) == 2 * 2 and set(out.metadata[TARGETS_KEY].frame.tolist()) == {0, 1}


def test_missing_subjects(rp_root: Path, copy_dataset, capsys) -> None:
    root = copy_dataset(rp_root)
    names = subjects(root)
    shutil.rmtree(root / names[1])
    out = parse(root)
    assert out.metadata[TARGETS_KEY].subjects == [names[0]]
    assert f"train subject {names[1]} not found" in capsys.readouterr().out
    shutil.rmtree(root / names[0])
    with pytest.raises(DatasetFormatError, match=rf"none of the train subjects.*{names[2]}.*--num-train-subjects"):
        parse(root)
    with pytest.raises(DatasetFormatError, match="no test subjects configured.*--num-test-subjects"):
        parse(rp_root, "test", num_train_subjects=3)
    with pytest.raises(DatasetFormatError, match="split is empty"):
        parse(rp_root, "test", test_view_ids=(3,), eval_poses=(5, 9, 1))


def test_missing_and_empty_keypoints(rp_root: Path, copy_dataset, capsys) -> None:
    root = copy_dataset(rp_root)
    subject = root / subjects(root)[0]
    (subject / "openpose" / "camera0001" / "0000_keypoints.json").unlink()
    write_openpose_json(subject / "openpose" / "camera0002" / "0000_keypoints.json", np.zeros((25, 3), np.float32))
    index = parse(root).metadata[TARGETS_KEY]
    assert "1 of 8 images have no OpenPose file" in capsys.readouterr().out
    rows = {(int(f), int(c)): r for r, (f, c) in enumerate(zip(index.frame, index.camera)) if index.subject_idx[r] == 0}
    assert index.keypoint_files[rows[(0, 1)]] is None
    assert (read_openpose_json(index.keypoint_files[rows[(0, 2)]])[:, 2] == 0).all()


def test_missing_images_and_masks(rp_root: Path, copy_dataset, capsys) -> None:
    root = copy_dataset(rp_root)
    subject = root / subjects(root)[0]
    (subject / "img" / "camera0003" / "0001.jpg").unlink()
    assert len(parse(root).image_filenames) == 2 * 8 - 1
    assert "1 of 8 images skipped (image file missing)" in capsys.readouterr().out
    shutil.rmtree(subject / "mask")
    with pytest.raises(DatasetFormatError, match="no foreground masks found in mask/.*use-masks False"):
        parse(root)
    assert parse(root, use_masks=False).mask_filenames is None


def test_box_without_smpl_from_keypoints_then_masks(rp_root: Path, copy_dataset, capsys) -> None:
    root = copy_dataset(rp_root)
    subject = root / subjects(root)[0]
    (subject / "outputs_re_fitting" / "refit_smpl_2nd.npz").unlink()
    index = parse(root).metadata[TARGETS_KEY]
    text = capsys.readouterr().out
    assert "from triangulated 2D keypoints (OpenPose JSON)" in text and subject.name in text
    assert "SMPL translation" in text  # the other subject still has its SMPL fit
    for row in np.flatnonzero(index.subject_idx == 0).tolist():
        frame = int(index.frame[row])
        joints = np.load(subject / "ghnerf_synth" / "joints3d" / f"{frame:06d}.npy")
        surface = np.load(subject / "ghnerf_synth" / "vertices" / f"{frame:06d}.npy")
        box = index.box(row)
        for points in (joints[:, :3], surface):
            assert (points >= box[0]).all() and (points <= box[1]).all()
        assert (box[1] - box[0]).max() < 3.0  # joints' bounds + 0.3 m, not the whole capture volume
    shutil.rmtree(subject / "openpose")  # no keypoints: the masks' visual hull
    index = parse(root).metadata[TARGETS_KEY]
    assert "mask visual hull (no 2D keypoints)" in capsys.readouterr().out
    surface = np.load(subject / "ghnerf_synth" / "vertices" / "000000.npy")
    box = index.box(0)
    assert (surface >= box[0]).all() and (surface <= box[1]).all()
    with pytest.raises(DatasetFormatError, match=r"no way to locate the person.*refit_smpl_2nd\.npz is missing"):
        parse(root, use_masks=False)


def _edit_cameras(subject: Path, edit) -> None:
    path = subject / "cameras.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("camera0003"), "cameras.json: cameras camera0003 have images in img/ but no calibration"),
        (lambda d: d["camera0001"]["R"][0].__setitem__(0, float("nan")), "camera camera0001 R contains NaN"),
        (lambda d: d["camera0002"].__setitem__("R", [[1, 0, 0], [0, 1, 0], [0, 0, 0]]), "camera camera0002: R is not"),
        (lambda d: d["camera0002"].__setitem__("T", [1, 2]), r"camera camera0002 T has shape \(2,\)"),
        (lambda d: d["camera0002"].pop("K"), "camera camera0002 must have keys K, R, T"),
    ],
)
def test_bad_cameras_name_the_file(rp_root: Path, copy_dataset, edit, message: str) -> None:
    root = copy_dataset(rp_root)
    _edit_cameras(root / subjects(root)[0], edit)
    with pytest.raises(DatasetFormatError, match=message):
        parse(root)


def test_garbled_and_malicious_files(rp_root: Path, copy_dataset, tmp_path: Path) -> None:
    root = copy_dataset(rp_root)
    subject = root / subjects(root)[0]
    (subject / "cameras.json").write_text("{garbled")
    with pytest.raises(DatasetFormatError, match=r"cameras\.json: not valid JSON"):
        parse(root)
    shutil.copy(rp_root / subject.name / "cameras.json", subject / "cameras.json")

    class Exploit:
        def __reduce__(self):
            return (open, (str(tmp_path / "marker"), "w"))

    np.savez(subject / "outputs_re_fitting" / "refit_smpl_2nd.npz", smpl=np.array({"transl": Exploit()}, dtype=object))
    with pytest.raises(DatasetFormatError, match=r"refit_smpl_2nd\.npz\[smpl\.npy\]: refusing to unpickle 'io\.open'"):
        parse(root)
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("line", ["../outside", "/etc", "a/b"])
def test_human_list_paths_stay_inside(rp_root: Path, copy_dataset, line: str) -> None:
    root = copy_dataset(rp_root)
    (root / "human_list.txt").write_text(line + "\n" + (root / "human_list.txt").read_text())
    with pytest.raises(DatasetFormatError, match=r"human_list\.txt: .*(escapes|absolute|plain folder name)"):
        parse(root)
