"""The z-buffer rasteriser against a slow per-pixel ray-triangle reference, and hand-computed cases."""

import numpy as np

from ghnerf_ns.synth.mesh_raster import rasterize
from ghnerf_ns.synth.rig import RigCamera, look_at, pixel_grid


def _pinhole(size: int, center, target) -> RigCamera:
    R, t = look_at(np.asarray(center, float), np.asarray(target, float), np.array([0.0, 1.0, 0.0]))
    K = np.array([[size * 1.2, 0, (size - 1) / 2], [0, size * 1.2, (size - 1) / 2], [0, 0, 1.0]])
    return RigCamera(K=K, R=R, t=t, dist=np.zeros(5), width=size, height=size)


def _icosphere_like(rng: np.random.Generator):
    """Two overlapping closed triangle meshes (an octahedron and a jittered box) for occlusion."""
    octa = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float) * 0.5
    octa_faces = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    box = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float) * 0.3
    box = box + np.array([0.3, 0.2, 0.4]) + rng.normal(scale=0.02, size=box.shape)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    box_faces = np.array([f for a, b, c, d in quads for f in ((a, b, c), (a, c, d))]) + len(octa)
    return np.concatenate([octa, box]), np.concatenate([octa_faces, box_faces])


def _reference(camera: RigCamera, verts: np.ndarray, faces: np.ndarray, downscale: int):
    """Obviously correct: one ray per sample, Moller-Trumbore against every triangle, nearest hit."""
    origins, dirs = camera.pixel_rays(pixel_grid(camera.width, camera.height, downscale))
    face_ids = np.full(len(dirs), -1)
    depth = np.full(len(dirs), np.inf)
    for r in range(len(dirs)):
        best = np.inf
        for f, (a, b, c) in enumerate(verts[faces]):
            e1, e2 = b - a, c - a
            p = np.cross(dirs[r], e2)
            det = e1 @ p
            if abs(det) < 1e-12:
                continue
            s = origins[r] - a
            u = (s @ p) / det
            q = np.cross(s, e1)
            v = (dirs[r] @ q) / det
            t = (e2 @ q) / det
            if u >= 0 and v >= 0 and u + v <= 1 and 0 < t < best:
                best, face_ids[r] = t, f
        if np.isfinite(best):
            depth[r] = (origins[r] + best * dirs[r] - camera.center) @ camera.R[2]
    return face_ids, depth


def test_matches_ray_triangle_reference() -> None:
    verts, faces = _icosphere_like(np.random.default_rng(0))
    camera = _pinhole(40, [0.4, 0.9, 3.0], [0.0, 0.0, 0.0])
    uv = camera.project(verts)
    z = verts @ camera.R[2] + camera.t[2]
    for downscale in (1, 3):
        frags = rasterize(uv, z, faces, camera.width, camera.height, downscale)
        ref_face, ref_depth = _reference(camera, verts, faces, downscale)
        np.testing.assert_array_equal(frags.hit, ref_face >= 0)
        hit = frags.hit
        np.testing.assert_allclose(frags.depth[hit], ref_depth[hit], atol=1e-9)
        # Same triangle except where two triangles meet at exactly the sample (then the depths agree above).
        assert np.mean(frags.face[hit] == ref_face[hit]) > 0.97
        # Perspective-correct barycentrics reproduce the 3D hit point's depth.
        points = frags.interpolate(faces, verts)
        np.testing.assert_allclose(points @ camera.R[2] + camera.t[2], frags.depth[hit], atol=1e-9)


def test_hand_computed_triangle() -> None:
    # A triangle covering samples whose centres are inside x + y <= 4 (x, y >= 0), at depths 2 / 4 / 4.
    uv = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    z = np.array([2.0, 4.0, 4.0])
    frags = rasterize(uv, z, np.array([[0, 1, 2]]), 6, 6)
    hit = frags.hit.reshape(6, 6)
    expected = np.add.outer(np.arange(6), np.arange(6)) <= 4
    np.testing.assert_array_equal(hit, expected)
    # At pixel (x=2, y=0): screen barycentrics (0.5, 0.5, 0); perspective-correct: weights 0.5/2 and 0.5/4 -> 2/3, 1/3.
    np.testing.assert_allclose(frags.bary[2], [2 / 3, 1 / 3, 0.0])
    np.testing.assert_allclose(frags.depth[2], 1 / (0.5 / 2 + 0.5 / 4))
    assert frags.face[5] == -1 and np.isinf(frags.depth[5])


def test_nearer_triangle_wins_and_chunks_agree() -> None:
    uv = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]] * 2)
    z = np.array([3.0, 3.0, 3.0, 1.0, 1.0, 1.0])
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    import ghnerf_ns.synth.mesh_raster as raster

    whole = rasterize(uv, z, faces, 8, 8)
    assert set(whole.face[whole.hit]) == {1}
    saved = raster.PAIRS_PER_CHUNK
    try:
        raster.PAIRS_PER_CHUNK = 5  # one triangle per chunk: the nearer comes first, the later farther must not win
        chunked = rasterize(uv, z, faces[::-1].copy(), 8, 8)
    finally:
        raster.PAIRS_PER_CHUNK = saved
    np.testing.assert_array_equal(chunked.hit, whole.hit)
    assert set(chunked.face[chunked.hit]) == {0}
    np.testing.assert_allclose(chunked.depth[chunked.hit], 1.0)
