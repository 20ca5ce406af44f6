"""EasyMocap dataparser on ghnerf-synth data (no SMPL, mixed image sizes, +z up) and on the real ZJU rig calibration."""

import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from nerfstudio.data.dataparsers.base_dataparser import DataparserOutputs

from dataparsers import human_parser
from dataparsers.camera_checks import nerfstudio_cameras
from dataparsers.easymocap_dataparser import EasyMocapDataParserConfig, natural_key
from dataparsers.human_common import SOURCES_KEY, TARGETS_KEY, DatasetFormatError, HumanImageIndex
from dataparsers.openpose_json import read_openpose_json
from ghnerf_ns.synth import EasyMocapSynthConfig, write_easymocap
from tests.dataparsers.human_projection_ref import opencv_from_nerfstudio, project

ALL = (0, -1, 1)
SUBJECTS = ("subject_00", "subject_01", "subject_02")
ZJU_RIG = Path(__file__).resolve().parents[1] / "fixtures" / "zju_rig"
"""The real ZJU-MoCap calibration (``tests/fixtures/zju_rig``, see its README)."""


def parse(root: Path, split: str = "train", **options: Any) -> DataparserOutputs:
    return EasyMocapDataParserConfig(data=root, **options).setup().get_dataparser_outputs(split)


def test_cameras_reproject_true_joints_exactly(em_root: Path) -> None:
    """Exact cameras: the true 3D joints project onto the written keypoints (< 0.15 px), per-camera sizes."""
    out = parse(em_root, train_subjects=SUBJECTS, test_subjects=("subject_02",), train_frames=ALL)
    index: HumanImageIndex = out.metadata[TARGETS_KEY]
    assert index.subjects == list(SUBJECTS) and np.abs(index.dist).max() > 0
    worst, checked = 0.0, 0
    for row in range(len(index)):
        height, width = cv2.imread(str(index.image_filenames[row])).shape[:2]
        assert (int(out.cameras.width[row]), int(out.cameras.height[row])) == (width, height)
        joints = np.load(index.joints3d_files[(int(index.subject_idx[row]), int(index.frame[row]))])
        K, R, t = opencv_from_nerfstudio(out.cameras, row)  # undoes nerfstudio's +0.5 px principal point
        uv = project(joints[:, :3], K, R, t, index.dist[row])
        keypoints = read_openpose_json(index.keypoint_files[row])
        ok = keypoints[:, 2] > 0
        worst = max(worst, float(np.abs(uv[ok] - keypoints[ok, :2]).max()))
        checked += int(ok.sum())
    assert worst < 0.15, worst
    assert checked > 10 * len(index)
    sizes = {(int(w), int(h)) for w, h in zip(index.width, index.height)}
    assert sizes == {(54, 96), (96, 72)}  # portrait phones beside landscape cameras in one rig


@pytest.mark.parametrize("split, source", [("train", "triangulated 2D keypoints (OpenPose JSON)"),
                                           ("test", "mask visual hull")])  # fmt: skip
def test_boxes_without_smpl_hold_every_true_joint_and_the_body(em_root: Path, capsys, split, source) -> None:
    """Without SMPL, training people get their box from the 2D keypoints; unseen (val/test) people from the input
    cameras' masks, so that no prediction reads keypoint annotations."""
    out = parse(em_root, split, train_subjects=SUBJECTS, test_subjects=SUBJECTS, train_frames=ALL, eval_frames=ALL)
    assert f"from {source}" in capsys.readouterr().out
    for name in (TARGETS_KEY, SOURCES_KEY):
        index: HumanImageIndex = out.metadata[name]
        for row in range(len(index)):
            subject = em_root / index.subjects[int(index.subject_idx[row])] / "ghnerf_synth"
            frame = int(index.frame[row])
            box = index.box(row)
            for points in (np.load(subject / "joints3d" / f"{frame:06d}.npy")[:, :3],
                           np.load(subject / "vertices" / f"{frame:06d}.npy")):  # fmt: skip
                assert (points >= box[0]).all() and (points <= box[1]).all()
            assert (box[1] - box[0]).max() < 3.0 and box[1][2] - box[0][2] > 1.4  # a person, standing on +z


def test_box_falls_back_to_the_mask_hull(em_root: Path, copy_dataset, capsys) -> None:
    root = copy_dataset(em_root)
    for subject in SUBJECTS:
        shutil.rmtree(root / subject / "openpose")
    index = parse(root, train_subjects=SUBJECTS[:1], test_subjects=SUBJECTS[2:]).metadata[TARGETS_KEY]
    assert "from mask visual hull (no 2D keypoints)" in capsys.readouterr().out
    for row in range(len(index)):
        truth = np.load(root / "subject_00" / "ghnerf_synth" / "vertices" / f"{int(index.frame[row]):06d}.npy")
        box = index.box(row)
        assert (truth >= box[0]).all() and (truth <= box[1]).all()
        assert (box[1] - box[0]).max() < 3.0
    with pytest.raises(DatasetFormatError, match=r"subject_00: no way to locate the person.*masks"):
        parse(root, train_subjects=SUBJECTS[:1], test_subjects=SUBJECTS[2:], mask_folder="none")


def test_smpl_vertices_where_present_and_missing_ones_found_at_parse_time(em_root: Path, copy_dataset, capsys) -> None:
    root = copy_dataset(em_root)
    subject = root / "subject_00"
    (subject / "vertices").mkdir()
    shutil.copy(subject / "ghnerf_synth" / "vertices" / "000000.npy", subject / "vertices" / "000000.npy")
    index = parse(root, train_subjects=("subject_00",), test_subjects=("subject_02",)).metadata[TARGETS_KEY]
    text = capsys.readouterr().out
    assert "subject_00: 1 of 2 frames have no SMPL file (e.g. subject_00/vertices/000001.npy)" in text
    assert "SMPL vertices (vertices/, +-0.1 m), else triangulated 2D keypoints" in text
    assert list(index.box_sources) == [(0, 0)]
    for row in range(len(index)):
        assert index.box(row).shape == (2, 3)


def test_splits_by_subject_and_camera(em_root: Path, capsys) -> None:
    train, test = parse(em_root), parse(em_root, "test")
    assert train.metadata[TARGETS_KEY].subjects == ["subject_00", "subject_01"]  # default: the last sequence tests
    assert train.metadata[SOURCES_KEY] is train.metadata[TARGETS_KEY]
    assert set(train.metadata[TARGETS_KEY].camera.tolist()) == set(range(6))
    targets, sources = test.metadata[TARGETS_KEY], test.metadata[SOURCES_KEY]
    assert targets.subjects == ["subject_02"] == sources.subjects
    assert set(targets.camera.tolist()) == {1, 3, 5} and set(sources.camera.tolist()) == {0, 2, 4}
    assert set(targets.frame.tolist()) == {0}  # eval_frames (0, -1, 30)
    text = capsys.readouterr().out
    assert "images skipped (image file missing)" in text  # a frame with a missing view is reported, not fatal
    # One sequence as --data: it is its own test subject; training leaves its test cameras out.
    single_train, single_test = parse(em_root / "subject_01"), parse(em_root / "subject_01", "test")
    assert set(single_train.metadata[TARGETS_KEY].camera.tolist()) == {0, 2, 4}
    assert single_test.metadata[TARGETS_KEY].subjects == ["subject_01"]
    assert "also train (their test cameras do not)" in capsys.readouterr().out


def test_wide_baseline_warns_once(em_root: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(human_parser, "_WARNED_RIGS", set())
    parse(em_root, "test")  # 6 cameras on a ring, the even ones as inputs: ~120 degrees apart
    assert capsys.readouterr().out.count("wide camera baseline") == 1
    parse(em_root, "test")
    assert "wide camera baseline" not in capsys.readouterr().out
    parse(em_root, test_subjects=("subject_02",))  # training uses all 6 cameras (~60 degrees): no warning
    assert "wide camera baseline" not in capsys.readouterr().out


def test_real_zju_rig_calibration(tmp_path: Path) -> None:
    """The published ZJU intri/extri (with 'none' placeholders) parse into exact cameras, natural camera order."""
    seq = tmp_path / "zju_seq"
    seq.mkdir()
    for name in ("intri.yml", "extri.yml"):
        shutil.copy(ZJU_RIG / name, seq / name)
    names = [f"Camera_B{i}" for i in range(1, 24)]
    image = np.zeros((1024, 1024, 3), np.uint8)
    for name in names:
        for top, ext in (("images", "jpg"), ("masks", "png")):
            (seq / top / name).mkdir(parents=True)
            cv2.imwrite(str(seq / top / name / f"000000.{ext}"), image)
    out = parse(seq, "test", input_views=ALL, test_view_ids=(0,))
    sources: HumanImageIndex = out.metadata[SOURCES_KEY]
    assert sources.camera.tolist() == list(range(23)) and sorted(names, key=natural_key) == names
    intri = cv2.FileStorage(str(seq / "intri.yml"), cv2.FILE_STORAGE_READ)
    extri = cv2.FileStorage(str(seq / "extri.yml"), cv2.FILE_STORAGE_READ)
    point = np.array([[0.46, 0.30, -0.85], [0.2, 0.5, -1.5]])  # where the person stands in this world (-z up)
    cameras = _cameras(sources)
    for c, name in enumerate(names):
        K, dist = intri.getNode(f"K_{name}").mat(), intri.getNode(f"dist_{name}").mat().ravel()
        R, T = extri.getNode(f"Rot_{name}").mat(), extri.getNode(f"T_{name}").mat().ravel()
        assert np.allclose(cv2.Rodrigues(extri.getNode(f"R_{name}").mat())[0], R, atol=1e-5)
        expected = cv2.projectPoints(point, cv2.Rodrigues(R)[0], T, K, dist)[0][:, 0]
        Kp, Rp, tp = opencv_from_nerfstudio(cameras, c)
        assert np.abs(project(point, Kp, Rp, tp, sources.dist[c]) - expected).max() < 1e-2
        centre = -R.T @ T
        assert -2.3 < centre[2] < -1.5  # the real rig hangs at z ~ -1.9 m
        assert (sources.width[c], sources.height[c]) == (1024, 1024)


def _cameras(index: HumanImageIndex):
    return nerfstudio_cameras(index.K, index.w2c, index.width, index.height)


def _seq_copy(em_root: Path, tmp_path: Path) -> Path:
    seq = tmp_path / "seq"
    shutil.copytree(em_root / "subject_00", seq)
    return seq


def _replace(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: (s / "extri.yml").unlink(), r"seq/extri\.yml: not found"),
        (lambda s: (s / "intri.yml").write_text("%YAML:1.0\n---\nnames: [a, b\n"), r"seq/intri\.yml: not a readable"),
        (lambda s: _replace(s / "intri.yml", "K_03:", "K_99:"),
         r"seq/intri\.yml: camera 03 is in names but has no K_03"),
        (lambda s: _replace(s / "extri.yml", "Rot_02:", "Rx_02:") or _replace(s / "extri.yml", "R_02:", "Ry_02:"),
         r"seq/extri\.yml: camera 02 has neither Rot_02"),
        (lambda s: (s / "images" / "07").mkdir(),
         r"seq/intri\.yml: cameras 07 have images in images/ but no calibration"),
        (lambda s: shutil.rmtree(s / "masks"),
         r"seq: no foreground masks found in masks/ or mask/.*--mask-folder none"),
    ],
)  # fmt: skip
def test_bad_sequences_name_the_file_and_the_fix(em_root: Path, tmp_path: Path, damage, message: str) -> None:
    seq = _seq_copy(em_root, tmp_path)
    damage(seq)
    with pytest.raises(DatasetFormatError, match=message):
        parse(seq)


def test_translation_in_millimetres_and_calibration_size_are_checked(em_root: Path, tmp_path: Path) -> None:
    seq = _seq_copy(em_root, tmp_path)
    fs = cv2.FileStorage(str(seq / "extri.yml"), cv2.FILE_STORAGE_READ)
    names = [fs.getNode("names").at(i).string() for i in range(fs.getNode("names").size())]
    out = cv2.FileStorage(str(seq / "extri.yml.mm"), cv2.FILE_STORAGE_WRITE)
    out.write("names", "unused")
    for name in names:
        out.write(f"Rot_{name}", fs.getNode(f"Rot_{name}").mat())
        out.write(f"T_{name}", fs.getNode(f"T_{name}").mat() * 1000)
    out.release()
    text = (
        (seq / "extri.yml.mm")
        .read_text()
        .replace("names: unused", "names:\n" + "".join(f'   - "{n}"\n' for n in names))
    )
    (seq / "extri.yml").write_text(text)
    with pytest.raises(
        DatasetFormatError, match=r"extri\.yml: camera centres lie up to .* m from .* T must be in metres"
    ):
        parse(seq)
    seq2 = _seq_copy(em_root, tmp_path / "b")
    _replace(seq2 / "intri.yml", "dist_01:", "H_01: 1080\nW_01: 1920\ndist_01:")
    with pytest.raises(DatasetFormatError, match=r"camera 01 was calibrated at 1920x1080 .* images are 54x96"):
        parse(seq2)


def test_no_sequence_and_unknown_subjects(em_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="no intri.yml at its root or in any sub-folder"):
        parse(tmp_path)
    with pytest.raises(DatasetFormatError, match=r"subject\(s\) nobody not found.*subject_00.*--train-subjects"):
        parse(em_root, train_subjects=("nobody",))


def test_mask_folder_and_jpeg_masks(tmp_path: Path) -> None:
    config = EasyMocapSynthConfig(out=tmp_path / "jpg", num_subjects=1, frames=1, cameras=4, resolution=64,
                                  mask_folder="mask", mask_format="jpg", seed=1, progress=False)  # fmt: skip
    root = write_easymocap(config)
    out = parse(root / "subject_00", test_view_ids=(3,))
    assert all(m.parent.parent.name == "mask" and m.suffix == ".jpg" for m in out.mask_filenames)
    index: HumanImageIndex = out.metadata[TARGETS_KEY]
    box, truth = index.box(0), np.load(root / "subject_00" / "vertices" / "000000.npy")
    assert list(index.box_sources) == [(0, 0)] and (truth >= box[0]).all() and (truth <= box[1]).all()
