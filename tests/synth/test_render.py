"""Ray casting (against a slow reference and hand-computed cases), distorted pixel rays, joint visibility, masks."""

from pathlib import Path

import cv2
import numpy as np

from ghnerf_ns.synth.body import CAPSULE, ELLIPSOID, BodyPrimitives
from ghnerf_ns.synth.raycast import PosedPrimitives, first_hits, intersect
from ghnerf_ns.synth.render import KEYPOINT_CONFIDENCE, SubjectScene, joint_keypoints, studio_background
from ghnerf_ns.synth.rig import ZJU_WORLD_FROM_BODY, RigCamera, look_at, make_ring_rig, pixel_grid, sample_distortion
from ghnerf_ns.synth.skeleton import rot_y


def _single(kind: int, a, b, radius: float = 0.0) -> PosedPrimitives:
    local = BodyPrimitives(
        kind=np.array([kind]), bone=np.array([0]), a=np.array([a], float), b=np.array([b], float),
        radius=np.array([radius]),
    )  # fmt: skip
    return PosedPrimitives(local=local, rotation=np.eye(3)[None], origin=np.zeros((1, 3)))


def test_hand_computed_hits() -> None:
    cap = _single(CAPSULE, [0, 0, 0], [0, -1, 0], 0.5)
    origins = np.array([[0.0, -0.5, -5.0], [0.0, 3.0, 0.0], [0.0, -4.0, 0.0], [2.0, 0.0, -5.0]])
    dirs = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    t = intersect(cap, origins, dirs)[:, 0]
    np.testing.assert_allclose(t[:3], [4.5, 2.5, 2.5])  # side of the cylinder, top cap, bottom cap
    assert np.isinf(t[3])
    ell = _single(ELLIPSOID, [0, 0, 0], [1, 2, 3])
    t = intersect(
        ell, np.array([[0.0, 0, -10], [-10.0, 0, 0], [0, 10.0, 0]]), np.array([[0, 0, 1.0], [1.0, 0, 0], [0, 1.0, 0]])
    )
    np.testing.assert_allclose(t[:2, 0], [7.0, 9.0])
    assert np.isinf(t[2, 0])  # pointing away


def _inside_reference(prims: PosedPrimitives, points: np.ndarray) -> np.ndarray:
    # Obviously-correct point membership (points along one ray), one primitive at a time.
    inside = np.zeros(len(points), dtype=bool)
    for m in range(len(prims.local.kind)):
        x = (points - prims.origin[m]) @ prims.rotation[m]
        a, b = prims.local.a[m], prims.local.b[m]
        if prims.local.kind[m] == CAPSULE:
            s = np.clip((x - a) @ (b - a) / np.dot(b - a, b - a), 0, 1)
            inside |= np.linalg.norm(x - (a + s[:, None] * (b - a)), axis=1) <= prims.local.radius[m]
        else:
            inside |= np.sum(((x - a) / b) ** 2, axis=1) <= 1
    return inside


def test_first_hit_matches_ray_marching_reference() -> None:
    scene = SubjectScene("377", 3, ZJU_WORLD_FROM_BODY, np.zeros(3))
    state = scene.frame(4)
    rig = make_ring_rig(np.random.default_rng(1), 3, 48, scene.body_centre(), np.zeros(3), np.array([0, 0, -1.0]))
    cam = rig[1]
    pixels = pixel_grid(48, 48)[::7]
    origins, dirs = cam.pixel_rays(pixels)
    hits = first_hits(state.prims, origins, dirs)
    step = 2e-3
    ts = np.arange(1.0, 5.0, step)
    assert 5 < hits.hit.sum() < len(pixels)
    for i in range(len(pixels)):
        inside = _inside_reference(state.prims, origins[i] + ts[:, None] * dirs[i])
        if not inside.any():
            assert not hits.hit[i]
            continue
        t_ref = ts[int(np.argmax(inside))]
        assert hits.hit[i] and t_ref - step - 1e-9 <= hits.depth[i] <= t_ref + 1e-9
        assert _inside_reference(state.prims, (origins[i] + (hits.depth[i] + 1e-6) * dirs[i])[None])[0]
        # The normal points back towards the camera at an entry point.
        assert np.dot(hits.normal[i], dirs[i]) < 0


def test_distorted_pixel_rays_reproject_exactly() -> None:
    rng = np.random.default_rng(0)
    R, t = look_at(np.array([3.0, 0.0, -1.9]), np.array([0.0, 0, -0.9]), np.array([0, 0, -1.0]))
    K = np.array([[70.0, 0, 33.0], [0, 70.5, 30.0], [0, 0, 1]])
    cam = RigCamera(K=K, R=R, t=t, dist=sample_distortion(rng), width=64, height=64)
    pixels = pixel_grid(64, 64)
    origins, dirs = cam.pixel_rays(pixels)
    for depth in (1.0, 3.0):
        np.testing.assert_allclose(cam.project(origins + depth * dirs), pixels, atol=1e-6)


def test_sampled_distortion_like_real_rig() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        k1, k2, p1, p2, k3 = sample_distortion(rng)
        assert -0.34 <= k1 <= -0.2 and abs(p1) < 0.02 and abs(p2) < 0.02 and abs(k3) < 0.7


def _camera_facing(scene: SubjectScene, state, behind: bool, focal: float = 68.0, target=None) -> RigCamera:
    facing = state.pose.bone_rotations[0] @ np.array([0.0, 0.0, 1.0])  # pelvis frame: the person faces +z
    centre = scene.body_centre() + (-3.0 if behind else 3.0) * facing + np.array([0.0, 0.3, 0.0])
    target = scene.body_centre() if target is None else target
    R, t = look_at(centre, target, np.array([0.0, 1.0, 0.0]))
    K = np.array([[focal, 0, 31.5], [0, focal, 31.5], [0, 0, 1]])
    return RigCamera(K=K, R=R, t=t, dist=np.zeros(5), width=64, height=64)


def test_hidden_and_outside_joints_have_zero_confidence() -> None:
    scene = SubjectScene("386", 0, np.eye(3), np.zeros(3))
    state = scene.frame(0)
    front = joint_keypoints(state, _camera_facing(scene, state, behind=False))
    back = joint_keypoints(state, _camera_facing(scene, state, behind=True))
    nose, reye, leye = 0, 15, 16
    assert np.all(front[[nose, reye, leye], 2] == KEYPOINT_CONFIDENCE)
    assert np.all(back[[nose, reye, leye], 2] == 0.0)  # the head hides the face from behind
    assert back[1, 2] == KEYPOINT_CONFIDENCE  # the neck (inside the body, seen through its own primitives)
    # A long lens aimed at the head: the feet project outside the image.
    head = state.joints[0]
    zoom = joint_keypoints(state, _camera_facing(scene, state, behind=False, focal=400.0, target=head))
    for ankle in (11, 14):
        x, y, conf = zoom[ankle]
        assert conf == 0.0 and not (0 <= x <= 63 and 0 <= y <= 63)
    assert zoom[nose, 2] == KEYPOINT_CONFIDENCE
    # A camera inside the body's bounding box looking away: joints behind it are not visible.
    R, t = look_at(
        scene.body_centre() + np.array([0, 0, 5.0]), scene.body_centre() + np.array([0, 0, 10.0]), np.array([0, 1.0, 0])
    )
    away = RigCamera(
        K=np.array([[60.0, 0, 31.5], [0, 60, 31.5], [0, 0, 1]]), R=R, t=t, dist=np.zeros(5), width=64, height=64
    )
    assert np.all(joint_keypoints(state, away)[:, 2] == 0)


def test_side_view_hides_far_side_joints() -> None:
    scene = SubjectScene("386", 0, np.eye(3), np.zeros(3))
    state = scene.frame(0)
    facing = state.pose.bone_rotations[0] @ np.array([0.0, 0.0, 1.0])
    right = np.cross(facing, [0.0, 1.0, 0.0])  # the person's right (facing x up)
    right /= np.linalg.norm(right)
    centre = scene.body_centre() + 3.0 * right
    R, t = look_at(centre, scene.body_centre(), np.array([0.0, 1.0, 0.0]))
    cam = RigCamera(
        K=np.array([[68.0, 0, 31.5], [0, 68, 31.5], [0, 0, 1]]), R=R, t=t, dist=np.zeros(5), width=64, height=64
    )
    kp = joint_keypoints(state, cam)
    assert kp[17, 2] == KEYPOINT_CONFIDENCE and kp[18, 2] == 0.0  # REar seen, LEar hidden by the head
    assert kp[9, 2] == KEYPOINT_CONFIDENCE and kp[12, 2] == 0.0  # RHip seen, LHip hidden by the right thigh/pelvis


def test_mask_nonempty_and_consistent_with_image(zju_root: Path) -> None:
    root = zju_root / "CoreView_386"
    annots = np.load(root / "annots.npy", allow_pickle=True).item()
    cams = annots["cams"]
    for c in range(4):
        image = cv2.imread(str(root / f"Camera_B{c + 1}" / "000000.jpg"))[..., ::-1].astype(float)
        mask = cv2.imread(str(root / "mask" / f"Camera_B{c + 1}" / "000000.png"), cv2.IMREAD_UNCHANGED)
        cihp = cv2.imread(str(root / "mask_cihp" / f"Camera_B{c + 1}" / "000000.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (64, 64) and set(np.unique(mask)) == {0, 255}
        np.testing.assert_array_equal(mask, cihp)
        assert 0.03 < (mask > 0).mean() < 0.6
        R, T = cams["R"][c], cams["T"][c] / 1000.0
        cam = RigCamera(K=cams["K"][c], R=R, t=T.ravel(), dist=cams["D"][c].ravel(), width=64, height=64)
        background = studio_background(64, 64, cam) * 255
        eroded_bg = cv2.erode((mask == 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        # Away from the silhouette (JPEG ringing), background pixels are the studio backdrop.
        assert np.abs(image - background)[eroded_bg].mean() < 3.0
        eroded_fg = cv2.erode((mask > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert np.abs(image - background)[eroded_fg].mean() > 15.0


def test_bones_are_rigid_over_time() -> None:
    scene = SubjectScene("392", 1, ZJU_WORLD_FROM_BODY, np.zeros(3))
    limbs = [(2, 3), (3, 4), (9, 10), (10, 11), (12, 13), (13, 14), (8, 1)]
    lengths = [
        [np.linalg.norm(s.joints[a] - s.joints[b]) for a, b in limbs] for s in (scene.frame(f) for f in range(0, 30, 7))
    ]
    np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], np.shape(lengths)), atol=1e-9)
    # The motion moves: the wrists do not stay put, and the person turns.
    assert np.linalg.norm(scene.frame(0).joints[4] - scene.frame(5).joints[4]) > 0.02
    r0, r5 = scene.frame(0).pose.bone_rotations[0], scene.frame(5).pose.bone_rotations[0]
    assert not np.allclose(r0, r5) and np.allclose(rot_y(0.0), np.eye(3))
