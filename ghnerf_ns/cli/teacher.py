"""``ghnerf-teacher``: OpenPose BODY_25 keypoints and masks for a multi-view capture that has neither (mediapipe), and
a multi-view consistency check of its keypoints.

For every image ``<seq>/images/<cam>/<frame>.jpg`` of a capture in the ``easymocap-data`` layout it writes

* ``<seq>/openpose/<cam>/<frame>_keypoints.json``: OpenPose BODY_25 (mediapipe's 33 landmarks mapped by
  :mod:`ghnerf_ns.teacher.body25_from_mediapipe`; ``LSmallToe``/``RSmallToe`` are always missing);
* ``<seq>/masks/<cam>/<frame>.png``: mediapipe's person segmentation above ``--mask-threshold``, 0 / 255;

skipping files that exist unless ``--overwrite``. Then every frame's keypoints are triangulated with the
calibration and each view is measured against the triangulation (:mod:`ghnerf_ns.teacher.consistency`);
``<seq>/teacher_report.json`` holds the result per view and per frame, and a summary names the flagged views.
``--fix-mirrored`` exchanges left/right labels that the other views contradict (mediapipe sometimes takes a person's
back for their front), and ``--drop-flagged`` rewrites the flagged keypoints that remain as missing, so that they are
no training target. ``--check-only`` runs the check alone, on any capture's OpenPose files (no mediapipe needed).

mediapipe cannot share nerfstudio's venv (protobuf 4, opencv-contrib): ``make teacher`` installs it in
``.venv-teacher``. Run from any other interpreter, this script re-runs itself with ``$GHNERF_TEACHER_PYTHON`` or the
repository's ``.venv-teacher/bin/python``. It uses argparse (tyro is not installed in the teacher's venv).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from dataparsers.body25 import BODY25_JOINTS, NUM_JOINTS
from dataparsers.human_common import DatasetFormatError
from dataparsers.openpose_json import read_openpose_json, write_openpose_json
from ghnerf_ns.teacher import consistency
from ghnerf_ns.teacher.body25_from_mediapipe import DEFAULT_MIN_CONFIDENCE, MISSING_JOINTS
from ghnerf_ns.teacher.capture import (
    find_sequences,
    frame_images,
    image_size,
    keypoint_path,
    mask_path,
    read_rig,
    sequence_cameras,
)
from ghnerf_ns.teacher.mediapipe_teacher import INSTALL_HINT, TeacherSetupError

REPORT_NAME = "teacher_report.json"
PYTHON_ENV = "GHNERF_TEACHER_PYTHON"
"""Environment variable naming the interpreter that has mediapipe (default: the repository's .venv-teacher)."""
REEXEC_ENV = "GHNERF_TEACHER_REEXEC"
"""Set in the re-run child, so that a teacher interpreter without mediapipe fails instead of looping."""
DEBUG_ENV = "GHNERF_DEBUG"
TEACHER_VENV = ".venv-teacher"
MASK_READ_FOLDERS = ("masks", "mask")
MASK_READ_SUFFIXES = (".png", ".jpg")

EXAMPLE = """example:
  ghnerf-teacher --data data/my_capture
  ghnerf-teacher --data data/my_capture --frames 0 30 60 --fix-mirrored --drop-flagged
  ghnerf-teacher --data data/my_capture --check-only      # check existing OpenPose files, no mediapipe

--data is one sequence (intri.yml, extri.yml, images/<camera>/<frame>.jpg) or a folder of sequences, as the
easymocap-data dataparser reads it. Install the teacher once with `make teacher` (a separate venv, .venv-teacher)."""


class TeacherError(ValueError):
    """A user-facing error of ``ghnerf-teacher`` (a bad option, or no interpreter with mediapipe)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ghnerf-teacher",
        description=(
            "Write OpenPose BODY_25 keypoints (openpose/<cam>/<frame>_keypoints.json) and masks (masks/<cam>/"
            "<frame>.png) for a multi-view capture with mediapipe Pose, then check them against the calibration: every "
            "frame's joints are triangulated and views whose keypoints disagree are flagged in teacher_report.json. "
            "The outputs are dataset annotations and training targets; a trained model never runs the teacher."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="a sequence or a folder of sequences")
    parser.add_argument(
        "--frames",
        nargs="+",
        default=[],
        metavar="FRAME",
        help="frames to process, as image names without extension (7 matches 000007); default all",
    )
    parser.add_argument(
        "--cameras",
        nargs="+",
        default=[],
        metavar="CAMERA",
        help="cameras to process and check (default: every calibrated camera with images)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing keypoint and mask files")
    parser.add_argument(
        "--max-side",
        type=int,
        default=1280,
        help="downsize images with a longer side before mediapipe (0: never); outputs keep the "
        "original resolution (default: %(default)s)",
    )
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=DEFAULT_MIN_CONFIDENCE,
        help="landmark visibility below which a joint is written as missing (default: %(default)s)",
    )
    parser.add_argument(
        "--detection-confidence",
        type=float,
        default=0.5,
        help="mediapipe's person detection threshold (default: %(default)s)",
    )
    parser.add_argument("--no-masks", action="store_true", help="write keypoints only")
    parser.add_argument(
        "--mask-threshold",
        type=float,
        default=0.5,
        help="segmentation probability above which a pixel is foreground (default: %(default)s)",
    )
    parser.add_argument(
        "--mask-dilate",
        type=int,
        default=0,
        help="grow masks by this many pixels (hair, loose clothes; default: %(default)s)",
    )
    parser.add_argument(
        "--check-only",
        action="store_true",
        help="only run the consistency check on the existing openpose/ files (no mediapipe)",
    )
    parser.add_argument(
        "--joint-threshold",
        type=float,
        default=consistency.DEFAULT_JOINT_THRESHOLD,
        help="flag a keypoint whose reprojection error exceeds this fraction of the image's long "
        "side (default: %(default)s)",
    )
    parser.add_argument(
        "--view-threshold",
        type=float,
        default=consistency.DEFAULT_VIEW_THRESHOLD,
        help="flag a view whose median reprojection error exceeds this fraction of its long side "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--fix-mirrored",
        action="store_true",
        help="where a view's left/right labels of a joint pair are exchanged (the detector took the person's back for "
        "their front, or crossed the legs) and the exchanged labels agree with the other views, exchange them back "
        "in the JSON files (before --drop-flagged)",
    )
    parser.add_argument(
        "--drop-flagged",
        action="store_true",
        help="rewrite flagged keypoints (and every joint of a flagged view) as missing (0, 0, 0) in "
        "the JSON files, so that they are no training target; the report lists what was dropped",
    )
    parser.add_argument(
        "--report", default=REPORT_NAME, help="report file name, written in each sequence folder (default: %(default)s)"
    )
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    args = build_parser().parse_args(list(argv))
    checks = [
        ("--max-side", args.max_side >= 0, "0 (never downsize) or a positive number of pixels"),
        ("--min-confidence", 0 <= args.min_confidence <= 1, "a number in [0, 1]"),
        ("--detection-confidence", 0 <= args.detection_confidence <= 1, "a number in [0, 1]"),
        ("--mask-threshold", 0 < args.mask_threshold < 1, "a number in (0, 1)"),
        ("--mask-dilate", args.mask_dilate >= 0, "0 or a positive number of pixels"),
        ("--joint-threshold", 0 < args.joint_threshold < 1, "a fraction of the long side in (0, 1), e.g. 0.02"),
        ("--view-threshold", 0 < args.view_threshold < 1, "a fraction of the long side in (0, 1), e.g. 0.01"),
    ]
    for option, ok, expected in checks:
        if not ok:
            raise TeacherError(f"{option} {getattr(args, option[2:].replace('-', '_'))}: expected {expected}")
    if Path(args.report).name != args.report:
        raise TeacherError(f"--report {args.report}: give a file name (it is written in each sequence folder)")
    return args


# ----------------------------------------------------------------------------------------------- the interpreter


def mediapipe_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("mediapipe") is not None


def teacher_python() -> Optional[Path]:
    """The interpreter with mediapipe: ``$GHNERF_TEACHER_PYTHON``, else ``.venv-teacher`` of the repository this
    package is in (an editable install), else of the working directory."""
    named = os.environ.get(PYTHON_ENV)
    if named:
        path = Path(named)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise TeacherError(
                f"{PYTHON_ENV}={named}: not an executable Python; point it to the teacher venv's python "
                "or unset it and run `make teacher`"
            )
        return path
    bin_dir = ("Scripts", "python.exe") if os.name == "nt" else ("bin", "python")
    repository = Path(__file__).resolve().parents[2]
    for root in (repository, Path.cwd()):
        candidate = root.joinpath(TEACHER_VENV, *bin_dir)
        if candidate.is_file():
            return candidate
    return None


def rerun_with_teacher_python(argv: Sequence[str]) -> int:
    """Run this script with the teacher's interpreter (same arguments, same ghnerf_ns code); its exit status."""
    python = teacher_python()
    if python is None or os.environ.get(REEXEC_ENV):
        where = f"{python} has no mediapipe" if python is not None else "mediapipe is not installed here"
        raise TeacherError(f"{where}; {INSTALL_HINT}")
    env = dict(os.environ)
    env[REEXEC_ENV] = "1"
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in [env.get("PYTHONPATH")] if p])
    print(f"ghnerf-teacher: mediapipe is not in this interpreter; running with {python}", flush=True)
    return subprocess.call([str(python), "-m", "ghnerf_ns.cli.teacher", *argv], env=env)


# ----------------------------------------------------------------------------------------------- annotation


def annotate_sequence(seq: Path, cameras: List[str], frames: Dict[str, Dict[str, Path]], args) -> Dict:
    """Write the missing keypoint and mask files of one sequence with mediapipe; counts for the report."""
    from ghnerf_ns.teacher.mediapipe_teacher import MediapipeTeacher  # imports mediapipe when the first image runs

    masks = not args.no_masks
    todo = []
    skipped = 0
    for stem, by_camera in frames.items():
        for cam in cameras:
            if cam not in by_camera:
                continue
            need_kp = args.overwrite or not keypoint_path(seq, cam, stem).is_file()
            need_mask = masks and (args.overwrite or not mask_path(seq, cam, stem).is_file())
            if need_kp or need_mask:
                todo.append((stem, cam, need_kp, need_mask))
            else:
                skipped += 1
    no_person: List[str] = []
    if todo:
        teacher = MediapipeTeacher(min_detection_confidence=args.detection_confidence, segmentation=masks)
        start = time.perf_counter()
        try:
            for i, (stem, cam, need_kp, need_mask) in enumerate(todo):
                result = teacher.annotate(
                    frames[stem][cam], args.max_side, args.min_confidence, args.mask_threshold, args.mask_dilate
                )
                if need_kp:
                    write_openpose_json(keypoint_path(seq, cam, stem), result.keypoints)
                if need_mask and result.mask is not None:
                    import cv2

                    path = mask_path(seq, cam, stem)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    if not cv2.imwrite(str(path), result.mask):
                        raise DatasetFormatError(f"{path}: could not be written; check the folder's permissions")
                if not result.detected:
                    no_person.append(f"{cam}/{stem}")
                if (i + 1) % 10 == 0 or i + 1 == len(todo):
                    print(f"  {seq.name}: {i + 1}/{len(todo)} images ({time.perf_counter() - start:.0f} s)", flush=True)
        finally:
            teacher.close()
    if no_person:
        shown = ", ".join(no_person[:8]) + (", ..." if len(no_person) > 8 else "")
        print(
            f"  {seq.name}: no person found in {len(no_person)} image(s): {shown} (empty keypoint file, no mask; "
            "the dataparser skips images without a mask)"
        )
    return {"annotated": len(todo), "skipped_existing": skipped, "no_person": no_person}


# ----------------------------------------------------------------------------------------------- the check


def _read_mask(seq: Path, cam: str, stem: str, size) -> Optional[np.ndarray]:
    import cv2

    for folder in MASK_READ_FOLDERS:
        for suffix in MASK_READ_SUFFIXES:
            path = seq / folder / cam / f"{stem}{suffix}"
            if path.is_file():
                mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
                if mask is None or (mask.shape[1], mask.shape[0]) != tuple(size):
                    return None
                return mask > 127
    return None


def _px(value: float) -> object:
    """A pixel error for JSON: rounded, ``"behind camera"`` for inf, None for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if math.isinf(value):
        return "behind camera"
    return round(float(value), 1)


def check_sequence(seq: Path, cameras: List[str], frames: Dict[str, Dict[str, Path]], args) -> Dict:
    """Consistency of every frame's keypoint files; per-frame and per-view entries of the report."""
    rig = read_rig(seq)
    K = np.stack([rig.K[c] for c in cameras])
    dist = np.stack([rig.dist[c] for c in cameras])
    w2c = np.stack([rig.w2c[c] for c in cameras])
    per_frame: Dict[str, Dict] = {}
    errors: Dict[str, List[float]] = {c: [] for c in cameras}
    stats = {
        c: {
            "images": 0,
            "keypoint_files": 0,
            "joints_found": 0,
            "joints_checked": 0,
            "flagged_joints": 0,
            "flagged_frames": [],
            "mask_agreement": [],
            "rewritten": 0,
        }
        for c in cameras
    }
    thresholds = {}
    for stem, by_camera in frames.items():
        keypoints = np.zeros((len(cameras), NUM_JOINTS, 3), dtype=np.float32)
        sizes = np.ones((len(cameras), 2))
        present = []
        for v, cam in enumerate(cameras):
            if cam not in by_camera:
                continue
            stats[cam]["images"] += 1
            sizes[v] = image_size(by_camera[cam])
            path = keypoint_path(seq, cam, stem)
            if path.is_file():
                keypoints[v] = read_openpose_json(path)
                present.append(v)
                stats[cam]["keypoint_files"] += 1
        original = keypoints
        result = consistency.check_frame(keypoints, K, dist, w2c, sizes, args.joint_threshold, args.view_threshold)
        exchanged: Dict[str, List[str]] = {}
        if args.fix_mirrored and result.flagged.any():
            fixed, pairs = consistency.fix_mirrored(keypoints, result, K, dist, w2c)
            exchanged = {cameras[v]: names for v, names in enumerate(pairs) if names}
            if exchanged:
                keypoints = fixed
                result = consistency.check_frame(
                    keypoints, K, dist, w2c, sizes, args.joint_threshold, args.view_threshold
                )
        masks = [_read_mask(seq, cam, stem, sizes[v]) if cam in by_camera else None for v, cam in enumerate(cameras)]
        agreement = consistency.mask_agreement(result.points, masks, K, dist, w2c)
        views = {}
        for v, cam in enumerate(cameras):
            if cam not in by_camera:
                continue
            thresholds[cam] = (float(result.joint_threshold_px[v]), float(result.view_threshold_px[v]))
            flagged = {
                BODY25_JOINTS[j]: (_px(result.errors[v, j]) if result.triangulated[j] else "no two views agree")
                for j in np.flatnonzero(result.flagged[v])
            }
            checked = result.errors[v][result.checked[v]]
            errors[cam].extend(float(e) for e in checked if np.isfinite(e))
            s = stats[cam]
            s["joints_found"] += int(result.used[v].sum())
            s["joints_checked"] += int(result.checked[v].sum())
            s["flagged_joints"] += len(flagged)
            if result.view_flagged[v]:
                s["flagged_frames"].append(stem)
            if agreement[v] is not None:
                s["mask_agreement"].append(agreement[v])
            views[cam] = {
                "keypoint_file": v in present,
                "joints_found": int(result.used[v].sum()),
                "joints_checked": int(result.checked[v].sum()),
                "median_error_px": _px(result.view_median[v]),
                "view_flagged": bool(result.view_flagged[v]),
                "flagged_joints": flagged,
                "mask_agreement": None if agreement[v] is None else round(agreement[v], 3),
            }
        entry = {"triangulated_joints": int(result.triangulated.sum()), "views": views}
        if exchanged:
            entry["sides_exchanged"] = exchanged
        if args.drop_flagged and (result.flagged.any() or result.view_flagged.any()):
            dropped: Dict[str, object] = {}
            for v in present:
                if result.view_flagged[v]:
                    dropped[cameras[v]] = "all joints (view flagged)"
                elif result.flagged[v].any():
                    dropped[cameras[v]] = [BODY25_JOINTS[j] for j in np.flatnonzero(result.flagged[v])]
            entry["dropped"] = dropped
            keypoints = consistency.drop_flagged(keypoints, result)
        for v in present:  # --fix-mirrored / --drop-flagged rewrite the files they changed
            if not np.array_equal(keypoints[v], original[v]):
                write_openpose_json(keypoint_path(seq, cameras[v], stem), keypoints[v])
                stats[cameras[v]]["rewritten"] += 1
        per_frame[stem] = entry
    summary = {}
    for cam in cameras:
        s, e = stats[cam], np.asarray(errors[cam])
        summary[cam] = {
            "images": s["images"],
            "keypoint_files": s["keypoint_files"],
            "joints_found_per_image": round(s["joints_found"] / max(s["images"], 1), 1),
            "joints_checked": s["joints_checked"],
            "median_error_px": _px(float(np.median(e))) if e.size else None,
            "p90_error_px": _px(float(np.percentile(e, 90))) if e.size else None,
            "flagged_joints": s["flagged_joints"],
            "flagged_frames": s["flagged_frames"],
            "mask_agreement": round(float(np.mean(s["mask_agreement"])), 3) if s["mask_agreement"] else None,
            "files_rewritten": s["rewritten"],
            "joint_threshold_px": _px(thresholds.get(cam, (math.nan, math.nan))[0]),
            "view_threshold_px": _px(thresholds.get(cam, (math.nan, math.nan))[1]),
        }
    return {"views": summary, "frames": per_frame}


def print_summary(seq: Path, report: Dict, report_path: Path) -> None:
    views = report["views"]
    print(f"\n{seq}: {len(report['frames'])} frame(s), {len(views)} cameras; report {report_path}")
    header = (
        f"  {'camera':<12} {'images':>6} {'joints/img':>10} {'median px':>9} {'p90 px':>7} {'flagged':>7} "
        f"{'bad frames':>10} {'on mask':>7}"
    )
    print(header)

    def fmt(value: object) -> str:
        return "-" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value))

    for cam, s in views.items():
        print(
            f"  {cam:<12} {s['images']:>6} {fmt(s['joints_found_per_image']):>10} {fmt(s['median_error_px']):>9} "
            f"{fmt(s['p90_error_px']):>7} {s['flagged_joints']:>7} {len(s['flagged_frames']):>10} "
            f"{fmt(s['mask_agreement']):>7}"
        )
    flagged = {cam: s["flagged_frames"] for cam, s in views.items() if s["flagged_frames"]}
    if flagged:
        for cam, stems in flagged.items():
            details = ", ".join(
                f"{stem} ({report['frames'][stem]['views'][cam]['median_error_px']} px)" for stem in stems[:6]
            ) + (", ..." if len(stems) > 6 else "")
            print(
                f"  view flagged: {cam} in {len(stems)} frame(s): {details}; its median reprojection error exceeds "
                f"{views[cam]['view_threshold_px']} px (a wrong person, a mirrored pose, or this camera's "
                "calibration or synchronisation)"
            )
    else:
        print("  no view flagged")


def run(args: argparse.Namespace) -> int:
    sequences = find_sequences(args.data)
    for seq in sequences:
        rig = read_rig(seq)
        cameras = sequence_cameras(seq, rig, args.cameras)
        frames = frame_images(seq, cameras, args.frames)
        annotation = None
        if not args.check_only:
            annotation = annotate_sequence(seq, cameras, frames, args)
        checked = check_sequence(seq, cameras, frames, args)
        if args.check_only and not any(v["keypoint_files"] for v in checked["views"].values()):
            raise TeacherError(
                f"{seq}: --check-only, but no keypoint file openpose/<camera>/<frame>_keypoints.json exists for the "
                "chosen frames; run without --check-only to write them with mediapipe"
            )
        report = {
            "sequence": str(seq),
            "cameras": cameras,
            "settings": {
                "mode": "check only" if args.check_only else "mediapipe teacher",
                "joint_threshold": args.joint_threshold,
                "view_threshold": args.view_threshold,
                "min_confidence": None if args.check_only else args.min_confidence,
                "max_side": None if args.check_only else args.max_side,
                "mask_threshold": None if args.check_only or args.no_masks else args.mask_threshold,
                "mask_dilate": None if args.check_only or args.no_masks else args.mask_dilate,
                "fix_mirrored": args.fix_mirrored,
                "drop_flagged": args.drop_flagged,
                "never_found": list(MISSING_JOINTS) if not args.check_only else [],
            },
            "annotation": annotation,
            **checked,
        }
        report_path = seq / args.report
        with open(report_path, "w", encoding="utf-8") as fp:
            json.dump(report, fp, indent=1)
        print_summary(seq, report, report_path)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_args(argv)
        if not args.check_only and not mediapipe_available():
            return rerun_with_teacher_python(argv)
        return run(args)
    except (TeacherError, TeacherSetupError, DatasetFormatError) as err:
        if os.environ.get(DEBUG_ENV):
            raise
        sys.stderr.write(f"ghnerf-teacher error: {err}\n(set {DEBUG_ENV}=1 for the full traceback)\n")
        return 2


def entrypoint() -> None:
    """Console script ``ghnerf-teacher``."""
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
