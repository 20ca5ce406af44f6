"""CSE ground truth: a smooth function of canonical surface coordinates, identical for a surface point seen from
different cameras and in different frames; stored files have the documented shape, dtype and NaN background."""

from pathlib import Path

import cv2
import numpy as np

from ghnerf_ns.synth.body import canonical_coords, cse_embedding
from ghnerf_ns.synth.raycast import first_hits
from ghnerf_ns.synth.render import SubjectScene
from ghnerf_ns.synth.rig import ZJU_WORLD_FROM_BODY, make_ring_rig, pixel_grid


def test_embedding_function_micro_properties() -> None:
    c = np.array([[0.1, 0.9, -0.05], [0.1, 0.9, -0.05], [0.1005, 0.9, -0.05], [-0.1, 0.9, -0.05]])
    e = cse_embedding(c, 16)
    assert e.shape == (4, 16) and np.all(np.abs(e) <= 1)
    np.testing.assert_array_equal(e[0], e[1])
    assert np.abs(e[2] - e[0]).max() < 0.01  # smooth: 0.5 mm moves it very little
    assert np.linalg.norm(e[3] - e[0]) > 0.3  # left and right sides of the body differ
    np.testing.assert_array_equal(cse_embedding(c, 8), e[:, :8])  # smaller dims are a prefix


def _hit_canonical(scene: SubjectScene, state, origin: np.ndarray, direction: np.ndarray):
    hits = first_hits(state.prims, origin[None], direction[None])
    point = origin + hits.depth[0] * direction
    return hits, point, canonical_coords(scene.prims, scene.template, hits.part, hits.local)[0]


def test_same_surface_point_same_embedding_across_views_and_frames() -> None:
    scene = SubjectScene("394", 2, ZJU_WORLD_FROM_BODY, np.array([0.4, 0.3, 0.0]))
    rig = make_ring_rig(
        np.random.default_rng(3), 6, 64, scene.body_centre(), np.array([0.4, 0.3, 0]), np.array([0, 0, -1.0])
    )
    state = scene.frame(0)
    origins, dirs = rig[0].pixel_rays(pixel_grid(64, 64))
    hits = first_hits(state.prims, origins, dirs)
    checked = 0
    for i in np.flatnonzero(hits.hit)[::5]:
        point = origins[i] + hits.depth[i] * dirs[i]
        c_a = canonical_coords(scene.prims, scene.template, hits.part[i : i + 1], hits.local[i : i + 1])[0]
        for cam in rig[1:]:
            direction = (point - cam.center) / np.linalg.norm(point - cam.center)
            hit_b, point_b, c_b = _hit_canonical(scene, state, cam.center, direction)
            if np.linalg.norm(point_b - point) < 1e-7 and hit_b.part[0] == hits.part[i]:  # seen by both cameras
                np.testing.assert_allclose(c_b, c_a, atol=1e-7)
                np.testing.assert_allclose(cse_embedding(c_b[None], 16), cse_embedding(c_a[None], 16), atol=1e-6)
                checked += 1
    assert checked > 20
    # Across frames: the same bone-local surface point moves with the body and keeps its embedding.
    later = scene.frame(6)
    prim, local = scene.surface_prim[::50], scene.surface_local[::50]
    moved = np.linalg.norm(later.prims.to_world(prim, local) - state.prims.to_world(prim, local), axis=1)
    assert moved.max() > 0.05
    world = later.prims.to_world(prim, local)
    np.testing.assert_allclose(later.prims.to_local(prim, world), local, atol=1e-9)


def test_stored_cse_files(zju_root: Path) -> None:
    root = zju_root / "CoreView_386"
    cse = np.load(root / "cse" / "Camera_B2" / "000001.npy")
    assert cse.shape == (16, 16, 16) and cse.dtype == np.float16
    body = ~np.isnan(cse).any(axis=2)
    assert np.array_equal(body, ~np.isnan(cse).all(axis=2))  # NaN in all channels or none
    assert body.any() and np.all(np.abs(cse[body]) <= 1)
    mask = cv2.imread(str(root / "mask" / "Camera_B2" / "000001.png"), cv2.IMREAD_UNCHANGED) > 0
    # Each CSE pixel covers a 4x4 block of the mask: body there => some mask pixel nearby.
    dilated = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).reshape(16, 4, 16, 4).max(axis=(1, 3))
    assert np.all(dilated[body] > 0)
    assert abs(body.mean() - mask.mean()) < 0.08
