"""Realistic (Anny) synthetic people: ground-truth joints, masks and CSE against the mesh, sides, arm styles, layout.

The first test to run builds Anny's model data (about a minute and a half, once per machine; cached in ~/.cache/anny).
"""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("anny")

from dataparsers.body25 import joint_index  # noqa: E402
from ghnerf_ns.synth import write_zju  # noqa: E402
from ghnerf_ns.synth.anny_scene import AnnySubjectScene, canonical_template  # noqa: E402
from ghnerf_ns.synth.body import cse_embedding  # noqa: E402
from ghnerf_ns.synth.pose_styles import POSE_STYLES, PoseStyle, sample_pose_style, styled_pose  # noqa: E402
from ghnerf_ns.synth.rig import ZJU_WORLD_FROM_BODY, RigCamera, make_ring_rig, pixel_grid  # noqa: E402
from tests.synth.synth_configs import zju_config  # noqa: E402

SURFACE_JOINTS = ("Nose", "LEye", "REye", "LEar", "REar", "LBigToe", "RBigToe", "LSmallToe", "RSmallToe", "LHeel",
                  "RHeel")  # fmt: skip
"""Joints on the skin (the rest sit inside the body)."""


@pytest.fixture(scope="module")
def scene() -> AnnySubjectScene:
    return AnnySubjectScene("390", 0, ZJU_WORLD_FROM_BODY, np.array([0.4, 0.3, 0.0]))


def _rig(scene: AnnySubjectScene, size: int, distortion: bool, num: int = 4):
    return make_ring_rig(
        np.random.default_rng(3), num, size, scene.body_centre(), np.array([0.4, 0.3, 0.0]),
        up=np.array([0.0, 0.0, -1.0]), radius=2.5, height=1.6, distortion=distortion,
    )  # fmt: skip


def _first_hits(camera: RigCamera, verts: np.ndarray, faces: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Reference: depth of the nearest ray-triangle hit per pixel (vectorised Moller-Trumbore), inf for none."""
    origins, dirs = camera.pixel_rays(pixels)
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    e1, e2 = b - a, c - a
    out = np.full(len(dirs), np.inf)
    for r, d in enumerate(dirs):
        p = np.cross(d, e2)
        det = np.einsum("fk,fk->f", e1, p)
        ok = np.abs(det) > 1e-14
        s = origins[r] - a
        u = np.einsum("fk,fk->f", s, p) / np.where(ok, det, 1)
        q = np.cross(s, e1)
        v = (q @ d) / np.where(ok, det, 1)
        t = np.einsum("fk,fk->f", e2, q) / np.where(ok, det, 1)
        valid = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        if valid.any():
            out[r] = (t[valid].min() * d) @ camera.R[2]
    return out


def test_template_hangs_its_arms_with_the_persons_left_at_plus_x() -> None:
    template = canonical_template()
    j = {n: template.landmarks[n] for n in ("LShoulder", "LElbow", "LWrist", "Neck", "Nose")}
    assert j["LShoulder"][0] > 0.1 and j["LWrist"][1] < j["LElbow"][1] < j["LShoulder"][1]
    assert abs(j["LWrist"][0] - j["LShoulder"][0]) < 0.12  # hanging, not in Anny's A-pose
    assert j["Nose"][2] > j["Neck"][2]  # facing +z
    assert 1.74 < template.coords[:, 1].max() < 1.76 and abs(template.coords[:, 1].min()) < 1e-9


def test_masks_and_depth_match_ray_traced_mesh(scene: AnnySubjectScene) -> None:
    state = scene.frame(2)
    camera = _rig(scene, 64, distortion=False)[1]
    view = scene.render_view(state, camera, 4, 4)
    pixels = pixel_grid(64, 64)
    rng = np.random.default_rng(0)
    mask = view.mask.ravel() > 0
    # Every mask pixel near the person, plus random background pixels.
    pick = np.concatenate([np.flatnonzero(mask)[::3], rng.choice(np.flatnonzero(~mask), 60, replace=False)])
    ref = _first_hits(camera, state.mesh, scene.body.faces, pixels[pick])
    np.testing.assert_array_equal(np.isfinite(ref), mask[pick])


def test_keypoints_are_exact_projections_on_the_person(scene: AnnySubjectScene) -> None:
    state = scene.frame(5)
    rig = _rig(scene, 96, distortion=True, num=6)
    num_visible = 0
    for camera in rig:
        view = scene.render_view(state, camera, 4, 4)
        np.testing.assert_allclose(view.keypoints[:, :2], camera.project(state.joints), atol=1e-9)
        visible = view.keypoints[:, 2] > 0
        num_visible += visible.sum()
        px = np.round(view.keypoints[visible, :2]).astype(int)
        dilated = np.zeros_like(view.mask, dtype=bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                dilated |= np.roll(np.roll(view.mask > 0, dy, 0), dx, 1)
        assert dilated[px[:, 1], px[:, 0]].all(), "a visible joint falls off the person's mask"
    assert num_visible > 0.6 * 25 * len(rig)


def test_inner_joints_sit_inside_the_body(scene: AnnySubjectScene) -> None:
    state = scene.frame(0)
    camera = _rig(scene, 96, distortion=False)[0]
    inner = [i for i in range(25) if i not in [joint_index(n) for n in SURFACE_JOINTS]]
    uv = camera.project(state.joints[inner])
    surface = _first_hits(camera, state.mesh, scene.body.faces, uv)
    joint_z = state.joints[inner] @ camera.R[2] + camera.t[2]
    # The camera ray towards an inner joint enters the skin before reaching it.
    assert np.all(surface < joint_z + 1e-6)


def test_sides_follow_the_body_when_it_turns(scene: AnnySubjectScene) -> None:
    for frame in (0, 7):
        state = scene.frame(frame)
        pelvis = ZJU_WORLD_FROM_BODY @ state.pose.bone_rotations[0]
        person_left = pelvis @ np.array([1.0, 0.0, 0.0])
        for left, right in (("LHip", "RHip"), ("LShoulder", "RShoulder"), ("LEye", "REye")):
            assert (state.joints[joint_index(left)] - state.joints[joint_index(right)]) @ person_left > 0


def test_cse_is_the_embedding_of_the_seen_body_point(scene: AnnySubjectScene) -> None:
    state = scene.frame(1)
    camera = _rig(scene, 64, distortion=True)[2]
    view = scene.render_view(state, camera, 8, 1)
    template = canonical_template()
    uv = camera.project(state.mesh)
    z = state.mesh @ camera.R[2] + camera.t[2]
    px = np.round(uv).astype(int)
    inside = (px[:, 0] >= 0) & (px[:, 0] < 64) & (px[:, 1] >= 0) & (px[:, 1] < 64)
    idx = np.flatnonzero(inside)
    cse = view.cse[px[idx, 1], px[idx, 0]]
    seen = np.isfinite(cse[:, 0])
    # A vertex is "seen" where its pixel's CSE matches its own embedding; nearly all front vertices should.
    err = np.abs(cse[seen] - cse_embedding(template.coords[idx[seen]], 8)).max(axis=1)
    front = z[idx[seen]] <= np.percentile(z[idx[seen]], 30)
    assert np.median(err[front]) < 0.1


@pytest.mark.parametrize("name", POSE_STYLES)
def test_pose_styles_keep_bone_lengths(scene: AnnySubjectScene, name: str) -> None:
    style = sample_pose_style(_rng_with_random_style()) if name == "random" else PoseStyle(name)
    base = styled_pose(scene.shape, scene.motion, PoseStyle("swing"), 0.4)
    for t in (0.0, 0.4, 1.1, 2.9):
        pose = styled_pose(scene.shape, scene.motion, style, t)
        for a, b in (("LShoulder", "LElbow"), ("RElbow", "RWrist"), ("LHip", "LKnee"), ("RKnee", "RAnkle")):
            length = np.linalg.norm(pose.joints[joint_index(a)] - pose.joints[joint_index(b)])
            assert abs(length - np.linalg.norm(base.joints[joint_index(a)] - base.joints[joint_index(b)])) < 1e-9
    if name == "raised":
        assert pose.joints[joint_index("LWrist")][1] > pose.joints[joint_index("Nose")][1]


def _rng_with_random_style() -> np.random.Generator:
    for seed in range(100):
        if sample_pose_style(np.random.default_rng(seed)).name == "random":
            return np.random.default_rng(seed)
    raise AssertionError("no random style in 100 draws")


def test_random_poses_move_smoothly() -> None:
    from ghnerf_ns.synth.skeleton import mean_body_shape, sample_motion

    style = sample_pose_style(_rng_with_random_style())
    shape, motion = mean_body_shape(), sample_motion(np.random.default_rng(1))
    times = np.arange(0, 6.0, 1 / 15)
    joints = np.stack([styled_pose(shape, motion, style, t).joints for t in times])
    step = np.linalg.norm(np.diff(joints, axis=0), axis=2).max()
    assert step < 0.12  # no jump between consecutive 15 fps frames (metres)
    spread = np.ptp(joints[:, joint_index("LAnkle")] - joints[:, joint_index("MidHip")], axis=0).max()
    assert spread > 0.2  # the legs really move between the random poses


def test_zju_layout_with_anny_people_is_deterministic(tmp_path: Path) -> None:
    cfg = zju_config(tmp_path / "a", openpose_json=False)
    cfg.body, cfg.subjects, cfg.frames, cfg.cameras = "anny", ("386",), 1, 3
    root = write_zju(cfg)
    cfg.out = tmp_path / "b"
    again = write_zju(cfg)
    annots = np.load(root / "CoreView_386" / "annots.npy", allow_pickle=True).item()
    assert len(annots["ims"]) == 1 and annots["ims"][0]["kpts2d"].shape == (3, 25, 3)
    assert (annots["ims"][0]["kpts2d"][..., 2] > 0).sum() > 30
    again_annots = np.load(again / "CoreView_386" / "annots.npy", allow_pickle=True).item()
    np.testing.assert_array_equal(annots["ims"][0]["kpts2d"], again_annots["ims"][0]["kpts2d"])
    files = sorted(p for p in (root / "CoreView_386").rglob("*") if p.is_file() and p.name != "annots.npy")
    assert len(files) > 10
    for path in files:
        assert path.read_bytes() == (again / path.relative_to(root)).read_bytes(), path
    assert "anny synthetic humans" in (root / "GHNERF_SYNTH.txt").read_text()
