"""Left/right naming of the source-view 3D keypoints, scored on many unseen frames: views' vote against body frame.

    # the run's own eval split
    python benchmarks/source_view_sides.py outputs/.../config.yml --step 1000
    # more unseen people (a ghnerf-synth folder that also holds the run's training subjects), every frame
    python benchmarks/source_view_sides.py outputs/.../config.yml --data /tmp/val \\
        --test-subjects 386 387 392 393 394 --eval-frames 0 8 1 --out table.md

The run is loaded as ``ns-eval`` loads it (``eval_setup``; :mod:`joint_errors` holds the shared options). Only the
input views are used (no rendering; all input cameras of a frame unless ``--num-views`` says otherwise), so many frames
cost seconds each. For every (subject, frame) with synthetic 3D
ground truth (``ghnerf_synth/joints3d``) the pose head's maps are read once and three estimates are compared:

- ``vote``: the channels' own peaks, pairs named by the views' vote (``--pipeline.model.source-view-sides vote``);
- ``body-frame``: side-blind pair observations, pairs named by the body frame (the default);
- ``side-blind``: the same points with each pair named by the ground truth (the better of its two labelings): what a
  perfect naming would give, so ``body-frame - side-blind`` is the error the naming still makes.

Prints one markdown row per subject and one for all frames: mean error (mm), joints found, and the share of joints
more than 100 mm off (also written to ``--out``).
"""

import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

ESTIMATES = ("vote", "body-frame", "side-blind")


def side_blind_errors(points: np.ndarray, valid: np.ndarray, truth: np.ndarray, mirror: Sequence[int]) -> np.ndarray:
    """Per-joint errors (metres, NaN where not found) with each mirror pair given the better of its two labelings."""
    error = np.linalg.norm(points - truth, axis=-1)
    swapped = np.linalg.norm(points - truth[list(mirror)], axis=-1)
    out = error.copy()
    for j, m in enumerate(mirror):
        if j < m and valid[j] and valid[m] and swapped[j] + swapped[m] < error[j] + error[m]:
            out[j], out[m] = swapped[j], swapped[m]
    return np.where(valid, out, np.nan)


def _row(name: str, errors: Dict[str, List[np.ndarray]]) -> str:
    cells = [name]
    for kind in ESTIMATES:
        e = np.stack(errors[kind]) * 1000.0
        found = e[np.isfinite(e)]
        if found.size == 0:
            cells.append(f"- (0/{e.size})")
        else:
            cells.append(f"{found.mean():.1f} ({found.size}/{e.size}, {np.mean(found > 100.0):.0%} > 100 mm)")
    return "| " + " | ".join(cells) + " |"


def main(argv: Optional[Sequence[str]] = None) -> None:
    from joint_errors import config_update, parse_run_arguments, print_and_write

    args = parse_run_arguments(__doc__, argv)

    from nerfstudio.utils.eval_utils import eval_setup

    from dataparsers.body25 import BODY25_MIRROR
    from ghnerf_ns.keypoints.source_view_keypoints import has_pose_head, keypoints_from_maps, triangulate_source_views

    _, pipeline, _, step = eval_setup(args.config, test_mode="test", update_config_callback=config_update(args))
    model = pipeline.model
    if not has_pose_head(model):
        sys.exit(f"{args.config}: the model has no 2D pose head (human-encoder.heatmap-head): no source-view estimate")
    index = pipeline.datamanager.eval_targets
    config = model.config
    frames = sorted({(index.subjects[int(index.subject_idx[r])], int(index.frame[r])) for r in range(len(index))})
    root = Path(pipeline.datamanager.config.dataparser.data)
    per_subject: Dict[str, Dict[str, List[np.ndarray]]] = {}
    skipped = 0
    for subject, frame in frames:
        truth_file = root / subject / "ghnerf_synth" / "joints3d" / f"{frame:06d}.npy"
        if not truth_file.is_file():
            skipped += 1
            continue
        truth = np.load(truth_file)[:, :3]
        errors = per_subject.setdefault(subject, {kind: [] for kind in ESTIMATES})
        # The pose head runs once for both rules, on the frame's input views (--num-views; default all of them).
        encoded = model.frame_view(subject, frame, 0 if args.num_views is None else args.num_views).encoded
        maps, K, w2c = list(encoded.source_heatmaps.cpu()), encoded.sources.K.cpu(), encoded.sources.w2c.cpu()
        side = min(encoded.sources.hw)
        for sides, side_blind in (("vote", False), ("body-frame", True)):
            keypoints = keypoints_from_maps(maps, model.human_encoder.stride, config.keypoint_threshold, side_blind)
            points, valid = triangulate_source_views(
                keypoints, K, w2c, config.source_view_inlier_fraction * side, config.keypoint_threshold, sides
            )
            p, v = points[:, :3].cpu().double().numpy(), valid.cpu().numpy()
            errors[sides].append(np.where(v, np.linalg.norm(p - truth, axis=-1), np.nan))
            if sides == "body-frame":
                errors["side-blind"].append(side_blind_errors(p, v, truth, BODY25_MIRROR))
    if not per_subject:
        sys.exit(f"none of the {len(frames)} eval frames has synthetic 3D ground truth (ghnerf_synth/joints3d)")
    pooled = {kind: [e for errors in per_subject.values() for e in errors[kind]] for kind in ESTIMATES}
    lines = [
        f"`{args.config}` step {step}: source-view 3D keypoints on {sum(len(e['vote']) for e in per_subject.values())} "
        f"frames" + (f" ({skipped} without 3D ground truth skipped)" if skipped else "") + "; mean error mm (found, "
        "share > 100 mm)",
        "",
        "| subject | " + " | ".join(ESTIMATES) + " |",
        "|---|---|---|---|",
        *[_row(subject, errors) for subject, errors in per_subject.items()],
        _row("**all**", pooled),
    ]
    print_and_write("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
