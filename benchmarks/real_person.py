"""A trained run applied to a real multi-view capture: ns-eval's figures and a picture of the 3D keypoints.

The capture is an EasyMocap-layout sequence with OpenPose-format keypoints and masks (for example Pose2Sim's real
four-camera trial: ``scripts/pose2sim_to_easymocap.py`` then ``ghnerf-teacher``, docs/datasets.md). It is a test:
nothing is trained or tuned on it. The script runs

1. ``ghnerf-apply`` (the run reads only the capture; the input and test cameras are chosen here),
2. ``ns-eval`` (PSNR/SSIM on the test cameras, PCK against the capture's keypoints, ``mpjpe_3d`` against the joints
   triangulated from all cameras' keypoints),
3. ``ghnerf-keypoints`` (the model's 3D keypoints of every frame),

prints the figures and, over every frame (and fold), the error of each joint of the model's 3D keypoints with its
left/right swap rate and side-blind error (:func:`joint_frames`; a model that finds the limbs but names their sides
wrongly shows a side-blind error far below its ``mpjpe_3d``), and draws ``real_person.png``: each camera of one frame
at full resolution with the model's 3D keypoints projected through the calibration (magenta: person's left, cyan:
right) and the capture's own keypoints (white crosses).

    python benchmarks/real_person.py --load-config RUN/config.yml --capture data/p2s_single --work-dir /tmp/real \\
        --input-views 0 -1 2 --test-views 1 -1 2
    # every camera in turn is the test view and all the others are the inputs (WORK/fold_<i>/, i: 0-based camera)
    python benchmarks/real_person.py --load-config RUN/config.yml --capture data/p2s_single --work-dir /tmp/real_loo \\
        --leave-one-out

``--leave-one-out`` is the capture seen with all its cameras but one (three input views of a four-camera rig, the
number of source views ``ghnerf-tiny`` trains with) beside the default's two input views: it prints each fold's
figures and the pooled ones (``mpjpe_3d`` over all folds' joints, PCK over all folds' keypoints, PSNR and SSIM over all
folds' images: :func:`pool_folds`).
"""

import argparse
import json
import subprocess
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import yaml

METRICS = ("psnr", "ssim", "pck", "pck_num_joints", "mpjpe_3d", "mpjpe_3d_num_joints", "mpjpe_3d_num_missing",
           "mpjpe_3d_volumetric", "mpjpe_3d_triangulated", "heatmap_mse", "heatmap_mse_zero")  # fmt: skip


def _run(cmd: List[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def _draw(capture: Path, keypoints_dir: Path, out: Path, frame_index: int, height: int) -> None:
    import cv2

    from dataparsers.body25 import BODY25_JOINTS, BODY25_LIMBS
    from dataparsers.openpose_json import read_openpose_json
    from ghnerf_ns.teacher import consistency
    from ghnerf_ns.teacher.capture import frame_images, keypoint_path, read_rig, sequence_cameras

    rig = read_rig(capture)
    cams = sequence_cameras(capture, rig)
    frames = frame_images(capture, cams)
    stems = sorted(frames)
    stem = stems[min(frame_index, len(stems) - 1)]
    candidates = [keypoints_dir / capture.name / f"{n:06d}_keypoints3d.json" for n in (int(stem), frame_index)]
    found = [path for path in candidates if path.is_file()]
    if not found:
        raise FileNotFoundError(f"ghnerf-keypoints wrote none of {[str(c) for c in candidates]}")
    doc = json.loads(found[0].read_text())
    est = doc[doc["model_estimate"]]
    xyz, valid = np.asarray(est["xyz"], float), np.asarray(est["valid"], bool)
    tiles = []
    for c in cams:
        img = cv2.imread(str(frames[stem][c]))
        s = img.shape[0] / 960
        ref = read_openpose_json(keypoint_path(capture, c, stem))
        pix, _ = consistency.project_points(xyz, rig.K[c], rig.dist[c], rig.w2c[c])
        for a, b in BODY25_LIMBS:
            if valid[a] and valid[b]:
                p, q = (tuple(np.round(pix[k]).astype(int)) for k in (a, b))
                cv2.line(img, p, q, (0, 200, 0), max(1, int(2 * s)))
        for j in np.flatnonzero(valid):
            colour = (255, 0, 255) if BODY25_JOINTS[j].startswith("L") else (255, 255, 0)
            cv2.circle(img, tuple(np.round(pix[j]).astype(int)), max(2, int(5 * s)), colour, -1)
        for j in np.flatnonzero(ref[:, 2] > 0):
            cv2.drawMarker(img, tuple(np.round(ref[j, :2]).astype(int)), (255, 255, 255), cv2.MARKER_CROSS,
                           max(6, int(12 * s)), max(1, int(s)))  # fmt: skip
        cv2.putText(img, f"{c} frame {stem}", (10, int(40 * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * s, (255, 255, 255),
                    max(1, int(2 * s)))  # fmt: skip
        f = height / img.shape[0]
        tiles.append(cv2.resize(img, (int(round(img.shape[1] * f)), height), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(out), np.concatenate(tiles, axis=1))
    print(f"wrote {out} (frame {stem}, {int(valid.sum())}/25 joints from {doc['model_estimate']})")


def pool_folds(folds: Sequence[Dict[str, Optional[float]]]) -> Dict[str, float]:
    """ns-eval's results of several folds as one: each keypoint metric weighted by its joints (``pck`` by
    ``pck_num_joints``, ``mpjpe_3d*`` by ``mpjpe_3d*_num_joints``; the counts and the missing joints summed), the image
    metrics by ``num_images`` (equal weights where a fold lacks it). A metric that some fold lacks, or that no fold
    scored (ns-eval's None, e.g. ``mpjpe_3d_triangulated`` with one test view), is left out."""
    pooled: Dict[str, float] = {}
    images = [f.get("num_images") for f in folds]
    image_weights = [float(n) for n in images] if all(n is not None for n in images) else [1.0] * len(folds)
    for key in ("psnr", "ssim", "heatmap_mse", "heatmap_mse_zero"):
        values = [f.get(key) for f in folds]
        if all(v is not None for v in values) and sum(image_weights) > 0:
            pooled[key] = float(np.average(values, weights=image_weights))
    counted = ["pck", *sorted(k for k in folds[0] if k.startswith("mpjpe_3d") and f"{k}_num_joints" in folds[0])]
    for key in counted:
        count = "pck_num_joints" if key == "pck" else f"{key}_num_joints"
        pairs = [(f.get(key), f.get(count)) for f in folds]
        if any(c is None for _, c in pairs) or any(v is None and c for v, c in pairs):
            continue
        total = float(sum(c for _, c in pairs))
        pooled[count] = total
        if total > 0:
            pooled[key] = float(sum(v * c for v, c in pairs if c) / total)
        missing = [f.get(f"{key}_num_missing") for f in folds]
        if key != "pck" and all(m is not None for m in missing):
            pooled[f"{key}_num_missing"] = float(sum(missing))
    return pooled


def joint_frames(capture: Path, keypoint_files: Sequence[Path], reference: Optional[Callable] = None) -> List:
    """One :class:`~ghnerf_ns.keypoints.error_analysis.FrameKeypoints3D` per ``ghnerf-keypoints`` file (the model's
    estimate against ``reference(stem)``: by default the capture's keypoints of all its cameras, undistorted and
    triangulated as ``mpjpe_3d``'s reference is)."""
    from ghnerf_ns.keypoints.error_analysis import FrameKeypoints3D

    reference = reference or _capture_reference(capture)
    frames = []
    for path in keypoint_files:
        doc = json.loads(path.read_text())
        estimate = doc[doc["model_estimate"]]
        stem = path.name[: -len("_keypoints3d.json")]
        gt = np.asarray(reference(stem), np.float64)
        frames.append(FrameKeypoints3D(np.asarray(estimate["xyz"], float), np.asarray(estimate["valid"], bool), gt))
    return frames


def _capture_reference(capture: Path) -> Callable:
    """``stem -> (25, 4)`` joints of every camera's keypoints (undistorted, DLT; validity in column 3)."""
    from dataparsers.openpose_json import read_openpose_json
    from ghnerf_ns.keypoints.keypoints3d import triangulated_annotations
    from ghnerf_ns.teacher.capture import keypoint_path, read_rig, sequence_cameras

    rig = read_rig(capture)
    cameras = sequence_cameras(capture, rig)

    def reference(stem: str) -> np.ndarray:
        views = [
            (read_openpose_json(keypoint_path(capture, c, stem)), rig.K[c], rig.dist[c], rig.w2c[c]) for c in cameras
        ]
        return triangulated_annotations(views).numpy()

    return reference


def _print_joint_table(capture: Path, keypoint_files: Sequence[Path]) -> None:
    from ghnerf_ns.keypoints.error_analysis import format_joint_table, joint_error_table

    frames = joint_frames(capture, keypoint_files)
    if not frames:
        return
    table = joint_error_table(frames)
    print(f"\nper joint, {len(frames)} frame estimates: mpjpe {table.mpjpe_mm:.0f} mm, side-blind "
          f"{table.side_blind_mpjpe_mm:.0f} mm, left/right swapped {table.overall_swap_rate:.0%}")  # fmt: skip
    print(format_joint_table([table], ["model"]))


def _camera_count(capture: Path) -> int:
    from ghnerf_ns.teacher.capture import read_rig, sequence_cameras

    return len(sequence_cameras(capture, read_rig(capture)))


def _evaluate(args: argparse.Namespace, capture: Path, work: Path, views: List[str]) -> Dict[str, float]:
    """ghnerf-apply, ns-eval and ghnerf-keypoints into ``work`` with easymocap-data's camera options ``views``; prints
    and returns ns-eval's results and draws the picture."""
    work.mkdir(parents=True, exist_ok=True)
    resolution = [] if args.resolution is None else ["--resolution", str(args.resolution)]
    _run(["ghnerf-apply", "--load-config", str(args.load_config), "--data", str(capture), *resolution,
          "--output-dir", str(work / "applied"), "easymocap-data", "--test-subjects", capture.name, *views,
          "--eval-frames", *map(str, args.eval_frames)])  # fmt: skip
    config = work / "applied" / "config.yml"
    _run(["ns-eval", "--load-config", str(config), "--output-path", str(work / "eval.json")])
    _run(["ghnerf-keypoints", "--load-config", str(config), "--output-dir", str(work / "keypoints")])
    results = json.loads((work / "eval.json").read_text())["results"]
    applied = yaml.load(config.read_text(), Loader=yaml.Loader)
    print(f"{'working resolution':28s} {applied.pipeline.datamanager.resolution}")
    for key in METRICS:
        if results.get(key) is not None:
            print(f"{key:28s} {results[key]:.4g}")
    _draw(capture, work / "keypoints", work / "real_person.png", args.picture_frame, args.picture_height)
    return results


def _figure(value: Optional[float], spec: str) -> str:
    return "" if value is None else format(value, spec)


def _print_folds(names: Sequence[str], folds: Sequence[Dict[str, Optional[float]]]) -> None:
    pooled = pool_folds(folds)
    print("\n| test camera | PSNR | SSIM | PCK@0.2 | mpjpe_3d mm | joints found | volumetric mm |")
    print("|---|---|---|---|---|---|---|")
    for name, r in [*zip(names, folds), ("all folds", pooled)]:
        found, missing = r.get("mpjpe_3d_num_joints") or 0, r.get("mpjpe_3d_num_missing") or 0
        share = f"{found:.0f} of {found + missing:.0f} ({found / (found + missing):.0%})" if found + missing else ""
        print(f"| {name} | {_figure(r.get('psnr'), '.2f')} | {_figure(r.get('ssim'), '.3f')} | "
              f"{_figure(r.get('pck'), '.3f')} | {_figure(r.get('mpjpe_3d'), '.0f')} | {share} | "
              f"{_figure(r.get('mpjpe_3d_volumetric'), '.0f')} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load-config", type=Path, required=True, help="the trained run's config.yml")
    parser.add_argument("--capture", type=Path, required=True, help="the EasyMocap-layout sequence folder")
    parser.add_argument("--work-dir", type=Path, required=True, help="applied config, eval.json, keypoints, picture")
    parser.add_argument("--input-views", nargs=3, type=int, default=[0, -1, 2], help="easymocap-data --input-views")
    parser.add_argument("--test-views", nargs=3, type=int, default=[1, -1, 2], help="easymocap-data --test-views")
    parser.add_argument("--leave-one-out", action="store_true",
                        help="each camera in turn is the test view, the others the inputs (folds pooled)")  # fmt: skip
    parser.add_argument("--resolution", type=int, default=None, help="ghnerf-apply --resolution (default: its choice)")
    parser.add_argument("--eval-frames", nargs=3, type=int, default=[0, -1, 1], help="easymocap-data --eval-frames")
    parser.add_argument("--picture-frame", type=int, default=2, help="which frame (index) the picture shows")
    parser.add_argument("--picture-height", type=int, default=480)
    args = parser.parse_args()
    capture = args.capture.resolve()
    if not args.leave_one_out:
        views = ["--input-views", *map(str, args.input_views), "--test-views", *map(str, args.test_views)]
        _evaluate(args, capture, args.work_dir, views)
        _print_joint_table(capture, sorted((args.work_dir / "keypoints").glob("*/*_keypoints3d.json")))
        return
    num_cameras = _camera_count(capture)
    if num_cameras < 3:
        raise SystemExit(f"--leave-one-out needs >= 3 cameras (2 inputs and a test view); {capture} has {num_cameras}")
    names, folds = [], []
    for test in range(num_cameras):
        inputs = [str(c) for c in range(num_cameras) if c != test]
        views = ["--input-view-ids", *inputs, "--test-view-ids", str(test)]
        print(f"\n== fold: test camera {test}, input cameras {' '.join(inputs)}", flush=True)
        folds.append(_evaluate(args, capture, args.work_dir / f"fold_{test}", views))
        names.append(str(test))
    _print_folds(names, folds)
    _print_joint_table(capture, sorted(args.work_dir.glob("fold_*/keypoints/*/*_keypoints3d.json")))


if __name__ == "__main__":
    main()
