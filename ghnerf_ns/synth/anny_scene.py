"""One realistic synthetic subject (an Anny mesh with painted clothes) as a scene with the same interface as
``render.SubjectScene``: ``frame(i)`` poses it, ``render_view`` draws a camera's image, mask, keypoints and CSE.

Shape, clothes and motion are fixed by (seed, subject id). The mesh is rasterised with a z-buffer (mesh_raster.py)
through each camera's lens model; a pixel's colour and CSE come from the surface point it sees: its body region and
its canonical coordinate (the same mesh vertex on Anny's average person, posed with hanging arms and scaled to the
procedural template's 1.75 m, so the CSE embedding means the same body point for procedural and Anny people).
A joint is hidden in a view when the visible surface at its pixel lies in front of it by more than its depth below the
skin (its distance to the nearest rest-pose vertex, times 1.5, plus ``OCCLUSION_TOLERANCE``).
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Optional

import numpy as np
from jaxtyping import Float, Int

from ghnerf_ns.synth.anny_appearance import (
    AnnyAppearance,
    albedo,
    sample_anny_appearance,
    template_landmarks,
    vertex_regions,
)
from ghnerf_ns.synth.anny_body import TEMPLATE_HEIGHT, AnnyPoser, AnnyRestBody, anny_model, rest_body, sample_phenotype
from ghnerf_ns.synth.body import cse_embedding
from ghnerf_ns.synth.mesh_raster import rasterize
from ghnerf_ns.synth.pose_styles import sample_pose_style, styled_pose
from ghnerf_ns.synth.render import (
    KEYPOINT_CONFIDENCE,
    OCCLUSION_TOLERANCE,
    CameraRays,
    ViewResult,
    keypoints_in_view,
    project_points,
    studio_background,
    studio_shading,
    subject_rng,
)
from ghnerf_ns.synth.rig import RigCamera
from ghnerf_ns.synth.skeleton import BONES, SkeletonPose, body_shape_from_factors, sample_motion

MIN_HEIGHT, MAX_HEIGHT = 1.50, 1.95
"""Heights (metres) of the sampled adults."""


@dataclass
class CanonicalTemplate:
    """Anny's average person with hanging arms, scaled to the template height: the canonical space."""

    coords: Float[np.ndarray, "num_vertices 3"]
    """Canonical coordinate of every mesh vertex."""
    regions: Int[np.ndarray, " num_vertices"]
    """Body region of every vertex (anny_appearance.REGIONS)."""
    landmarks: Dict[str, Float[np.ndarray, "3"]]
    """Template joints that place the garment borders."""
    joint_depth: Float[np.ndarray, " 25"]
    """Each joint's distance to the nearest template vertex (its depth below the skin), metres."""


@lru_cache(maxsize=1)
def canonical_template() -> CanonicalTemplate:
    """The canonical template (built once per process)."""
    model, _ = anny_model()
    body = rest_body({k: 0.5 for k in ("gender", "age", "muscle", "weight", "height", "proportions")})
    identity = {b: np.eye(3) for b in BONES}
    verts, joints = AnnyPoser(body).pose(identity, body.midhip)
    scale = TEMPLATE_HEIGHT / body.height
    verts, joints = verts * scale, joints * scale
    depth = np.array([np.min(np.linalg.norm(verts - j, axis=1)) for j in joints])
    regions = vertex_regions(
        list(model.bone_labels), model.vertex_bone_indices.numpy(), model.vertex_bone_weights.numpy()
    )
    return CanonicalTemplate(coords=verts, regions=regions, landmarks=template_landmarks(joints), joint_depth=depth)


@dataclass
class AnnyFrameState:
    """An Anny subject posed at one frame, world frame."""

    joints: Float[np.ndarray, "25 3"]
    """BODY_25 joints, world, metres."""
    vertices: Float[np.ndarray, "num_points 3"]
    """Surface points written as the dataset's ``vertices`` (a fixed subset of the mesh vertices)."""
    mesh: Float[np.ndarray, "num_vertices 3"]
    """All posed mesh vertices, world."""
    normals: Float[np.ndarray, "num_vertices 3"]
    """Unit vertex normals, world."""
    pose: SkeletonPose
    """The semantic pose (body frame) the mesh was posed with (for SMPL-like export)."""


class AnnySubjectScene:
    """A realistic human (Anny shape, painted clothes, procedural motion) fixed by (seed, subject id)."""

    def __init__(
        self,
        subject_id: str,
        seed: int,
        world_rotation: Float[np.ndarray, "3 3"],
        world_offset: Float[np.ndarray, "3"],
        num_surface_points: int = 6890,
        fps: float = 15.0,
    ) -> None:
        self.subject_id = subject_id
        self.world_rotation = world_rotation
        self.world_offset = world_offset
        self.fps = fps
        rng = subject_rng(seed, "anny", subject_id)
        self.body: AnnyRestBody = self._sample_body(rng)
        self.poser = AnnyPoser(self.body)
        weight = self.body.phenotype["weight"]
        # Proportions for the motion and the SMPL-like proxies (betas); the mesh has its own.
        self.shape = body_shape_from_factors(self.body.height, np.ones(6), 0.85 + 0.45 * weight, 1.0)
        self.motion = sample_motion(rng)
        self.pose_style = sample_pose_style(rng)
        self.look: AnnyAppearance = sample_anny_appearance(rng)
        self.template = canonical_template()
        num_vertices = len(self.body.rest_vertices)
        self.surface_index = np.sort(rng.choice(num_vertices, min(num_surface_points, num_vertices), replace=False))
        self.depth_tolerance = (
            1.5 * self.template.joint_depth * self.body.height / TEMPLATE_HEIGHT + OCCLUSION_TOLERANCE
        )

    @staticmethod
    def _sample_body(rng: np.random.Generator) -> AnnyRestBody:
        for _ in range(50):
            body = rest_body(sample_phenotype(rng))
            if MIN_HEIGHT <= body.height <= MAX_HEIGHT:
                return body
        raise RuntimeError(f"no Anny phenotype of {MIN_HEIGHT}-{MAX_HEIGHT} m found in 50 draws")

    def body_centre(self) -> Float[np.ndarray, "3"]:
        """World position the cameras look at (mid-body height above the subject's floor position)."""
        return self.world_rotation @ np.array([0.0, 0.55 * self.body.height, 0.0]) + self.world_offset

    def frame(self, index: int) -> AnnyFrameState:
        """The subject posed at frame ``index`` (time = index / fps)."""
        pose = styled_pose(self.shape, self.motion, self.pose_style, index / self.fps)
        rotations = {name: pose.bone_rotations[i] for i, name in enumerate(BONES)}
        verts, joints = self.poser.pose(rotations, pose.joints[8])
        verts = verts @ self.world_rotation.T + self.world_offset
        joints = joints @ self.world_rotation.T + self.world_offset
        return AnnyFrameState(
            joints=joints,
            vertices=verts[self.surface_index],
            mesh=verts,
            normals=vertex_normals(verts, self.body.faces),
            pose=pose,
        )

    def render_view(
        self,
        frame: AnnyFrameState,
        camera: RigCamera,
        cse_dim: int,
        cse_downscale: int,
        rays: Optional[CameraRays] = None,
    ) -> ViewResult:
        """Renders one camera's image, mask, keypoints and CSE (``rays`` is accepted for interface parity and not
        needed: the mesh is rasterised)."""
        H, W = camera.height, camera.width
        faces = self.body.faces
        uv, cam, faithful = project_points(frame.mesh, camera)
        drawable = faces[np.all(faithful[faces], axis=1)]
        full = rasterize(uv, cam[:, 2], drawable, W, H)
        hit = full.hit
        image = studio_background(W, H, camera).reshape(-1, 3).copy()
        if hit.any():
            image[hit] = self._shade(full, drawable, frame, camera)
        image_u8 = np.round(image * 255).astype(np.uint8).reshape(H, W, 3)
        mask = (hit.reshape(H, W) * 255).astype(np.uint8)

        h, w = max(1, H // cse_downscale), max(1, W // cse_downscale)
        reduced = rasterize(uv, cam[:, 2], drawable, W, H, cse_downscale)
        cse = np.full((h * w, cse_dim), np.nan, dtype=np.float32)
        if reduced.hit.any():
            canon = reduced.interpolate(drawable, self.template.coords)
            cse[reduced.hit] = cse_embedding(canon, cse_dim).astype(np.float32)

        kp_uv, in_view = keypoints_in_view(frame.joints, camera)
        joint_z = frame.joints @ camera.R[2] + camera.t[2]
        px = np.clip(np.round(kp_uv).astype(np.int64), 0, [W - 1, H - 1])
        surface_z = full.depth[px[:, 1] * W + px[:, 0]]
        visible = in_view & (surface_z >= joint_z - self.depth_tolerance)
        keypoints = np.concatenate([kp_uv, np.where(visible, KEYPOINT_CONFIDENCE, 0.0)[:, None]], axis=1)
        return ViewResult(rgb=image_u8, mask=mask, keypoints=keypoints, cse=cse.reshape(h, w, cse_dim))

    def _shade(self, frags, faces, frame: AnnyFrameState, camera: RigCamera) -> Float[np.ndarray, "num_hits 3"]:
        """The painted albedo under the procedural people's studio lights."""
        h = frags.hit
        tri = faces[frags.face[h]]
        region = self.template.regions[tri[np.arange(len(tri)), np.argmax(frags.bary[h], axis=1)]]
        canon = frags.interpolate(faces, self.template.coords)
        colour = albedo(self.look, region, canon, self.template.landmarks)
        normal = frags.interpolate(faces, frame.normals)
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
        points = frags.interpolate(faces, frame.mesh)
        view = points - camera.center
        view /= np.linalg.norm(view, axis=1, keepdims=True)
        n_dot_v = np.abs(np.sum(normal * view, axis=1))  # the mesh's winding is not assumed outward
        return studio_shading(colour, normal, n_dot_v, self.world_rotation)


def vertex_normals(
    vertices: Float[np.ndarray, "num_vertices 3"], faces: Int[np.ndarray, "num_faces 3"]
) -> Float[np.ndarray, "num_vertices 3"]:
    """Area-weighted unit vertex normals."""
    v0, v1, v2 = (vertices[faces[:, k]] for k in range(3))
    face_normal = np.cross(v1 - v0, v2 - v0)
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normal)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
