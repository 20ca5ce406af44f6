"""What 2D accuracy a capture's 3D keypoints need: its own annotated 2D keypoints on the input views, perturbed by a
known error, triangulated by the model's consensus rule and compared with the joints of all its cameras.

The model's source-view 3D keypoints are its 2D pose head's peaks on a prediction's input views, triangulated by
:func:`~ghnerf_ns.keypoints.robust_triangulation.triangulate_robust` (ghnerf_ns/keypoints/source_view_keypoints.py).
Here the pose head is replaced by the capture's own keypoints (a teacher's or a dataset's) on the same input views at
the same working resolution, with Gaussian noise of a chosen size per axis (as a fraction of the person's height in
the view, the unit of ``benchmarks/pose_head_2d.py``). Noise 0 is a perfect pose head: what remains is the lift
itself (two views, their baseline, the reference's own noise). The reference is ``mpjpe_3d``'s: every camera's
keypoints triangulated. No model is run.

    python benchmarks/two_view_ceiling.py --capture data/p2s_single --resolution 192 \\
        --input-views 0 -1 2 --test-views 1 -1 2 --noise 0 0.01 0.02 0.04
    # three input views of the four (camera 1 left out as the test view)
    python benchmarks/two_view_ceiling.py --capture data/p2s_single --input-view-ids 0 2 3 --test-view-ids 1 --noise 0

prints, per noise level, the realised median 2D error over the person's height, and ``mpjpe_3d`` (mean and median, mm)
with the share of the reference joints found, frames pooled.

With ``--yolo`` (``make yolo-encoder``) one more row replaces the pose head by YOLO11n-pose's own keypoints on the same
masked input views (as ``--pipeline.model.human-encoder.yolo-keypoint-maps`` computes them): its 17 COCO joints at their
BODY_25 namesakes, the neck and the mid-hip at the midpoints of the shoulders and of the hips, the feet missing. That is
what a pose head that kept YOLO's keypoints where COCO names them could lift at best.
"""

import argparse
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np


def perturbed(keypoints: np.ndarray, heights: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``keypoints`` (views, joints, 3) with Gaussian noise of ``noise`` times each view's person height per axis."""
    out = keypoints.copy()
    out[..., :2] += rng.normal(size=out[..., :2].shape) * (noise * heights)[:, None, None]
    return out


def lift_errors(
    keypoints: np.ndarray, K: np.ndarray, w2c: np.ndarray, reference: np.ndarray, inlier_px: float
) -> Dict[str, np.ndarray]:
    """Triangulates ``keypoints`` (views, 25, 3) by the model's consensus rule; returns the error (mm) of each
    reference joint found and the found/valid flags (``reference``: (25, 4) with validity in column 3)."""
    import torch

    from dataparsers.body25 import BODY25_MIRROR
    from ghnerf_ns.keypoints.robust_triangulation import triangulate_robust

    points, valid = triangulate_robust(
        torch.from_numpy(keypoints), torch.from_numpy(K), torch.from_numpy(w2c), BODY25_MIRROR, inlier_px
    )
    points, valid = points.numpy(), valid.numpy()
    known = reference[:, 3] > 0
    found = valid & known
    errors = np.linalg.norm(points[found, :3] - reference[found, :3], axis=1) * 1000.0
    return {"errors": errors, "found": found, "known": known}


def main(argv: Sequence[str] = ()) -> List[Dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", type=Path, required=True, help="an easymocap-data sequence with keypoints, masks")
    parser.add_argument("--resolution", type=int, default=192, help="working long side, as ghnerf-apply chose")
    parser.add_argument("--input-views", nargs=3, type=int, default=[0, -1, 2], help="easymocap-data --input-views")
    parser.add_argument("--test-views", nargs=3, type=int, default=[1, -1, 2], help="easymocap-data --test-views")
    parser.add_argument("--input-view-ids", nargs="+", type=int, default=[],
                        help="easymocap-data --input-view-ids (overrides --input-views)")  # fmt: skip
    parser.add_argument("--test-view-ids", nargs="+", type=int, default=[],
                        help="easymocap-data --test-view-ids (overrides --test-views)")  # fmt: skip
    parser.add_argument("--eval-frames", nargs=3, type=int, default=[0, -1, 1], help="easymocap-data --eval-frames")
    parser.add_argument("--noise", nargs="+", type=float, default=[0.0, 0.01, 0.02, 0.04],
                        help="2D error per axis, fractions of the person's height")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--yolo", action="store_true",
                        help="also lift YOLO11n-pose's own keypoints (make yolo-encoder)")  # fmt: skip
    args = parser.parse_args(list(argv) or None)

    from dataparsers.easymocap_dataparser import EasyMocapDataParserConfig
    from dataparsers.human_common import SOURCES_KEY, TARGETS_KEY
    from ghnerf_ns.data.image_loading import load_view
    from ghnerf_ns.data.keypoint_source import read_keypoints
    from ghnerf_ns.data.person_scale import mask_box_height
    from ghnerf_ns.keypoints.keypoints3d import annotated_joints3d
    from ghnerf_ns.keypoints.source_view_keypoints import DEFAULT_INLIER_FRACTION

    config = EasyMocapDataParserConfig(
        data=args.capture, input_views=tuple(args.input_views), test_views=tuple(args.test_views),
        input_view_ids=tuple(args.input_view_ids), test_view_ids=tuple(args.test_view_ids),
        eval_frames=tuple(args.eval_frames),
    )  # fmt: skip
    meta = config.setup().get_dataparser_outputs("test").metadata
    sources, targets = meta[SOURCES_KEY], meta[TARGETS_KEY]
    frames: Dict[tuple, List[int]] = {}
    for row in range(len(sources)):
        frames.setdefault((int(sources.subject_idx[row]), int(sources.frame[row])), []).append(row)
    test_frames = {(int(targets.subject_idx[r]), int(targets.frame[r])) for r in range(len(targets))}
    rows_of = {key: rows for key, rows in frames.items() if key in test_frames and len(rows) >= 2}
    print(f"{args.capture}: {len(rows_of)} frame(s) with >= 2 input views at {args.resolution} px")
    prepared = []
    yolo_views: List[np.ndarray] = []
    for (subject_idx, frame), rows in sorted(rows_of.items()):
        views = [load_view(sources, r, args.resolution, keypoints=read_keypoints(sources, r)) for r in rows]
        measured = [mask_box_height(v.mask) for v in views]
        if None in measured:
            raise SystemExit(
                f"{args.capture}: an input view of frame {frame} has an empty mask, so the person's height there (the "
                "noise's unit) is unknown: give the capture masks (ghnerf-teacher)"
            )
        heights = np.array(measured, np.float64)
        reference = annotated_joints3d([sources, targets], sources.subjects[subject_idx], frame).double().numpy()
        clean = np.stack([v.keypoints for v in views]).astype(np.float64)
        K = np.stack([v.K for v in views]).astype(np.float64)
        w2c = np.stack([v.w2c for v in views]).astype(np.float64)
        inlier_px = DEFAULT_INLIER_FRACTION * min(views[0].mask.shape)
        prepared.append((clean, K, w2c, heights, reference, inlier_px))
        if args.yolo:
            yolo_views.append(np.stack([v.image for v in views]))

    levels: List[object] = [*args.noise, *(["yolo"] if args.yolo else [])]
    yolo_keypoints = yolo_body25(yolo_views) if args.yolo else []
    results = []
    print("| 2D noise per axis (of height) | median 2D error (of height) | mpjpe_3d mm | median mm | found |")
    print("|---|---|---|---|---|")
    for noise in levels:
        rng = np.random.default_rng(args.seed)  # each level's draws do not depend on the levels before it
        errors, found, known, twice, errors_2d = [], 0, 0, 0, []
        for i, (clean, K, w2c, heights, reference, inlier_px) in enumerate(prepared):
            seen = clean[..., 2] > 0
            if noise == "yolo":
                noisy = yolo_keypoints[i]
                seen = seen & (noisy[..., 2] > 0)
            else:
                noisy = perturbed(clean, heights, float(noise), rng)
            errors_2d += list((np.linalg.norm(noisy[..., :2] - clean[..., :2], axis=-1) / heights[:, None])[seen])
            out = lift_errors(noisy, K, w2c, reference, inlier_px)
            errors += list(out["errors"])
            found += int(out["found"].sum())
            known += int(out["known"].sum())
            twice += int((out["known"] & (seen.sum(axis=0) >= 2)).sum())  # what a perfect pose head can lift
        row = {
            "noise": noise,
            "median_2d": float(np.median(errors_2d)) if errors_2d else float("nan"),
            "mpjpe_3d": float(np.mean(errors)) if errors else float("nan"),
            "median_3d": float(np.median(errors)) if errors else float("nan"),
            "found": found / max(known, 1),
            "seen_twice": twice / max(known, 1),
        }
        results.append(row)
        label = noise if isinstance(noise, str) else f"{noise:.3f}"
        print(f"| {label} | {row['median_2d']:.3f} | {row['mpjpe_3d']:.0f} | {row['median_3d']:.0f} | "
              f"{found}/{known} ({row['found']:.0%}) |")  # fmt: skip
    return results


def yolo_body25(frames: List[np.ndarray]) -> List[np.ndarray]:
    """YOLO11n-pose's keypoints on each frame's input views ((views, H, W, 3) masked RGB) as (views, 25, 3) BODY_25
    (:func:`~ghnerf_ns.model.yolo_pose_encoder.coco_to_body25`)."""
    import torch

    from ghnerf_ns.model.human_encoders import HumanEncoderConfig, build_human_encoder
    from ghnerf_ns.model.yolo_pose_encoder import coco_to_body25

    encoder = build_human_encoder(HumanEncoderConfig(name="yolo11n_pose", yolo_keypoint_maps=True)).eval()
    out = []
    with torch.no_grad():
        for images in frames:
            coco = encoder.person_keypoints(torch.from_numpy(images).permute(0, 3, 1, 2).float())
            out.append(coco_to_body25(coco).double().numpy())
    return out


if __name__ == "__main__":
    main()
