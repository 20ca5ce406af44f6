"""A procedural BODY_25 skeleton: per-subject body proportions, a smooth walking motion and forward kinematics.

Everything here lives in the *body frame*: metres, +y up, the ground at y = 0, the person facing +z (so the
person's left is +x, like SMPL's canonical frame). The writers map it into each dataset's world frame.

The skeleton is a small tree of rigid *bones* (pelvis, chest, head, arms, legs, feet). Each bone has a frame
(rotation + origin) per pose; the body primitives (body.py) are rigidly attached to these frames, so a surface
point keeps its bone-local coordinates in every frame, which is what makes the CSE ground truth consistent.
"""

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np
from jaxtyping import Float

from dataparsers.body25 import NUM_JOINTS, joint_index

BONES: Tuple[str, ...] = (
    "pelvis", "chest", "head",
    "r_upper_arm", "r_forearm", "l_upper_arm", "l_forearm",
    "r_thigh", "r_shin", "r_foot", "l_thigh", "l_shin", "l_foot",
)  # fmt: skip
"""Rigid bones of the synthetic body; primitives attach to their frames."""
NUM_BONES = len(BONES)


def rot_x(a: float) -> Float[np.ndarray, "3 3"]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> Float[np.ndarray, "3 3"]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> Float[np.ndarray, "3 3"]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass
class BodyShape:
    """Body proportions of one subject, metres. Lengths scale with ``height``; girth scales radii."""

    height: float
    """Standing height."""
    hip_height: float
    """MidHip above the floor in the rest pose."""
    spine: float
    """MidHip to Neck."""
    shoulder_half_width: float
    """Neck to each shoulder, sideways."""
    hip_half_width: float
    """MidHip to each hip joint, sideways."""
    upper_arm: float
    """Shoulder to elbow."""
    forearm: float
    """Elbow to wrist."""
    thigh: float
    """Hip to knee."""
    shin: float
    """Knee to ankle."""
    ankle_height: float
    """Ankle above the sole."""
    foot_length: float
    """Heel to toe tip."""
    girth: float
    """Multiplier on torso/limb radii (1 = average build)."""
    head_scale: float
    """Multiplier on the head size."""


def mean_body_shape() -> BodyShape:
    """The template body (1.75 m, average proportions): the canonical space of the CSE embedding."""
    return body_shape_from_factors(1.75, np.ones(6), 1.0, 1.0)


def body_shape_from_factors(height: float, jitter: Float[np.ndarray, "6"], girth: float, head: float) -> BodyShape:
    """Body proportions from a height, six length jitters (legs, spine, arms, shoulders, hips, feet), a girth and a
    head-size factor."""
    legs, spine, arms, shoulders, hips, feet = (float(v) for v in jitter)
    h = height
    ankle = 0.045 * h
    thigh, shin = 0.245 * h * legs, 0.245 * h * legs
    return BodyShape(
        height=h,
        hip_height=ankle + thigh + shin,
        spine=0.30 * h * spine,
        shoulder_half_width=0.105 * h * shoulders,
        hip_half_width=0.055 * h * hips,
        upper_arm=0.17 * h * arms,
        forearm=0.15 * h * arms,
        thigh=thigh,
        shin=shin,
        ankle_height=ankle,
        foot_length=0.15 * h * feet,
        girth=girth,
        head_scale=head,
    )


def sample_body_shape(rng: np.random.Generator) -> BodyShape:
    """Random plausible adult proportions (height 1.55-1.92 m, +-6% limb variation, girth 0.85-1.3)."""
    return body_shape_from_factors(
        rng.uniform(1.55, 1.92), rng.uniform(0.94, 1.06, size=6), rng.uniform(0.85, 1.3), rng.uniform(0.92, 1.08)
    )


@dataclass
class Motion:
    """Parameters of a subject's smooth motion: walking in place while slowly turning and drifting."""

    period: float
    """Walking cycle length, seconds."""
    phase: float
    """Cycle phase at t = 0, radians."""
    hip_swing: float
    """Thigh swing amplitude, radians."""
    knee_bend: float
    """Peak knee flexion during the swing phase, radians."""
    arm_swing: float
    """Upper-arm swing amplitude, radians."""
    arm_abduction: float
    """Sideways lift of the arms, radians."""
    elbow_bend: float
    """Resting elbow flexion, radians."""
    yaw0: float
    """Initial heading about the vertical axis, radians."""
    yaw_rate: float
    """Turning speed about the vertical axis, radians per second."""
    drift: float
    """Amplitude of the small root translation on the floor, metres."""
    wave: bool
    """Whether the right arm is raised and waving instead of swinging."""


def sample_motion(rng: np.random.Generator) -> Motion:
    """Random smooth-motion parameters (per subject)."""
    return Motion(
        period=rng.uniform(1.0, 1.3),
        phase=rng.uniform(0, 2 * np.pi),
        hip_swing=rng.uniform(0.25, 0.45),
        knee_bend=rng.uniform(0.5, 0.9),
        arm_swing=rng.uniform(0.2, 0.5),
        arm_abduction=rng.uniform(0.08, 0.22),
        elbow_bend=rng.uniform(0.15, 0.45),
        yaw0=rng.uniform(0, 2 * np.pi),
        yaw_rate=rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.6),
        drift=rng.uniform(0.03, 0.08),
        wave=bool(rng.uniform() < 0.3),
    )


@dataclass
class SkeletonPose:
    """Joints and bone frames of one pose, body frame."""

    joints: Float[np.ndarray, "25 3"]
    """BODY_25 joints (OpenPose order), metres."""
    bone_rotations: Float[np.ndarray, "num_bones 3 3"]
    """Global rotation of each bone frame (order of ``BONES``)."""
    bone_origins: Float[np.ndarray, "num_bones 3"]
    """Origin of each bone frame (the joint the bone pivots about)."""
    local_rotations: Dict[str, Float[np.ndarray, "3 3"]]
    """Rotation of each bone relative to its parent (``root`` = the global pelvis rotation), for SMPL-like export."""


def head_frame_points(shape: BodyShape) -> Tuple[Float[np.ndarray, "3"], Float[np.ndarray, "3"]]:
    """Head ellipsoid centre (in the head bone frame) and its semi-axes."""
    s, h = shape.head_scale, shape.height
    return np.array([0.0, 0.05 * h, 0.008 * h]), np.array([0.045 * h, 0.063 * h, 0.056 * h]) * s


# Directions (head frame) of the face keypoints; they are put just outside the head surface so the head itself
# hides them from cameras behind it (see raycast occlusion).
_FACE_DIRECTIONS = {
    "Nose": (0.0, -0.12, 1.0),
    "REye": (-0.38, 0.18, 0.9),
    "LEye": (0.38, 0.18, 0.9),
    "REar": (-1.0, 0.05, -0.08),
    "LEar": (1.0, 0.05, -0.08),
}


def pose_at(shape: BodyShape, motion: Motion, time: float) -> SkeletonPose:
    """Forward kinematics of the synthetic body at ``time`` seconds of its motion."""
    h = shape.height
    phi = 2 * np.pi * time / motion.period + motion.phase
    yaw = motion.yaw0 + motion.yaw_rate * time
    root = np.array(
        [
            motion.drift * np.sin(0.9 * time + motion.phase),
            shape.hip_height - 0.01 * h + 0.008 * h * np.cos(2 * phi),
            motion.drift * np.sin(0.7 * time + 2 * motion.phase),
        ]
    )
    local: Dict[str, np.ndarray] = {}
    local["root"] = rot_y(yaw)
    local["chest"] = rot_y(-0.15 * np.sin(phi)) @ rot_x(0.04)  # counter-twist of the torso, slight forward lean
    local["head"] = rot_y(0.25 * np.sin(0.5 * phi)) @ rot_x(-0.05 + 0.05 * np.sin(phi))

    hip_r, hip_l = motion.hip_swing * np.sin(phi), -motion.hip_swing * np.sin(phi)
    # Knees flex most while the leg swings forward (d hip/dt > 0), smoothly.
    knee_r = motion.knee_bend * (0.12 + 0.88 * (0.5 + 0.5 * np.cos(phi)) ** 2)
    knee_l = motion.knee_bend * (0.12 + 0.88 * (0.5 - 0.5 * np.cos(phi)) ** 2)
    # Positive x-rotation of a bone hanging along -y moves its end backwards (-z): thigh forward = rot_x(-a).
    local["r_thigh"], local["l_thigh"] = rot_x(-hip_r), rot_x(-hip_l)
    local["r_shin"], local["l_shin"] = rot_x(knee_r), rot_x(knee_l)
    local["r_foot"], local["l_foot"] = rot_x(-0.4 * knee_r + 0.1), rot_x(-0.4 * knee_l + 0.1)

    arm = motion.arm_swing * np.sin(phi)
    if motion.wave:
        local["r_upper_arm"] = rot_z(-(1.9 + 0.2 * np.sin(3 * phi))) @ rot_x(-0.3)
        local["r_forearm"] = rot_x(-(1.0 + 0.35 * np.sin(4 * phi)))
    else:
        # The right arm swings back while the right leg swings forward.
        local["r_upper_arm"] = rot_z(-motion.arm_abduction) @ rot_x(arm)
        local["r_forearm"] = rot_x(-(motion.elbow_bend + 0.2 * max(0.0, -np.sin(phi))))
    local["l_upper_arm"] = rot_z(motion.arm_abduction) @ rot_x(-arm)
    local["l_forearm"] = rot_x(-(motion.elbow_bend + 0.2 * max(0.0, np.sin(phi))))
    return forward_kinematics(shape, root, local)


def rest_pose(shape: BodyShape) -> SkeletonPose:
    """The rest pose (arms hanging, legs straight, facing +z, standing at the origin): the canonical pose."""
    local = {name: np.eye(3) for name in ("root", "chest", "head") + BONES[3:]}
    return forward_kinematics(shape, np.array([0.0, shape.hip_height, 0.0]), local)


def forward_kinematics(
    shape: BodyShape, root: Float[np.ndarray, "3"], local: Dict[str, Float[np.ndarray, "3 3"]]
) -> SkeletonPose:
    """Bone frames and BODY_25 joints from the root (MidHip) position and the bones' local rotations."""
    h = shape.height
    rot: Dict[str, np.ndarray] = {}
    origin: Dict[str, np.ndarray] = {}
    rot["pelvis"] = local["root"]
    origin["pelvis"] = root
    rot["chest"] = rot["pelvis"] @ local["chest"]
    neck = root + rot["chest"] @ np.array([0.0, shape.spine, 0.0])
    origin["chest"] = neck
    rot["head"] = rot["chest"] @ local["head"]
    origin["head"] = neck + rot["chest"] @ np.array([0.0, 0.035 * h, 0.0])

    joints = np.zeros((NUM_JOINTS, 3))
    joints[joint_index("MidHip")] = root
    joints[joint_index("Neck")] = neck
    for side, sign in (("r", -1.0), ("l", 1.0)):
        upper = "RL"[side == "l"]
        shoulder = neck + rot["chest"] @ np.array([sign * shape.shoulder_half_width, -0.02 * h, -0.005 * h])
        rot[f"{side}_upper_arm"] = rot["chest"] @ local[f"{side}_upper_arm"]
        origin[f"{side}_upper_arm"] = shoulder
        elbow = shoulder + rot[f"{side}_upper_arm"] @ np.array([0.0, -shape.upper_arm, 0.0])
        rot[f"{side}_forearm"] = rot[f"{side}_upper_arm"] @ local[f"{side}_forearm"]
        origin[f"{side}_forearm"] = elbow
        wrist = elbow + rot[f"{side}_forearm"] @ np.array([0.0, -shape.forearm, 0.0])

        hip = root + rot["pelvis"] @ np.array([sign * shape.hip_half_width, 0.0, 0.0])
        rot[f"{side}_thigh"] = rot["pelvis"] @ local[f"{side}_thigh"]
        origin[f"{side}_thigh"] = hip
        knee = hip + rot[f"{side}_thigh"] @ np.array([0.0, -shape.thigh, 0.0])
        rot[f"{side}_shin"] = rot[f"{side}_thigh"] @ local[f"{side}_shin"]
        origin[f"{side}_shin"] = knee
        ankle = knee + rot[f"{side}_shin"] @ np.array([0.0, -shape.shin, 0.0])
        rot[f"{side}_foot"] = rot[f"{side}_shin"] @ local[f"{side}_foot"]
        origin[f"{side}_foot"] = ankle
        foot = rot[f"{side}_foot"]
        fl, ah = shape.foot_length, shape.ankle_height
        joints[joint_index(f"{upper}Shoulder")] = shoulder
        joints[joint_index(f"{upper}Elbow")] = elbow
        joints[joint_index(f"{upper}Wrist")] = wrist
        joints[joint_index(f"{upper}Hip")] = hip
        joints[joint_index(f"{upper}Knee")] = knee
        joints[joint_index(f"{upper}Ankle")] = ankle
        joints[joint_index(f"{upper}Heel")] = ankle + foot @ np.array([0.0, -0.8 * ah, -0.22 * fl])
        joints[joint_index(f"{upper}BigToe")] = ankle + foot @ np.array([-sign * 0.012 * h, -0.85 * ah, 0.72 * fl])
        joints[joint_index(f"{upper}SmallToe")] = ankle + foot @ np.array([sign * 0.03 * h, -0.85 * ah, 0.62 * fl])

    centre, axes = head_frame_points(shape)
    for name, direction in _FACE_DIRECTIONS.items():
        d = np.asarray(direction)
        on_surface = d / np.sqrt(np.sum((d / axes) ** 2))
        joints[joint_index(name)] = origin["head"] + rot["head"] @ (centre + 1.04 * on_surface)

    return SkeletonPose(
        joints=joints,
        bone_rotations=np.stack([rot[b] for b in BONES]),
        bone_origins=np.stack([origin[b] for b in BONES]),
        local_rotations=local,
    )
