"""A trained run applied to a real multi-view capture: ns-eval's figures and a picture of the 3D keypoints.

The capture is an EasyMocap-layout sequence with OpenPose-format keypoints and masks (for example Pose2Sim's real
four-camera trial: ``scripts/pose2sim_to_easymocap.py`` then ``ghnerf-teacher``, docs/datasets.md). It is a test:
nothing is trained or tuned on it. The script runs

1. ``ghnerf-apply`` (the run reads only the capture; the input and test cameras are chosen here),
2. ``ns-eval`` (PSNR/SSIM on the test cameras, PCK against the capture's keypoints, ``mpjpe_3d`` against the joints
   triangulated from all cameras' keypoints),
3. ``ghnerf-keypoints`` (the model's 3D keypoints of every frame),

prints the figures, and draws ``real_person.png``: each camera of one frame at full resolution with the model's 3D
keypoints projected through the calibration (magenta: person's left, cyan: right) and the capture's own keypoints
(white crosses).

    python benchmarks/real_person.py --load-config RUN/config.yml --capture data/p2s_single --work-dir /tmp/real \\
        --input-views 0 -1 2 --test-views 1 -1 2
"""

import argparse
import json
import subprocess
from pathlib import Path
from typing import List

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load-config", type=Path, required=True, help="the trained run's config.yml")
    parser.add_argument("--capture", type=Path, required=True, help="the EasyMocap-layout sequence folder")
    parser.add_argument("--work-dir", type=Path, required=True, help="applied config, eval.json, keypoints, picture")
    parser.add_argument("--input-views", nargs=3, type=int, default=[0, -1, 2], help="easymocap-data --input-views")
    parser.add_argument("--test-views", nargs=3, type=int, default=[1, -1, 2], help="easymocap-data --test-views")
    parser.add_argument("--resolution", type=int, default=None, help="ghnerf-apply --resolution (default: its choice)")
    parser.add_argument("--eval-frames", nargs=3, type=int, default=[0, -1, 1], help="easymocap-data --eval-frames")
    parser.add_argument("--picture-frame", type=int, default=2, help="which frame (index) the picture shows")
    parser.add_argument("--picture-height", type=int, default=480)
    args = parser.parse_args()
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    capture = args.capture.resolve()
    resolution = [] if args.resolution is None else ["--resolution", str(args.resolution)]
    _run(["ghnerf-apply", "--load-config", str(args.load_config), "--data", str(capture), *resolution,
          "--output-dir", str(work / "applied"), "easymocap-data", "--test-subjects", capture.name,
          "--input-views", *map(str, args.input_views), "--test-views", *map(str, args.test_views),
          "--eval-frames", *map(str, args.eval_frames)])  # fmt: skip
    config = work / "applied" / "config.yml"
    _run(["ns-eval", "--load-config", str(config), "--output-path", str(work / "eval.json")])
    _run(["ghnerf-keypoints", "--load-config", str(config), "--output-dir", str(work / "keypoints")])
    results = json.loads((work / "eval.json").read_text())["results"]
    applied = yaml.load(config.read_text(), Loader=yaml.Loader)
    print(f"{'working resolution':28s} {applied.pipeline.datamanager.resolution}")
    for key in METRICS:
        if key in results:
            print(f"{key:28s} {results[key]:.4g}")
    _draw(capture, work / "keypoints", work / "real_person.png", args.picture_frame, args.picture_height)


if __name__ == "__main__":
    main()
