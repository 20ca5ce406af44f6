"""Writes synthetic humans in the SHERF RenderPeople layout (``human_list.txt`` + one folder per subject).

Per subject ``seq_<i:06d>-rp_synth_<id>_rigged_001/`` (``i`` its line in ``human_list.txt``, ``id`` its
``--subjects`` id; SHERF's real folders read ``seq_000000-rp_aaron_rigged_001``): ``cameras.json`` (K,
world-to-camera R, T in metres, no distortion), ``img/camera<c:04d>/<pose:04d>.jpg``, ``mask/...png``,
``outputs_re_fitting/refit_smpl_2nd.npz`` (``['smpl'].item()``: betas, global_orient, body_pose, transl), OpenPose JSON
keypoints ``openpose/camera<c:04d>/<pose:04d>_keypoints.json``, CSE ``cse/camera<c:04d>/<pose:04d>.npy`` and
synthetic-only ground truth ``ghnerf_synth/joints3d/<pose:06d>.npy`` and ``ghnerf_synth/vertices/<pose:06d>.npy``.
A pose is SHERF's name for a frame: ``--frames`` sets how many, as in the other subcommands.
World frame: metres, +y up, floor at y = 0, the person near the origin.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from dataparsers.human_common import CSE_DIRNAME, OPENPOSE_DIRNAME, SYNTH_GT_DIRNAME
from dataparsers.openpose_json import openpose_document
from ghnerf_ns.synth.common import check_common, progress_bar, subject_ids
from ghnerf_ns.synth.files import write_jpeg, write_json, write_npy, write_npz_deterministic, write_png
from ghnerf_ns.synth.render import FrameState, camera_rays, subject_rng
from ghnerf_ns.synth.rig import make_ring_rig
from ghnerf_ns.synth.scenes import BodyModel, make_scene
from ghnerf_ns.synth.skeleton import BodyShape, rot_z

DEFAULT_SUBJECTS: Tuple[str, ...] = ("0000", "0001", "0002", "0003")
"""Ids written without --subjects or --num-subjects."""
ID_DIGITS = 4
"""--num-subjects N writes the ids 0000, 0001, ... (four digits, as the default ids)."""


@dataclass
class RenderPeopleSynthConfig:
    """``ghnerf-synth renderpeople``: synthetic people in the SHERF RenderPeople layout. Example: ``ghnerf-synth
    renderpeople --out data/rp_synth --num-subjects 6 --frames 10 --cameras 36 --resolution 256`` writes six people
    (ids 0000..0005, one per line of human_list.txt)."""

    out: Path
    """Output folder (the ``RenderPeople_recon/<date>`` level): ``human_list.txt`` and one folder per subject."""
    subjects: Tuple[str, ...] = DEFAULT_SUBJECTS
    """Ids of the people to write, in every subcommand; here the i-th id names the folder
    ``seq_<i:06d>-rp_synth_<id>_rigged_001`` (line i of human_list.txt). An id, with --seed, fixes the person.
    renderpeople-data splits by line: the first --num-train-subjects train, the next --num-test-subjects test."""
    num_subjects: Optional[int] = None
    """A count instead of ids, in every subcommand: write N people with the numbered ids 0000, 0001, ... Give
    --subjects or this."""
    frames: int = 10
    """Frames (SHERF's poses) per subject; renderpeople-data's --train-poses/--eval-poses index them."""
    cameras: int = 36
    """Cameras per subject, on an ideal ring (no distortion)."""
    resolution: int = 512
    """Image width = height in pixels (SHERF uses 512)."""
    cse_dim: int = 16
    """Dimension of the CSE ground truth embedding."""
    cse_downscale: int = 4
    """The CSE maps are written at resolution // cse_downscale."""
    seed: int = 0
    """Random seed. The same seed gives byte-identical arrays, npz and JSON."""
    fps: float = 5.0
    """Frames (poses) per second of the synthetic motion (lower gives more different consecutive poses)."""
    camera_radius: float = 3.0
    """Distance of the cameras from the person's vertical axis, metres."""
    body: BodyModel = "procedural"
    """Body of the people: ``procedural`` (built in, fast: capsules and ellipsoids with blocky clothes) or ``anny``
    (realistic shapes from the Anny body model, with painted clothes and left/right-asymmetric accessories; needs
    ``pip install 'ghnerf_ns[anny]'``; its first use on a machine builds Anny's model data, about a minute)."""
    num_surface_points: int = 6890
    """Surface points per pose in ``ghnerf_synth/vertices/`` (a tight 3D box for loaders)."""
    jpeg_quality: int = 95
    """JPEG quality of the images."""
    progress: bool = True
    """Show a progress bar."""


def subject_folder(index: int, sid: str) -> str:
    """Folder name of the synthetic subject with id ``sid`` on line ``index`` of human_list.txt (SHERF's scheme)."""
    return f"seq_{index:06d}-rp_synth_{sid}_rigged_001"


def rp_subject_ids(cfg: RenderPeopleSynthConfig) -> List[str]:
    """The subject ids that ``cfg`` writes (``--subjects`` or ``--num-subjects``), checked."""
    # No folder-prefix check: the folder is not prefix + id, and "seq_..." is a valid (if odd) id.
    return subject_ids(cfg.subjects, cfg.num_subjects, DEFAULT_SUBJECTS, ID_DIGITS)


def write_renderpeople(cfg: RenderPeopleSynthConfig) -> Path:
    """Writes the subjects of ``cfg`` in the SHERF RenderPeople layout under ``cfg.out``; returns ``cfg.out``."""
    sids = rp_subject_ids(cfg)
    check_common(cfg.resolution, cfg.cameras, cfg.frames, cfg.cse_dim, cfg.cse_downscale, cfg.jpeg_quality)
    if cfg.fps <= 0 or cfg.camera_radius < 1.0 or cfg.num_surface_points < 1:
        raise ValueError("--fps must be positive, --camera-radius at least 1 m, --num-surface-points at least 1.")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    folders = [subject_folder(i, sid) for i, sid in enumerate(sids)]
    with progress_bar(len(sids) * cfg.frames * cfg.cameras, "ghnerf-synth renderpeople", cfg.progress) as advance:
        for folder in folders:
            _write_subject(cfg, folder, out / folder, advance)
    (out / "human_list.txt").write_text("\n".join(folders) + "\n")
    (out / "GHNERF_SYNTH.txt").write_text(_summary(cfg, folders))
    return out


def _write_subject(cfg: RenderPeopleSynthConfig, folder: str, root: Path, advance: Callable[[int], None]) -> None:
    sid = folder.split("-", 1)[1]
    scene = make_scene(cfg.body, sid, cfg.seed, np.eye(3), np.zeros(3), cfg.num_surface_points, cfg.fps)
    rig = make_ring_rig(
        subject_rng(cfg.seed, "rig", sid), cfg.cameras, cfg.resolution, scene.body_centre(), np.zeros(3),
        up=np.array([0.0, 1.0, 0.0]), radius=cfg.camera_radius, height=scene.body_centre()[1] + 0.3,
        distortion=False, jitter=False,
    )  # fmt: skip
    names = [f"camera{c:04d}" for c in range(cfg.cameras)]
    cameras_json = {n: {"K": cam.K.tolist(), "R": cam.R.tolist(), "T": cam.t.tolist()} for n, cam in zip(names, rig)}
    write_json(root / "cameras.json", cameras_json)
    rays = [camera_rays(cam, cfg.cse_downscale) for cam in rig]
    states: List[FrameState] = []
    for pose in range(cfg.frames):
        state = scene.frame(pose)
        states.append(state)
        write_npy(
            root / SYNTH_GT_DIRNAME / "joints3d" / f"{pose:06d}.npy",
            np.concatenate([state.joints, np.ones((25, 1))], 1),
        )
        write_npy(root / SYNTH_GT_DIRNAME / "vertices" / f"{pose:06d}.npy", state.vertices.astype(np.float32))
        for c, (cam, name) in enumerate(zip(rig, names)):
            view = scene.render_view(state, cam, cfg.cse_dim, cfg.cse_downscale, rays[c])
            write_jpeg(root / "img" / name / f"{pose:04d}.jpg", view.rgb, cfg.jpeg_quality)
            write_png(root / "mask" / name / f"{pose:04d}.png", view.mask)
            write_npy(root / CSE_DIRNAME / name / f"{pose:04d}.npy", view.cse.astype(np.float16))
            write_json(root / OPENPOSE_DIRNAME / name / f"{pose:04d}_keypoints.json", openpose_document(view.keypoints))
            advance(1)
    smpl = smpl_like_params(scene.shape, states)
    write_npz_deterministic(root / "outputs_re_fitting" / "refit_smpl_2nd.npz", smpl=np.array(smpl, dtype=object))


# SMPL body_pose joint (1-based SMPL index) driven by each synthetic bone.
_SMPL_JOINT = {"l_thigh": 1, "r_thigh": 2, "chest": 3, "l_shin": 4, "r_shin": 5, "l_foot": 7, "r_foot": 8, "head": 15,
               "l_upper_arm": 16, "r_upper_arm": 17, "l_forearm": 18, "r_forearm": 19}  # fmt: skip


def smpl_like_params(shape: BodyShape, states: List[FrameState]) -> Dict[str, np.ndarray]:
    """SMPL-style parameters of the synthetic poses (the ``refit_smpl_2nd.npz`` role).

    ``transl`` is the pelvis (MidHip) world position and ``global_orient`` the pelvis rotation (axis-angle), both
    exact. ``body_pose`` holds the synthetic bones' local rotations at the corresponding SMPL joints, the arms
    re-expressed relative to SMPL's T-pose; it is an approximation (no SMPL model is fitted) and ``betas`` are
    proxies (betas[0] ~ height, betas[1] ~ girth), enough for loaders that only read the arrays.
    """
    import cv2

    num = len(states)
    global_orient = np.zeros((num, 3))
    body_pose = np.zeros((num, 69))
    transl = np.zeros((num, 3))
    # Our arms hang down in the rest pose; SMPL's point sideways (left arm +x): down = rest_to_down @ T-pose.
    rest_to_down = {"l": rot_z(-np.pi / 2), "r": rot_z(np.pi / 2)}
    for p, state in enumerate(states):
        local = state.pose.local_rotations
        global_orient[p] = cv2.Rodrigues(local["root"])[0].ravel()
        transl[p] = state.joints[8]
        for bone, joint in _SMPL_JOINT.items():
            rot = local[bone]
            if bone.endswith("upper_arm"):
                rot = rot @ rest_to_down[bone[0]]
            elif bone.endswith("forearm"):
                down = rest_to_down[bone[0]]
                rot = down.T @ rot @ down
            body_pose[p, 3 * (joint - 1) : 3 * joint] = cv2.Rodrigues(rot)[0].ravel()
    betas = np.zeros(10)
    betas[0] = (shape.height - 1.75) / 0.1
    betas[1] = (shape.girth - 1.0) * 5
    return {
        "betas": betas.astype(np.float32),
        "global_orient": global_orient.astype(np.float32),
        "body_pose": body_pose.astype(np.float32),
        "transl": transl.astype(np.float32),
    }


def _summary(cfg: RenderPeopleSynthConfig, folders: List[str]) -> str:
    return (
        f"Synthetic RenderPeople-layout (SHERF) dataset written by ghnerf-synth ({cfg.body} synthetic humans, not "
        "real scans).\n"
        f"Seed: {cfg.seed}. Subjects: {len(folders)}. Poses (frames): {cfg.frames}. Cameras: {cfg.cameras} (ideal "
        f"pinholes, no distortion). Resolution: {cfg.resolution}x{cfg.resolution}. CSE dim: {cfg.cse_dim} at "
        f"1/{cfg.cse_downscale} resolution.\n"
        "World frame: metres, +y up, floor at y = 0; cameras.json R is world-to-camera, T in metres.\n"
        "Subjects (human_list.txt):\n"
        + "".join(f"  {f}\n" for f in folders)
        + "Native-layout files: human_list.txt, cameras.json, img/, mask/, outputs_re_fitting/refit_smpl_2nd.npz "
        "(SMPL-like proxy parameters: transl = pelvis position, global_orient exact, body_pose approximate, betas "
        "proxies).\n"
        "Synthetic ground truth / teacher stand-ins: openpose/<camera>/<pose:04d>_keypoints.json (exact projections of "
        "the 3D joints; confidence 0.9, undetected joints 0,0,0), cse/<camera>/<pose:04d>.npy (float16, NaN off the "
        "body), ghnerf_synth/joints3d/<pose:06d>.npy ((25, 4) xyz + validity), ghnerf_synth/vertices/<pose:06d>.npy "
        "(surface points, float32).\n"
    )
