"""BODY_25 joint names and limb tree (OpenPose order).

Shared by the dataparsers (keypoint files) and by ghnerf_ns (heatmaps, overlays, metrics). Lives here because
``dataparsers`` must never import ``ghnerf_ns`` (nerfstudio imports dataparser entry points while its own registry
is half-initialised), while ``ghnerf_ns`` may import ``dataparsers``.
"""

from typing import List, Tuple

BODY25_JOINTS: Tuple[str, ...] = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)  # fmt: skip
"""The 25 BODY_25 joints, in OpenPose's output order (``pose_keypoints_2d``)."""

NUM_JOINTS: int = len(BODY25_JOINTS)

BODY25_LIMBS: List[Tuple[int, int]] = [
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12), (12, 13),
    (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21), (11, 22),
    (22, 23), (11, 24),
]  # fmt: skip
"""Parent-child pairs of the BODY_25 skeleton (the tree OpenPose and EasyMocap draw)."""


def joint_index(name: str) -> int:
    """Index of a BODY_25 joint by name, with a clear error for unknown names."""
    try:
        return BODY25_JOINTS.index(name)
    except ValueError:
        raise ValueError(f"unknown BODY_25 joint {name!r}; expected one of {', '.join(BODY25_JOINTS)}") from None


BODY25_MIRROR: Tuple[int, ...] = tuple(
    joint_index(("L" + name[1:]) if name[0] == "R" else ("R" + name[1:])) if name[:1] in ("R", "L") else i
    for i, name in enumerate(BODY25_JOINTS)
)
"""Index of each joint's mirror joint (``RWrist`` <-> ``LWrist``); midline joints map to themselves. A horizontally
flipped image of a person shows a person whose joint ``j`` is the original's ``BODY25_MIRROR[j]``."""
