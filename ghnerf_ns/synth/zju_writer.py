"""Writes synthetic humans in the exact ZJU-MoCap (Neural Body release) layout, ``CoreView_<id>/``.

Two styles, as in the real release:

- ``b23`` (377, 386, ...): ``Camera_B1..Camera_B<N>/<frame:06d>.jpg`` (0-indexed), ``mask/`` and ``mask_cihp/``,
  ``vertices/<frame>.npy`` 0-indexed, ``annots.npy`` camera entries as numpy arrays.
- ``313`` (313, 315): folders ``Camera (1)``..``Camera (19)``, ``Camera (22)``, ``Camera (23)`` (20 and 21 do not
  exist), long 1-indexed names ``CoreView_313_Camera_(1)_0001_2019-08-23_16-08-50.592.jpg`` (frame number =
  ``stem.split('_')[4]``), masks only in ``mask_cihp/``, ``vertices/<frame + 1>.npy``, camera entries as plain lists.

Plus ground truth the real dataset lacks: ``ghnerf_synth/joints3d/<frame:06d>.npy`` (0-based frame for both styles),
``cse/<camera folder>/<image stem>.npy`` and optionally ``openpose/<camera folder>/<image stem>_keypoints.json``.
World frame: ZJU's (metres, the vertical axis is -z, floor at z = 0); ``T`` is stored in millimetres.
"""

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Literal, Optional, Tuple

import numpy as np

from dataparsers.human_common import CSE_DIRNAME, OPENPOSE_DIRNAME, SYNTH_GT_DIRNAME
from dataparsers.openpose_json import openpose_document
from ghnerf_ns.synth.common import check_common, progress_bar, subject_ids
from ghnerf_ns.synth.files import write_jpeg, write_json, write_npy, write_png
from ghnerf_ns.synth.render import camera_rays, subject_rng
from ghnerf_ns.synth.rig import ZJU_WORLD_FROM_BODY, RigCamera, make_ring_rig
from ghnerf_ns.synth.scenes import BodyModel, make_scene

STYLE_313_SUBJECTS = ("313", "315")
"""Subjects that the real release ships in the 313 style (``style="auto"``)."""
CAMERA_NUMBERS_313: Tuple[int, ...] = tuple(range(1, 20)) + (22, 23)
"""Folder numbers of the 21 cameras of 313/315 (``Camera (20)`` and ``Camera (21)`` do not exist)."""
PAPER_SUBJECTS: Tuple[str, ...] = ("313", "315", "377", "386", "387", "390", "393", "394")
"""The eight people of the paper's ZJU-MoCap split: train 315 377 387 390 393 394, test 313 386. They are the
zju-mocap-data dataparser's default --train-subjects/--test-subjects (tests/cli/test_synth.py checks that the two
agree), so ``ghnerf-synth zju --out D`` and then ``ns-train ghnerf-tiny --data D`` need no split options."""
ID_DIGITS = 3
"""--num-subjects N writes the ids 000, 001, ...: three digits, like the real release's 313..394."""
FOLDER_PREFIX = "CoreView_"
"""A subject's folder is ``CoreView_<id>``."""


@dataclass
class ZJUSynthConfig:
    """``ghnerf-synth zju``: synthetic people written as ZJU-MoCap ``CoreView_<id>`` folders. Example: ``ghnerf-synth
    zju --out data/zju_synth`` writes the eight people of the paper's split in seconds, ready for ``ns-train
    ghnerf-tiny --data data/zju_synth``; ``ghnerf-synth zju --out data/zju_val --subjects 301 302 --frames 8 --cameras
    24`` writes two other people."""

    out: Path
    """Output folder; ``CoreView_<id>/`` for each subject and ``GHNERF_SYNTH.txt`` are written inside it."""
    subjects: Tuple[str, ...] = PAPER_SUBJECTS
    """Ids of the people to write, in every subcommand; here the folder of id 313 is CoreView_313. An id, with --seed,
    fixes the person's body, clothes and motion. The default is the paper's split, which is what the zju-mocap-data
    dataparser reads by default (train 315 377 387 390 393 394, test 313 386). With other ids, choose the split in
    ns-train: ``zju-mocap-data --train-subjects ... --test-subjects ...``."""
    num_subjects: Optional[int] = None
    """A count instead of ids, in every subcommand: write N people with the numbered ids 000, 001, ... (not the
    paper's, so pass ``zju-mocap-data --train-subjects/--test-subjects`` to ns-train). Give --subjects or this."""
    frames: int = 4
    """Frames per subject. Few by default so that the default dataset is written in seconds (zju-mocap-data trains on
    every frame and evaluates frames 0, 100, ...: frame 0 here)."""
    cameras: Optional[int] = None
    """Cameras per subject (a ring around the person). None: the real release's counts, 21 for the 313 style and 23
    for the b23 style: their even cameras, zju-mocap-data's default input views, are about 30 degrees apart, as
    ghnerf-tiny needs (with 12 cameras its renders stay blurred: benchmarks/README.md, "The 24-camera rig")."""
    resolution: int = 128
    """Image width = height in pixels: 128 is ghnerf-tiny's working resolution; the other presets work at 512 (the
    real release is 1024x1024)."""
    distortion: bool = True
    """Give each camera OpenCV lens distortion (k1, k2, p1, p2, k3) like the real rig, applied when rendering."""
    style: Literal["auto", "b23", "313"] = "auto"
    """Layout: ``auto`` uses the 313 style for subjects 313 and 315 and the b23 style for the others."""
    cse_dim: int = 16
    """Dimension of the CSE ground truth embedding."""
    cse_downscale: int = 4
    """The CSE maps are written at resolution // cse_downscale (keeps datasets small)."""
    openpose_json: bool = False
    """Also write the 2D keypoints as OpenPose JSON (``openpose/<camera folder>/<stem>_keypoints.json``)."""
    seed: int = 0
    """Random seed. The same seed gives byte-identical arrays and JSON."""
    fps: float = 15.0
    """Capture rate of the synthetic motion (frames per second): lower gives more different consecutive frames."""
    camera_height: Tuple[float, float] = (1.9, 1.9)
    """Height range (metres above the floor) of each subject's camera ring, drawn per subject. The real rig hangs at
    about 1.9 m, level with the person's head; a range such as ``1.0 3.2`` gives training people seen from below and
    from steeply above, as many other captures see them."""
    body: BodyModel = "procedural"
    """Body of the people: ``procedural`` (built in, fast: capsules and ellipsoids with blocky clothes) or ``anny``
    (realistic shapes from the Anny body model, with painted clothes and left/right-asymmetric accessories; needs
    ``pip install 'ghnerf_ns[anny]'``; its first use on a machine builds Anny's model data, about a minute)."""
    num_surface_points: int = 6890
    """Surface points written per frame to ``vertices/`` (the role of ZJU's SMPL vertices: the 3D bounding box)."""
    jpeg_quality: int = 95
    """JPEG quality of the images."""
    progress: bool = True
    """Show a progress bar."""


def resolve_style(style: str, subject: str) -> str:
    """The layout style of a subject: ``b23`` or ``313``."""
    if style not in ("auto", "b23", "313"):
        raise ValueError(f"--style must be one of auto, b23, 313 (got {style!r}).")
    if style == "auto":
        return "313" if subject in STYLE_313_SUBJECTS else "b23"
    return style


def camera_folders(style: str, num_cameras: int) -> List[str]:
    """Camera folder names in ``annots['cams']`` order."""
    if style == "b23":
        return [f"Camera_B{i + 1}" for i in range(num_cameras)]
    numbers = list(CAMERA_NUMBERS_313) + list(range(24, 24 + max(0, num_cameras - len(CAMERA_NUMBERS_313))))
    return [f"Camera ({n})" for n in numbers[:num_cameras]]


def num_cameras_for(cfg: ZJUSynthConfig, style: str) -> int:
    """Camera count of a subject: ``cfg.cameras`` or the real release's count for the style."""
    if cfg.cameras is not None:
        return cfg.cameras
    return 21 if style == "313" else 23


def image_stems(subject: str, style: str, folders: List[str], frame: int, seed: int, fps: float) -> List[str]:
    """Image file stems (no extension) of one frame, per camera."""
    if style == "b23":
        return [f"{frame:06d}" for _ in folders]
    # 313 style: CoreView_313_Camera_(1)_0001_2019-08-23_16-08-50.592 (1-indexed frame, fake capture timestamps).
    rng = subject_rng(seed, "timestamps", subject)
    start = datetime.datetime(2019, 8, 23, 16, 8, 50, 592000) if subject == "313" else datetime.datetime(
        2019, 8, 23, 12, 0, 0
    ) + datetime.timedelta(seconds=float(rng.integers(0, 6 * 3600)), milliseconds=float(rng.integers(0, 1000)))
    jitter_ms = rng.integers(0, 4, size=len(folders))  # per-camera trigger offsets
    jitter_ms[0] = 0  # the first camera triggers at the reference time (313: ..._16-08-50.592 as in the release)
    stems = []
    for folder, jitter in zip(folders, jitter_ms):
        number = folder[folder.index("(") + 1 : folder.index(")")]
        stamp = start + datetime.timedelta(milliseconds=round(1000 * frame / fps) + int(jitter))
        text = stamp.strftime("%Y-%m-%d_%H-%M-%S") + f".{stamp.microsecond // 1000:03d}"
        stems.append(f"CoreView_{subject}_Camera_({number})_{frame + 1:04d}_{text}")
    return stems


def stored_cameras(rig: List[RigCamera], style: str) -> Tuple[Dict[str, List[Any]], List[RigCamera]]:
    """``annots['cams']`` for a rig (T in millimetres; arrays for b23, nested lists for 313) and the cameras
    rebuilt from exactly the stored values (t = T / 1000), which is what everything is rendered/projected with."""
    cams: Dict[str, List[Any]] = {"K": [], "R": [], "T": [], "D": []}
    exact = []
    for cam in rig:
        K, R, T, D = cam.K.copy(), cam.R.copy(), (cam.t * 1000.0).reshape(3, 1), cam.dist.reshape(5, 1).copy()
        for key, value in (("K", K), ("R", R), ("T", T), ("D", D)):
            cams[key].append(value.tolist() if style == "313" else value)
        exact.append(
            RigCamera(K=K, R=R, t=T.reshape(3) / 1000.0, dist=D.reshape(5), width=cam.width, height=cam.height)
        )
    return cams, exact


def zju_subject_ids(cfg: ZJUSynthConfig) -> List[str]:
    """The subject ids that ``cfg`` writes (``--subjects`` or ``--num-subjects``), checked."""
    return subject_ids(cfg.subjects, cfg.num_subjects, PAPER_SUBJECTS, ID_DIGITS, FOLDER_PREFIX)


def write_zju(cfg: ZJUSynthConfig) -> Path:
    """Writes the subjects of ``cfg`` as ZJU-MoCap ``CoreView_<id>`` folders under ``cfg.out``; returns ``cfg.out``."""
    sids = zju_subject_ids(cfg)
    styles = {sid: resolve_style(cfg.style, sid) for sid in sids}
    counts = {sid: num_cameras_for(cfg, styles[sid]) for sid in sids}
    for sid in sids:
        check_common(cfg.resolution, counts[sid], cfg.frames, cfg.cse_dim, cfg.cse_downscale, cfg.jpeg_quality)
    if not 0.2 <= cfg.camera_height[0] <= cfg.camera_height[1]:
        raise ValueError(f"--camera-height needs 0.2 <= LOW <= HIGH metres (got {cfg.camera_height}).")
    if cfg.fps <= 0 or cfg.num_surface_points < 1:
        raise ValueError("--fps must be positive and --num-surface-points at least 1.")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    total = sum(counts[sid] * cfg.frames for sid in sids)
    with progress_bar(total, "ghnerf-synth zju", cfg.progress) as advance:
        for sid in sids:
            _write_subject(cfg, sid, styles[sid], counts[sid], out / f"{FOLDER_PREFIX}{sid}", advance)
    _write_summary(cfg, out, styles, counts)
    return out


def _write_subject(
    cfg: ZJUSynthConfig, sid: str, style: str, num_cams: int, root: Path, advance: Callable[[int], None]
) -> None:
    place = subject_rng(cfg.seed, "place", sid)
    floor = np.array([0.46 + place.uniform(-0.1, 0.1), 0.30 + place.uniform(-0.1, 0.1), 0.0])
    scene = make_scene(cfg.body, sid, cfg.seed, ZJU_WORLD_FROM_BODY, floor, cfg.num_surface_points, cfg.fps)
    low, high = cfg.camera_height
    ring_height = low if high == low else float(subject_rng(cfg.seed, "rig-height", sid).uniform(low, high))
    rig = make_ring_rig(
        subject_rng(cfg.seed, "rig", sid), num_cams, cfg.resolution, scene.body_centre(), floor,
        up=np.array([0.0, 0.0, -1.0]), radius=3.0, height=ring_height, distortion=cfg.distortion,
    )  # fmt: skip
    cams, rig = stored_cameras(rig, style)
    folders = camera_folders(style, num_cams)
    rays = [camera_rays(cam, cfg.cse_downscale) for cam in rig]
    mask_dirs = ["mask_cihp"] if style == "313" else ["mask", "mask_cihp"]
    ims = []
    for frame in range(cfg.frames):
        state = scene.frame(frame)
        stems = image_stems(sid, style, folders, frame, cfg.seed, cfg.fps)
        vertex_index = frame + 1 if style == "313" else frame
        write_npy(root / "vertices" / f"{vertex_index}.npy", state.vertices.astype(np.float32))
        joints = np.concatenate([state.joints, np.ones((25, 1))], axis=1)
        write_npy(root / SYNTH_GT_DIRNAME / "joints3d" / f"{frame:06d}.npy", joints)
        kpts = np.zeros((num_cams, 25, 3))
        for c, (cam, folder, stem) in enumerate(zip(rig, folders, stems)):
            view = scene.render_view(state, cam, cfg.cse_dim, cfg.cse_downscale, rays[c])
            kpts[c] = view.keypoints
            write_jpeg(root / folder / f"{stem}.jpg", view.rgb, cfg.jpeg_quality)
            for mask_dir in mask_dirs:
                write_png(root / mask_dir / folder / f"{stem}.png", view.mask)
            write_npy(root / CSE_DIRNAME / folder / f"{stem}.npy", view.cse.astype(np.float16))
            if cfg.openpose_json:
                write_json(
                    root / OPENPOSE_DIRNAME / folder / f"{stem}_keypoints.json", openpose_document(view.keypoints)
                )
            advance(1)
        ims.append({"ims": [f"{folder}/{stem}.jpg" for folder, stem in zip(folders, stems)], "kpts2d": kpts})
    np.save(root / "annots.npy", {"cams": cams, "ims": ims}, allow_pickle=True)
    (root / SYNTH_GT_DIRNAME).mkdir(parents=True, exist_ok=True)
    (root / SYNTH_GT_DIRNAME / "README.txt").write_text(_subject_readme(sid, style, num_cams, cfg))


def _subject_readme(sid: str, style: str, num_cams: int, cfg: ZJUSynthConfig) -> str:
    first_vertex = 1 if style == "313" else 0
    return f"""Synthetic subject CoreView_{sid} written by ghnerf-synth (seed {cfg.seed}); not a real capture.
Layout style: {style}. Cameras: {num_cams}. Frames: {cfg.frames}. Resolution: {cfg.resolution}x{cfg.resolution}.
World frame: ZJU-MoCap's, metres, vertical axis -z (floor at z = 0); annots.npy T is in millimetres.
Frame numbering: frame f (0-based) is annots['ims'][f]; its images are named with {
        "the 0-based f (<f:06d>.jpg)" if style == "b23" else "the 1-based f + 1 (stem.split('_')[4])"
    }; vertices/<f + {first_vertex}>.npy.
Synthetic-only ground truth (the real dataset has none of it):
  ghnerf_synth/joints3d/<f:06d>.npy  (25, 4) float64: BODY_25 joints xyz (world, metres) + validity (1), with the
                                     0-based frame f for both layout styles.
  cse/<camera folder>/<image stem>.npy  (H/{cfg.cse_downscale}, W/{cfg.cse_downscale}, {
        cfg.cse_dim
    }) float16 CSE embedding, NaN off the body.
  openpose/<camera folder>/<image stem>_keypoints.json  (only with --openpose-json) the same 2D keypoints.
annots['ims'][f]['kpts2d'][c] = cv2.projectPoints(joints3d[f][:, :3], K_c, R_c, T_c / 1000, D_c) exactly (raw,
distorted pixels), confidence 0.9, or 0 for joints outside the image, behind the camera or occluded.
"""


def _write_summary(cfg: ZJUSynthConfig, out: Path, styles: Dict[str, str], counts: Dict[str, int]) -> None:
    lines = [
        f"Synthetic ZJU-MoCap-layout dataset written by ghnerf-synth ({cfg.body} synthetic humans, not real captures).",
        f"Seed: {cfg.seed}. Frames per subject: {cfg.frames}. Resolution: {cfg.resolution}x{cfg.resolution}.",
        f"Lens distortion: {'yes' if cfg.distortion else 'no'}. "
        f"CSE dim: {cfg.cse_dim} at 1/{cfg.cse_downscale} resolution.",
        "Subjects:",
    ]
    lines += [f"  {FOLDER_PREFIX}{sid}: style {styles[sid]}, {counts[sid]} cameras" for sid in styles]
    lines += [
        "Native-layout files: annots.npy, camera folders (images), mask/ (b23 only), mask_cihp/, vertices/.",
        "Synthetic-only ground truth: ghnerf_synth/joints3d/, cse/, openpose/ (optional); see ghnerf_synth/README.txt.",
    ]
    (out / "GHNERF_SYNTH.txt").write_text("\n".join(lines) + "\n")
