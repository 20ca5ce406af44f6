"""A body's bones have a largest length: a 3D joint too far from every point of its parent joint is not that joint.

Why: a 2D pose head trained on synthetic people can fire on the wrong body part in every view at once (a hand taken
for a foot on a photographed person: both are small limb ends), and the views then agree on it, so the consensus
triangulation keeps it. On Pose2Sim's real trial this put foot points 0.3-1.1 m from the person's feet in most frames
(benchmarks/README.md, "Bones that cannot be that long"). A joint that lies farther from every point of its parent
(the two side-blind points of a left/right parent: its labels are not known yet) than :data:`BONE_BOUNDS_M` allows is
therefore not found.

Each bound is the longest such bone among ``ghnerf-synth``'s training people (60 procedural and 60 Anny people of the
demo's kinds, every frame: :data:`LONGEST_BONE_M`) plus a margin for the estimate's own error, about 0.1 m per joint
on a real person, and for people larger than the training ones: 0.15 m, or half the bone where that is more.
"""

from typing import Dict, Tuple

import numpy as np
from jaxtyping import Bool, Float

from dataparsers.body25 import BODY25_MIRROR, joint_index

LONGEST_BONE_M: Dict[Tuple[str, str], float] = {
    ("RShoulder", "Neck"): 0.216,
    ("RHip", "MidHip"): 0.110,
    ("RElbow", "RShoulder"): 0.333,
    ("RWrist", "RElbow"): 0.294,
    ("RKnee", "RHip"): 0.492,
    ("RAnkle", "RKnee"): 0.492,
    ("RBigToe", "RAnkle"): 0.240,
    ("RSmallToe", "RAnkle"): 0.208,
    ("RHeel", "RAnkle"): 0.095,
    ("REye", "Nose"): 0.057,
    ("REar", "Nose"): 0.158,
}
"""(right joint, its parent) -> the longest distance between them (metres) among the training people above, either
side; the left joints share their mirror's. Parents come before their children (the order the checks run in)."""

BONE_MARGIN_M = 0.15
"""The smallest margin a bound adds to its bone (module docstring)."""

BONE_BOUNDS_M: Dict[Tuple[str, str], float] = {
    bone: max(1.5 * length, length + BONE_MARGIN_M) for bone, length in LONGEST_BONE_M.items()
}
"""(right joint, its parent) -> how far (metres) the joint may lie from a point of its parent."""


def within_bone_bounds(
    points: Float[np.ndarray, "num_joints 3"], valid: Bool[np.ndarray, " num_joints"]
) -> Bool[np.ndarray, " num_joints"]:
    """``valid`` without the joints too far from their parent (module docstring).

    A joint is kept when it lies within its bound of either point of its parent pair (labels ignored; both slots of a
    left/right parent are its side-blind points). A left/right parent needs both its points to check against: with
    one missing, that missing point may be this joint's own parent, and the other limb's can lie a stride away. The
    checks run from the body's centre outwards, so a parent dropped here no longer vouches for its children.
    """
    valid = np.array(valid, dtype=bool)
    for (child_name, parent_name), bound in BONE_BOUNDS_M.items():
        parent = joint_index(parent_name)
        parents = sorted({parent, BODY25_MIRROR[parent]})
        if not valid[parents].all():
            continue
        child = joint_index(child_name)
        for j in (child, BODY25_MIRROR[child]):
            if valid[j] and min(np.linalg.norm(points[j] - points[p]) for p in parents) > bound:
                valid[j] = False
    return valid
