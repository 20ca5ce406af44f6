"""Poses beyond the walking motion: arm styles (raised, crossed over the chest, reaching forward) and random plausible
whole-body poses, each moving slowly over time.

A style replaces some bone rotations of ``skeleton.pose_at``; turning and drift stay the walking motion's. Conventions
are the skeleton's: a hanging bone points along -y; ``rot_z(+a)`` lifts the left arm (or leg) sideways (+x) and
``rot_z(-a)`` the right one; ``rot_x(-a)`` swings a hanging bone forward (+z); ``rot_x(+a)`` bends a knee.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np

from ghnerf_ns.synth.skeleton import BodyShape, Motion, SkeletonPose, forward_kinematics, pose_at, rot_x, rot_y, rot_z

POSE_STYLES: Tuple[str, ...] = ("swing", "raised", "crossed", "reach", "random")
"""``swing``: the walking motion as it is (its arms swing or wave); ``raised``/``crossed``/``reach``: arms held with
a slow sway on the walking legs; ``random``: random plausible whole-body poses (torso lean and twist, one leg lifted
forwards, sideways or backwards with the knee bent, free arms), blended smoothly from one to the next."""
POSE_STYLE_WEIGHTS = (0.3, 0.15, 0.15, 0.15, 0.25)
"""How often each style is drawn per person."""
RANDOM_KEYFRAMES = 4
"""Random poses a ``random`` person moves through (cyclically)."""
RANDOM_SECONDS_PER_POSE = 1.5
"""Time to blend from one random pose to the next."""

# (low, high) of each random-pose angle, radians; "support"/"free" are the standing and the lifted leg.
_RANGES: Dict[str, Tuple[float, float]] = {
    "lean": (-0.15, 0.55), "side": (-0.3, 0.3), "twist": (-0.45, 0.45), "nod": (-0.3, 0.35), "turn": (-0.6, 0.6),
    "support_flex": (-0.15, 0.35), "support_knee": (0.0, 0.5), "support_out": (0.0, 0.2),
    "free_flex": (-0.7, 1.5), "free_knee": (0.0, 1.7), "free_out": (0.0, 0.7),
    "l_arm_out": (0.0, 2.8), "r_arm_out": (0.0, 2.8), "l_arm_flex": (-0.6, 1.6), "r_arm_flex": (-0.6, 1.6),
    "l_elbow": (0.0, 2.0), "r_elbow": (0.0, 2.0),
}  # fmt: skip


@dataclass
class PoseStyle:
    """One person's pose style."""

    name: str
    """One of ``POSE_STYLES``."""
    keyframes: List[Dict[str, float]] = field(default_factory=list)
    """The ``random`` style's poses: torso, head and arm angles of ``_RANGES``, and each leg's (``l_leg_flex``, ...)
    drawn from the support or the free leg's range (one leg of each pose is the free one)."""


def sample_pose_style(rng: np.random.Generator) -> PoseStyle:
    """One pose style per person (with its random poses for ``random``)."""
    name = str(rng.choice(POSE_STYLES, p=POSE_STYLE_WEIGHTS))
    keyframes = []
    if name == "random":
        for _ in range(RANDOM_KEYFRAMES):
            draw = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in _RANGES.items()}
            free_side = "l" if rng.uniform() < 0.5 else "r"
            pose = {k: v for k, v in draw.items() if not k.startswith(("free_", "support_"))}
            for side in "lr":
                leg = "free" if side == free_side else "support"
                for angle in ("flex", "knee", "out"):
                    pose[f"{side}_leg_{angle}"] = draw[f"{leg}_{angle}"]
            keyframes.append(pose)
    return PoseStyle(name=name, keyframes=keyframes)


def styled_pose(shape: BodyShape, motion: Motion, style: PoseStyle, time: float) -> SkeletonPose:
    """``pose_at`` with the bones the style sets replaced (the same pose for ``swing``)."""
    if style.name not in POSE_STYLES:
        raise ValueError(f"unknown pose style {style.name!r}; choose one of {POSE_STYLES}.")
    base = pose_at(shape, motion, time)
    if style.name == "swing":
        return base
    local: Dict[str, np.ndarray] = dict(base.local_rotations)
    sway = 0.15 * np.sin(2 * np.pi * time / (2.3 * motion.period) + motion.phase)
    if style.name == "raised":
        local["l_upper_arm"] = rot_z(2.7 + sway) @ rot_x(-0.2)
        local["r_upper_arm"] = rot_z(-(2.7 - sway)) @ rot_x(-0.2)
        local["l_forearm"] = rot_x(-0.35 - sway)
        local["r_forearm"] = rot_x(-0.35 + sway)
    elif style.name == "crossed":
        local["l_upper_arm"] = rot_z(-0.12) @ rot_x(-0.45 - 0.5 * sway)
        local["r_upper_arm"] = rot_z(0.12) @ rot_x(-0.45 + 0.5 * sway)
        local["l_forearm"] = rot_y(-1.25) @ rot_x(-1.75)
        local["r_forearm"] = rot_y(1.25) @ rot_x(-1.45)
    elif style.name == "reach":
        local["l_upper_arm"] = rot_z(0.1) @ rot_x(-1.35 - sway)
        local["r_upper_arm"] = rot_z(-0.1) @ rot_x(-1.1 + sway)
        local["l_forearm"] = rot_x(-0.25)
        local["r_forearm"] = rot_x(-0.45)
    else:
        local.update(_random_pose_rotations(_blend(style.keyframes, time)))
    return forward_kinematics(shape, base.joints[8], local)


def _blend(keyframes: List[Dict[str, float]], time: float) -> Dict[str, float]:
    """Smoothstep blend between consecutive keyframes (cyclic)."""
    u = time / RANDOM_SECONDS_PER_POSE
    i = int(np.floor(u)) % len(keyframes)
    a, b = keyframes[i], keyframes[(i + 1) % len(keyframes)]
    s = u - np.floor(u)
    s = s * s * (3 - 2 * s)
    return {k: (1 - s) * a[k] + s * b[k] for k in a}


def _random_pose_rotations(p: Dict[str, float]) -> Dict[str, np.ndarray]:
    """Local bone rotations of one random pose."""
    rot: Dict[str, np.ndarray] = {}
    rot["chest"] = rot_y(p["twist"]) @ rot_z(p["side"]) @ rot_x(p["lean"])
    rot["head"] = rot_y(p["turn"]) @ rot_x(p["nod"])
    for side, sign in (("l", 1.0), ("r", -1.0)):
        rot[f"{side}_thigh"] = rot_z(sign * p[f"{side}_leg_out"]) @ rot_x(-p[f"{side}_leg_flex"])
        rot[f"{side}_shin"] = rot_x(p[f"{side}_leg_knee"])
        rot[f"{side}_foot"] = rot_x(0.1 - 0.3 * p[f"{side}_leg_knee"])
        rot[f"{side}_upper_arm"] = rot_z(sign * p[f"{side}_arm_out"]) @ rot_x(-p[f"{side}_arm_flex"])
        rot[f"{side}_forearm"] = rot_x(-p[f"{side}_elbow"])
    return rot
