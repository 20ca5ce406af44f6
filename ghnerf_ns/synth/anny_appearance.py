"""Clothes, skin and hair painted on an Anny mesh, as functions of each surface point's body region and canonical
coordinate (so a point keeps its colour in every view and frame).

Regions come from the rig: each vertex belongs to the bone that weighs most in its skinning. Garment borders (shirt
hem, sleeve ends, shorts, shoe tops, hairline) are heights and offsets on the canonical template, measured from its
joints. Besides the procedural people's colours and patterns (body.sample_appearance), each person wears things that
are not mirror-symmetric, which is what lets a model tell its left from its right without the face: a diagonal sash
across the shirt, a chest patch on one side and a watch on one wrist.
"""

from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
from jaxtyping import Float, Int

from dataparsers.body25 import joint_index
from ghnerf_ns.synth.body import Appearance, sample_appearance

REGIONS: Tuple[str, ...] = (
    "head", "neck", "torso", "hips", "l_upper_arm", "r_upper_arm", "l_forearm", "r_forearm", "l_hand", "r_hand",
    "l_thigh", "r_thigh", "l_shin", "r_shin", "l_foot", "r_foot",
)  # fmt: skip
"""Body regions of the Anny mesh (index = region id)."""

_BONE_PREFIX_REGION = (
    ("head", "head"), ("eye", "head"), ("neck02", "head"), ("neck03", "head"), ("neck01", "neck"),
    ("spine05", "hips"), ("root", "hips"), ("pelvis", "hips"), ("spine", "torso"), ("clavicle", "torso"),
    ("shoulder", "torso"), ("upperarm", "upper_arm"), ("lowerarm", "forearm"), ("wrist", "hand"),
    ("finger", "hand"), ("metacarpal", "hand"), ("upperleg", "thigh"), ("lowerleg", "shin"), ("foot", "foot"),
    ("toe", "foot"),
)  # fmt: skip


def vertex_regions(bone_labels: List[str], bone_index: np.ndarray, bone_weight: np.ndarray) -> Int[np.ndarray, " V"]:
    """Region id of each vertex from its heaviest skinning bone (``bone_index``/``bone_weight``: (V, k))."""
    lookup = np.zeros(len(bone_labels), dtype=np.int64)
    for b, label in enumerate(bone_labels):
        for prefix, region in _BONE_PREFIX_REGION:
            if label.startswith(prefix):
                if region in ("upper_arm", "forearm", "hand", "thigh", "shin", "foot"):
                    region = ("l_" if label.endswith(".L") else "r_") + region
                lookup[b] = REGIONS.index(region)
                break
        else:
            raise ValueError(f"Anny bone {label!r} has no body region; this Anny version is unsupported.")
    heaviest = bone_index[np.arange(len(bone_index)), np.argmax(bone_weight, axis=1)]
    return lookup[heaviest]


@dataclass
class AnnyAppearance:
    """One person's look: the procedural palette plus asymmetric accessories."""

    base: Appearance
    """Skin, hair, shirt/trouser colours and patterns, sleeve/shorts/hair length."""
    sash_side: float
    """+1: the sash runs from the left shoulder to the right hip, -1 the other way, 0: no sash."""
    sash_colour: Float[np.ndarray, "3"]
    """Sash colour."""
    patch_side: float
    """+1: a chest patch on the left, -1 on the right."""
    patch_colour: Float[np.ndarray, "3"]
    """Chest patch colour."""
    watch_side: float
    """+1: a watch on the left wrist, -1 on the right."""


def sample_anny_appearance(rng: np.random.Generator) -> AnnyAppearance:
    """Random clothes and accessories (each person has a chest patch and a watch, half of them a sash)."""
    from ghnerf_ns.synth.body import _random_colour

    base = sample_appearance(rng)
    return AnnyAppearance(
        base=base,
        sash_side=float(rng.choice([-1.0, 0.0, 1.0], p=[0.25, 0.5, 0.25])),
        sash_colour=_random_colour(rng),
        patch_side=float(rng.choice([-1.0, 1.0])),
        patch_colour=_random_colour(rng),
        watch_side=float(rng.choice([-1.0, 1.0])),
    )


def template_landmarks(joints: Float[np.ndarray, "25 3"]) -> Dict[str, Float[np.ndarray, "3"]]:
    """Canonical template joints used for garment borders."""
    names = ("Nose", "Neck", "MidHip", "LShoulder", "LElbow", "LWrist", "RWrist", "LKnee", "LAnkle", "LEye", "REye",
             "LEar", "REar")  # fmt: skip
    return {n: joints[joint_index(n)] for n in names}


def albedo(
    look: AnnyAppearance,
    region: Int[np.ndarray, " N"],
    c: Float[np.ndarray, "N 3"],
    marks: Dict[str, Float[np.ndarray, "3"]],
) -> Float[np.ndarray, "N 3"]:
    """Albedo of surface points from their region and canonical coordinates ``c`` (template body frame)."""
    from ghnerf_ns.synth.body import _pattern

    a = look.base
    names = np.array(REGIONS)[region]
    out = np.tile(a.skin, (len(region), 1))
    y = c[:, 1]
    hem = marks["MidHip"][1] + 0.06
    upper, fore = np.char.endswith(names, "upper_arm"), np.char.endswith(names, "forearm")
    if a.long_sleeves:
        sleeve = upper | (fore & (y > marks["LWrist"][1] + 0.03))
    else:
        sleeve = upper & (y > marks["LElbow"][1] + 0.12)
    shirt = (names == "torso") | ((names == "hips") & (y > hem)) | sleeve
    out[shirt] = _pattern(a.shirt, a.shirt_pattern, a.shirt_frequency, c[shirt])

    knee_y = marks["LKnee"][1]
    ankle_y = marks["LAnkle"][1]
    legs = np.isin(names, ["hips", "l_thigh", "r_thigh", "l_shin", "r_shin"]) & ~shirt
    if a.shorts:
        legs &= y > knee_y + 0.08
    else:
        legs &= y > ankle_y + 0.06
    out[legs] = _pattern(a.trousers, a.trouser_pattern, a.trouser_frequency, c[legs])

    shoes = np.isin(names, ["l_foot", "r_foot"]) | (np.isin(names, ["l_shin", "r_shin"]) & (y <= ankle_y + 0.06))
    out[shoes] = a.shoes

    head = names == "head"
    eye_y = 0.5 * (marks["LEye"][1] + marks["REye"][1])
    ear_z = 0.5 * (marks["LEar"][2] + marks["REar"][2])
    hair = head & ((y > eye_y + 0.035) | ((c[:, 2] < ear_z - 0.01) & (y > eye_y - (0.12 if a.long_hair else 0.02))))
    out[hair] = a.hair
    for eye in ("LEye", "REye"):
        out[head & (np.linalg.norm(c - marks[eye], axis=1) < 0.012)] = 0.06

    # Asymmetric accessories (front of the torso is +z).
    front = c[:, 2] > marks["Neck"][2] - 0.02
    if look.sash_side != 0:
        u = look.sash_side * c[:, 0] + (y - marks["Neck"][1])  # constant along the diagonal
        out[shirt & (np.abs(u + 0.2) < 0.035)] = look.sash_colour
    chest_y = marks["Neck"][1] - 0.12
    patch = (
        (names == "torso") & front & (np.abs(c[:, 0] - 0.09 * look.patch_side) < 0.04) & (np.abs(y - chest_y) < 0.04)
    )
    out[patch] = look.patch_colour
    wrist = marks["LWrist"] if look.watch_side > 0 else marks["RWrist"]
    watch_region = "l_forearm" if look.watch_side > 0 else "r_forearm"
    watch = np.isin(names, [watch_region, watch_region.replace("forearm", "hand")]) & (
        np.abs(y - wrist[1] - 0.035) < 0.018
    )
    out[watch] = np.array([0.05, 0.05, 0.06])
    return out
