"""Arm poses beyond the walking swing: raised, crossed over the chest, reaching forward, each with a slow sway.

A style replaces the upper-arm and forearm rotations of ``skeleton.pose_at`` (the legs, torso, head, turning and
drift stay the walking motion's). Conventions are the skeleton's: a hanging arm points along -y; ``rot_z(+a)`` lifts
the left arm sideways (+x) and ``rot_z(-a)`` the right one; ``rot_x(-a)`` swings a hanging bone forward (+z).
"""

from typing import Dict, Tuple

import numpy as np

from ghnerf_ns.synth.skeleton import BodyShape, Motion, SkeletonPose, forward_kinematics, pose_at, rot_x, rot_y, rot_z

ARM_STYLES: Tuple[str, ...] = ("swing", "raised", "crossed", "reach")
"""``swing``: the walking motion's own arms (which may wave); the others hold a pose with a slow sway."""
ARM_STYLE_WEIGHTS = (0.4, 0.2, 0.2, 0.2)
"""How often each style is drawn per person."""


def sample_arm_style(rng: np.random.Generator) -> str:
    """One arm style per person."""
    return str(rng.choice(ARM_STYLES, p=ARM_STYLE_WEIGHTS))


def styled_pose(shape: BodyShape, motion: Motion, style: str, time: float) -> SkeletonPose:
    """``pose_at`` with the arms replaced by ``style`` (the same pose for ``swing``)."""
    if style not in ARM_STYLES:
        raise ValueError(f"unknown arm style {style!r}; choose one of {ARM_STYLES}.")
    base = pose_at(shape, motion, time)
    if style == "swing":
        return base
    local: Dict[str, np.ndarray] = dict(base.local_rotations)
    sway = 0.15 * np.sin(2 * np.pi * time / (2.3 * motion.period) + motion.phase)
    if style == "raised":
        local["l_upper_arm"] = rot_z(2.7 + sway) @ rot_x(-0.2)
        local["r_upper_arm"] = rot_z(-(2.7 - sway)) @ rot_x(-0.2)
        local["l_forearm"] = rot_x(-0.35 - sway)
        local["r_forearm"] = rot_x(-0.35 + sway)
    elif style == "crossed":
        local["l_upper_arm"] = rot_z(-0.12) @ rot_x(-0.45 - 0.5 * sway)
        local["r_upper_arm"] = rot_z(0.12) @ rot_x(-0.45 + 0.5 * sway)
        local["l_forearm"] = rot_y(-1.25) @ rot_x(-1.75)
        local["r_forearm"] = rot_y(1.25) @ rot_x(-1.45)
    else:  # reach
        local["l_upper_arm"] = rot_z(0.1) @ rot_x(-1.35 - sway)
        local["r_upper_arm"] = rot_z(-0.1) @ rot_x(-1.1 + sway)
        local["l_forearm"] = rot_x(-0.25)
        local["r_forearm"] = rot_x(-0.45)
    return forward_kinematics(shape, base.joints[8], local)
