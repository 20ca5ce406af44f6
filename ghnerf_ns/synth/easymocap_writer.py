"""Writes synthetic humans in the EasyMocap / EasyVolcap multi-view layout (one sequence per subject).

Per sequence ``subject_<id>/`` (``id`` from ``--subjects``): ``intri.yml`` (names, K_<cam>, dist_<cam>) and
``extri.yml`` (R_<cam> Rodrigues, Rot_<cam>, T_<cam> in metres) as OpenCV FileStorage, ``images/<cam>/<frame:06d>.jpg``,
masks in ``masks/<cam>/`` (or ``mask/``, png or jpg), OpenPose ``openpose/<cam>/<frame:06d>_keypoints.json``, CSE
``cse/<cam>/<frame:06d>.npy``, optionally SMPL-role surface points ``vertices/<frame:06d>.npy``, and synthetic-only
ground truth ``ghnerf_synth/joints3d/<frame:06d>.npy`` and ``ghnerf_synth/vertices/<frame:06d>.npy``.

What real rigs bring and the other layouts lack: any world up axis (+z by default, as many EasyMocap calibrations),
cameras of different image sizes in one sequence (portrait phones beside landscape cameras), frames with missing
views, and sequences without SMPL.
"""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List, Literal, Optional, Tuple

import numpy as np

from dataparsers.human_common import CSE_DIRNAME, OPENPOSE_DIRNAME, SYNTH_GT_DIRNAME
from dataparsers.openpose_json import openpose_document
from ghnerf_ns.synth.common import check_common, progress_bar, subject_ids
from ghnerf_ns.synth.files import write_gray_jpeg, write_jpeg, write_json, write_npy, write_png
from ghnerf_ns.synth.render import SubjectScene, camera_rays, subject_rng
from ghnerf_ns.synth.rig import RigCamera, make_ring_rig
from ghnerf_ns.synth.scenes import BodyModel, make_scene

WORLD_FROM_BODY: Dict[str, np.ndarray] = {
    "+z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "-z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
    "+y": np.eye(3),
}
"""Rotation from the body-model frame (+y up) to a world frame whose vertical axis is the key."""
PORTRAIT_EVERY = 3
"""With mixed sizes, every third camera (0, 3, 6, ...) is a portrait phone; the others are landscape."""
DEFAULT_SUBJECTS: Tuple[str, ...] = ("00", "01")
"""Ids written without --subjects or --num-subjects."""
ID_DIGITS = 2
"""--num-subjects N writes the ids 00, 01, ... (two digits, as the default ids)."""
FOLDER_PREFIX = "subject_"
"""A sequence's folder is ``subject_<id>``."""


@dataclass
class EasyMocapSynthConfig:
    """``ghnerf-synth easymocap``: synthetic people as EasyMocap sequences (intri.yml, extri.yml, images/). Example:
    ``ghnerf-synth easymocap --out data/em_synth --num-subjects 4 --frames 4 --cameras 8 --mixed-sizes --no-smpl``
    writes four sequences subject_00..subject_03 with phone-sized views and no SMPL."""

    out: Path
    """Output folder; one sequence ``subject_<id>/`` per subject and ``GHNERF_SYNTH.txt`` are written inside it."""
    subjects: Tuple[str, ...] = DEFAULT_SUBJECTS
    """Ids of the people to write, in every subcommand; here the sequence of id 00 is subject_00. An id, with --seed,
    fixes the person. easymocap-data tests the last sequence (in natural order) and trains on the others unless
    given --train-subjects/--test-subjects."""
    num_subjects: Optional[int] = None
    """A count instead of ids, in every subcommand: write N people with the numbered ids 00, 01, ... Give --subjects
    or this."""
    frames: int = 10
    """Frames per subject."""
    cameras: int = 12
    """Cameras per subject (a ring around the person), named 01, 02, ..."""
    resolution: int = 512
    """Image size in pixels: width = height, or with --mixed-sizes the longer side of every camera."""
    mixed_sizes: bool = False
    """Mix image sizes in one rig: every third camera is a portrait phone (9:16, like 1080x1920), the others landscape
    4:3; focal lengths follow each camera's height."""
    up: Literal["+z", "-z", "+y"] = "+z"
    """World up axis (EasyMocap calibrations are often +z up; ZJU-MoCap's world is -z up)."""
    smpl: bool = True
    """Write ``vertices/<frame>.npy`` (surface points in the role of SMPL vertices); --no-smpl leaves them out, so the
    person's box must come from the keypoints or the masks."""
    openpose_json: bool = True
    """Write the 2D keypoints as OpenPose JSON (``openpose/<cam>/<frame>_keypoints.json``)."""
    mask_folder: Literal["masks", "mask"] = "masks"
    """Folder name of the masks (EasyMocap writes masks/ or mask/)."""
    mask_format: Literal["png", "jpg"] = "png"
    """File format of the masks (0 or 255; a JPEG mask is thresholded at 127 by the readers)."""
    missing_views: int = 0
    """Per subject, this many (frame, camera) images are left out (with their mask and keypoints): frames with
    missing views."""
    distortion: bool = True
    """Give each camera OpenCV lens distortion (k1, k2, p1, p2, k3), applied when rendering."""
    camera_radius: float = 3.0
    """Distance of the cameras from the person's vertical axis, metres."""
    cse_dim: int = 16
    """Dimension of the CSE ground truth embedding."""
    cse_downscale: int = 4
    """The CSE maps are written at the image size // cse_downscale."""
    seed: int = 0
    """Random seed. The same seed gives byte-identical arrays, YAML and JSON."""
    fps: float = 15.0
    """Capture rate of the synthetic motion (frames per second)."""
    body: BodyModel = "procedural"
    """Body of the people: ``procedural`` (built in, fast: capsules and ellipsoids with blocky clothes) or ``anny``
    (realistic shapes from the Anny body model, with painted clothes and left/right-asymmetric accessories; needs
    ``pip install 'ghnerf_ns[anny]'``; its first use on a machine builds Anny's model data, about a minute)."""
    num_surface_points: int = 6890
    """Surface points written per frame (vertices/ and ghnerf_synth/vertices/)."""
    jpeg_quality: int = 95
    """JPEG quality of the images (and of JPEG masks)."""
    progress: bool = True
    """Show a progress bar."""


def subject_folder(sid: str) -> str:
    """Folder name of the synthetic sequence with id ``sid``."""
    return f"{FOLDER_PREFIX}{sid}"


def easymocap_subject_ids(cfg: EasyMocapSynthConfig) -> List[str]:
    """The subject ids that ``cfg`` writes (``--subjects`` or ``--num-subjects``), checked."""
    return subject_ids(cfg.subjects, cfg.num_subjects, DEFAULT_SUBJECTS, ID_DIGITS, FOLDER_PREFIX)


def camera_sizes(cfg: EasyMocapSynthConfig) -> List[Tuple[int, int]]:
    """(width, height) per camera."""
    r = cfg.resolution
    if not cfg.mixed_sizes:
        return [(r, r)] * cfg.cameras
    portrait, landscape = (2 * round(r * 9 / 32), r), (r, 2 * round(r * 3 / 8))  # even sizes, like real sensors
    return [portrait if c % PORTRAIT_EVERY == 0 else landscape for c in range(cfg.cameras)]


def write_easymocap(cfg: EasyMocapSynthConfig) -> Path:
    """Writes one EasyMocap sequence per subject of ``cfg`` under ``cfg.out``; returns ``cfg.out``."""
    sids = easymocap_subject_ids(cfg)
    check_common(cfg.resolution, cfg.cameras, cfg.frames, cfg.cse_dim, cfg.cse_downscale, cfg.jpeg_quality)
    if cfg.fps <= 0 or cfg.camera_radius < 1.0 or cfg.num_surface_points < 1:
        raise ValueError("--fps must be positive, --camera-radius at least 1 m, --num-surface-points at least 1.")
    if not 0 <= cfg.missing_views <= cfg.frames * cfg.cameras - 2 * cfg.frames:
        raise ValueError(
            f"--missing-views must leave every frame at least 2 views on average (got {cfg.missing_views})."
        )
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    folders = [subject_folder(sid) for sid in sids]
    with progress_bar(len(sids) * cfg.frames * cfg.cameras, "ghnerf-synth easymocap", cfg.progress) as advance:
        for folder in folders:
            _write_subject(cfg, folder, out / folder, advance)
    (out / "GHNERF_SYNTH.txt").write_text(_summary(cfg, folders))
    return out


def write_calibration(root: Path, names: List[str], rig: List[RigCamera]) -> List[RigCamera]:
    """``intri.yml``/``extri.yml`` (as EasyMocap writes them) and the cameras exactly as stored in them."""
    import cv2

    root.mkdir(parents=True, exist_ok=True)
    intri = cv2.FileStorage(str(root / "intri.yml"), cv2.FILE_STORAGE_WRITE)
    extri = cv2.FileStorage(str(root / "extri.yml"), cv2.FILE_STORAGE_WRITE)
    for fs in (intri, extri):
        fs.startWriteStruct("names", cv2.FileNode_SEQ)
        for name in names:
            fs.write("", name)
        fs.endWriteStruct()
    for name, cam in zip(names, rig):
        intri.write(f"K_{name}", cam.K)
        intri.write(f"dist_{name}", cam.dist.reshape(1, 5))
        extri.write(f"R_{name}", cv2.Rodrigues(cam.R)[0])
        extri.write(f"Rot_{name}", cam.R)
        extri.write(f"T_{name}", cam.t.reshape(3, 1))
    intri.release()
    extri.release()
    # FileStorage prints 17 significant digits, so the values read back are the ones written: render with those.
    intri = cv2.FileStorage(str(root / "intri.yml"), cv2.FILE_STORAGE_READ)
    extri = cv2.FileStorage(str(root / "extri.yml"), cv2.FILE_STORAGE_READ)
    stored = [
        replace(cam, K=intri.getNode(f"K_{n}").mat(), dist=intri.getNode(f"dist_{n}").mat().reshape(5),
                R=extri.getNode(f"Rot_{n}").mat(), t=extri.getNode(f"T_{n}").mat().reshape(3))
        for n, cam in zip(names, rig)
    ]  # fmt: skip
    return stored


def _rig(
    cfg: EasyMocapSynthConfig, scene: SubjectScene, sid: str, floor: np.ndarray, up: np.ndarray
) -> List[RigCamera]:
    """A jittered ring whose intrinsics are rescaled to each camera's image size (focal length ~ 1.05 x height)."""
    base = make_ring_rig(
        subject_rng(cfg.seed, "rig", sid), cfg.cameras, cfg.resolution, scene.body_centre(), floor, up=up,
        radius=cfg.camera_radius, height=1.9, distortion=cfg.distortion,
    )  # fmt: skip
    rig = []
    for cam, (W, H) in zip(base, camera_sizes(cfg)):
        r = float(cfg.resolution)
        K = np.array([[cam.K[0, 0] / r * H, 0.0, cam.K[0, 2] / r * W], [0.0, cam.K[1, 1] / r * H, cam.K[1, 2] / r * H],
                      [0.0, 0.0, 1.0]])  # fmt: skip
        rig.append(replace(cam, K=K, width=W, height=H))
    return rig


def _write_subject(cfg: EasyMocapSynthConfig, folder: str, root: Path, advance: Callable[[int], None]) -> None:
    sid = f"easymocap_{folder}"
    world = WORLD_FROM_BODY[cfg.up]
    place = subject_rng(cfg.seed, "place", sid)
    floor = world @ np.array([place.uniform(-0.3, 0.3), 0.0, place.uniform(-0.3, 0.3)])
    scene = make_scene(cfg.body, sid, cfg.seed, world, floor, cfg.num_surface_points, cfg.fps)
    names = [f"{c + 1:02d}" for c in range(cfg.cameras)]
    rig = write_calibration(root, names, _rig(cfg, scene, sid, floor, world @ np.array([0.0, 1.0, 0.0])))
    rays = [camera_rays(cam, cfg.cse_downscale) for cam in rig]
    drop = subject_rng(cfg.seed, "missing", sid).permutation(cfg.frames * cfg.cameras)[: cfg.missing_views]
    missing = {(int(i) // cfg.cameras, int(i) % cfg.cameras) for i in drop}
    for frame in range(cfg.frames):
        state = scene.frame(frame)
        stem = f"{frame:06d}"
        joints = np.concatenate([state.joints, np.ones((25, 1))], axis=1)
        write_npy(root / SYNTH_GT_DIRNAME / "joints3d" / f"{stem}.npy", joints)
        write_npy(root / SYNTH_GT_DIRNAME / "vertices" / f"{stem}.npy", state.vertices.astype(np.float32))
        if cfg.smpl:
            write_npy(root / "vertices" / f"{stem}.npy", state.vertices.astype(np.float32))
        for c, (cam, name) in enumerate(zip(rig, names)):
            advance(1)
            if (frame, c) in missing:
                continue
            view = scene.render_view(state, cam, cfg.cse_dim, cfg.cse_downscale, rays[c])
            write_jpeg(root / "images" / name / f"{stem}.jpg", view.rgb, cfg.jpeg_quality)
            mask_path = root / cfg.mask_folder / name / f"{stem}.{cfg.mask_format}"
            if cfg.mask_format == "png":
                write_png(mask_path, view.mask)
            else:
                write_gray_jpeg(mask_path, view.mask, cfg.jpeg_quality)
            write_npy(root / CSE_DIRNAME / name / f"{stem}.npy", view.cse.astype(np.float16))
            if cfg.openpose_json:
                write_json(root / OPENPOSE_DIRNAME / name / f"{stem}_keypoints.json", openpose_document(view.keypoints))


def _summary(cfg: EasyMocapSynthConfig, folders: List[str]) -> str:
    sizes = sorted(set(camera_sizes(cfg)))
    return (
        f"Synthetic EasyMocap-layout dataset written by ghnerf-synth ({cfg.body} synthetic humans, not real "
        "captures).\n"
        f"Seed: {cfg.seed}. Sequences: {len(folders)}. Frames: {cfg.frames}. "
        f"Cameras: {cfg.cameras} (named 01, 02, ...). "
        f"Image sizes (WxH): {', '.join(f'{w}x{h}' for w, h in sizes)}. World up axis: {cfg.up} (metres). Lens "
        f"distortion: {'yes' if cfg.distortion else 'no'}. Missing views per sequence: {cfg.missing_views}.\n"
        "Sequences:\n"
        + "".join(f"  {f}\n" for f in folders)
        + "Native-layout files: intri.yml (names, K_<cam>, dist_<cam>), "
        "extri.yml (R_<cam> Rodrigues, Rot_<cam>, T_<cam> "
        f"metres), images/<cam>/<frame:06d>.jpg, {cfg.mask_folder}/<cam>/<frame:06d>.{cfg.mask_format}"
        + (", openpose/<cam>/<frame:06d>_keypoints.json" if cfg.openpose_json else "")
        + (", vertices/<frame:06d>.npy (surface points in the role of SMPL vertices)" if cfg.smpl else " (no SMPL)")
        + ".\nSynthetic-only ground truth: cse/<cam>/<frame:06d>.npy (float16, NaN off the body), "
        "ghnerf_synth/joints3d/<frame:06d>.npy ((25, 4) xyz + validity), ghnerf_synth/vertices/<frame:06d>.npy.\n"
        "Keypoints = cv2.projectPoints(joints3d, Rot, T, K, dist) exactly (integer pixel centres), confidence 0.9, or "
        "0 for joints outside the image, behind the camera or occluded.\n"
    )
