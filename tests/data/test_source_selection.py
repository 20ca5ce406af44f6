"""Source-view selection: ENeRF's rule on the real ZJU-MoCap rig, and the training-time randomisation."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from ghnerf_ns.data.source_selection import nearest_source_views, sample_num_views, training_source_views

RIG = Path(__file__).parents[1] / "fixtures" / "zju_rig"


def zju_rig_c2w() -> np.ndarray:
    """(23, 4, 4) camera-to-world of the real ZJU rig (OpenCV)."""
    fs = cv2.FileStorage(str(RIG / "extri.yml"), cv2.FILE_STORAGE_READ)
    out = []
    for n in range(1, 24):
        R = fs.getNode(f"Rot_Camera_B{n}").mat()
        T = fs.getNode(f"T_Camera_B{n}").mat()
        w2c = np.eye(4)
        w2c[:3, :3], w2c[:3, 3] = R, T[:, 0]
        out.append(np.linalg.inv(w2c))
    return np.stack(out)


def enerf_reference(c2ws, train_ids, render_id, n, is_train_split):
    """ENeRF's lib/datasets/zjumocap/enerf.py selection, transcribed literally (lists and loops)."""
    train_pos = c2ws[train_ids][:, :3, 3]
    train_dir = c2ws[train_ids][:, :3, :3]
    cam_pos, cam_dir = c2ws[render_id][:3, 3], c2ws[render_id][:3, :3]
    distance_dir = np.linalg.norm(train_dir - cam_dir[None], axis=(1, 2))
    distance = np.linalg.norm(train_pos - cam_pos[None], axis=-1)
    argsorts = distance.argsort(kind="stable")
    nearest_ids = list(distance_dir.argsort(kind="stable")[: 2 * n])
    if render_id not in train_ids or not is_train_split:
        return [train_ids[i] for i in argsorts[: 2 * n] if i in nearest_ids][:n]
    return [train_ids[i] for i in argsorts[1 : 2 * n + 1] if i in nearest_ids][:n]


@pytest.mark.parametrize("n", [2, 3, 4])
def test_matches_enerf_rule_for_test_cameras(n):
    c2ws = zju_rig_c2w()
    train_ids = list(range(0, 23, 2))
    for render_id in range(1, 23, 2):
        expected = enerf_reference(c2ws, train_ids, render_id, n, is_train_split=False)
        got = nearest_source_views(c2ws[render_id], c2ws[train_ids], n)
        assert [train_ids[i] for i in got] == expected


def test_matches_enerf_rule_for_training_targets_and_excludes_self():
    c2ws = zju_rig_c2w()
    train_ids = list(range(0, 23, 2))
    for pos, render_id in enumerate(train_ids):
        expected = enerf_reference(c2ws, train_ids, render_id, 4, is_train_split=True)
        got = [train_ids[i] for i in nearest_source_views(c2ws[render_id], c2ws[train_ids], 4, exclude=pos)]
        assert render_id not in got
        assert got == expected


def test_neighbours_are_adjacent_cameras_on_the_ring():
    c2ws = zju_rig_c2w()
    train_ids = list(range(0, 23, 2))
    # Odd test camera 2k+1 sits between input cameras 2k and 2k+2 on the ring.
    got = [train_ids[i] for i in nearest_source_views(c2ws[5], c2ws[train_ids], 2)]
    assert sorted(got) == [4, 6]


def test_zero_views_means_every_input_camera_but_the_target_nearest_first():
    c2ws = zju_rig_c2w()
    got = nearest_source_views(c2ws[5], c2ws, 0, exclude=5)
    d = np.linalg.norm(c2ws[:, :3, 3] - c2ws[5, :3, 3], axis=-1)
    assert got == [i for i in np.argsort(d, kind="stable") if i != 5] and len(got) == 22


def test_position_only_rule_for_viewer_cameras():
    c2ws = zju_rig_c2w()
    target = c2ws[7].copy()
    target[:3, :3] = np.eye(3)  # an arbitrary orientation: only the position matters
    got = nearest_source_views(target, c2ws, 3, use_rotation=False)
    d = np.linalg.norm(c2ws[:, :3, 3] - target[:3, 3], axis=-1)
    assert got == list(np.argsort(d)[:3])


def test_training_subset_never_contains_the_appended_target():
    """ENeRF parity: the 5% 'add target' branch cannot fire with 4 candidates and N <= 3."""
    rng = np.random.default_rng(0)
    candidates = [10, 12, 8, 14]
    seen = set()
    for _ in range(200):
        n = int(rng.choice([2, 3]))
        picked = training_source_views(rng, candidates, n)
        assert len(picked) == n and len(set(picked)) == n
        assert set(picked) <= set(candidates[: n + 1])
        seen.update(picked)
    assert seen == set(candidates)  # with n = 3, the 4th candidate is reachable


def test_num_views_distribution():
    rng = np.random.default_rng(1)
    draws = [sample_num_views(rng, (2, 3), (0.9, 0.1)) for _ in range(4000)]
    frac3 = np.mean(np.array(draws) == 3)
    assert 0.08 < frac3 < 0.12
    with pytest.raises(ValueError, match="do not match"):
        sample_num_views(rng, (2, 3), (1.0,))
