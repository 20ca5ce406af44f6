"""Vectorised ray casting of posed body primitives (capsules and ellipsoids): hits, normals, bone-local positions.

All rays are intersected with all primitives at once as (num_rays, num_prims) arrays; there is no Python loop over
pixels. Rays start outside the body (cameras are metres away), so the entry hit is the nearest positive root.
"""

from dataclasses import dataclass
from typing import Tuple

import numpy as np
from jaxtyping import Bool, Float, Int

from ghnerf_ns.synth.body import CAPSULE, BodyPrimitives

MISS = np.inf


@dataclass
class PosedPrimitives:
    """A body's primitives placed in a world frame for one pose."""

    local: BodyPrimitives
    """The primitives in their bone frames."""
    rotation: Float[np.ndarray, "num_prims 3 3"]
    """World rotation of each primitive's bone frame."""
    origin: Float[np.ndarray, "num_prims 3"]
    """World origin of each primitive's bone frame."""

    @staticmethod
    def from_bones(
        local: BodyPrimitives,
        bone_rotations: Float[np.ndarray, "num_bones 3 3"],
        bone_origins: Float[np.ndarray, "num_bones 3"],
        world_rotation: Float[np.ndarray, "3 3"],
        world_offset: Float[np.ndarray, "3"],
    ) -> "PosedPrimitives":
        """Places primitives on posed bones (body frame), then maps the body frame into the world frame."""
        rot = world_rotation @ bone_rotations[local.bone]
        origin = bone_origins[local.bone] @ world_rotation.T + world_offset
        return PosedPrimitives(local=local, rotation=rot, origin=origin)

    def to_world(
        self, prim: Int[np.ndarray, " num_points"], local: Float[np.ndarray, "num_points 3"]
    ) -> Float[np.ndarray, "num_points 3"]:
        """Bone-local points of the given primitives -> world."""
        return np.einsum("nij,nj->ni", self.rotation[prim], local) + self.origin[prim]

    def to_local(
        self, prim: Int[np.ndarray, " num_points"], world: Float[np.ndarray, "num_points 3"]
    ) -> Float[np.ndarray, "num_points 3"]:
        """World points -> bone-local coordinates of the given primitives."""
        return np.einsum("nji,nj->ni", self.rotation[prim], world - self.origin[prim])

    def bounds(self) -> Tuple[Float[np.ndarray, "3"], Float[np.ndarray, "3"]]:
        """World axis-aligned box containing every primitive (min, max)."""
        lp = self.local
        cap = np.flatnonzero(lp.kind == CAPSULE)
        ell = np.flatnonzero(lp.kind != CAPSULE)
        ends = np.concatenate([self.to_world(cap, lp.a[cap]), self.to_world(cap, lp.b[cap])])
        r = np.concatenate([lp.radius[cap], lp.radius[cap]])[:, None]
        centres = self.to_world(ell, lp.a[ell])
        extent = np.einsum("nij,nj->ni", np.abs(self.rotation[ell]), lp.b[ell])
        lo = np.concatenate([ends - r, centres - extent]).min(axis=0)
        hi = np.concatenate([ends + r, centres + extent]).max(axis=0)
        return lo - 1e-3, hi + 1e-3


def intersect(
    prims: PosedPrimitives, origins: Float[np.ndarray, "num_rays 3"], dirs: Float[np.ndarray, "num_rays 3"]
) -> Float[np.ndarray, "num_rays num_prims"]:
    """Entry distance of every ray into every primitive (``inf`` where it misses or the hit is behind the origin).

    ``dirs`` must be unit vectors. Rays that miss the body's bounding box are skipped.
    """
    n, m = len(origins), len(prims.local.kind)
    t = np.full((n, m), MISS)
    lo, hi = prims.bounds()
    candidates = np.flatnonzero(_hits_box(origins, dirs, lo, hi))
    if len(candidates) == 0:
        return t
    o = _to_frames(prims, origins[candidates], translate=True)  # (3, rays, prims), each primitive's bone frame
    d = _to_frames(prims, dirs[candidates], translate=False)  # rigid transforms preserve ray distances
    lp = prims.local
    sub = np.full((len(candidates), m), MISS)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        cap = lp.kind == CAPSULE
        if cap.any():
            sub[:, cap] = _capsule_hits(o[:, :, cap], d[:, :, cap], lp.a[cap].T, lp.b[cap].T, lp.radius[cap])
        ell = ~cap
        if ell.any():
            sub[:, ell] = _ellipsoid_hits(o[:, :, ell], d[:, :, ell], lp.a[ell].T, lp.b[ell].T)
    sub[~(sub > 1e-6)] = MISS
    t[candidates] = sub
    return t


def _to_frames(prims: PosedPrimitives, vectors: np.ndarray, translate: bool) -> np.ndarray:
    # (n, 3) world vectors -> (3, n, m) coordinates in each primitive frame: x_local = R^T (x - origin).
    m = len(prims.rotation)
    stacked = prims.rotation.transpose(1, 0, 2).reshape(3, m * 3)  # [j, m*3 + i] = R[m, j, i]
    local = (vectors @ stacked).reshape(len(vectors), m, 3)
    if translate:
        local = local - np.einsum("mj,mji->mi", prims.origin, prims.rotation)[None]
    return np.ascontiguousarray(local.transpose(2, 0, 1))


def _dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x[0] * y[0] + x[1] * y[1] + x[2] * y[2]


def _hits_box(origins: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dirs
        t0, t1 = (lo - origins) * inv, (hi - origins) * inv
    near = np.nanmax(np.minimum(t0, t1), axis=1)
    far = np.nanmin(np.maximum(t0, t1), axis=1)
    return (far >= np.maximum(near, 0)) & (far > 0)


def _capsule_hits(o: np.ndarray, d: np.ndarray, a: np.ndarray, b: np.ndarray, r: np.ndarray) -> np.ndarray:
    # Ray / capsule (segment a-b swept by a sphere of radius r): infinite cylinder first, then the end spheres.
    # Arrays are (3, rays, prims) for o, d and (3, prims) for a, b.
    a, b = a[:, None, :], b[:, None, :]
    ba = b - a
    oa = o - a
    baba = _dot(ba, ba)
    bard = _dot(ba, d)
    baoa = _dot(ba, oa)
    rdoa = _dot(d, oa)
    oaoa = _dot(oa, oa)
    qa = baba - bard * bard
    qb = baba * rdoa - baoa * bard
    qc = baba * oaoa - baoa * baoa - r * r * baba
    h = qb * qb - qa * qc
    t_cyl = (-qb - np.sqrt(np.maximum(h, 0))) / qa
    y = baoa + t_cyl * bard
    cyl_ok = (h >= 0) & (y > 0) & (y < baba) & np.isfinite(t_cyl)
    t = np.full(h.shape, MISS)
    for end in (a, b):
        oc = o - end
        sb = _dot(d, oc)
        sh = sb * sb - (_dot(oc, oc) - r * r)
        t_sphere = np.where(sh >= 0, -sb - np.sqrt(np.maximum(sh, 0)), MISS)
        t = np.minimum(t, np.where(t_sphere > 1e-6, t_sphere, MISS))
    return np.where(cyl_ok, np.minimum(t_cyl, t), t)


def _ellipsoid_hits(o: np.ndarray, d: np.ndarray, centre: np.ndarray, axes: np.ndarray) -> np.ndarray:
    # Scale the ellipsoid to the unit sphere; the ray parameter t is unchanged by this affine map.
    centre, axes = centre[:, None, :], axes[:, None, :]
    os = (o - centre) / axes
    ds = d / axes
    qa = _dot(ds, ds)
    qb = _dot(os, ds)
    h = qb * qb - qa * (_dot(os, os) - 1)
    return np.where(h >= 0, (-qb - np.sqrt(np.maximum(h, 0))) / qa, MISS)


@dataclass
class RayHits:
    """First hit of each ray."""

    hit: Bool[np.ndarray, " num_rays"]
    """Whether the ray hits the body."""
    depth: Float[np.ndarray, " num_rays"]
    """Distance along the ray to the hit (``inf`` on a miss)."""
    part: Int[np.ndarray, " num_rays"]
    """Index of the primitive hit (-1 on a miss)."""
    local: Float[np.ndarray, "num_rays 3"]
    """Bone-local position of the hit (zeros on a miss)."""
    normal: Float[np.ndarray, "num_rays 3"]
    """World unit normal at the hit (zeros on a miss)."""


def first_hits(
    prims: PosedPrimitives, origins: Float[np.ndarray, "num_rays 3"], dirs: Float[np.ndarray, "num_rays 3"]
) -> RayHits:
    """Nearest hit of each ray, with its primitive, bone-local position and world normal."""
    t_all = intersect(prims, origins, dirs)
    part = np.argmin(t_all, axis=1)
    depth = t_all[np.arange(len(part)), part]
    hit = np.isfinite(depth)
    part = np.where(hit, part, -1)
    local = np.zeros_like(origins)
    normal = np.zeros_like(origins)
    if hit.any():
        p = part[hit]
        world = origins[hit] + depth[hit, None] * dirs[hit]
        x = prims.to_local(p, world)
        lp = prims.local
        a, b = lp.a[p], lp.b[p]
        axis = b - a
        frac = np.clip(np.sum((x - a) * axis, axis=1) / np.sum(axis * axis, axis=1), 0, 1)
        n_cap = x - (a + frac[:, None] * axis)
        n_ell = (x - a) / np.where(lp.kind[p, None] == CAPSULE, 1.0, b**2)
        n_local = np.where((lp.kind[p] == CAPSULE)[:, None], n_cap, n_ell)
        n_world = np.einsum("nij,nj->ni", prims.rotation[p], n_local)
        local[hit] = x
        normal[hit] = n_world / np.linalg.norm(n_world, axis=1, keepdims=True)
    return RayHits(hit=hit, depth=depth, part=part, local=local, normal=normal)


def contains(
    prims: PosedPrimitives, points: Float[np.ndarray, "num_points 3"]
) -> Bool[np.ndarray, "num_points num_prims"]:
    """Whether each world point lies inside each primitive."""
    lp = prims.local
    x = np.einsum("mji,nmj->nmi", prims.rotation, points[:, None, :] - prims.origin[None])  # (n, m, 3)
    axis = lp.b - lp.a
    frac = np.clip(np.sum((x - lp.a) * axis, axis=-1) / np.maximum(np.sum(axis * axis, axis=-1), 1e-12), 0, 1)
    in_cap = np.linalg.norm(x - lp.a - frac[..., None] * axis, axis=-1) < lp.radius
    in_ell = np.sum(((x - lp.a) / np.where(lp.kind[:, None] == CAPSULE, 1.0, lp.b)) ** 2, axis=-1) < 1
    return np.where(lp.kind == CAPSULE, in_cap, in_ell)
