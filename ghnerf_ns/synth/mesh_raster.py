"""A vectorised z-buffer rasteriser for triangle meshes (numpy): which triangle each pixel sees, where on it, how far.

Vertices are projected through the camera's full lens model (``cv2.projectPoints``) and each triangle is filled
linearly in pixel space, which is exact for a pinhole and, with lens distortion, exact up to the bending of one
triangle (a centimetre-sized triangle spans a few pixels). Barycentric coordinates are perspective-correct, so an
attribute interpolated with them (a canonical position, a normal) is the value at the surface point the pixel sees.

Samples sit on a regular grid of pixel centres: the full image, or a ``downscale`` grid whose centres are those of
``rig.pixel_grid`` (``(i + 0.5) * downscale - 0.5``). Every (triangle, covered sample) pair is enumerated at once,
in chunks of triangles that bound the temporaries, and the nearest pair per sample wins.
"""

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, Int

PAIRS_PER_CHUNK = 4_000_000
"""Upper bound on the (triangle, sample) candidate pairs held at once."""
NEAR_PLANE = 1e-3
"""Triangles with a vertex closer than this (metres, camera z) are not drawn (never the case for a subject in view)."""


@dataclass
class Fragments:
    """What each sample of the grid sees (row-major, ``h * w`` entries)."""

    face: Int[np.ndarray, " num_samples"]
    """Index of the visible triangle, -1 for background."""
    bary: Float[np.ndarray, "num_samples 3"]
    """Perspective-correct barycentric coordinates on that triangle (zeros for background)."""
    depth: Float[np.ndarray, " num_samples"]
    """Camera-space z of the visible surface point, ``inf`` for background."""

    @property
    def hit(self) -> np.ndarray:
        return self.face >= 0

    def interpolate(
        self, faces: Int[np.ndarray, "num_faces 3"], values: Float[np.ndarray, "num_vertices dim"]
    ) -> Float[np.ndarray, "num_hits dim"]:
        """Per-vertex ``values`` interpolated at the samples that hit the mesh (in sample order)."""
        h = self.hit
        corners = values[faces[self.face[h]]]  # (num_hits, 3, dim)
        return np.einsum("nk,nkd->nd", self.bary[h], corners)


def rasterize(
    uv: Float[np.ndarray, "num_vertices 2"],
    z: Float[np.ndarray, " num_vertices"],
    faces: Int[np.ndarray, "num_faces 3"],
    width: int,
    height: int,
    downscale: int = 1,
) -> Fragments:
    """Rasterises projected vertices (pixel positions ``uv``, camera depths ``z``) onto the sample grid of a
    ``width x height`` image reduced by ``downscale``."""
    w, h = max(1, width // downscale), max(1, height // downscale)
    num_samples = w * h
    face_out = np.full(num_samples, -1, dtype=np.int64)
    bary_out = np.zeros((num_samples, 3))
    depth_out = np.full(num_samples, np.inf)

    # Grid coordinates: sample (row i, column j) sits at integer (j, i).
    grid = (uv + 0.5) / downscale - 0.5
    keep = np.all(z[faces] > NEAR_PLANE, axis=1)
    tri = np.flatnonzero(keep)
    corners = grid[faces[tri]]  # (T, 3, 2)
    x0 = np.clip(np.ceil(corners[..., 0].min(1)), 0, w).astype(np.int64)
    x1 = np.clip(np.floor(corners[..., 0].max(1)), -1, w - 1).astype(np.int64)
    y0 = np.clip(np.ceil(corners[..., 1].min(1)), 0, h).astype(np.int64)
    y1 = np.clip(np.floor(corners[..., 1].max(1)), -1, h - 1).astype(np.int64)
    bw, bh = np.maximum(x1 - x0 + 1, 0), np.maximum(y1 - y0 + 1, 0)
    area = bw * bh
    covers = area > 0
    tri, corners, x0, y0, bw, area = tri[covers], corners[covers], x0[covers], y0[covers], bw[covers], area[covers]

    ends = np.cumsum(area)
    start = 0
    while start < len(tri):
        base = ends[start - 1] if start > 0 else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + PAIRS_PER_CHUNK, side="right")))
        sl = slice(start, stop)
        counts = area[sl]
        owner = np.repeat(np.arange(stop - start), counts)
        offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        px = x0[sl][owner] + offset % bw[sl][owner]
        py = y0[sl][owner] + offset // bw[sl][owner]
        lam = _screen_barycentrics(corners[sl][owner], px.astype(np.float64), py.astype(np.float64))
        inside = np.all(lam >= -1e-9, axis=1) & np.isfinite(lam).all(axis=1)
        owner, px, py, lam = owner[inside], px[inside], py[inside], lam[inside]
        face_ids = tri[sl][owner]
        inv_z = lam / z[faces[face_ids]]  # perspective-correct weights
        depth = 1.0 / inv_z.sum(1)
        sample = py * w + px
        order = np.lexsort((depth, sample))
        sample, depth = sample[order], depth[order]
        first = np.ones(len(sample), dtype=bool)
        first[1:] = sample[1:] != sample[:-1]
        sel = order[first]
        sample, depth = sample[first], depth[first]
        closer = depth < depth_out[sample]
        sample, sel = sample[closer], sel[closer]
        depth_out[sample] = depth[closer]
        face_out[sample] = face_ids[sel]
        bary_out[sample] = inv_z[sel] * depth_out[sample][:, None]
        start = stop
    return Fragments(face=face_out, bary=bary_out, depth=depth_out)


def _screen_barycentrics(
    corners: Float[np.ndarray, "num_pairs 3 2"],
    px: Float[np.ndarray, " num_pairs"],
    py: Float[np.ndarray, " num_pairs"],
) -> Float[np.ndarray, "num_pairs 3"]:
    """Barycentric coordinates of points in 2D triangles (NaN/inf for degenerate triangles)."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    den = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        l0 = ((b[:, 1] - c[:, 1]) * (px - c[:, 0]) + (c[:, 0] - b[:, 0]) * (py - c[:, 1])) / den
        l1 = ((c[:, 1] - a[:, 1]) * (px - c[:, 0]) + (a[:, 0] - c[:, 0]) * (py - c[:, 1])) / den
    return np.stack([l0, l1, 1.0 - l0 - l1], axis=1)
