"""Realistic body shapes from the Anny parametric model (MakeHuman-based mesh with a rig; Apache-2.0, ``pip install
'ghnerf_ns[anny]'``): per-subject shape sampling, posing by the procedural motion, BODY_25 joints from the mesh.

Frames: Anny works with +z up, the person facing -y and its left at +x. Everything here is returned in the
procedural skeleton's *body frame* (skeleton.py: +y up, facing +z, left +x, floor at y = 0), so the writers place an
Anny person exactly as they place a procedural one, and the canonical space of the CSE ground truth is shared.

Posing: the procedural motion (skeleton.pose_at) gives each semantic bone (pelvis, chest, head, upper arms, forearms,
thighs, shins, feet) a rotation relative to the rest pose with the arms hanging. Anny's rest pose holds the arms out
in an A, so each driven Anny bone gets ``G = G_semantic @ A`` where ``A`` swings its rest direction onto the hanging
one; undriven Anny bones (fingers, toes, twist bones, eyes) follow their parent. ``G`` is handed to Anny in its
``world-orient`` parameterisation (each bone's world orientation, heads following the parents) and skinned with
linear blend skinning.

Joints: Anny's COCO-WholeBody regressor (23 keypoints: face, limbs, big/small toes and heels as fixed weighted sums of
mesh vertices) gives 23 of the BODY_25 joints; Neck and MidHip are the shoulders' and hips' midpoints (OpenPose's
definition). Left and right are the person's.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from jaxtyping import Float, Int

from dataparsers.body25 import NUM_JOINTS, joint_index

ANNY_FROM_BODY = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""Body frame (+y up, facing +z) to Anny's frame (+z up, facing -y): ``p_anny = ANNY_FROM_BODY @ p_body``."""
TEMPLATE_HEIGHT = 1.75
"""The canonical (CSE) template is Anny's average person scaled to this height, like the procedural template."""

_COCO_TO_BODY25 = {
    "nose": "Nose", "left_eye": "LEye", "right_eye": "REye", "left_ear": "LEar", "right_ear": "REar",
    "left_shoulder": "LShoulder", "right_shoulder": "RShoulder", "left_elbow": "LElbow", "right_elbow": "RElbow",
    "left_wrist": "LWrist", "right_wrist": "RWrist", "left_hip": "LHip", "right_hip": "RHip",
    "left_knee": "LKnee", "right_knee": "RKnee", "left_ankle": "LAnkle", "right_ankle": "RAnkle",
    "left_big_toe": "LBigToe", "right_big_toe": "RBigToe", "left_small_toe": "LSmallToe",
    "right_small_toe": "RSmallToe", "left_heel": "LHeel", "right_heel": "RHeel",
}  # fmt: skip

# Semantic bone (skeleton.BONES plus the root) driving each Anny bone; the other Anny bones follow their parent.
_DRIVERS = {
    "root": "pelvis", "spine05": "pelvis", "spine04": "pelvis", "spine03": "chest", "spine02": "chest",
    "spine01": "chest", "neck01": "chest", "neck02": "head", "neck03": "head", "head": "head",
    "upperleg01.L": "l_thigh", "upperleg01.R": "r_thigh", "lowerleg01.L": "l_shin", "lowerleg01.R": "r_shin",
    "foot.L": "l_foot", "foot.R": "r_foot", "upperarm01.L": "l_upper_arm", "upperarm01.R": "r_upper_arm",
    "lowerarm01.L": "l_forearm", "lowerarm01.R": "r_forearm",
}  # fmt: skip
# Anny bones whose rest direction is swung onto "straight down" (the procedural rest pose's hanging arms).
_HANGING = {"upperarm01.L": "lowerarm01.L", "upperarm01.R": "lowerarm01.R", "lowerarm01.L": "wrist.L",
            "lowerarm01.R": "wrist.R"}  # fmt: skip


def require_anny() -> Any:
    """Imports the optional ``anny`` package, with the install command in the error."""
    try:
        import anny
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ghnerf-synth --body anny needs the Anny body model: pip install 'ghnerf_ns[anny]' (or pip install "
            "anny==0.6.2). Use --body procedural for the built-in people."
        ) from err
    return anny


@lru_cache(maxsize=1)
def anny_model() -> Tuple[Any, Any]:
    """The Anny model (default rig and topology, torch LBS skinning) and its COCO-WholeBody keypoint regressor.

    The first call builds Anny's model data from the package's MakeHuman files and caches it under
    ``~/.cache/anny`` (about a minute, once per machine); later calls load it in under a second.
    """
    import fcntl

    anny = require_anny()
    from anny.paths import get_anny_cache_path

    cache = get_anny_cache_path()
    cache.mkdir(parents=True, exist_ok=True)
    # Anny writes its cache files in place: one process builds, the others (parallel writers, test workers) wait for
    # it and then load the finished cache.
    with open(cache / "ghnerf_ns.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            model = anny.Anny(skinning_method="lbs")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    regressor = anny.KeypointsRegressor.coco(model)
    return model, regressor


def swing(a: Float[np.ndarray, "3"], b: Float[np.ndarray, "3"]) -> Float[np.ndarray, "3 3"]:
    """The smallest rotation taking direction ``a`` onto direction ``b`` (Rodrigues)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(a @ b)
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        perp = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        perp /= np.linalg.norm(perp)
        return 2 * np.outer(perp, perp) - np.eye(3)
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


@dataclass
class AnnyRestBody:
    """One person's Anny body at rest, body frame."""

    phenotype: Dict[str, float]
    """Anny phenotype parameters (gender, age, muscle, weight, height, proportions), each in [0, 1]."""
    rest_vertices: Float[np.ndarray, "num_vertices 3"]
    """Rest-pose (A-pose) vertices, body frame, metres, feet on y = 0."""
    faces: Int[np.ndarray, "num_faces 3"]
    """Triangles (Anny's quads split in two)."""
    height: float
    """Standing height, metres."""
    midhip: Float[np.ndarray, "3"]
    """Rest MidHip, body frame (the root the motion moves)."""
    bone_poses: Float[np.ndarray, "num_bones 4 4"]
    """Anny's rest bone poses (its own frame), which posing starts from."""
    bone_heads: Float[np.ndarray, "num_bones 3"]
    """Anny's rest bone heads (its own frame)."""


def sample_phenotype(rng: np.random.Generator) -> Dict[str, float]:
    """Random adult phenotype; the height parameter is drawn until the person is 1.50-1.95 m tall."""
    return {
        "gender": float(rng.uniform(0.0, 1.0)),
        "age": float(rng.uniform(0.45, 0.85)),
        "muscle": float(rng.uniform(0.2, 0.8)),
        "weight": float(rng.uniform(0.15, 0.85)),
        "height": float(rng.uniform(0.3, 0.75)),
        "proportions": float(rng.uniform(0.3, 0.7)),
    }


def _anny_output(
    phenotype: Dict[str, float], bone_deltas: Optional[Float[np.ndarray, "num_bones 4 4"]] = None
) -> Dict[str, Any]:
    """Anny's forward pass for one person: at rest, or posed with ``world-orient`` bone transforms."""
    import torch

    model, _ = anny_model()
    kwargs = {k: torch.tensor([v], dtype=model.dtype) for k, v in phenotype.items()}
    with torch.no_grad():
        if bone_deltas is None:
            return model(phenotype_kwargs=kwargs)
        deltas = torch.from_numpy(bone_deltas)[None].to(model.dtype)
        return model(pose_parameters=deltas, phenotype_kwargs=kwargs, pose_parameterization="world-orient")


def rest_body(phenotype: Dict[str, float]) -> AnnyRestBody:
    """The Anny person with these phenotype parameters, at rest in the body frame."""
    model, _ = anny_model()
    out = _anny_output(phenotype)
    verts = out["rest_vertices"][0].numpy() @ ANNY_FROM_BODY  # rows: p_body = ANNY_FROM_BODY^T p_anny
    floor = verts[:, 1].min()
    verts = verts - np.array([0.0, floor, 0.0])
    joints = _regress_joints(verts)
    return AnnyRestBody(
        phenotype=dict(phenotype),
        rest_vertices=verts,
        faces=model.get_triangular_faces().numpy().astype(np.int64),
        height=float(verts[:, 1].max()),
        midhip=joints[joint_index("MidHip")],
        bone_poses=out["rest_bone_poses"][0].numpy(),
        bone_heads=out["rest_bone_heads"][0].numpy(),
    )


def _regress_joints(vertices: Float[np.ndarray, "num_vertices 3"]) -> Float[np.ndarray, "25 3"]:
    _, regressor = anny_model()
    weights = regressor.regression_weights.numpy()
    coco = weights @ vertices
    joints = np.zeros((NUM_JOINTS, 3))
    for label, point in zip(regressor.labels, coco):
        joints[joint_index(_COCO_TO_BODY25[label])] = point
    joints[joint_index("Neck")] = 0.5 * (joints[joint_index("LShoulder")] + joints[joint_index("RShoulder")])
    joints[joint_index("MidHip")] = 0.5 * (joints[joint_index("LHip")] + joints[joint_index("RHip")])
    return joints


class AnnyPoser:
    """Poses one Anny person with the procedural motion's semantic bone rotations."""

    def __init__(self, body: AnnyRestBody) -> None:
        model, _ = anny_model()
        self.body = body
        self.labels: List[str] = list(model.bone_labels)
        self.parents: List[int] = [int(p) for p in model.bone_parents]
        if any(p >= i for i, p in enumerate(self.parents)):
            raise RuntimeError(
                "Anny's bone list is not in parent-before-child order; this Anny version is unsupported."
            )
        heads = body.bone_heads
        self.align: Dict[str, np.ndarray] = {}
        down_anny = ANNY_FROM_BODY @ np.array([0.0, -1.0, 0.0])
        for bone, child in _HANGING.items():
            d = heads[self.labels.index(child)] - heads[self.labels.index(bone)]
            self.align[bone] = swing(d, down_anny)

    def pose(
        self, semantic_rotations: Dict[str, Float[np.ndarray, "3 3"]], root: Float[np.ndarray, "3"]
    ) -> Tuple[Float[np.ndarray, "num_vertices 3"], Float[np.ndarray, "25 3"]]:
        """Posed vertices and BODY_25 joints (body frame) for semantic bones' global rotations relative to the
        hanging-arm rest pose (``skeleton.SkeletonPose.bone_rotations`` by name, ``pelvis`` included) and the MidHip
        position ``root`` (its height is replaced: the body's lowest point stands on y = 0)."""
        to_anny = ANNY_FROM_BODY
        num = len(self.labels)
        G = np.zeros((num, 3, 3))
        for i, label in enumerate(self.labels):
            driver = _DRIVERS.get(label)
            if driver is None:
                G[i] = G[self.parents[i]] if self.parents[i] >= 0 else np.eye(3)
                continue
            g = to_anny @ semantic_rotations[driver] @ to_anny.T
            G[i] = g @ self.align[label] if label in self.align else g
        deltas = np.tile(np.eye(4), (num, 1, 1))
        rest = self.body.bone_poses
        deltas[:, :3, :3] = G @ rest[:, :3, :3]
        deltas[0, :3, 3] = rest[0, :3, 3]
        out = _anny_output(self.body.phenotype, deltas)
        verts = out["vertices"][0].numpy() @ ANNY_FROM_BODY
        joints = _regress_joints(verts)
        # MidHip follows the motion sideways; vertically the lowest point of the body stands on the floor.
        shift = root - joints[joint_index("MidHip")]
        shift[1] = -verts[:, 1].min()
        return verts + shift, joints + shift
