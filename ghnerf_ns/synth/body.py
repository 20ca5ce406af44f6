"""Body geometry (smooth primitives on the skeleton's bones), appearance (skin, hair, patterned clothes) and the CSE
ground truth (a smooth embedding of a canonical surface coordinate).

Each body part is one primitive rigidly attached to a bone frame: a capsule (limbs, neck, shoulders, feet) or an
ellipsoid (head, chest, abdomen, pelvis, hands). A surface point is identified by its part and its *normalized*
bone-local coordinates; mapping those onto the same part of a fixed template body (1.75 m, average build, rest pose)
gives its canonical coordinate ``c``. The CSE embedding and the clothing patterns are functions of ``c`` alone, so
they are the same for a surface point in every view and frame (and the CSE is even shared across subjects, like a
DensePose CSE).
"""

from dataclasses import dataclass
from typing import Tuple

import numpy as np
from jaxtyping import Bool, Float, Int

from ghnerf_ns.synth.skeleton import BONES, BodyShape, head_frame_points, mean_body_shape, rest_pose

CAPSULE, ELLIPSOID = 0, 1

PARTS: Tuple[str, ...] = (
    "head", "neck", "shoulders", "chest", "abdomen", "pelvis",
    "r_upper_arm", "r_forearm", "r_hand", "l_upper_arm", "l_forearm", "l_hand",
    "r_thigh", "r_shin", "r_foot", "l_thigh", "l_shin", "l_foot",
)  # fmt: skip
"""Body parts, one primitive each (index = primitive index)."""

CSE_SEED = 20240611
"""Fixed seed of the CSE random Fourier features: the embedding is a property of the format, not of a dataset."""
CSE_FREQUENCY_STD = 1.2
"""Standard deviation of the CSE feature frequencies, cycles per metre of the template body (smooth over the body)."""


@dataclass
class BodyPrimitives:
    """One primitive per part, in bone-local coordinates (metres)."""

    kind: Int[np.ndarray, " num_prims"]
    """CAPSULE or ELLIPSOID."""
    bone: Int[np.ndarray, " num_prims"]
    """Index into ``skeleton.BONES`` of the bone the primitive is attached to."""
    a: Float[np.ndarray, "num_prims 3"]
    """Capsule start, or ellipsoid centre (bone frame)."""
    b: Float[np.ndarray, "num_prims 3"]
    """Capsule end, or ellipsoid semi-axes (bone frame axes)."""
    radius: Float[np.ndarray, " num_prims"]
    """Capsule radius (unused for ellipsoids)."""


def build_primitives(shape: BodyShape) -> BodyPrimitives:
    """The primitives of a body with the given proportions (order of ``PARTS``)."""
    h, g = shape.height, shape.girth
    fl, ah = shape.foot_length, shape.ankle_height
    head_centre, head_axes = head_frame_points(shape)
    bone = {name: i for i, name in enumerate(BONES)}
    rows = {
        "head": (ELLIPSOID, "head", head_centre, head_axes, 0.0),
        "neck": (CAPSULE, "chest", [0, -0.01 * h, 0], [0, 0.05 * h, 0.006 * h], 0.026 * h * np.sqrt(g)),
        "shoulders": (
            CAPSULE, "chest", [-shape.shoulder_half_width, -0.02 * h, -0.005 * h],
            [shape.shoulder_half_width, -0.02 * h, -0.005 * h], 0.034 * h * g,
        ),
        "chest": (ELLIPSOID, "chest", [0, -0.1 * h, 0], [0.095 * h * g, 0.1 * h, 0.062 * h * g], 0.0),
        "abdomen": (ELLIPSOID, "pelvis", [0, 0.1 * h, 0.003 * h], [0.085 * h * g, 0.09 * h, 0.058 * h * g], 0.0),
        "pelvis": (ELLIPSOID, "pelvis", [0, -0.01 * h, -0.004 * h], [0.098 * h * g, 0.065 * h, 0.066 * h * g], 0.0),
    }  # fmt: skip
    for side in "rl":
        rows[f"{side}_upper_arm"] = (CAPSULE, f"{side}_upper_arm", [0, 0, 0], [0, -shape.upper_arm, 0], 0.028 * h * g)
        rows[f"{side}_forearm"] = (CAPSULE, f"{side}_forearm", [0, 0, 0], [0, -shape.forearm, 0], 0.022 * h * g)
        rows[f"{side}_hand"] = (
            ELLIPSOID, f"{side}_forearm", [0, -shape.forearm - 0.045 * h, 0], [0.013 * h, 0.05 * h, 0.026 * h], 0.0,
        )  # fmt: skip
        rows[f"{side}_thigh"] = (CAPSULE, f"{side}_thigh", [0, 0, 0], [0, -shape.thigh, 0], 0.048 * h * g)
        rows[f"{side}_shin"] = (CAPSULE, f"{side}_shin", [0, 0, 0], [0, -shape.shin, 0], 0.033 * h * g)
        rows[f"{side}_foot"] = (
            CAPSULE, f"{side}_foot", [0, -0.55 * ah, -0.17 * fl], [0, -0.55 * ah, 0.68 * fl], 0.5 * ah,
        )  # fmt: skip
    ordered = [rows[p] for p in PARTS]
    return BodyPrimitives(
        kind=np.array([r[0] for r in ordered], dtype=np.int64),
        bone=np.array([bone[r[1]] for r in ordered], dtype=np.int64),
        a=np.array([r[2] for r in ordered], dtype=np.float64),
        b=np.array([r[3] for r in ordered], dtype=np.float64),
        radius=np.array([r[4] for r in ordered], dtype=np.float64),
    )


@dataclass
class CanonicalSpace:
    """The template body's primitives and rest-pose bone frames: the canonical space of CSE and textures."""

    prims: BodyPrimitives
    """Template primitives (bone frames)."""
    bone_rotations: Float[np.ndarray, "num_bones 3 3"]
    """Rest-pose bone rotations of the template."""
    bone_origins: Float[np.ndarray, "num_bones 3"]
    """Rest-pose bone origins of the template."""


def canonical_space() -> CanonicalSpace:
    """The fixed template (same for every subject and dataset)."""
    shape = mean_body_shape()
    pose = rest_pose(shape)
    return CanonicalSpace(build_primitives(shape), pose.bone_rotations, pose.bone_origins)


def canonical_coords(
    prims: BodyPrimitives,
    template: CanonicalSpace,
    part: Int[np.ndarray, " num_points"],
    local: Float[np.ndarray, "num_points 3"],
) -> Float[np.ndarray, "num_points 3"]:
    """Canonical coordinates of surface points given by part and bone-local position on a subject's body.

    Capsules: the position along the axis (fraction of the length) and the radial offset (fraction of the radius)
    are carried over to the template's capsule; ellipsoids: the offset from the centre divided by the semi-axes.
    """
    out = np.zeros_like(local)
    is_cap = prims.kind[part] == CAPSULE
    for mask, kind in ((is_cap, CAPSULE), (~is_cap, ELLIPSOID)):
        if not mask.any():
            continue
        p, x = part[mask], local[mask]
        a, b, ta, tb = prims.a[p], prims.b[p], template.prims.a[p], template.prims.b[p]
        if kind == CAPSULE:
            axis = b - a
            frac = np.sum((x - a) * axis, axis=1) / np.sum(axis * axis, axis=1)
            radial = (x - a - frac[:, None] * axis) / prims.radius[p][:, None]
            template_local = ta + frac[:, None] * (tb - ta) + radial * template.prims.radius[p][:, None]
        else:
            template_local = ta + (x - a) / b * tb
        bone = template.prims.bone[p]
        rest_rot, rest_origin = template.bone_rotations[bone], template.bone_origins[bone]
        out[mask] = np.einsum("nij,nj->ni", rest_rot, template_local) + rest_origin
    return out


def cse_embedding(canonical: Float[np.ndarray, "num_points 3"], dim: int) -> Float[np.ndarray, "num_points dim"]:
    """Ground-truth CSE: fixed random Fourier features cos(2 pi B c + phase) of canonical coordinates, in [-1, 1].

    Rows of ``B`` are drawn in order from a fixed seed, so a smaller ``dim`` is a prefix of a larger one.
    """
    rng = np.random.default_rng(CSE_SEED)
    draws = rng.normal(size=(dim, 4))
    freqs = CSE_FREQUENCY_STD * draws[:, :3]
    phases = 2 * np.pi * (draws[:, 3] - np.floor(draws[:, 3]))
    return np.cos(2 * np.pi * canonical @ freqs.T + phases)


@dataclass
class Appearance:
    """Colours (linear RGB in [0, 1]) and clothing of one subject."""

    skin: Float[np.ndarray, "3"]
    """Skin colour."""
    hair: Float[np.ndarray, "3"]
    """Hair colour."""
    shirt: Float[np.ndarray, "2 3"]
    """Shirt base and pattern colours."""
    trousers: Float[np.ndarray, "2 3"]
    """Trouser base and pattern colours."""
    shoes: Float[np.ndarray, "3"]
    """Shoe colour."""
    shirt_pattern: int
    """0 plain, 1 horizontal stripes, 2 checks."""
    trouser_pattern: int
    """0 plain, 1 horizontal stripes, 2 checks."""
    shirt_frequency: float
    """Pattern frequency on the shirt, cycles per metre (canonical)."""
    trouser_frequency: float
    """Pattern frequency on the trousers, cycles per metre (canonical)."""
    long_sleeves: bool
    """Whether the forearms are covered by the shirt."""
    shorts: bool
    """Whether the shins are bare."""
    long_hair: bool
    """Whether the hair covers the back of the head down to the neck."""


_SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.89, 0.67, 0.52], [0.78, 0.57, 0.42], [0.62, 0.43, 0.30],
                        [0.45, 0.31, 0.21], [0.33, 0.22, 0.15]])  # fmt: skip
_HAIR = np.array([[0.05, 0.04, 0.03], [0.25, 0.15, 0.08], [0.75, 0.62, 0.35], [0.55, 0.55, 0.55], [0.55, 0.22, 0.1]])


def _random_colour(rng: np.random.Generator) -> Float[np.ndarray, "3"]:
    import colorsys

    return np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.3, 0.9), rng.uniform(0.25, 0.95)))


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Random skin tone, hair, patterned shirt/trousers and shoes."""
    skin = np.clip(_SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.93, 1.05, size=3), 0, 1)
    return Appearance(
        skin=skin,
        hair=_HAIR[rng.integers(len(_HAIR))],
        shirt=np.stack([_random_colour(rng), _random_colour(rng)]),
        trousers=np.stack([_random_colour(rng) * 0.8, _random_colour(rng) * 0.8]),
        shoes=np.full(3, rng.choice([0.08, 0.9])) * rng.uniform(0.9, 1.0, size=3),
        shirt_pattern=int(rng.integers(3)),
        trouser_pattern=int(rng.choice([0, 0, 1, 2])),
        shirt_frequency=float(rng.uniform(5.0, 12.0)),
        trouser_frequency=float(rng.uniform(4.0, 9.0)),
        long_sleeves=bool(rng.uniform() < 0.5),
        shorts=bool(rng.uniform() < 0.3),
        long_hair=bool(rng.uniform() < 0.4),
    )


def _pattern(colours: np.ndarray, pattern: int, freq: float, c: np.ndarray) -> np.ndarray:
    if pattern == 0:
        alt = np.zeros(len(c), dtype=bool)
    elif pattern == 1:
        alt = np.sin(2 * np.pi * freq * c[:, 1]) > 0.3
    else:
        alt = np.prod(np.sin(2 * np.pi * freq * c), axis=1) > 0
    return np.where(alt[:, None], colours[1], colours[0])


def surface_albedo(
    appearance: Appearance,
    part: Int[np.ndarray, " num_points"],
    normalized_head: Float[np.ndarray, "num_points 3"],
    canonical: Float[np.ndarray, "num_points 3"],
) -> Float[np.ndarray, "num_points 3"]:
    """Albedo of surface points from their part and canonical coordinates.

    ``normalized_head`` is the point's offset from the head centre divided by the head semi-axes (only read for
    head points), which places the hairline, eyes and mouth.
    """
    names = np.array(PARTS)[part]
    albedo = np.tile(appearance.skin, (len(part), 1))
    shirt_parts = ["shoulders", "chest", "abdomen", "r_upper_arm", "l_upper_arm"]
    if appearance.long_sleeves:
        shirt_parts += ["r_forearm", "l_forearm"]
    trouser_parts = ["pelvis", "r_thigh", "l_thigh"] + ([] if appearance.shorts else ["r_shin", "l_shin"])
    shirt = np.isin(names, shirt_parts)
    trousers = np.isin(names, trouser_parts)
    feet = np.isin(names, ["r_foot", "l_foot"])
    albedo[shirt] = _pattern(appearance.shirt, appearance.shirt_pattern, appearance.shirt_frequency, canonical[shirt])
    albedo[trousers] = _pattern(
        appearance.trousers, appearance.trouser_pattern, appearance.trouser_frequency, canonical[trousers]
    )
    albedo[feet] = appearance.shoes
    head = names == "head"
    if head.any():
        q = normalized_head[head]
        hair_low = -0.75 if appearance.long_hair else -0.1
        hair = (q[:, 1] > 0.45 - 0.25 * np.clip(-q[:, 2], 0, 1)) | ((q[:, 2] < 0.05) & (q[:, 1] > hair_low))
        eyes = (np.abs(np.abs(q[:, 0]) - 0.36) < 0.11) & (np.abs(q[:, 1] - 0.17) < 0.08) & (q[:, 2] > 0)
        mouth = (np.abs(q[:, 0]) < 0.22) & (np.abs(q[:, 1] + 0.45) < 0.05) & (q[:, 2] > 0)
        colour = albedo[head]
        colour[mouth] = appearance.skin * np.array([0.75, 0.45, 0.45])
        colour[eyes] = np.array([0.06, 0.05, 0.05])
        colour[hair] = appearance.hair
        albedo[head] = colour
    return albedo


def _surface_area(prims: BodyPrimitives) -> Float[np.ndarray, " num_prims"]:
    length = np.linalg.norm(prims.b - prims.a, axis=1)
    capsule = 2 * np.pi * prims.radius * length + 4 * np.pi * prims.radius**2
    p = 1.6075  # Knud Thomsen's approximation of an ellipsoid's area
    ax = np.abs(prims.b)  # only meaningful for ellipsoid rows (semi-axes)
    ellipsoid = 4 * np.pi * ((np.sum((ax[:, [0, 0, 1]] * ax[:, [1, 2, 2]]) ** p, axis=1)) / 3) ** (1 / p)
    return np.where(prims.kind == CAPSULE, capsule, ellipsoid)


def sample_surface(
    prims: BodyPrimitives, rng: np.random.Generator, num_points: int
) -> Tuple[Int[np.ndarray, " num_points"], Float[np.ndarray, "num_points 3"]]:
    """Points on the primitives' surfaces (area-weighted), as (primitive index, bone-local position).

    Fixed per subject; moved rigidly with the bones every frame (the role of ZJU's SMPL ``vertices``).
    """
    area = _surface_area(prims)
    idx = np.sort(rng.choice(len(area), size=num_points, p=area / area.sum()))
    u = rng.normal(size=(num_points, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    a, b, r = prims.a[idx], prims.b[idx], prims.radius[idx][:, None]
    axis = b - a
    length = np.linalg.norm(axis, axis=1, keepdims=True)
    unit = axis / np.maximum(length, 1e-9)
    # Capsule: a point on the swept sphere; the radial part of u times r, placed along the axis (cylinder) or, for
    # the fraction of points that land on a cap, at the matching end.
    along = rng.uniform(size=(num_points, 1)) * (length + 2 * r) - r
    on_cap_start, on_cap_end = along < 0, along > length
    axial = np.sum(u * unit, axis=1, keepdims=True)
    radial = u - axial * unit
    radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
    cyl = a + np.clip(along, 0, length) * unit + r * radial
    cap_u = np.where(on_cap_start, -np.abs(axial), np.abs(axial)) * unit + (u - axial * unit)
    cap = np.where(on_cap_start, a, b) + r * cap_u
    capsule = np.where(on_cap_start | on_cap_end, cap, cyl)
    ellipsoid = a + u * b
    local = np.where((prims.kind[idx] == CAPSULE)[:, None], capsule, ellipsoid)
    return idx, local


def points_inside(
    prims: BodyPrimitives, part: Int[np.ndarray, " num_points"], local: Float[np.ndarray, "num_points 3"]
) -> Bool[np.ndarray, " num_points"]:
    """Whether bone-local points lie strictly inside their own primitive (used by tests and visibility)."""
    a, b, r = prims.a[part], prims.b[part], prims.radius[part]
    axis = b - a
    frac = np.clip(np.sum((local - a) * axis, axis=1) / np.maximum(np.sum(axis * axis, axis=1), 1e-12), 0, 1)
    cap_inside = np.linalg.norm(local - a - frac[:, None] * axis, axis=1) < r
    ell_inside = np.sum(((local - a) / np.where(prims.kind[part, None] == CAPSULE, 1.0, b)) ** 2, axis=1) < 1
    return np.where(prims.kind[part] == CAPSULE, cap_inside, ell_inside)
