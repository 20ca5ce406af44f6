"""One synthetic subject as a scene: its body, appearance and motion placed in a dataset's world frame, and the
rendering of a view (RGB over a studio background, mask, BODY_25 keypoints with visibility, CSE ground truth).
"""

import zlib
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
from jaxtyping import Bool, Float, UInt8

from ghnerf_ns.synth.body import (
    PARTS,
    Appearance,
    BodyPrimitives,
    CanonicalSpace,
    build_primitives,
    canonical_coords,
    canonical_space,
    cse_embedding,
    sample_appearance,
    sample_surface,
    surface_albedo,
)
from ghnerf_ns.synth.raycast import PosedPrimitives, contains, first_hits, intersect
from ghnerf_ns.synth.rig import RigCamera, pixel_grid
from ghnerf_ns.synth.skeleton import BodyShape, Motion, SkeletonPose, pose_at, sample_body_shape, sample_motion

KEYPOINT_CONFIDENCE = 0.9
"""Confidence written for a visible joint (0 for a joint outside the image, behind the camera or occluded)."""
OCCLUSION_TOLERANCE = 0.02
"""A joint is hidden when the body surface along the camera ray is this many metres (or more) in front of it,
not counting the primitives that contain the joint (a joint sits inside its own limb)."""
RAY_CHUNK = 32768
"""Rays intersected at once (bounds the (rays x primitives) temporaries)."""
_HEAD = PARTS.index("head")


def subject_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator that depends only on the seed and string keys (stable across runs, unlike ``hash``)."""
    return np.random.default_rng([seed] + [zlib.crc32(k.encode("utf-8")) for k in keys])


@dataclass
class FrameState:
    """A subject posed at one frame, world frame."""

    prims: PosedPrimitives
    """Posed primitives."""
    joints: Float[np.ndarray, "25 3"]
    """BODY_25 joints, world, metres."""
    vertices: Float[np.ndarray, "num_points 3"]
    """Surface points, world, metres."""
    pose: SkeletonPose
    """The pose in the body frame (for SMPL-like export)."""


@dataclass
class ViewResult:
    """Everything rendered for one (frame, camera)."""

    rgb: UInt8[np.ndarray, "H W 3"]
    """RGB image with the studio background."""
    mask: UInt8[np.ndarray, "H W"]
    """Foreground mask, 0 or 255."""
    keypoints: Float[np.ndarray, "25 3"]
    """BODY_25 (x, y, confidence): x, y = cv2.projectPoints of the 3D joints (always), confidence 0 when unseen."""
    cse: Float[np.ndarray, "h w dim"]
    """CSE ground truth at the reduced resolution, NaN off the body (float32 here, stored as float16)."""


class SubjectScene:
    """A procedural human (body, clothes, motion) fixed by (seed, subject id), placed in a world frame."""

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
        rng = subject_rng(seed, "body", subject_id)
        self.shape: BodyShape = sample_body_shape(rng)
        self.motion: Motion = sample_motion(rng)
        self.appearance: Appearance = sample_appearance(rng)
        self.prims: BodyPrimitives = build_primitives(self.shape)
        self.template: CanonicalSpace = canonical_space()
        self.surface_prim, self.surface_local = sample_surface(self.prims, rng, num_surface_points)

    def body_centre(self) -> Float[np.ndarray, "3"]:
        """World position the cameras look at (mid-body height above the subject's floor position)."""
        return self.world_rotation @ np.array([0.0, 0.55 * self.shape.height, 0.0]) + self.world_offset

    def frame(self, index: int) -> FrameState:
        """The subject posed at frame ``index`` (time = index / fps)."""
        pose = pose_at(self.shape, self.motion, index / self.fps)
        prims = PosedPrimitives.from_bones(
            self.prims, pose.bone_rotations, pose.bone_origins, self.world_rotation, self.world_offset
        )
        joints = pose.joints @ self.world_rotation.T + self.world_offset
        vertices = prims.to_world(self.surface_prim, self.surface_local)
        return FrameState(prims=prims, joints=joints, vertices=vertices, pose=pose)

    def shade(
        self, frame: FrameState, origins: Float[np.ndarray, "num_rays 3"], dirs: Float[np.ndarray, "num_rays 3"]
    ) -> Tuple[Bool[np.ndarray, " num_rays"], Float[np.ndarray, "num_rays 3"], Float[np.ndarray, "num_rays 3"]]:
        """(hit mask, shaded RGB in [0, 1], canonical coordinates) of rays, intersected in chunks."""
        n = len(origins)
        hit = np.zeros(n, dtype=bool)
        rgb = np.zeros((n, 3))
        canon = np.zeros((n, 3))
        for s in range(0, n, RAY_CHUNK):
            sl = slice(s, min(n, s + RAY_CHUNK))
            hits = first_hits(frame.prims, origins[sl], dirs[sl])
            h = hits.hit
            if not h.any():
                continue
            part, local = hits.part[h], hits.local[h]
            c = canonical_coords(self.prims, self.template, part, local)
            head_q = (local - self.prims.a[_HEAD]) / self.prims.b[_HEAD]
            albedo = surface_albedo(self.appearance, part, head_q, c)
            n_dot_v = np.clip(-np.sum(hits.normal[h] * dirs[sl][h], axis=1), 0, None)
            idx = np.arange(sl.start, sl.stop)[h]
            hit[idx] = True
            rgb[idx] = studio_shading(albedo, hits.normal[h], n_dot_v, self.world_rotation)
            canon[idx] = c
        return hit, rgb, canon

    def render_view(
        self,
        frame: FrameState,
        camera: RigCamera,
        cse_dim: int,
        cse_downscale: int,
        rays: Optional["CameraRays"] = None,
    ) -> ViewResult:
        """Renders one camera's image, mask, keypoints and CSE. ``rays`` may pass cached (full, reduced) rays."""
        full_rays, cse_rays = rays if rays is not None else camera_rays(camera, cse_downscale)
        H, W = camera.height, camera.width
        hit, rgb, _ = self.shade(frame, *full_rays)
        background = studio_background(W, H, camera)
        image = np.where(hit[:, None], rgb, background.reshape(-1, 3))
        image_u8 = np.round(image * 255).astype(np.uint8).reshape(H, W, 3)
        mask = (hit.reshape(H, W) * 255).astype(np.uint8)

        h, w = max(1, H // cse_downscale), max(1, W // cse_downscale)
        cse_hit, _, canon = self.shade(frame, *cse_rays)
        cse = np.full((h * w, cse_dim), np.nan, dtype=np.float32)
        if cse_hit.any():
            cse[cse_hit] = cse_embedding(canon[cse_hit], cse_dim).astype(np.float32)
        keypoints = joint_keypoints(frame, camera)
        return ViewResult(rgb=image_u8, mask=mask, keypoints=keypoints, cse=cse.reshape(h, w, cse_dim))


CameraRays = Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]
"""((origins, dirs) at full resolution, (origins, dirs) on the reduced CSE grid)."""


def camera_rays(camera: RigCamera, cse_downscale: int) -> CameraRays:
    """Rays through the full-resolution pixel centres and through the reduced CSE grid (cache them per camera)."""
    full = camera.pixel_rays(pixel_grid(camera.width, camera.height))
    reduced = camera.pixel_rays(pixel_grid(camera.width, camera.height, cse_downscale))
    return full, reduced


def studio_shading(
    albedo: Float[np.ndarray, "num_points 3"],
    normals: Float[np.ndarray, "num_points 3"],
    n_dot_v: Float[np.ndarray, " num_points"],
    world_rotation: Float[np.ndarray, "3 3"],
) -> Float[np.ndarray, "num_points 3"]:
    """The studio's lights on surface points (every synthetic body): ambient, a Lambert key light fixed in the body's
    world frame (above, in front, to the person's left) and a camera fill weighted by ``n_dot_v`` (the cosine between
    the normal and the direction to the camera)."""
    light = world_rotation @ np.array([0.35, 0.8, 0.5])
    light /= np.linalg.norm(light)
    n_dot_l = np.clip(normals @ light, 0, None)
    lum = 0.3 + 0.55 * n_dot_l + 0.25 * n_dot_v
    return np.clip(albedo * lum[:, None], 0, 1)


def studio_background(width: int, height: int, camera: RigCamera) -> Float[np.ndarray, "H W 3"]:
    """A dark grey studio backdrop: vertical gradient plus vignetting, a slightly different tint per camera."""
    ys = np.linspace(0, 1, height)[:, None]
    xs = np.linspace(-1, 1, width)[None, :]
    tint = 0.02 * np.sin(np.array([1.0, 2.0, 3.0]) * camera.center.sum())
    level = 0.24 - 0.12 * ys - 0.05 * xs**2
    return np.clip(level[..., None] + tint, 0, 1) * np.ones((height, width, 3))


def joint_keypoints(frame: FrameState, camera: RigCamera) -> Float[np.ndarray, "25 3"]:
    """BODY_25 keypoints of a view: exact ``cv2.projectPoints`` positions and a visibility confidence.

    A joint gets confidence 0 when it is not in view (:func:`keypoints_in_view`) or is occluded: the camera ray
    towards it hits a primitive that does not contain it more than ``OCCLUSION_TOLERANCE`` in front of it.
    """
    uv, in_view = keypoints_in_view(frame.joints, camera)
    visible = in_view & ~occluded(frame.prims, camera.center, frame.joints)
    return np.concatenate([uv, np.where(visible, KEYPOINT_CONFIDENCE, 0.0)[:, None]], axis=1)


def keypoints_in_view(
    joints: Float[np.ndarray, "num_joints 3"], camera: RigCamera
) -> Tuple[Float[np.ndarray, "num_joints 2"], Bool[np.ndarray, " num_joints"]]:
    """``cv2.projectPoints`` positions of 3D points and whether each is in view: in front of the camera, inside the
    image, and not folded over by the lens model (a pixel that does not unproject back to the point, far outside the
    field of view)."""
    uv, cam, faithful = project_points(joints, camera)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] <= camera.width - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= camera.height - 1)
    return uv, faithful & inside


def project_points(
    points: Float[np.ndarray, "num_points 3"], camera: RigCamera
) -> Tuple[Float[np.ndarray, "num_points 2"], Float[np.ndarray, "num_points 3"], Bool[np.ndarray, " num_points"]]:
    """Pixel positions (``cv2.projectPoints``), camera-frame positions, and whether each projection is faithful: in
    front of the camera and not folded over by the lens model (its pixel unprojects back to the point)."""
    from ghnerf_ns.synth.rig import undistort_normalized

    uv = camera.project(points)
    cam = points @ camera.R.T + camera.t
    in_front = cam[:, 2] > 1e-3
    ideal = cam[:, :2] / np.where(in_front, cam[:, 2], 1.0)[:, None]
    no_fold = np.linalg.norm(undistort_normalized(uv, camera.K, camera.dist) - ideal, axis=1) < 1e-4
    return uv, cam, in_front & no_fold


def occluded(
    prims: PosedPrimitives, eye: Float[np.ndarray, "3"], points: Float[np.ndarray, "num_points 3"]
) -> Bool[np.ndarray, " num_points"]:
    """Whether the body hides each point from ``eye`` (primitives containing the point do not count)."""
    offset = points - eye
    dist = np.linalg.norm(offset, axis=1)
    dirs = offset / dist[:, None]
    t = intersect(prims, np.broadcast_to(eye, points.shape).copy(), dirs)
    t = np.where(contains(prims, points), np.inf, t)
    return t.min(axis=1) < dist - OCCLUSION_TOLERANCE
